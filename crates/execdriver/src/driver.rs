//! The daemon's side: [`ExecDriver`] and its Linux implementation, which spawns one shim per
//! container and reads its first event.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::cgroups::{self, AnyCgroupManager, CgroupManager, CgroupVersion};
use crate::error::{Error, Result};
use crate::proto::{decode_event, parse_header, Event, HEADER_LEN};
use crate::spec::{write_atomic, ContainerSpec, SHIM_LOG_FILE, SPEC_FILE};

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
    /// The cgroup version of this host.
    fn cgroup_version(&self) -> CgroupVersion;
}

/// How to run the shim: `helper helper_args... <bundle>`.
#[derive(Debug, Clone)]
pub struct ExecConfig {
    /// The executable (rdockerd uses `/proc/self/exe`).
    pub helper: PathBuf,
    /// Arguments before the bundle (rdockerd uses `["init"]`).
    pub helper_args: Vec<String>,
}

/// A started container.
#[derive(Debug)]
pub struct Started {
    /// Host pid of the container's PID 1.
    pub pid: i32,
    /// The shim process (its stdin and stdout are taken out into `control` and `events`).
    pub shim: Child,
    /// Control pipe: write [`Control`](crate::proto::Control) frames here.
    pub control: ChildStdin,
    /// Event pipe: the first frame (`Started`) has been consumed; decode the rest with
    /// [`EventDecoder`](crate::proto::EventDecoder).
    pub events: ChildStdout,
}

/// The Linux driver: namespaces, cgroups (v1 or v2, detected once) and a shim per container.
#[derive(Debug)]
pub struct LinuxExecDriver {
    cfg: ExecConfig,
    version: CgroupVersion,
}

impl LinuxExecDriver {
    /// A driver running shims with `cfg`; detects the host's cgroup version.
    pub fn new(cfg: ExecConfig) -> Result<Self> {
        Ok(LinuxExecDriver {
            cfg,
            version: cgroups::detect()?,
        })
    }

    fn spawn_shim(&self, spec: &ContainerSpec) -> Result<Child> {
        let bundle = &spec.bundle;
        std::fs::create_dir_all(bundle).map_err(|e| Error::io("create bundle", bundle, e))?;
        let spec_path = bundle.join(SPEC_FILE);
        let json = serde_json::to_vec(spec).map_err(|source| Error::Spec {
            path: spec_path.clone(),
            source,
        })?;
        write_atomic(&spec_path, &json)?;
        let log_path = bundle.join(SHIM_LOG_FILE);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| Error::io("open", &log_path, e))?;
        Command::new(&self.cfg.helper)
            .args(&self.cfg.helper_args)
            .arg(bundle)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|source| Error::SpawnHelper {
                helper: self.cfg.helper.clone(),
                source,
            })
    }
}

/// Reads exactly one frame, without reading past it (the daemon decodes the rest).
fn read_first_event(events: &mut ChildStdout) -> std::io::Result<Result<Event>> {
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
        let mut shim = self.spawn_shim(spec)?;
        let (Some(control), Some(mut events)) = (shim.stdin.take(), shim.stdout.take()) else {
            let _ = shim.kill();
            let _ = shim.wait();
            return Err(Error::ReadEvents {
                id: spec.id.clone(),
                source: std::io::Error::other("the shim has no stdio pipes"),
            });
        };
        let first = read_first_event(&mut events);
        let died = |shim: &mut Child| {
            let status = shim
                .wait()
                .map(|s| s.to_string())
                .unwrap_or_else(|e| e.to_string());
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
                let _ = shim.kill();
                let _ = shim.wait();
                Err(Error::ReadEvents {
                    id: spec.id.clone(),
                    source,
                })
            }
            Ok(Ok(_)) => {
                let _ = shim.kill();
                let _ = shim.wait();
                Err(Error::ReadEvents {
                    id: spec.id.clone(),
                    source: std::io::Error::new(
                        ErrorKind::InvalidData,
                        "first event is not Started or Failed",
                    ),
                })
            }
            Ok(Err(e)) => {
                let _ = shim.kill();
                let _ = shim.wait();
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

    fn cgroup_version(&self) -> CgroupVersion {
        self.version
    }
}

/// For containers found running after a daemon restart: a pidfd for the shim if `shim_pid` is
/// still our shim for `bundle` (its last argument), so the daemon can await its exit.
pub fn reattach_shim(shim_pid: i32, bundle: &Path) -> Option<OwnedFd> {
    // Open the pidfd first, then check: the pid can't be reused while we hold the pidfd.
    let fd = crate::sys::pidfd_open(shim_pid).ok()?;
    let cmdline = std::fs::read(format!("/proc/{shim_pid}/cmdline")).ok()?;
    let last = cmdline.split(|b| *b == 0).rfind(|a| !a.is_empty())?;
    (last == bundle.as_os_str().as_encoded_bytes()).then_some(fd)
}
