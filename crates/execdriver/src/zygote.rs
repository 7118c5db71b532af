//! The zygote: a single-threaded process (`rdockerd zygote`) started once by the daemon, that
//! forks one shim per container on request. A fork of a small, already running process costs
//! far less than `execve` of the daemon's binary (loading, relocation, runtime start-up), and it
//! keeps one fresh network namespace with `lo` up in reserve, so a `--network none` container
//! does not wait for one to be made.
//!
//! The daemon and the zygote talk over a `SOCK_SEQPACKET` pair (the zygote's stdin), one packet
//! each way per shim:
//! - request: `[flags: u8][bundle path]`, with SCM_RIGHTS `[stdin, stdout, stderr]` of the shim
//!   (control pipe, event pipe, `shim.log`); flag [`WANTS_NETNS`] asks for the reserve netns;
//! - reply: `[0][pid: i32 LE]` with SCM_RIGHTS `[pidfd]`, or `[1][message]` if the fork failed.
//!
//! The zygote forks each shim ahead of its request: a *spare* shim waits on a socket of its own
//! for `[flags][bundle]` with its stdio (and the reserve netns, if wanted) attached, which the
//! zygote forwards from the daemon's request before replying with the spare's pid and pidfd;
//! then it forks the next spare while the first one starts its container. A request finding no
//! spare, or a dead one, gets a spare forked on the spot.
//!
//! The zygote ignores SIGCHLD, so the kernel reaps its shims; the daemon follows each one
//! through its pidfd. It exits when the daemon's end closes. Shims it forked live on (each in
//! its own session), exactly like exec'd ones.
//!
//! Tearing a network namespace down is costly whatever its size: the kernel's `cleanup_net`
//! waits for RCU callbacks on every CPU twice per run, however many namespaces that run frees
//! (several milliseconds of CPU on a small VM). So the zygote keeps a reference to each
//! namespace it handed out and drops those whose shim has exited together, [`RELEASE_BATCH`]
//! at a time or after [`RELEASE_IDLE_MS`] without requests: one teardown for many containers.
//! A namespace whose processes are gone is unreachable but through that reference, so holding
//! it a while longer changes nothing for anyone.

use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sched::{setns, unshare, CloneFlags};

use crate::error::{Error, Result};
use crate::sys::{clone3_fork, CloneResult};

/// Request flag: the shim's container gets the reserve network namespace (`--network none`).
pub(crate) const WANTS_NETNS: u8 = 1;
const REPLY_OK: u8 = 0;
const REPLY_ERROR: u8 = 1;
const MAX_PACKET: usize = 8192;
/// Dead namespaces are let go together once this many have gathered.
const RELEASE_BATCH: usize = 8;
/// ... or when no request came for this long (milliseconds).
const RELEASE_IDLE_MS: u16 = 1000;
/// The zygote's nice value while it readies the next request (reserve netns, spare shim).
const BACKGROUND_NICE: i32 = 19;
/// Beyond this many held namespaces (of running containers), new ones are not held.
const MAX_HELD: usize = 256;

/// Why [`Zygote::fork_shim`] failed.
#[derive(Debug)]
pub(crate) enum ForkError {
    /// The request did not reach the zygote (it was gone, or went without reading it): a new
    /// zygote may be asked.
    NotSent(String),
    /// After the request was sent: the zygote may have forked a shim already.
    Failed(String),
}

/// A forked shim, as the zygote reports it.
#[derive(Debug)]
pub(crate) struct Forked {
    pub pid: i32,
    pub pidfd: OwnedFd,
}

/// The daemon's end: the zygote process and the socket to it.
#[derive(Debug)]
pub(crate) struct Zygote {
    /// `None` only while dropping.
    sock: Option<OwnedFd>,
    process: Child,
}

