//! `DELETE /containers/{id}` and `POST /containers/prune`.

use super::{ContainerService, Entry};
use crate::error::{blocking, Result, ServiceError};
use api::container::PruneResponse;
use nix::sys::signal::Signal;
use std::sync::Arc;

impl ContainerService {
    /// Removes a container: 409 while it runs unless `force` (then it is killed first).
    pub async fn remove(self: &Arc<Self>, name: &str, force: bool, _volumes: bool) -> Result<()> {
        let e = self.lookup(name)?;
        let _op = e.op.lock().await;
        if e.life.borrow().removed {
            return Ok(());
        }
        if e.life.borrow().running {
            if !force {
                return Err(ServiceError::conflict(format!(
                    "You cannot remove a running container {}. Stop the container before attempting removal or force remove",
                    e.id
                )));
            }
            self.kill_and_wait(&e).await?;
        }
        self.discard(&e).await
    }

    async fn kill_and_wait(&self, e: &Entry) -> Result<()> {
        let mut life = e.subscribe_life();
        let before = *life.borrow();
        let pid = e.data().state.pid as i32;
        if pid > 0 {
            self.exec
                .kill(pid, Signal::SIGKILL as i32)
                .map_err(|err| ServiceError::from_err("Could not kill running container", &err))?;
        }
        let _ = life
            .wait_for(|l| l.exits > before.exits || !l.running)
            .await;
        Ok(())
    }

    /// Deletes layers, files and the table entry of a stopped container, then releases image
    /// layers nothing uses any more.
    async fn discard(self: &Arc<Self>, e: &Arc<Entry>) -> Result<()> {
        let c = e.snapshot();
        {
            let mut d = e.data();
            d.state.status = "removing".into();
        }
        let svc = self.clone();
        let cc = c.clone();
        blocking(move || {
            svc.discard_layers_and_files(&cc);
            let parent = if cc.host_config.cgroup_parent.is_empty() {
                svc.cgroup_parent.clone()
            } else {
                cc.host_config.cgroup_parent.clone()
            };
            if let Err(err) = svc.exec.delete(&cc.id, &parent, &svc.paths.bundle(&cc.id)) {
                tracing::warn!(container_id = %cc.id, error = %err, "removing runtime state");
            }
            crate::image::gc_layers(&svc.images, svc.graph.as_ref());
            Ok(())
        })
        .await?;
        {
            let mut t = self.table();
            t.by_id.remove(&c.id);
            let name = c.name.trim_start_matches('/');
            if t.names.get(name) == Some(&c.id) {
                t.names.remove(name);
            }
        }
        e.life.send_modify(|l| l.removed = true);
        tracing::info!(container_id = %c.id, "container removed");
        Ok(())
    }

    /// Removes every stopped container.
    pub async fn prune(self: &Arc<Self>) -> Result<PruneResponse> {
        let mut deleted = Vec::new();
        let mut reclaimed = 0u64;
        for e in self.entries() {
            if e.life.borrow().running {
                continue;
            }
            let size = self.rw_size(&e.snapshot()).unwrap_or(0);
            match self.remove(&e.id, false, false).await {
                Ok(()) => {
                    deleted.push(e.id.clone());
                    reclaimed += size;
                }
                Err(err) => {
                    tracing::debug!(container_id = %e.id, error = %err, "prune skipped container")
                }
            }
        }
        Ok(PruneResponse {
            containers_deleted: Some(deleted),
            space_reclaimed: reclaimed,
        })
    }
}
