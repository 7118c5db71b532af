//! The shim's single-threaded `poll` loop while the container runs: output pipes (or the tty
//! master) → json log + `Output` events; control frames → the container's stdin / tty size;
//! the pidfd → reap, then drain the output to EOF.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

use super::launch::Launched;
use super::log::JsonLog;
use super::{shim_log, EventSink};
use crate::proto::{Control, ControlDecoder, Event, STDERR, STDOUT};

/// Stop reading control frames while this much stdin is waiting for the container.
const MAX_PENDING_STDIN: usize = 1 << 20;
/// How long to keep draining output after PID 1 exited. The PID namespace dies with it, so
/// the pipes reach EOF at once; this only guards against a stray holder of a write end.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
const CHUNK: usize = 32 * 1024;

struct Output {
    fd: Option<OwnedFd>,
    stream: u8,
}

/// The container's stdin as we write it: non-blocking, buffered, so a container that doesn't
/// read can't stall the loop (and with it, the draining of its output).
struct StdinSink {
    fd: Option<OwnedFd>,
    tty: bool,
    pending: Vec<u8>,
    close_when_flushed: bool,
}

impl StdinSink {
    fn push(&mut self, data: &[u8]) {
        if self.fd.is_some() {
            self.pending.extend_from_slice(data);
        }
    }

    /// `CloseStdin`: close the pipe once flushed; a tty can't be closed without ending the
    /// output too, so it gets `^D` (EOF at the start of a line in canonical mode) instead.
    fn close(&mut self) {
        if self.tty {
            self.push(&[4]);
        } else {
            self.close_when_flushed = true;
        }
        self.flush();
    }

    fn wants_write(&self) -> bool {
        self.fd.is_some() && !self.pending.is_empty()
    }

    fn flush(&mut self) {
        while let (Some(fd), false) = (&self.fd, self.pending.is_empty()) {
            match nix::unistd::write(fd, &self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return,
                Err(_) => {
                    // The container closed its stdin: drop what it will never read.
                    self.fd = None;
                    self.pending.clear();
                }
            }
        }
        if self.close_when_flushed && self.pending.is_empty() {
            self.fd = None;
        }
    }

    fn resize(&self, rows: u16, cols: u16) {
        if let (true, Some(fd)) = (self.tty, &self.fd) {
            if let Err(e) = crate::sys::set_winsize(fd.as_fd(), rows, cols) {
                shim_log(format_args!("resize to {rows}x{cols} failed: {e}"));
            }
        }
    }
}

fn set_nonblocking(fd: BorrowedFd<'_>) {
    let flags = fcntl(fd, FcntlArg::F_GETFL).map(OFlag::from_bits_truncate);
    if let Ok(f) = flags {
        let _ = fcntl(fd, FcntlArg::F_SETFL(f | OFlag::O_NONBLOCK));
    }
}

#[derive(Clone, Copy)]
enum Tag {
    Control,
    Output(usize),
    Stdin,
    Exit,
}