impl Zygote {
    /// Starts `program args...` as the zygote, its stdin our socket's other end.
    pub(crate) fn spawn(program: &Path, args: &[String]) -> Result<Self> {
        let (ours, theirs) = crate::fdpass::pair().map_err(|e| Error::sys("socketpair", e))?;
        let process = Command::new(program)
            .args(args)
            .stdin(Stdio::from(theirs))
            .stdout(Stdio::null())
            .spawn()
            .map_err(|source| Error::SpawnHelper {
                helper: program.to_path_buf(),
                source,
            })?;
        Ok(Zygote {
            sock: Some(ours),
            process,
        })
    }

    /// The zygote's pid.
    pub(crate) fn pid(&self) -> i32 {
        self.process.id() as i32
    }

    /// Asks for a shim for `bundle` with stdio `[stdin, stdout, stderr]`; blocks for the reply.
    pub(crate) fn fork_shim(
        &mut self,
        bundle: &Path,
        stdio: [&OwnedFd; 3],
        wants_netns: bool,
    ) -> std::result::Result<Forked, ForkError> {
        let sock = self.sock.as_ref().expect("the socket is there until drop");
        let mut packet = vec![if wants_netns { WANTS_NETNS } else { 0 }];
        packet.extend_from_slice(bundle.as_os_str().as_bytes());
        let fds = stdio.map(|f| f.as_raw_fd());
        crate::fdpass::send(sock.as_fd(), &[&packet], &fds)
            .map_err(|e| ForkError::NotSent(format!("send to zygote: {e}")))?;
        // From here on the zygote may have forked: whatever goes wrong, don't ask again.
        let failed = |msg: String| ForkError::Failed(msg);
        let (reply, mut fds) = crate::fdpass::recv(sock.as_fd(), MAX_PACKET, 1).map_err(|e| {
            let msg = format!("receive from zygote: {e}");
            // The zygote's end was closed with the request still unread in it (Linux reports
            // that, and only that, as ECONNRESET): the zygote died before taking it, while a
            // spare it had just forked still held a copy of its socket. Nothing was forked.
            if e == nix::errno::Errno::ECONNRESET {
                ForkError::NotSent(msg)
            } else {
                failed(msg)
            }
        })?;
        match (reply.as_slice(), fds.pop()) {
            ([], _) => Err(failed("the zygote exited".into())),
            ([REPLY_OK, a, b, c, d], Some(pidfd)) => Ok(Forked {
                pid: i32::from_le_bytes([*a, *b, *c, *d]),
                pidfd,
            }),
            ([REPLY_ERROR, msg @ ..], _) => Err(failed(String::from_utf8_lossy(msg).into_owned())),
            _ => Err(failed("malformed reply from zygote".into())),
        }
    }
}

impl Drop for Zygote {
    fn drop(&mut self) {
        // Closing our end is the zygote's signal to exit; then reap it.
        drop(self.sock.take());
        let _ = self.process.wait();
    }
}

