//! Receiving a packet with descriptors attached (SCM_RIGHTS) on a `SOCK_SEQPACKET` socket:
//! the shim ↔ container-init channel and the daemon ↔ zygote socket.

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};

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
