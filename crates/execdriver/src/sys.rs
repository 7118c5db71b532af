//! The crate's only `unsafe`: one raw system call per small safe function.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// Result of [`clone3_fork`].
pub enum CloneResult {
    /// We are the new process.
    Child,
    /// We are the parent; the child's pid and a pidfd for it.
    Parent {
        /// Host pid of the child.
        pid: i32,
        /// pidfd of the child (CLONE_PIDFD).
        pidfd: OwnedFd,
    },
}

/// linux/sched.h; not in libc for every target.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `struct clone_args` (CLONE_ARGS_SIZE_VER2 = 88 bytes), as in linux/sched.h.
#[repr(C)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// `clone3()` without a new stack: fork semantics (the child continues on a copy of the
/// caller's stack), plus namespace `flags`, a pidfd, and with `cgroup` CLONE_INTO_CGROUP.
/// The caller must be single-threaded (the shim is), exactly as for `fork()`.
pub fn clone3_fork(flags: u64, cgroup: Option<BorrowedFd<'_>>) -> nix::Result<CloneResult> {
    let mut pidfd: libc::c_int = -1;
    let into_cgroup = if cgroup.is_some() {
        CLONE_INTO_CGROUP
    } else {
        0
    };
    let args = CloneArgs {
        flags: flags | libc::CLONE_PIDFD as u64 | into_cgroup,
        pidfd: std::ptr::addr_of_mut!(pidfd) as u64,
        child_tid: 0,
        parent_tid: 0,
        exit_signal: libc::SIGCHLD as u64,
        stack: 0,
        stack_size: 0,
        tls: 0,
        set_tid: 0,
        set_tid_size: 0,
        cgroup: cgroup.map_or(0, |fd| u64::try_from(fd.as_raw_fd()).unwrap_or(0)),
    };
    // SAFETY: `args` is a valid clone_args of the size passed and `pidfd` outlives the call.
    // With stack 0 the child runs on a copy-on-write copy of our address space like fork();
    // the shim is single-threaded, so no lock can be held by a vanished thread in the child.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            std::ptr::addr_of!(args),
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match ret {
        r if r < 0 => Err(nix::errno::Errno::last()),
        0 => Ok(CloneResult::Child),
        pid => {
            // SAFETY: CLONE_PIDFD made the kernel store a new fd in `pidfd` that only we own.
            let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
            let pid = i32::try_from(pid).expect("pids fit in i32");
            Ok(CloneResult::Parent { pid, pidfd })
        }
    }
}

/// `pidfd_open(pid, 0)`.
pub fn pidfd_open(pid: i32) -> nix::Result<OwnedFd> {
    // SAFETY: no pointers are passed; a non-negative result is a new fd nothing else owns.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(nix::errno::Errno::last());
    }
    let fd = RawFd::try_from(fd).expect("fds fit in c_int");
    // SAFETY: `fd` is open and owned by us alone (checked above).
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Takes ownership of a descriptor received with SCM_RIGHTS.
pub fn own_received_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: the kernel installed `fd` in our table for this message; nothing else refers to it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// `signal(sig, SIG_IGN)`.
pub fn ignore_signal(sig: libc::c_int) -> nix::Result<()> {
    // SAFETY: SIG_IGN installs no handler code, so no async-signal-safety concerns.
    let prev = unsafe { libc::signal(sig, libc::SIG_IGN) };
    if prev == libc::SIG_ERR {
        return Err(nix::errno::Errno::last());
    }
    Ok(())
}

/// `pidfd_send_signal(pidfd, sig, NULL, 0)`: signals the process the pidfd refers to, never a
/// process that reused its pid.
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: libc::c_int) -> nix::Result<()> {
    // SAFETY: a borrowed open fd and a null siginfo; no memory is shared with the kernel.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0u32,
        )
    };
    if r < 0 {
        return Err(nix::errno::Errno::last());
    }
    Ok(())
}

/// `signal(SIGPIPE, SIG_IGN)`: writes to a closed pipe return EPIPE instead of killing us.
pub fn ignore_sigpipe() -> nix::Result<()> {
    ignore_signal(libc::SIGPIPE)
}

/// `ioctl(fd, TIOCSCTTY, 0)`: make the tty `fd` our controlling terminal.
pub fn set_controlling_tty(fd: BorrowedFd<'_>) -> nix::Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument, no pointers.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0) };
    if r < 0 {
        return Err(nix::errno::Errno::last());
    }
    Ok(())
}

/// `ioctl(fd, TIOCSWINSZ, {rows, cols})`.
pub fn set_winsize(fd: BorrowedFd<'_>, rows: u16, cols: u16) -> nix::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: `ws` is a valid winsize that lives across the call; the kernel only reads it.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, std::ptr::addr_of!(ws)) };
    if r < 0 {
        return Err(nix::errno::Errno::last());
    }
    Ok(())
}

