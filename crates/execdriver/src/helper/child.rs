//! The container's init between `clone3` and `execve`: runs in the new namespaces, on a copy
//! of the (single-threaded) shim's memory. Every failure goes back over the channel.

use std::convert::Infallible;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::panic::AssertUnwindSafe;
use std::path::Path;

use nix::fcntl::OFlag;
use nix::mount::MsFlags;
use nix::sched::{unshare, CloneFlags};
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
use nix::sys::stat::Mode;
use nix::unistd::{Gid, Uid};

use super::channel::ChildChannel;
use super::stdio::ChildStdio;
use super::{exec, rootfs, StartFailure};
use crate::cgroups::{AnyCgroupManager, CgroupManager};
use crate::error::{Error, Result};
use crate::spec::{ContainerSpec, FailKind, NetworkMode};
use crate::user::ExecUser;

/// Runs the init; never returns (it execs or exits).
pub(super) fn run(
    spec: &ContainerSpec,
    cgroup: &AnyCgroupManager,
    join_cgroup: bool,
    netns_ready: bool,
    io: ChildStdio,
    chan: ChildChannel,
) -> ! {
    let res = std::panic::catch_unwind(AssertUnwindSafe(|| {
        init(spec, cgroup, join_cgroup, netns_ready, io, &chan)
    }));
    let failure = match res {
        Ok(Ok(never)) => match never {},
        Ok(Err(f)) => f,
        Err(_) => StartFailure {
            kind: FailKind::Other,
            message: "container init panicked".into(),
        },
    };
    chan.send_exec_failed(&failure);
    std::process::exit(1)
}

fn init(
    spec: &ContainerSpec,
    cgroup: &AnyCgroupManager,
    join_cgroup: bool,
    netns_ready: bool,
    io: ChildStdio,
    chan: &ChildChannel,
) -> Result<Infallible, StartFailure> {
    nix::unistd::setsid().map_err(|e| Error::sys("setsid", e))?;
    reset_signals()?;
    nix::sys::stat::umask(Mode::from_bits_truncate(0o022));
    if let ChildStdio::Pipes {
        stdin,
        stdout,
        stderr,
    } = io
    {
        dup_stdio(&stdin, &stdout, &stderr)?;
    }
    // The mounts that do not depend on the cgroup, while the shim makes it (v1).
    rootfs::prepare(spec)?;
    chan.wait_ready()?;
    if join_cgroup {
        cgroup.join_self()?;
    }
    // Now in the container's cgroups: make them the root of a new cgroup namespace.
    unshare(CloneFlags::CLONE_NEWCGROUP).map_err(|e| Error::sys("unshare(CLONE_NEWCGROUP)", e))?;
    rootfs::finish(spec, &cgroup.container_mounts())?;
    if !spec.hostname.is_empty() {
        nix::unistd::sethostname(&spec.hostname).map_err(|e| Error::sys("sethostname", e))?;
    }
    if !spec.domainname.is_empty() {
        crate::sys::setdomainname(&spec.domainname).map_err(|e| Error::sys("setdomainname", e))?;
    }
    if spec.network == NetworkMode::None && !netns_ready {
        loopback_up()?;
    }
    let user = exec::resolve_user(&spec.user)?;
    if spec.tty {
        console(spec, &user, chan)?;
    }
    let cwd = if spec.cwd.is_empty() {
        "/"
    } else {
        spec.cwd.as_str()
    };
    // Docker creates a missing working directory (owned by root).
    std::fs::create_dir_all(cwd).map_err(|e| Error::io("create working directory", cwd, e))?;
    set_ids(&user)?;
    nix::unistd::chdir(cwd).map_err(|e| StartFailure {
        kind: FailKind::Other,
        message: format!(
            "chdir to cwd ({cwd:?}) set in config.json failed: {}",
            exec::go_errno(e)
        ),
    })?;
    let env = exec::env_with_home(&spec.env, &user.home);
    let Some(arg0) = spec.args.first() else {
        return Err(StartFailure {
            kind: FailKind::Other,
            message: "no command specified".into(),
        });
    };
    let path = exec::lookup(arg0, &env)?;
    exec::execve(&path, &spec.args, &env)
}

