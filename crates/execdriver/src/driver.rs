//! The daemon's side: [`ExecDriver`] and its Linux implementation, which has one shim per
//! container forked by the zygote (or exec'd) and reads its first event.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, PoisonError};

use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::cgroups::{self, AnyCgroupManager, CgroupManager, CgroupVersion};
use crate::error::{Error, Result};
use crate::proto::{decode_event, parse_header, Event, HEADER_LEN};
use crate::spec::{write_atomic, ContainerSpec, NetworkMode, SHIM_LOG_FILE, SPEC_FILE};
use crate::zygote::{ForkError, Zygote};

/// Starts and signals container processes. A container's life: `start` (spawns its shim,
/// which reports `Started` and later `Exited` on the event pipe and in `exit.json`) → `kill`
/// as needed → `delete` once it exited.
pub trait ExecDriver: Send + Sync {
    /// Spawns the shim and blocks until the container's process has exec'd (or failed).
    fn start(&self, spec: &ContainerSpec) -> Result<Started>;
    /// Sends `signal` to host process `pid`; a process that is already gone is not an error.
    fn kill(&self, pid: i32, signal: i32) -> Result<()>;
    /// After exit: removes a leftover cgroup (`cgroup_parent`/`id`) and the bundle dir. Idempotent.
    fn delete(&self, id: &str, cgroup_parent: &str, bundle: &Path) -> Result<()>;
    /// Freezes (`true`) or thaws every process of running container `id` (its cgroup
    /// `cgroup_parent`/`id`), once all of them are.
    fn set_frozen(&self, id: &str, cgroup_parent: &str, frozen: bool) -> Result<()>;
    /// The cgroup version of this host.
    fn cgroup_version(&self) -> CgroupVersion;
}

/// How to run shims: forked by a zygote `helper zygote_args...` (started once), or, without
/// `zygote_args`, exec'd one per container as `helper helper_args... <bundle>`.
#[derive(Debug, Clone)]
pub struct ExecConfig {
    /// The executable (rdockerd uses `/proc/self/exe`).
    pub helper: PathBuf,
    /// Arguments before the bundle when a shim is exec'd (rdockerd uses `["init"]`).
    pub helper_args: Vec<String>,
    /// Arguments that make `helper` the zygote (rdockerd uses `["zygote"]`).
    pub zygote_args: Option<Vec<String>>,
}

/// A started container.
#[derive(Debug)]
pub struct Started {
    /// Host pid of the container's PID 1.
    pub pid: i32,
    /// The shim process.
    pub shim: Shim,
    /// Control pipe (the shim's stdin): write [`Control`](crate::proto::Control) frames here.
    pub control: File,
    /// Event pipe (the shim's stdout): the first frame (`Started`) has been consumed; decode
    /// the rest with [`EventDecoder`](crate::proto::EventDecoder).
    pub events: File,
}

/// A container's shim: our child when exec'd, the zygote's (reaped by the kernel) when forked.
#[derive(Debug)]
pub struct Shim {
    pid: i32,
    handle: ShimHandle,
}

#[derive(Debug)]
enum ShimHandle {
    Child(Child),
    Forked(OwnedFd),
}

impl Shim {
    /// The shim's pid.
    pub fn id(&self) -> i32 {
        self.pid
    }

