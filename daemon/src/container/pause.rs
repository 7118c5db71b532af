//! Freezing a container's processes for the length of an operation that must see its
//! filesystem at one moment (commit, as Docker pauses the container it commits).

use super::{ContainerService, Entry};
use crate::error::{blocking, Result, ServiceError};
use std::future::Future;
use std::sync::Arc;

impl ContainerService {
    /// Runs `work` on container `e` under its operation lock (it cannot be started, stopped or
    /// removed meanwhile), with its processes frozen when `pause` is asked and it runs. They
    /// are thawed afterwards, whatever `work` returned; a container that cannot be thawed is
    /// an error even when `work` succeeded.
    pub async fn while_paused<T>(
        self: &Arc<Self>,
        e: &Arc<Entry>,
        pause: bool,
        work: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let _op = e.op.lock().await;
        let freeze = pause && e.data().state.running;
        if freeze {
            self.set_frozen(e, true).await?;
        }
        let done = work.await;
        if freeze {
            self.set_frozen(e, false).await?;
        }
        done
    }

    async fn set_frozen(self: &Arc<Self>, e: &Arc<Entry>, frozen: bool) -> Result<()> {
        let (svc, id) = (self.clone(), e.id.clone());
        let parent = self.cgroup_parent_of(&e.data());
        blocking(move || {
            svc.exec.set_frozen(&id, &parent, frozen).map_err(|err| {
                let what = if frozen { "pause" } else { "unpause" };
                ServiceError::from_err(&format!("Cannot {what} container {id}"), &err)
            })
        })
        .await
    }
}