/// Every signal to its default action and none blocked, as a fresh process expects.
fn reset_signals() -> Result<()> {
    for sig in 1..=libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        crate::sys::default_disposition(sig).map_err(|e| Error::sys("signal(SIG_DFL)", e))?;
    }
    nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&nix::sys::signal::SigSet::empty()),
        None,
    )
    .map_err(|e| Error::sys("sigprocmask", e))
}

fn dup_stdio(stdin: &impl AsFd, stdout: &impl AsFd, stderr: &impl AsFd) -> Result<()> {
    nix::unistd::dup2_stdin(stdin).map_err(|e| Error::sys("dup2(stdin)", e))?;
    nix::unistd::dup2_stdout(stdout).map_err(|e| Error::sys("dup2(stdout)", e))?;
    nix::unistd::dup2_stderr(stderr).map_err(|e| Error::sys("dup2(stderr)", e))
}

/// A new network namespace has only `lo`, and down.
pub(crate) fn loopback_up() -> Result<()> {
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| Error::sys("socket", e))?;
    let flags = crate::sys::get_if_flags(sock.as_fd(), "lo")
        .map_err(|e| Error::sys("ioctl(SIOCGIFFLAGS, lo)", e))?;
    let up = (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    crate::sys::set_if_flags(sock.as_fd(), "lo", flags | up)
        .map_err(|e| Error::sys("ioctl(SIOCSIFFLAGS, lo)", e))
}

/// Opens a pty in the container's devpts (so it is `/dev/pts/0` inside), hands the master to
/// the shim, and makes the slave our controlling terminal, stdio and `/dev/console`.
fn console(spec: &ContainerSpec, user: &ExecUser, chan: &ChildChannel) -> Result<()> {
    use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(|e| Error::sys("posix_openpt", e))?;
    grantpt(&master).map_err(|e| Error::sys("grantpt", e))?;
    unlockpt(&master).map_err(|e| Error::sys("unlockpt", e))?;
    let name = ptsname_r(&master).map_err(|e| Error::sys("ptsname", e))?;
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(&name)
        .map_err(|e| Error::io("open", &name, e))?;
    // As runc does: the console belongs to the container's user.
    let _ = nix::unistd::fchown(&slave, Some(Uid::from_raw(user.uid)), None);
    if let Some((rows, cols)) = spec.console_size {
        crate::sys::set_winsize(master.as_fd(), rows, cols)
            .map_err(|e| Error::sys("ioctl(TIOCSWINSZ)", e))?;
    }
    chan.send_console(master.as_fd())?;
    drop(master);
    crate::sys::set_controlling_tty(slave.as_fd())
        .map_err(|e| Error::sys("ioctl(TIOCSCTTY)", e))?;
    dup_stdio(&slave, &slave, &slave)?;
    let target = Path::new("/dev/console");
    nix::mount::mount(
        Some(name.as_str()),
        target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| Error::Mount {
        what: name.clone(),
        target: target.to_path_buf(),
        source: e,
    })?;
    Ok(())
}

fn set_ids(user: &ExecUser) -> Result<()> {
    let groups: Vec<Gid> = user.groups.iter().map(|g| Gid::from_raw(*g)).collect();
    nix::unistd::setgroups(&groups).map_err(|e| Error::sys("setgroups", e))?;
    let gid = Gid::from_raw(user.gid);
    nix::unistd::setresgid(gid, gid, gid).map_err(|e| Error::sys("setresgid", e))?;
    let uid = Uid::from_raw(user.uid);
    nix::unistd::setresuid(uid, uid, uid).map_err(|e| Error::sys("setresuid", e))
}
