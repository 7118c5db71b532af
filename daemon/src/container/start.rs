//! `POST /containers/{id}/start`: mount the rootfs, hand a spec to the execdriver, then follow
//! the container's shim until the process exits.

use super::{now_rfc3339, Container, ContainerService, Entry, Input, Output};
use crate::error::{blocking, ErrorKind, Result, ServiceError};
use bytes::Bytes;
use execdriver::proto::{encode_control, Control, Event, EventDecoder};
use execdriver::{BindMount, ContainerSpec, ExitInfo, NetworkMode, Resources};
use std::os::fd::OwnedFd;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::sync::mpsc;

/// `PATH` Docker gives a container whose config has none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

impl ContainerService {
    /// Starts a created or stopped container; `NotModified` if it already runs.
    pub async fn start(self: &Arc<Self>, name: &str) -> Result<()> {
        let e = self.lookup(name)?;
        let _op = e.op.lock().await;
        if e.life.borrow().running {
            return Err(ErrorKind::NotModified.into());
        }
        if e.life.borrow().removed {
            return Err(ServiceError::not_found(format!(
                "No such container: {name}"
            )));
        }
        let c = e.snapshot();
        let spec = self.spec_for(&c);
        let svc = self.clone();
        let launched = blocking(move || svc.launch(&c, spec)).await;
        let started = match launched {
            Ok(s) => s,
            Err(err) => {
                self.record_start_failure(&e, &err).await;
                if e.data().host_config.auto_remove {
                    // The docker CLI waits for `condition=removed` after a failed `run --rm`.
                    let svc = self.clone();
                    let id = e.id.clone();
                    tokio::spawn(async move {
                        if let Err(err) = svc.remove(&id, true, false).await {
                            tracing::warn!(container_id = %id, error = %err, "auto-remove after failed start");
                        }
                    });
                }
                return Err(err);
            }
        };
        let execdriver::Started {
            pid,
            shim,
            control,
            events,
        } = started;
        {
            let mut d = e.data();
            d.state.status = "running".into();
            d.state.running = true;
            d.state.pid = i64::from(pid);
            d.state.exit_code = 0;
            d.state.oom_killed = false;
            d.state.error.clear();
            d.state.started_at = now_rfc3339();
            d.shim_pid = shim.id();
            d.has_been_started = true;
        }
        e.mounted.store(true, std::sync::atomic::Ordering::SeqCst);
        e.life.send_modify(|l| {
            l.running = true;
            l.starts += 1;
        });
        let svc = self.clone();
        let entry = e.clone();
        tokio::spawn(async move { svc.follow(entry, shim, control, events).await });
        let persisted = self.persist_entry(&e);
        tracing::info!(container_id = %e.id, pid, "container started");
        persisted
    }

    /// Blocking: mount the container's layers and start its process.
    fn launch(&self, c: &Container, mut spec: ContainerSpec) -> Result<execdriver::Started> {
        let t0 = std::time::Instant::now();
        let rw = super::create::layer_id(&c.mount_id)?;
        spec.rootfs = self.graph.get(&rw)?;
        let mounted = t0.elapsed();
        let started = self.exec.start(&spec);
        tracing::debug!(
            container_id = %c.id,
            mount_us = mounted.as_micros() as u64,
            exec_us = (t0.elapsed() - mounted).as_micros() as u64,
            "launch timings"
        );
        started.map_err(|err| {
            if let Err(e) = self.graph.put(&rw) {
                tracing::warn!(container_id = %c.id, error = %e, "unmounting after failed start");
            }
            start_error(err)
        })
    }

    async fn record_start_failure(&self, e: &Entry, err: &ServiceError) {
        let code = if err.message().contains("executable file not found")
            || err.message().contains("no such file or directory")
        {
            127
        } else if err.message().contains("permission denied") {
            126
        } else {
            128
        };
        {
            let mut d = e.data();
            d.state.exit_code = code;
            d.state.error = err.message().to_string();
        }
        e.life.send_modify(|l| l.exit_code = code);
        if let Err(pe) = self.persist_entry(e) {
            tracing::warn!(container_id = %e.id, error = %pe, "saving state after failed start");
        }
    }