fn ifreq_for(name: &str) -> nix::Result<libc::ifreq> {
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    if name.len() >= req.ifr_name.len() {
        return Err(nix::errno::Errno::EINVAL);
    }
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    Ok(req)
}

/// `ioctl(sock, SIOCGIFFLAGS)`: the flags of interface `name`.
pub fn get_if_flags(sock: BorrowedFd<'_>, name: &str) -> nix::Result<libc::c_short> {
    let mut req = ifreq_for(name)?;
    // SAFETY: `req` is a valid, NUL-terminated ifreq the kernel fills in.
    let r = unsafe {
        libc::ioctl(
            sock.as_raw_fd(),
            libc::SIOCGIFFLAGS,
            std::ptr::addr_of_mut!(req),
        )
    };
    if r < 0 {
        return Err(nix::errno::Errno::last());
    }
    // SAFETY: SIOCGIFFLAGS filled the `ifru_flags` member of the union.
    Ok(unsafe { req.ifr_ifru.ifru_flags })
}

/// `ioctl(sock, SIOCSIFFLAGS)`: set the flags of interface `name`.
pub fn set_if_flags(sock: BorrowedFd<'_>, name: &str, flags: libc::c_short) -> nix::Result<()> {
    let mut req = ifreq_for(name)?;
    req.ifr_ifru.ifru_flags = flags;
    // SAFETY: `req` is a valid, NUL-terminated ifreq with the flags member set.
    let r = unsafe {
        libc::ioctl(
            sock.as_raw_fd(),
            libc::SIOCSIFFLAGS,
            std::ptr::addr_of!(req),
        )
    };
    if r < 0 {
        return Err(nix::errno::Errno::last());
    }
    Ok(())
}

/// `setdomainname(name)`.
pub fn setdomainname(name: &str) -> nix::Result<()> {
    let c = CString::new(name).map_err(|_| nix::errno::Errno::EINVAL)?;
    // SAFETY: `c` is a valid buffer of the length passed; the kernel copies it.
    let r = unsafe { libc::setdomainname(c.as_ptr(), name.len()) };
    if r < 0 {
        return Err(nix::errno::Errno::last());
    }
    Ok(())
}

/// `rt_sigaction(sig, SIG_DFL)` straight to the kernel: glibc's `signal()` refuses its
/// internal real-time signals (32, 33), which its `posix_spawn` leaves ignored in the shim.
/// Ignored signals stay ignored across `execve`, so the container's init resets them all.
pub fn default_disposition(sig: libc::c_int) -> nix::Result<()> {
    /// The kernel's `struct sigaction` (generic layout: x86_64, aarch64, riscv64).
    #[repr(C)]
    struct KernelSigaction {
        handler: libc::sighandler_t,
        flags: libc::c_ulong,
        restorer: usize,
        mask: u64,
    }
    let act = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // SAFETY: `act` is a valid kernel sigaction that outlives the call; SIG_DFL runs no code
    // of ours; no old action is requested (null).
    let r = unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            sig,
            std::ptr::addr_of!(act),
            std::ptr::null_mut::<KernelSigaction>(),
            std::mem::size_of::<u64>(),
        )
    };
    if r < 0 {
        return Err(nix::errno::Errno::last());
    }
    Ok(())
}

/// This process's nice value.
pub(crate) fn get_nice() -> nix::Result<i32> {
    nix::errno::Errno::clear();
    // SAFETY: plain integer arguments; -1 is a valid value, told apart from errors by errno.
    let n = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
    match nix::errno::Errno::last_raw() {
        0 => Ok(n),
        _ => Err(nix::errno::Errno::last()),
    }
}

/// Sets this process's nice value (every thread: the callers are single-threaded).
pub(crate) fn set_nice(nice: i32) -> nix::Result<()> {
    // SAFETY: plain integer arguments.
    let r = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) };
    if r < 0 {
        return Err(nix::errno::Errno::last());
    }
    Ok(())
}

/// Closes every descriptor above stderr except `keep` (which must be above stderr).
pub(crate) fn close_fds_except(keep: std::os::fd::BorrowedFd<'_>) -> nix::Result<()> {
    use std::os::fd::AsRawFd;
    let keep = u32::try_from(keep.as_raw_fd()).map_err(|_| nix::errno::Errno::EBADF)?;
    if keep < 3 {
        return Err(nix::errno::Errno::EINVAL);
    }
    if keep > 3 {
        close_range(3, keep - 1)?;
    }
    close_range(keep + 1, u32::MAX)
}

/// `close_range(first, ~0, 0)`: closes every descriptor from `first` up.
pub fn close_fds_from(first: u32) -> nix::Result<()> {
    close_range(first, u32::MAX)
}

/// `close_range(first, last, 0)`.
fn close_range(first: u32, last: u32) -> nix::Result<()> {
    // SAFETY: no pointers; closing descriptors this process doesn't use any more (the caller
    // runs before anything in it opened files).
    let r = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0u32) };
    if r < 0 {
        return Err(nix::errno::Errno::last());
    }
    Ok(())
}
