//! Daemon start: containers persisted under `containers/` come back with their state. One whose
//! shim is still alive stays running and is followed again; one whose process died while the
//! daemon was down is marked exited with the status its shim recorded (and, with `--rm`,
//! removed, like one that had exited before).

use super::{now_rfc3339, Container, ContainerService, Entry};
use crate::error::{blocking, Result, ServiceError};
use execdriver::ExitInfo;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use tokio::io::unix::AsyncFd;

impl ContainerService {
    /// Loads every container record; returns how many were restored.
    pub async fn restore(self: &Arc<Self>) -> Result<usize> {
        let dir = self.paths.data_root.join("containers");
        let records = blocking(move || {
            std::fs::create_dir_all(&dir).map_err(|e| ServiceError::from_err("creating containers dir", &e))?;
            let mut out = Vec::new();
            for ent in std::fs::read_dir(&dir).map_err(|e| ServiceError::from_err("reading containers dir", &e))? {
                let Ok(ent) = ent else { continue };
                match load(&ent.path()) {
                    Ok(c) => out.push(c),
                    Err(e) if torn(&ent.path()) && auto_removed(&ent.path()) => {
                        // A `--rm` record (not fsynced) torn by a crash: the container would be
                        // removed at restore anyway. Without its record, its leftovers go.
                        tracing::info!(path = %ent.path().display(), error = %e, "removing a torn record of a --rm container");
                        let _ = std::fs::remove_file(ent.path().join("config.v2.json"));
                    }
                    Err(e) => tracing::warn!(path = %ent.path().display(), error = %e, "skipping unreadable container"),
                }
            }
            Ok(out)
        })
        .await?;
        let n = records.len();
        self.collect_garbage();
        for c in records {
            let running = c.state.running;
            let (shim_pid, bundle) = (c.shim_pid, self.paths.bundle(&c.id));
            let e = Entry::new(c);
            {
                let mut t = self.table();
                t.names.insert(
                    e.data().name.trim_start_matches('/').to_string(),
                    e.id.clone(),
                );
                t.by_id.insert(e.id.clone(), e.clone());
            }
            if !running {
                if e.data().host_config.auto_remove {
                    // Exited (or was being removed) before the daemon went down.
                    if let Err(err) = self.remove(&e.id, true, false).await {
                        tracing::warn!(container_id = %e.id, error = %err, "auto-remove at restore");
                    }
                }
                continue;
            }
            match execdriver::reattach_shim(shim_pid, &bundle) {
                Some(pidfd) => self.readopt(e, pidfd).await,
                None => {
                    let info = execdriver::read_exit(&bundle).unwrap_or_else(|| ExitInfo {
                        exit_code: 255,
                        oom_killed: false,
                        finished_at: now_rfc3339(),
                    });
                    tracing::info!(container_id = %e.id, "container exited while the daemon was down");
                    // Its rootfs may still be mounted by the previous daemon: have it unmounted.
                    e.mounted.store(true, std::sync::atomic::Ordering::SeqCst);
                    self.finish_run(&e, info).await;
                }
            }
        }
        Ok(n)
    }

    /// Takes over a container still running under its shim: hold its rootfs mount and await the
    /// shim's exit through a pidfd.
    async fn readopt(self: &Arc<Self>, e: Arc<Entry>, pidfd: OwnedFd) {
        let svc = self.clone();
        let mount_id = e.data().mount_id.clone();
        let held = blocking(move || Ok(svc.graph.get(&super::create::layer_id(&mount_id)?)?)).await;
        match held {
            Ok(_) => e.mounted.store(true, std::sync::atomic::Ordering::SeqCst),
            Err(err) => {
                tracing::warn!(container_id = %e.id, error = %err, "re-mounting a running container's rootfs")
            }
        }
        e.life.send_modify(|l| l.running = true);
        tracing::info!(container_id = %e.id, "container still running; following it again");
        let svc = self.clone();
        tokio::spawn(async move {
            // `new`/`with_interest` are deprecated because a borrowed fd could be closed under the
            // registration; here the AsyncFd owns the pidfd, so that cannot happen.
            #[allow(deprecated)]
            let watched = AsyncFd::with_interest(pidfd, tokio::io::Interest::READABLE);
            match watched {
                Ok(fd) => {
                    let _ = fd.readable().await;
                }
                Err(err) => tracing::warn!(container_id = %e.id, error = %err, "cannot watch shim"),
            }
            let bundle = svc.paths.bundle(&e.id);
            let info = execdriver::read_exit(&bundle).unwrap_or_else(|| ExitInfo {
                exit_code: 255,
                oom_killed: false,
                finished_at: now_rfc3339(),
            });
            svc.finish_run(&e, info).await;
        });
    }
}

impl ContainerService {
    /// Deletes what a crash mid-create or mid-remove left behind: container dirs without a
    /// record and layer records of containers that no longer exist.
    fn collect_garbage(self: &Arc<Self>) {
        // A record that exists but does not parse is kept (and reported by restore): only a
        // missing record means the container is gone.
        let has_record = |id: &str| self.paths.container_dir(id).join("config.v2.json").exists();
        for m in self.images.mounts() {
            if !has_record(&m.container_id) {
                tracing::info!(container_id = %m.container_id, "removing layers of a container that no longer exists");
                let c = Container {
                    id: m.container_id.clone(),
                    mount_id: m.mount_id.clone(),
                    ..Default::default()
                };
                let svc = self.clone();
                tokio::task::spawn_blocking(move || svc.delete_leftovers(&c, false));
            }
        }
        let dir = self.paths.data_root.join("containers");
        for ent in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let id = ent.file_name().to_string_lossy().into_owned();
            if !has_record(&id) && self.images.mount(&id).is_none() {
                let _ = std::fs::remove_dir_all(ent.path());
            }
        }
    }
}

fn load(dir: &std::path::Path) -> std::result::Result<Container, Box<dyn std::error::Error>> {
    let mut c: Container = serde_json::from_slice(&std::fs::read(dir.join("config.v2.json"))?)?;
    c.host_config = serde_json::from_slice(&std::fs::read(dir.join("hostconfig.json"))?)?;
    Ok(c)
}

/// Whether a container dir's `config.v2.json` is not JSON at all (empty or cut short, as a
/// crash leaves a file renamed before it reached the disk), rather than a record this
/// version does not read.
fn torn(dir: &std::path::Path) -> bool {
    std::fs::read(dir.join("config.v2.json"))
        .map(|b| serde_json::from_slice::<serde_json::Value>(&b).is_err())
        .unwrap_or(false)
}

/// Whether a container dir's `hostconfig.json` says `AutoRemove`.
fn auto_removed(dir: &std::path::Path) -> bool {
    std::fs::read(dir.join("hostconfig.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<api::container::HostConfig>(&b).ok())
        .is_some_and(|hc| hc.auto_remove)
}
