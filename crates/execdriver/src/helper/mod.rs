//! The shim: a fresh single-threaded process (`rdockerd init <bundle>`, or the
//! `rdocker-exec-helper` test binary) that starts the container and monitors it for its whole
//! life, like conmon or containerd-shim, so that containers can outlive the daemon.
//!
//! Its stdin carries [`Control`](crate::proto::Control) frames from the daemon, its stdout
//! [`Event`] frames to the daemon, its stderr is appended to `<bundle>/shim.log`.

mod channel;
mod child;
mod exec;
mod io_loop;
mod launch;
mod log;
mod rootfs;
mod stdio;

pub(crate) use child::loopback_up;

use std::io::Write;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use crate::cgroups::{self, AnyCgroupManager, CgroupManager};
use crate::error::{chain, Error};
use crate::proto::{encode_event, Event};
use crate::spec::{write_atomic, ContainerSpec, ExitInfo, FailKind, EXIT_FILE, SPEC_FILE};

/// Why the container could not be started, as reported to the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StartFailure {
    pub kind: FailKind,
    pub message: String,
}

impl From<Error> for StartFailure {
    fn from(e: Error) -> Self {
        StartFailure {
            kind: FailKind::Other,
            message: chain(&e),
        }
    }
}

/// Writes a line to the shim's stderr (`shim.log`). The shim is a process entry point, not a
/// library: it owns its stderr and keeps its diagnostics there.
pub(crate) fn shim_log(msg: std::fmt::Arguments<'_>) {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let _ = writeln!(
        std::io::stderr().lock(),
        "{now} shim[{}]: {msg}",
        std::process::id()
    );
}

/// Sends event frames to the daemon on our stdout, until the daemon goes away.
pub(crate) struct EventSink {
    broken: bool,
}

impl EventSink {
    fn new() -> Self {
        EventSink { broken: false }
    }

    /// Sends one event; after the first write error (EPIPE: the daemon is gone) sending stops,
    /// but the shim keeps running, logging and reaping.
    pub(crate) fn send(&mut self, ev: &Event) {
        if self.broken {
            return;
        }
        let frame = encode_event(ev);
        let out = std::io::stdout();
        let mut rest = &frame[..];
        while !rest.is_empty() {
            match nix::unistd::write(out.as_fd(), rest) {
                Ok(n) => rest = &rest[n..],
                Err(nix::errno::Errno::EINTR) => {}
                Err(e) => {
                    shim_log(format_args!(
                        "event pipe closed ({e}); no more events are sent"
                    ));
                    self.broken = true;
                    return;
                }
            }
        }
    }
}

/// The shim's entry point when exec'd (`rdockerd init <bundle>`): the last command-line
/// argument is the bundle directory. Returns the process exit code (0 after the container ran,
/// non-zero if it could not start).
pub fn main() -> i32 {
    let Some(bundle) = std::env::args_os().skip(1).last().map(PathBuf::from) else {
        shim_log(format_args!("usage: <helper> [args...] <bundle>"));
        return 2;
    };
    shim_main(&bundle, false)
}

/// The shim proper, exec'd or forked by the zygote. `netns_ready`: we already sit in a fresh
/// network namespace with `lo` up, for a `--network none` container to inherit.
pub(crate) fn shim_main(bundle: &Path, netns_ready: bool) -> i32 {
    // Whatever the daemon's own parent leaked to it (non-CLOEXEC fds) must not reach the
    // container; the shim itself needs only stdin, stdout and stderr.
    if let Err(e) = crate::sys::close_fds_from(3) {
        shim_log(format_args!(
            "failed to close inherited file descriptors: {e}"
        ));
    }
    if let Err(e) = crate::sys::ignore_sigpipe() {
        shim_log(format_args!("failed to ignore SIGPIPE: {e}"));
    }
    // Our own session: terminal and process-group signals meant for the daemon don't reach us.
    let _ = nix::unistd::setsid();
    // Our working directory is the bundle: it pins no mount of the daemon's, and a restarted
    // daemon recognises its shims by it (see `reattach_shim`).
    if nix::unistd::chdir(bundle).is_err() {
        let _ = nix::unistd::chdir("/");
    }
    let mut events = EventSink::new();
    match run(bundle, netns_ready, &mut events) {
        Ok(()) => 0,
        Err(f) => {
            shim_log(format_args!("start failed: {}", f.message));
            events.send(&Event::Failed {
                kind: f.kind,
                message: f.message,
            });
            1
        }
    }
}

fn load_spec(bundle: &Path) -> Result<ContainerSpec, Error> {
    let path = bundle.join(SPEC_FILE);
    let data = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
    serde_json::from_slice(&data).map_err(|source| Error::Spec { path, source })
}

/// Starts the container, then monitors it until it exits. A start failure is returned after
/// the cgroup is removed, for `main` to report.
fn run(bundle: &Path, netns_ready: bool, events: &mut EventSink) -> Result<(), StartFailure> {
    let spec = load_spec(bundle)?;
    let cgroup = AnyCgroupManager::new(cgroups::detect()?, &spec.cgroup_parent, &spec.id)?;
    let log = log::JsonLog::open(&spec.log_path)?;
    let started = match launch::launch(&spec, &cgroup, netns_ready) {
        Ok(s) => s,
        Err(f) => {
            if let Err(e) = cgroup.remove() {
                shim_log(format_args!("failed to remove cgroup: {}", chain(&e)));
            }
            return Err(f);
        }
    };
    events.send(&Event::Started { pid: started.pid });
    let exit_code = io_loop::run(started, log, events);
    let info = ExitInfo {
        exit_code,
        oom_killed: cgroup.oom_kill_count() > 0,
        finished_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
    };
    let json = serde_json::to_vec(&info).expect("plain struct serializes");
    if let Err(e) = write_atomic(&bundle.join(EXIT_FILE), &json) {
        shim_log(format_args!("{}", chain(&e)));
    }
    let remove_cgroup = || {
        if let Err(e) = cgroup.remove() {
            shim_log(format_args!("failed to remove cgroup: {}", chain(&e)));
        }
    };
    // See `ContainerSpec::auto_remove` for the order.
    if spec.auto_remove {
        events.send(&Event::Exited(info));
        remove_cgroup();
    } else {
        remove_cgroup();
        events.send(&Event::Exited(info));
    }
    Ok(())
}