    fn spec_for(&self, c: &Container) -> ContainerSpec {
        let hc = &c.host_config;
        let dir = self.paths.container_dir(&c.id);
        let bind = |file: &str, dest: &str| BindMount {
            source: dir.join(file),
            destination: dest.to_string(),
            readonly: false,
        };
        let console_size = hc.console_size.as_deref().and_then(|s| match s {
            [h, w] if *h > 0 && *w > 0 => Some((*h, *w)),
            _ => None,
        });
        ContainerSpec {
            id: c.id.clone(),
            bundle: self.paths.bundle(&c.id),
            rootfs: Default::default(),
            args: std::iter::once(c.path.clone())
                .chain(c.args.iter().cloned())
                .collect(),
            env: container_env(c),
            cwd: if c.config.working_dir.is_empty() {
                "/".into()
            } else {
                c.config.working_dir.clone()
            },
            user: c.config.user.clone(),
            hostname: c.config.hostname.clone(),
            domainname: c.config.domainname.clone(),
            tty: c.config.tty,
            open_stdin: c.config.open_stdin,
            console_size,
            network: if hc.network_mode == "host" {
                NetworkMode::Host
            } else {
                NetworkMode::None
            },
            mounts: vec![
                bind("hostname", "/etc/hostname"),
                bind("hosts", "/etc/hosts"),
                bind("resolv.conf", "/etc/resolv.conf"),
            ],
            resources: Resources {
                memory: hc.memory,
                memory_swap: hc.memory_swap,
                nano_cpus: hc.nano_cpus,
                cpu_shares: hc.cpu_shares,
                cpu_quota: hc.cpu_quota,
                cpu_period: hc.cpu_period,
                pids_limit: hc.pids_limit.unwrap_or(0),
                cpuset_cpus: hc.cpuset_cpus.clone(),
                cpuset_mems: hc.cpuset_mems.clone(),
            },
            shm_size: u64::try_from(hc.shm_size).unwrap_or(0),
            cgroup_parent: self.cgroup_parent_of(c),
            log_path: self.paths.log_path(&c.id),
            auto_remove: hc.auto_remove,
        }
    }

    /// Follows a running container's shim: fans its output out, feeds it stdin, and records
    /// the exit when the shim reports it (or dies).
    async fn follow(
        self: Arc<Self>,
        e: Arc<Entry>,
        mut shim: execdriver::Shim,
        control: std::fs::File,
        events: std::fs::File,
    ) {
        let writer = match (
            e.take_input(),
            pipe::Sender::from_owned_fd(OwnedFd::from(control)),
        ) {
            (Some(input), Ok(tx)) => Some(tokio::spawn(forward_input(input, tx))),
            (None, _) => None,
            (_, Err(err)) => {
                tracing::warn!(container_id = %e.id, error = %err, "stdin pipe unusable");
                None
            }
        };
        let mut exit = match pipe::Receiver::from_owned_fd(OwnedFd::from(events)) {
            Ok(rx) => read_events(&e, rx).await,
            Err(err) => {
                tracing::warn!(container_id = %e.id, error = %err, "event pipe unusable");
                None
            }
        };
        if let Some(w) = writer {
            w.abort();
        }
        if exit.is_some() {
            // `Exited` is the shim's last word: the exit is recorded now, while the shim winds
            // down (and is reaped, if it is our child) on its own.
            tokio::task::spawn_blocking(move || shim.wait());
        } else {
            let _ = tokio::task::spawn_blocking(move || shim.wait()).await;
            exit = execdriver::read_exit(&self.paths.bundle(&e.id));
        }
        let info = exit.unwrap_or_else(|| ExitInfo {
            exit_code: 255,
            oom_killed: false,
            finished_at: now_rfc3339(),
        });
        self.finish_run(&e, info).await;
    }

    /// Records an exit: state, unmount, runtime cleanup, waiters, and `--rm`.
    pub(super) async fn finish_run(self: &Arc<Self>, e: &Arc<Entry>, info: ExitInfo) {
        let (mount_id, auto_remove, cgroup_parent) = {
            let mut d = e.data();
            d.state.status = "exited".into();
            d.state.running = false;
            d.state.pid = 0;
            d.state.exit_code = i64::from(info.exit_code);
            d.state.oom_killed = info.oom_killed;
            d.state.finished_at = info.finished_at.clone();
            d.shim_pid = 0;
            (
                d.mount_id.clone(),
                d.host_config.auto_remove,
                self.cgroup_parent_of(&d),
            )
        };
        let t0 = std::time::Instant::now();
        // A `--rm` container is about to go: its unmount and runtime cleanup happen with the
        // removal, in the background, off the path of `run --rm`.
        if !auto_remove {
            self.cleanup_after_exit(e, &mount_id, &cgroup_parent).await;
            if let Err(err) = self.persist_entry(e) {
                tracing::warn!(container_id = %e.id, error = %err, "saving exit state");
            }
        }
        tracing::info!(
            container_id = %e.id,
            exit_code = info.exit_code,
            cleanup_us = t0.elapsed().as_micros() as u64,
            "container exited"
        );
        e.reset_input();
        let _ = e.output.send(Output::Exited);
        e.life.send_modify(|l| {
            l.running = false;
            l.exits += 1;
            l.exit_code = i64::from(info.exit_code);
        });
        if auto_remove {
            let svc = self.clone();
            let id = e.id.clone();
            tokio::spawn(async move {
                if let Err(err) = svc.remove(&id, true, false).await {
                    tracing::warn!(container_id = %id, error = %err, "auto-remove failed");
                }
            });
        }
    }
}