/// The zygote's entry point (`rdockerd zygote`): serves fork requests on stdin until it closes.
pub fn main() -> i32 {
    if let Err(e) = crate::sys::close_fds_from(3) {
        zygote_log(format_args!("closing inherited descriptors: {e}"));
    }
    let sock = match std::io::stdin().as_fd().try_clone_to_owned() {
        Ok(s) => s,
        Err(e) => {
            zygote_log(format_args!("no request socket on stdin: {e}"));
            return 2;
        }
    };
    // Signals for the daemon's terminal or process group are not for us; shims are reaped by
    // the kernel; a daemon gone mid-reply is an error, not a signal.
    let _ = nix::unistd::setsid();
    let _ = nix::unistd::chdir("/");
    if let Err(e) = crate::sys::ignore_signal(libc::SIGCHLD).and(crate::sys::ignore_sigpipe()) {
        zygote_log(format_args!("setting up signals: {e}"));
        return 2;
    }
    let host_netns = match std::fs::File::open("/proc/self/ns/net") {
        Ok(f) => OwnedFd::from(f),
        Err(e) => {
            zygote_log(format_args!("opening /proc/self/ns/net: {e}"));
            return 2;
        }
    };
    let mut reserve = None;
    let mut held = Held::default();
    let mut spare: Option<Spare> = None;
    let mut priority = Priority::new();
    let cgroup_v1 = matches!(
        crate::cgroups::detect(),
        Ok(crate::cgroups::CgroupVersion::V1)
    );
    loop {
        // What follows readies the next request; it runs beside the shim just forked, which
        // starts its container now: at a low priority, it gives way.
        priority.background();
        if cgroup_v1 {
            // Read afresh after every fork: the next shim finds them read, and not stale.
            crate::cgroups::prepare_v1();
        }
        if reserve.is_none() {
            reserve = match new_netns(&host_netns) {
                Ok(ns) => Some(ns),
                Err(NetnsError::Fatal(e)) => {
                    zygote_log(format_args!("{e}; exiting"));
                    return 1;
                }
                Err(NetnsError::Unavailable(e)) => {
                    zygote_log(format_args!("no network namespace in reserve: {e}"));
                    None
                }
            };
        }
        if spare.is_none() {
            spare = Spare::fork(priority.normal)
                .map_err(|e| zygote_log(format_args!("no spare shim: {e}")))
                .ok();
        }
        priority.restore();
        held.release(false);
        // Idle: once a second, the namespaces of exited shims go, until a request comes (the
        // next request is already readied above).
        while !held.is_empty() && !readable(&sock, PollTimeout::from(RELEASE_IDLE_MS)) {
            held.release(true);
        }
        let (packet, fds) = match crate::fdpass::recv(sock.as_fd(), MAX_PACKET, 3) {
            Ok((p, _)) if p.is_empty() => return 0,
            Ok(r) => r,
            Err(e) => {
                zygote_log(format_args!("receiving a request: {e}"));
                return 1;
            }
        };
        let reply = match <[OwnedFd; 3]>::try_from(fds) {
            Ok(stdio) => {
                let netns = if packet[0] & WANTS_NETNS != 0 {
                    reserve.take()
                } else {
                    None
                };
                let started = match spare.take() {
                    Some(s) => s.start(&packet, &stdio, netns.as_ref()),
                    None => Err("none forked".to_string()),
                };
                // Without a usable spare, one forked now takes the request at once.
                let forked = started.or_else(|e| {
                    zygote_log(format_args!("spare shim not used ({e}); forking one"));
                    Spare::fork(priority.normal)?.start(&packet, &stdio, netns.as_ref())
                });
                if let (Ok(f), Some(ns)) = (&forked, netns) {
                    held.hold(ns, &f.pidfd);
                }
                forked
            }
            Err(_) => Err("a request must carry three descriptors".to_string()),
        };
        let sent = match reply {
            Ok(Forked { pid, pidfd }) => crate::fdpass::send(
                sock.as_fd(),
                &[&[REPLY_OK], &pid.to_le_bytes()],
                &[pidfd.as_raw_fd()],
            ),
            Err(msg) => {
                let mut p = vec![REPLY_ERROR];
                p.extend_from_slice(msg.as_bytes());
                crate::fdpass::send(sock.as_fd(), &[&p], &[])
            }
        };
        if let Err(e) = sent {
            zygote_log(format_args!("replying: {e}"));
            return 1;
        }
    }
}

/// A shim forked before its request, waiting on `sock` (see the module doc).
struct Spare {
    pid: i32,
    pidfd: OwnedFd,
    sock: OwnedFd,
}

impl Spare {
    /// Forks a spare, which takes nice value `normal` once it has its request.
    fn fork(normal: i32) -> std::result::Result<Spare, String> {
        let (ours, theirs) = crate::fdpass::pair().map_err(|e| format!("socketpair: {e}"))?;
        match clone3_fork(0, None) {
            Ok(CloneResult::Parent { pid, pidfd }) => Ok(Spare {
                pid,
                pidfd,
                sock: ours,
            }),
            Ok(CloneResult::Child) => {
                drop(ours);
                std::process::exit(spare_main(theirs, normal))
            }
            Err(e) => Err(format!("fork: {e}")),
        }
    }

