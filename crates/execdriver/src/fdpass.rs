//! Packets with descriptors attached (SCM_RIGHTS) on `SOCK_SEQPACKET` sockets: the shim ↔
//! container-init channel, the daemon ↔ zygote socket and the zygote ↔ spare shim sockets.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};

use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};

/// A connected pair of close-on-exec `SOCK_SEQPACKET` sockets.
pub(crate) fn pair() -> nix::Result<(OwnedFd, OwnedFd)> {
    socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
}

/// Sends one packet made of `parts`, with `fds` attached (if any). A peer gone is `EPIPE`,
/// never SIGPIPE.
pub(crate) fn send(sock: BorrowedFd<'_>, parts: &[&[u8]], fds: &[RawFd]) -> nix::Result<()> {
    let iov: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
    let rights = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage<'_>] = if fds.is_empty() { &[] } else { &rights };
    sendmsg::<()>(sock.as_raw_fd(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None)?;
    Ok(())
}

/// The most descriptors one packet may carry here.
const MAX_FDS: usize = 4;

/// Receives one packet of at most `max_bytes` and up to `max_fds` descriptors (close-on-exec;
/// any beyond are closed). An empty packet means the peer closed its end.
pub(crate) fn recv(
    sock: BorrowedFd<'_>,
    max_bytes: usize,
    max_fds: usize,
) -> nix::Result<(Vec<u8>, Vec<OwnedFd>)> {
    let mut buf = vec![0u8; max_bytes];
    let mut cmsg = nix::cmsg_space!([RawFd; MAX_FDS]);
    loop {
        let mut iov = [IoSliceMut::new(&mut buf)];
        match recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Ok(m) => {
                let mut fds = Vec::new();
                for c in m.cmsgs()? {
                    if let ControlMessageOwned::ScmRights(raw) = c {
                        fds.extend(raw.into_iter().map(crate::sys::own_received_fd));
                    }
                }
                let n = m.bytes;
                buf.truncate(n);
                fds.truncate(max_fds);
                return Ok((buf, fds));
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
}