/// Runs until the container's PID 1 exited and its output is drained; returns the exit code.
pub(super) fn run(l: Launched, mut log: JsonLog, events: &mut EventSink) -> i32 {
    let mut outputs = Vec::new();
    let mut stdin = StdinSink {
        fd: None,
        tty: l.console.is_some(),
        pending: Vec::new(),
        close_when_flushed: false,
    };
    if let Some(master) = l.console {
        stdin.fd = master.try_clone().ok();
        outputs.push(Output {
            fd: Some(master),
            stream: STDOUT,
        });
    } else {
        stdin.fd = l.stdio.stdin;
        outputs.push(Output {
            fd: l.stdio.stdout,
            stream: STDOUT,
        });
        outputs.push(Output {
            fd: l.stdio.stderr,
            stream: STDERR,
        });
    }
    for fd in outputs
        .iter()
        .filter_map(|o| o.fd.as_ref())
        .chain(stdin.fd.as_ref())
    {
        set_nonblocking(fd.as_fd());
    }
    let control_in = std::io::stdin();
    let mut control_open = true;
    let mut decoder = ControlDecoder::new();
    let mut pidfd = Some(l.pidfd);
    let mut exit_code = None;
    let mut deadline: Option<Instant> = None;
    let mut buf = vec![0u8; CHUNK];

    loop {
        if exit_code.is_some() && outputs.iter().all(|o| o.fd.is_none()) {
            break;
        }
        let mut tags = Vec::new();
        let mut fds = Vec::new();
        if control_open && exit_code.is_none() && stdin.pending.len() < MAX_PENDING_STDIN {
            tags.push(Tag::Control);
            fds.push(PollFd::new(control_in.as_fd(), PollFlags::POLLIN));
        }
        for (i, o) in outputs.iter().enumerate() {
            if let Some(fd) = &o.fd {
                tags.push(Tag::Output(i));
                fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
            }
        }
        if let (true, Some(fd)) = (stdin.wants_write(), &stdin.fd) {
            tags.push(Tag::Stdin);
            fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLOUT));
        }
        if let Some(p) = &pidfd {
            tags.push(Tag::Exit);
            fds.push(PollFd::new(p.as_fd(), PollFlags::POLLIN));
        }
        let timeout = match deadline {
            None => PollTimeout::NONE,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    shim_log(format_args!(
                        "output still open {DRAIN_TIMEOUT:?} after exit; giving up"
                    ));
                    break;
                }
                PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX)
            }
        };
        match poll(&mut fds, timeout) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => {
                shim_log(format_args!("poll failed: {e}"));
                break;
            }
        }
        let ready: Vec<Tag> = tags
            .iter()
            .zip(&fds)
            .filter(|(_, f)| f.revents().is_some_and(|r| !r.is_empty()))
            .map(|(t, _)| *t)
            .collect();
        drop(fds);
        for tag in ready {
            match tag {
                Tag::Output(i) => read_output(&mut outputs[i], &mut buf, &mut log, events),
                Tag::Stdin => stdin.flush(),
                Tag::Control => {
                    control_open =
                        read_control(control_in.as_fd(), &mut buf, &mut decoder, &mut stdin);
                }
                Tag::Exit => {
                    exit_code = Some(reap(l.pid));
                    pidfd = None;
                    deadline = Some(Instant::now() + DRAIN_TIMEOUT);
                }
            }
        }
    }
    for o in &outputs {
        log.flush(o.stream);
    }
    exit_code.unwrap_or_else(|| reap(l.pid))
}

fn read_output(o: &mut Output, buf: &mut [u8], log: &mut JsonLog, events: &mut EventSink) {
    let Some(fd) = &o.fd else { return };
    match nix::unistd::read(fd, buf) {
        Ok(n) if n > 0 => {
            log.write(o.stream, &buf[..n]);
            events.send(&Event::Output {
                stream: o.stream,
                data: buf[..n].to_vec(),
            });
        }
        Err(Errno::EAGAIN | Errno::EINTR) => {}
        // 0 = EOF; EIO = all slave fds of the pty are closed.
        _ => {
            o.fd = None;
            log.flush(o.stream);
        }
    }
}

/// Reads and applies control frames; returns false once the control pipe is finished.
fn read_control(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    decoder: &mut ControlDecoder,
    stdin: &mut StdinSink,
) -> bool {
    match nix::unistd::read(fd, buf) {
        Ok(0) => return false,
        Ok(n) => decoder.feed(&buf[..n]),
        Err(Errno::EAGAIN | Errno::EINTR) => return true,
        Err(_) => return false,
    }
    loop {
        match decoder.next_control() {
            Ok(Some(Control::Stdin(data))) => stdin.push(&data),
            Ok(Some(Control::CloseStdin)) => stdin.close(),
            Ok(Some(Control::Resize { rows, cols })) => stdin.resize(rows, cols),
            Ok(None) => break,
            Err(e) => {
                shim_log(format_args!(
                    "bad control frame ({e}); ignoring further control"
                ));
                return false;
            }
        }
    }
    stdin.flush();
    true
}

/// Waits for the container's PID 1: its exit status, or 128 + the signal that killed it.
fn reap(pid: i32) -> i32 {
    loop {
        match waitpid(Pid::from_raw(pid), None) {
            Ok(WaitStatus::Exited(_, code)) => return code,
            Ok(WaitStatus::Signaled(_, sig, _)) => return 128 + sig as i32,
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => {
                shim_log(format_args!("waitpid({pid}) failed: {e}"));
                return 255;
            }
        }
    }
}