    /// Hands the request (packet and descriptors) to the spare, which becomes its shim.
    fn start(
        self,
        packet: &[u8],
        stdio: &[OwnedFd; 3],
        netns: Option<&OwnedFd>,
    ) -> std::result::Result<Forked, String> {
        let mut fds: Vec<i32> = stdio.iter().map(|f| f.as_raw_fd()).collect();
        fds.extend(netns.map(|n| n.as_raw_fd()));
        crate::fdpass::send(self.sock.as_fd(), &[packet], &fds)
            .map_err(|e| format!("send to spare shim {}: {e}", self.pid))?;
        Ok(Forked {
            pid: self.pid,
            pidfd: self.pidfd,
        })
    }
}

/// A spare shim: waits for its request, then becomes the shim (never returns but through
/// `exit`). Exits quietly when the zygote goes away first.
fn spare_main(sock: OwnedFd, normal_nice: i32) -> i32 {
    // The zygote's descriptors (its socket to the daemon above all, also its stdin: a daemon
    // must see a dead zygote's socket close) are not ours to keep.
    let null = std::fs::File::open("/dev/null");
    let stdin = null
        .map_err(|e| e.to_string())
        .and_then(|n| nix::unistd::dup2_stdin(&n).map_err(|e| e.to_string()));
    if let Err(e) = stdin {
        zygote_log(format_args!("spare shim: /dev/null as stdin: {e}"));
        return 2;
    }
    if let Err(e) = crate::sys::close_fds_except(sock.as_fd()) {
        zygote_log(format_args!("spare shim: closing descriptors: {e}"));
        return 2;
    }
    let (packet, fds) = match crate::fdpass::recv(sock.as_fd(), MAX_PACKET, 4) {
        Ok((p, _)) if p.is_empty() => return 0,
        Ok(r) => r,
        Err(e) => {
            zygote_log(format_args!("spare shim: receiving its request: {e}"));
            return 2;
        }
    };
    drop(sock);
    // Forked at the zygote's background priority: back to the normal one.
    if let Err(e) = crate::sys::set_nice(normal_nice) {
        zygote_log(format_args!("spare shim: nice {normal_nice}: {e}"));
    }
    let mut fds = fds.into_iter();
    let (Some(stdin), Some(stdout), Some(stderr)) = (fds.next(), fds.next(), fds.next()) else {
        zygote_log(format_args!(
            "spare shim: a request must carry three descriptors"
        ));
        return 2;
    };
    let netns = fds.next();
    let bundle = PathBuf::from(OsStr::from_bytes(packet.get(1..).unwrap_or_default()));
    match shim_setup([stdin, stdout, stderr], netns.as_ref()) {
        Ok(netns_ready) => crate::helper::shim_main(&bundle, netns_ready),
        Err(msg) => {
            zygote_log(format_args!(
                "setting up a shim for {}: {msg}",
                bundle.display()
            ));
            2
        }
    }
}

/// The zygote's priority: its own (the daemon's) while it serves a request, [`BACKGROUND_NICE`]
/// while it readies the next one. Only with CAP_SYS_NICE, which going back up needs; without
/// it the zygote keeps its priority throughout.
struct Priority {
    normal: i32,
    enabled: bool,
}

impl Priority {
    fn new() -> Priority {
        let normal = crate::sys::get_nice().unwrap_or(0);
        Priority {
            normal,
            enabled: has_cap_sys_nice() && normal < BACKGROUND_NICE,
        }
    }

    fn background(&mut self) {
        if self.enabled {
            let _ = crate::sys::set_nice(BACKGROUND_NICE);
        }
    }

    fn restore(&mut self) {
        if self.enabled {
            if let Err(e) = crate::sys::set_nice(self.normal) {
                zygote_log(format_args!("back to nice {}: {e}", self.normal));
                self.enabled = false;
            }
        }
    }
}