impl ContainerService {
    /// Unmounts the rootfs and deletes the runtime bundle of an exited container.
    async fn cleanup_after_exit(
        self: &Arc<Self>,
        e: &Arc<Entry>,
        mount_id: &str,
        cgroup_parent: &str,
    ) {
        let svc = self.clone();
        let id = e.id.clone();
        let (mount_id, cgroup_parent) = (mount_id.to_string(), cgroup_parent.to_string());
        let mounted = e.mounted.swap(false, std::sync::atomic::Ordering::SeqCst);
        let cleanup = blocking(move || {
            let t = std::time::Instant::now();
            if mounted {
                svc.graph.put(&super::create::layer_id(&mount_id)?)?;
            }
            let unmounted = t.elapsed();
            let deleted = svc
                .exec
                .delete(&id, &cgroup_parent, &svc.paths.bundle(&id))
                .map_err(|err| ServiceError::from_err("cleaning up runtime state", &err));
            tracing::debug!(
                container_id = %id,
                put_us = unmounted.as_micros() as u64,
                delete_us = (t.elapsed() - unmounted).as_micros() as u64,
                "exit cleanup timings"
            );
            deleted
        })
        .await;
        if let Err(err) = cleanup {
            tracing::warn!(container_id = %e.id, error = %err, "cleanup after exit");
        }
    }
}

/// Fans output events out until `Exited` (returned) or the end of the pipe (`None`).
async fn read_events(e: &Entry, mut rx: pipe::Receiver) -> Option<ExitInfo> {
    let mut dec = EventDecoder::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match rx.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => n,
        };
        dec.feed(&buf[..n]);
        loop {
            match dec.next_event() {
                Ok(Some(Event::Output { stream, data })) => {
                    let _ = e.output.send(Output::Data(stream, Bytes::from(data)));
                }
                // Sent after all output, and last.
                Ok(Some(Event::Exited(info))) => return Some(info),
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(err) => {
                    tracing::warn!(container_id = %e.id, error = %err, "bad frame from shim");
                    return None;
                }
            }
        }
    }
}

async fn forward_input(mut input: mpsc::UnboundedReceiver<Input>, mut tx: pipe::Sender) {
    while let Some(i) = input.recv().await {
        let frame = match i {
            Input::Data(b) => encode_control(&Control::Stdin(b.to_vec())),
            Input::Close => encode_control(&Control::CloseStdin),
            Input::Resize(rows, cols) => encode_control(&Control::Resize { rows, cols }),
        };
        if tx.write_all(&frame).await.is_err() {
            return;
        }
    }
}

/// Docker's environment: defaults first, then the config's values replacing or adding.
fn container_env(c: &Container) -> Vec<String> {
    let mut env = vec![
        format!("PATH={DEFAULT_PATH}"),
        format!("HOSTNAME={}", c.config.hostname),
    ];
    if c.config.tty {
        env.push("TERM=xterm".into());
    }
    for kv in c.config.env.iter().flatten() {
        let key = kv.split('=').next().unwrap_or("");
        match env.iter_mut().find(|e| e.split('=').next() == Some(key)) {
            Some(slot) => *slot = kv.clone(),
            None => env.push(kv.clone()),
        }
    }
    env
}

/// Maps an execdriver start failure to Docker's status and message.
fn start_error(err: execdriver::Error) -> ServiceError {
    match &err {
        execdriver::Error::Start { kind, message } => {
            let msg = format!("failed to create task for container: {message}: unknown");
            match kind {
                execdriver::FailKind::NotFound | execdriver::FailKind::PermissionDenied => {
                    ServiceError::invalid(msg)
                }
                execdriver::FailKind::Other => ServiceError::internal(msg),
            }
        }
        _ => ServiceError::from_err("failed to start container", &err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_defaults_are_overridden_by_config() {
        let mut c = Container::default();
        c.config.hostname = "h1".into();
        c.config.tty = true;
        c.config.env = Some(vec!["PATH=/x".into(), "A=1".into()]);
        assert_eq!(
            container_env(&c),
            vec!["PATH=/x", "HOSTNAME=h1", "TERM=xterm", "A=1"]
        );
    }
}