    /// Blocks until the shim has exited (reaping it if it is our child). Its exit status, when
    /// it was our child.
    pub fn wait(&mut self) -> std::io::Result<Option<ExitStatus>> {
        match &mut self.handle {
            ShimHandle::Child(c) => c.wait().map(Some),
            ShimHandle::Forked(pidfd) => {
                // A pidfd turns readable when the process has exited.
                let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
                loop {
                    match poll(&mut fds, PollTimeout::NONE) {
                        Ok(_) => return Ok(None),
                        Err(nix::errno::Errno::EINTR) => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
    }

    /// SIGKILL, then wait.
    fn kill(&mut self) {
        match &mut self.handle {
            ShimHandle::Child(c) => {
                let _ = c.kill();
            }
            ShimHandle::Forked(pidfd) => {
                let _ = crate::sys::pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL);
            }
        }
        let _ = self.wait();
    }
}

/// The Linux driver: namespaces, cgroups (v1 or v2, detected once) and a shim per container.
#[derive(Debug)]
pub struct LinuxExecDriver {
    cfg: ExecConfig,
    version: CgroupVersion,
    /// The zygote, with `cfg.zygote_args`; (re)started on demand.
    zygote: Mutex<Option<Zygote>>,
}

impl LinuxExecDriver {
    /// A driver running shims as `cfg` says; detects the host's cgroup version and starts the
    /// zygote if there is one.
    pub fn new(cfg: ExecConfig) -> Result<Self> {
        let zygote = match &cfg.zygote_args {
            Some(args) => Some(Zygote::spawn(&cfg.helper, args)?),
            None => None,
        };
        Ok(LinuxExecDriver {
            version: cgroups::detect()?,
            cfg,
            zygote: Mutex::new(zygote),
        })
    }

    /// The pid of the zygote, if this driver has one running.
    pub fn zygote_pid(&self) -> Option<i32> {
        let z = self.zygote.lock().unwrap_or_else(PoisonError::into_inner);
        z.as_ref().map(Zygote::pid)
    }

    /// The bundle's spec file and the shim's log (its stderr).
    fn prepare_bundle(spec: &ContainerSpec) -> Result<File> {
        let bundle = &spec.bundle;
        std::fs::create_dir_all(bundle).map_err(|e| Error::io("create bundle", bundle, e))?;
        let spec_path = bundle.join(SPEC_FILE);
        let json = serde_json::to_vec(spec).map_err(|source| Error::Spec {
            path: spec_path.clone(),
            source,
        })?;
        write_atomic(&spec_path, &json)?;
        let log_path = bundle.join(SHIM_LOG_FILE);
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| Error::io("open", &log_path, e))
    }

    /// Exec's a shim: `helper helper_args... <bundle>`.
    fn spawn_shim(&self, spec: &ContainerSpec, log: File) -> Result<(Shim, File, File)> {
        let mut child = Command::new(&self.cfg.helper)
            .args(&self.cfg.helper_args)
            .arg(&spec.bundle)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|source| Error::SpawnHelper {
                helper: self.cfg.helper.clone(),
                source,
            })?;
        let (Some(control), Some(events)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::ReadEvents {
                id: spec.id.clone(),
                source: std::io::Error::other("the shim has no stdio pipes"),
            });
        };
        let shim = Shim {
            pid: child.id() as i32,
            handle: ShimHandle::Child(child),
        };
        Ok((
            shim,
            File::from(OwnedFd::from(control)),
            File::from(OwnedFd::from(events)),
        ))
    }

    /// Has the zygote fork a shim, restarting the zygote once if it is gone.
    fn fork_shim(
        &self,
        spec: &ContainerSpec,
        args: &[String],
        log: File,
    ) -> Result<(Shim, File, File)> {
        let pipe = || nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::sys("pipe2", e));
        let (control_r, control_w) = pipe()?;
        let (events_r, events_w) = pipe()?;
        let log = OwnedFd::from(log);
        let wants_netns = spec.network == NetworkMode::None;
        let mut zygote = self.zygote.lock().unwrap_or_else(PoisonError::into_inner);
        let mut respawned = false;
        let forked = loop {
            let z = match zygote.as_mut() {
                Some(z) => z,
                None => zygote.insert(Zygote::spawn(&self.cfg.helper, args)?),
            };
            match z.fork_shim(&spec.bundle, [&control_r, &events_w, &log], wants_netns) {
                Ok(f) => break f,
                Err(ForkError::NotSent(e)) if !respawned => {
                    tracing::warn!(error = %e, "zygote gone; starting a new one");
                    *zygote = None;
                    respawned = true;
                }
                Err(ForkError::NotSent(e) | ForkError::Failed(e)) => {
                    // A zygote that failed mid-request is not trusted with the next one.
                    *zygote = None;
                    return Err(Error::Zygote(e));
                }
            }
        };
        let shim = Shim {
            pid: forked.pid,
            handle: ShimHandle::Forked(forked.pidfd),
        };
        Ok((shim, File::from(control_w), File::from(events_r)))
    }
}