/// Whether CAP_SYS_NICE is in this process's effective set.
fn has_cap_sys_nice() -> bool {
    const CAP_SYS_NICE: u32 = 23;
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let hex = s.lines().find_map(|l| l.strip_prefix("CapEff:"))?.trim();
            u64::from_str_radix(hex, 16).ok()
        })
        .is_some_and(|caps| caps & (1 << CAP_SYS_NICE) != 0)
}

/// Network namespaces handed out, each with the pidfd of the shim that uses it.
#[derive(Default)]
struct Held(Vec<(OwnedFd, OwnedFd)>);

impl Held {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn hold(&mut self, netns: OwnedFd, shim: &OwnedFd) {
        if self.0.len() >= MAX_HELD {
            return;
        }
        if let Ok(shim) = shim.try_clone() {
            self.0.push((netns, shim));
        }
    }

    /// Drops the namespaces of exited shims: all of them with `idle`, else only once
    /// [`RELEASE_BATCH`] have gathered.
    fn release(&mut self, idle: bool) {
        let exited = |shim: &OwnedFd| readable(shim, PollTimeout::ZERO);
        let dead = self.0.iter().filter(|(_, shim)| exited(shim)).count();
        if dead > 0 && (idle || dead >= RELEASE_BATCH) {
            self.0.retain(|(_, shim)| !exited(shim));
        }
    }
}

/// Whether `fd` is readable within `timeout` (a pidfd is once its process has exited).
fn readable(fd: &OwnedFd, timeout: PollTimeout) -> bool {
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    loop {
        match poll(&mut fds, timeout) {
            Ok(n) => return n > 0,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return true,
        }
    }
}

/// In a spare with its request: stdio in place, SIGCHLD default, into the reserve netns if
/// given. Returns whether the process now sits in a fresh network namespace.
fn shim_setup(stdio: [OwnedFd; 3], netns: Option<&OwnedFd>) -> std::result::Result<bool, String> {
    crate::sys::default_disposition(libc::SIGCHLD).map_err(|e| format!("signal(SIGCHLD): {e}"))?;
    let [stdin, stdout, stderr] = stdio;
    nix::unistd::dup2_stdin(&stdin).map_err(|e| format!("dup2(stdin): {e}"))?;
    nix::unistd::dup2_stdout(&stdout).map_err(|e| format!("dup2(stdout): {e}"))?;
    nix::unistd::dup2_stderr(&stderr).map_err(|e| format!("dup2(stderr): {e}"))?;
    Ok(match netns {
        Some(ns) => setns(ns, CloneFlags::CLONE_NEWNET).is_ok(),
        None => false,
    })
}

enum NetnsError {
    /// Could not make one (no privilege, ...): containers make their own.
    Unavailable(String),
    /// Could not get back into the host's: the zygote must not fork anything any more.
    Fatal(String),
}

/// A new network namespace with `lo` up, made by stepping into it and back out.
fn new_netns(host: &OwnedFd) -> std::result::Result<OwnedFd, NetnsError> {
    unshare(CloneFlags::CLONE_NEWNET)
        .map_err(|e| NetnsError::Unavailable(format!("unshare(CLONE_NEWNET): {e}")))?;
    let made = crate::helper::loopback_up()
        .map_err(|e| e.to_string())
        .and_then(|()| {
            std::fs::File::open("/proc/thread-self/ns/net")
                .map(OwnedFd::from)
                .map_err(|e| format!("open /proc/thread-self/ns/net: {e}"))
        });
    setns(host, CloneFlags::CLONE_NEWNET)
        .map_err(|e| NetnsError::Fatal(format!("setns back to the host network namespace: {e}")))?;
    made.map_err(NetnsError::Unavailable)
}

fn zygote_log(msg: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr().lock(),
        "rdockerd zygote[{}]: {msg}",
        std::process::id()
    );
}
