//! The shim ↔ container-init sync channel (youki's `process/channel.rs`): a close-on-exec
//! `SOCK_SEQPACKET` socket pair carrying one serde [`Message`] per packet, and the tty master
//! as SCM_RIGHTS. The child's end closes on a successful `execve`, so EOF with no
//! [`Message::ExecFailed`] means the exec happened.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use serde::{Deserialize, Serialize};

use super::StartFailure;
use crate::error::{Error, Result};
use crate::spec::FailKind;

const MAX_MESSAGE: usize = 64 * 1024;

#[derive(Debug, Serialize, Deserialize)]
enum Message {
    /// Shim → child: everything set up from outside is done; go on. (Today that is only
    /// knowing the child's pid; user namespace maps and veth moves will go here.)
    Ready,
    /// Child → shim: the tty master is attached to this packet.
    Console,
    /// Child → shim: setting up or exec'ing failed; the child exits.
    ExecFailed { kind: FailKind, message: String },
}

/// How the child's start ended, seen from the shim.
pub(super) enum ExecOutcome {
    /// The child exec'd; `console` is the tty master if one was requested.
    Execd { console: Option<OwnedFd> },
    /// The child reported a failure (and exits).
    Failed(StartFailure),
}

/// The shim's end.
pub(super) struct ParentChannel {
    sock: OwnedFd,
}

/// The container init's end.
pub(super) struct ChildChannel {
    sock: OwnedFd,
}

/// A connected pair of channel ends, both close-on-exec.
pub(super) fn pair() -> Result<(ParentChannel, ChildChannel)> {
    let (a, b) = crate::fdpass::pair().map_err(|e| Error::sys("socketpair", e))?;
    Ok((ParentChannel { sock: a }, ChildChannel { sock: b }))
}

fn send(sock: BorrowedFd<'_>, msg: &Message, fd: Option<BorrowedFd<'_>>) -> nix::Result<()> {
    let data = serde_json::to_vec(msg).expect("plain enum serializes");
    let fds: Vec<_> = fd.iter().map(|f| f.as_raw_fd()).collect();
    crate::fdpass::send(sock, &[&data], &fds)
}

/// Receives one message (and an attached fd); `None` at EOF.
fn recv(sock: BorrowedFd<'_>) -> nix::Result<Option<(Message, Option<OwnedFd>)>> {
    let (data, fds) = crate::fdpass::recv(sock, MAX_MESSAGE, 1)?;
    if data.is_empty() {
        return Ok(None);
    }
    let msg = serde_json::from_slice(&data).map_err(|_| nix::errno::Errno::EBADMSG)?;
    Ok(Some((msg, fds.into_iter().next())))
}

impl ParentChannel {
    /// Lets the child proceed.
    pub(super) fn send_ready(&self) -> Result<()> {
        send(self.sock.as_fd(), &Message::Ready, None)
            .map_err(|e| Error::sys("send to container init", e))
    }

    /// Waits until the child exec'd (EOF) or reported a failure.
    pub(super) fn wait_exec(&self) -> Result<ExecOutcome> {
        let mut console = None;
        loop {
            match recv(self.sock.as_fd())
                .map_err(|e| Error::sys("receive from container init", e))?
            {
                None => return Ok(ExecOutcome::Execd { console }),
                Some((Message::Console, fd)) => console = fd,
                Some((Message::ExecFailed { kind, message }, _)) => {
                    return Ok(ExecOutcome::Failed(StartFailure { kind, message }))
                }
                Some((Message::Ready, _)) => {
                    return Err(Error::sys(
                        "receive from container init",
                        nix::errno::Errno::EPROTO,
                    ))
                }
            }
        }
    }
}

impl ChildChannel {
    /// Blocks until the shim lets us proceed.
    pub(super) fn wait_ready(&self) -> Result<()> {
        match recv(self.sock.as_fd()) {
            Ok(Some((Message::Ready, _))) => Ok(()),
            Ok(_) => Err(Error::sys("wait for the shim", nix::errno::Errno::EPROTO)),
            Err(e) => Err(Error::sys("wait for the shim", e)),
        }
    }

    /// Hands the tty master to the shim.
    pub(super) fn send_console(&self, master: BorrowedFd<'_>) -> Result<()> {
        send(self.sock.as_fd(), &Message::Console, Some(master))
            .map_err(|e| Error::sys("send the console to the shim", e))
    }

    /// Reports why the container could not be started.
    pub(super) fn send_exec_failed(&self, f: &StartFailure) {
        let msg = Message::ExecFailed {
            kind: f.kind,
            message: f.message.clone(),
        };
        // Nothing else to do if the shim is gone: the child exits either way.
        let _ = send(self.sock.as_fd(), &msg, None);
    }
}
