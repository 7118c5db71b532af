//! `DELETE /containers/{id}` and `POST /containers/prune`.

use super::{Container, ContainerService, Entry};
use crate::error::{blocking, Result, ServiceError};
use crate::prune::PruneFilter;
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

    /// Removes a stopped container. Unlinking its record is the commit point: from then on it
    /// is gone for the API and for a restarted daemon, waiters are released, and the layers and
    /// files are deleted in the background (restore collects whatever a crash leaves behind).
    /// An auto-removed container's record is unlinked in the background too, after the waiters
    /// (`run --rm`) are released: a restarted daemon removes exited auto-remove containers
    /// itself, as dockerd does.
    async fn discard(self: &Arc<Self>, e: &Arc<Entry>) -> Result<()> {
        let c = e.snapshot();
        e.data().state.status = "removing".into();
        let record = self.paths.container_dir(&c.id).join("config.v2.json");
        let unlink = move || match std::fs::remove_file(&record) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                Err(ServiceError::from_err("removing container record", &err))
            }
            _ => Ok(()),
        };
        let deferred = if c.host_config.auto_remove {
            Some(unlink)
        } else {
            blocking(unlink).await?;
            None
        };
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
        let svc = self.clone();
        let mounted = e.mounted.swap(false, std::sync::atomic::Ordering::SeqCst);
        tokio::task::spawn_blocking(move || {
            if let Some(Err(err)) = deferred.map(|unlink| unlink()) {
                tracing::warn!(container_id = %c.id, error = %err, "auto-remove");
            }
            svc.delete_leftovers(&c, mounted)
        });
        Ok(())
    }

    /// Blocking: the layers, files and runtime state of a removed container, then image layers
    /// nothing uses any more.
    pub(super) fn delete_leftovers(&self, c: &Container, mounted: bool) {
        if mounted {
            let put =
                super::create::layer_id(&c.mount_id).and_then(|rw| Ok(self.graph.put(&rw)?));
            if let Err(err) = put {
                tracing::warn!(container_id = %c.id, error = %err, "unmounting a removed container");
            }
        }
        self.discard_layers_and_files(c);
        let parent = self.cgroup_parent_of(c);
        if let Err(err) = self.exec.delete(&c.id, &parent, &self.paths.bundle(&c.id)) {
            tracing::warn!(container_id = %c.id, error = %err, "removing runtime state");
        }
        crate::image::gc_layers(&self.images, self.graph.as_ref());
    }

    /// Removes every stopped container that the `until` and `label` filters allow.
    pub async fn prune(self: &Arc<Self>, filters: &api::Filters) -> Result<PruneResponse> {
        let filter = PruneFilter::parse(filters, &[])?;
        let mut deleted = Vec::new();
        let mut reclaimed = 0u64;
        for e in self.entries() {
            if e.life.borrow().running {
                continue;
            }
            let allowed = {
                let c = e.data();
                filter.allows(Some(&c.created), &c.config.labels)
            };
            if !allowed {
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
