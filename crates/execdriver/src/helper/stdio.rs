//! The container's stdio: pipes (or `/dev/null` for stdin), or a pty created by the child
//! inside the container's own devpts (so `tty` shows `/dev/pts/0`) and handed to the shim.

use std::os::fd::OwnedFd;

use nix::fcntl::OFlag;

use crate::error::{Error, Result};
use crate::spec::ContainerSpec;

/// The child's ends.
pub(super) enum ChildStdio {
    /// Plain pipes / `/dev/null`.
    Pipes {
        stdin: OwnedFd,
        stdout: OwnedFd,
        stderr: OwnedFd,
    },
    /// The child opens a pty in its own devpts and sends the master over the channel.
    Tty,
}

/// The shim's ends (all `None` with a tty until the master arrives).
#[derive(Default)]
pub(super) struct ParentStdio {
    /// Write end of the stdin pipe (`open_stdin` only).
    pub stdin: Option<OwnedFd>,
    /// Read end of the stdout pipe.
    pub stdout: Option<OwnedFd>,
    /// Read end of the stderr pipe.
    pub stderr: Option<OwnedFd>,
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::sys("pipe2", e))
}

/// Creates the pipes for a non-tty container, or nothing for a tty one.
pub(super) fn create(spec: &ContainerSpec) -> Result<(ParentStdio, ChildStdio)> {
    if spec.tty {
        return Ok((ParentStdio::default(), ChildStdio::Tty));
    }
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (parent_in, child_in) = if spec.open_stdin {
        let (r, w) = pipe()?;
        (Some(w), r)
    } else {
        let null =
            std::fs::File::open("/dev/null").map_err(|e| Error::io("open", "/dev/null", e))?;
        (None, OwnedFd::from(null))
    };
    Ok((
        ParentStdio {
            stdin: parent_in,
            stdout: Some(out_r),
            stderr: Some(err_r),
        },
        ChildStdio::Pipes {
            stdin: child_in,
            stdout: out_w,
            stderr: err_w,
        },
    ))
}