/// Reads exactly one frame, without reading past it (the daemon decodes the rest).
fn read_first_event(events: &mut File) -> std::io::Result<Result<Event>> {
    let mut header = [0u8; HEADER_LEN];
    events.read_exact(&mut header)?;
    let (kind, len) = match parse_header(&header) {
        Ok(h) => h,
        Err(e) => return Ok(Err(e)),
    };
    let mut payload = vec![0u8; len];
    events.read_exact(&mut payload)?;
    Ok(decode_event(kind, &payload))
}

/// The last lines of the shim's log, for errors.
fn log_tail(bundle: &Path) -> String {
    const TAIL: u64 = 2048;
    let Ok(mut f) = std::fs::File::open(bundle.join(SHIM_LOG_FILE)) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(TAIL)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).trim().to_string()
}

impl ExecDriver for LinuxExecDriver {
    fn start(&self, spec: &ContainerSpec) -> Result<Started> {
        let log = Self::prepare_bundle(spec)?;
        let (mut shim, control, mut events) = match &self.cfg.zygote_args {
            Some(args) => self.fork_shim(spec, args, log)?,
            None => self.spawn_shim(spec, log)?,
        };
        let first = read_first_event(&mut events);
        let died = |shim: &mut Shim| {
            let status = match shim.wait() {
                Ok(Some(s)) => s.to_string(),
                Ok(None) => "exited".to_string(),
                Err(e) => e.to_string(),
            };
            Error::ShimDied {
                id: spec.id.clone(),
                status,
                log_tail: log_tail(&spec.bundle),
            }
        };
        match first {
            Ok(Ok(Event::Started { pid })) => Ok(Started {
                pid,
                shim,
                control,
                events,
            }),
            Ok(Ok(Event::Failed { kind, message })) => {
                // The shim removed the cgroup before reporting and exits right away.
                let _ = shim.wait();
                Err(Error::Start { kind, message })
            }
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => Err(died(&mut shim)),
            Err(source) => {
                shim.kill();
                Err(Error::ReadEvents {
                    id: spec.id.clone(),
                    source,
                })
            }
            Ok(Ok(_)) => {
                shim.kill();
                Err(Error::ReadEvents {
                    id: spec.id.clone(),
                    source: std::io::Error::new(
                        ErrorKind::InvalidData,
                        "first event is not Started or Failed",
                    ),
                })
            }
            Ok(Err(e)) => {
                shim.kill();
                Err(e)
            }
        }
    }

    fn kill(&self, pid: i32, signal: i32) -> Result<()> {
        // Signal 0 only checks that the process exists.
        let sig = match signal {
            0 => None,
            s => Some(Signal::try_from(s).map_err(|source| Error::Kill {
                pid,
                signal,
                source,
            })?),
        };
        match kill(Pid::from_raw(pid), sig) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
            Err(source) => Err(Error::Kill {
                pid,
                signal,
                source,
            }),
        }
    }

    fn delete(&self, id: &str, cgroup_parent: &str, bundle: &Path) -> Result<()> {
        AnyCgroupManager::new(self.version, cgroup_parent, id)?.remove()?;
        match std::fs::remove_dir_all(bundle) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(Error::io("remove bundle", bundle, e)),
            _ => Ok(()),
        }
    }

    fn set_frozen(&self, id: &str, cgroup_parent: &str, frozen: bool) -> Result<()> {
        AnyCgroupManager::new(self.version, cgroup_parent, id)?.set_frozen(frozen)
    }

    fn cgroup_version(&self) -> CgroupVersion {
        self.version
    }
}

/// For containers found running after a daemon restart: a pidfd for the shim if `shim_pid` is
/// still our shim for `bundle` (its working directory, or for a shim exec'd by an older
/// rdockerd, its last argument), so the daemon can await its exit.
pub fn reattach_shim(shim_pid: i32, bundle: &Path) -> Option<OwnedFd> {
    // Open the pidfd first, then check: the pid can't be reused while we hold the pidfd.
    let fd = crate::sys::pidfd_open(shim_pid).ok()?;
    if std::fs::read_link(format!("/proc/{shim_pid}/cwd")).is_ok_and(|cwd| cwd == bundle) {
        return Some(fd);
    }
    let cmdline = std::fs::read(format!("/proc/{shim_pid}/cmdline")).ok()?;
    let last = cmdline.split(|b| *b == 0).rfind(|a| !a.is_empty())?;
    (last == bundle.as_os_str().as_encoded_bytes()).then_some(fd)
}
