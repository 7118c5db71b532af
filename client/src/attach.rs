//! The client side of an attached container, shared by `run` and `start -a`: output
//! demultiplexing, stdin forwarding with half-close, raw terminal mode, resizes and signal
//! forwarding.

use crate::http::{query, Client, Hijacked, StreamReader};
use api::stdcopy::{Decoder, STDERR, STDOUT};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use nix::sys::termios::{self, SetArg, Termios};
use std::io::{self, IsTerminal};
use std::os::fd::AsFd;
use tokio::io::{AsyncWrite, AsyncWriteExt, WriteHalf};
use tokio::signal::unix::{signal, SignalKind};
use tokio::task::JoinHandle;

/// Stream number docker uses for errors from the daemon itself (API 1.42+).
const SYSTEM_ERR: u8 = 3;

/// What the daemon reported in-band on stream 3.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SystemError(String);

/// Puts the client's terminal (stdin) in raw mode until dropped.
pub struct RawTerminal {
    saved: Termios,
}

impl RawTerminal {
    /// Raw mode for an interactive `-t` session; `None` when stdin is not a terminal.
    pub fn enter() -> Option<Self> {
        let stdin = io::stdin();
        if !stdin.is_terminal() {
            return None;
        }
        let saved = termios::tcgetattr(stdin.as_fd()).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).ok()?;
        Some(Self { saved })
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        // Nothing useful can be done if restoring fails: the terminal is already gone.
        let _ = termios::tcsetattr(io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

/// `(rows, cols)` of the client's terminal on stdout, when it is one.
pub fn terminal_size() -> Option<(u16, u16)> {
    let stdout = io::stdout();
    if !stdout.is_terminal() {
        return None;
    }
    let ws = rustix::termios::tcgetwinsize(stdout.as_fd()).ok()?;
    (ws.ws_row > 0 && ws.ws_col > 0).then_some((ws.ws_row, ws.ws_col))
}

/// Sends `POST /containers/{id}/resize` with the terminal's size, if there is a terminal.
pub async fn resize(client: &Client, id: &str) {
    if let Some((h, w)) = terminal_size() {
        let q = query(&[("h", h.to_string()), ("w", w.to_string())]);
        // A failed resize (the container already exited) is not worth reporting, as in docker.
        let _ = client.post(&format!("/containers/{id}/resize{q}")).await;
    }
}

/// Resizes now and on every SIGWINCH, until the task is aborted.
pub fn monitor_size(client: Client, id: String) -> JoinHandle<()> {
    tokio::spawn(async move {
        resize(&client, &id).await;
        let Ok(mut winch) = signal(SignalKind::window_change()) else {
            return;
        };
        while winch.recv().await.is_some() {
            resize(&client, &id).await;
        }
    })
}

/// Forwards the usual terminating signals to the container (`--sig-proxy`), until aborted.
pub fn proxy_signals(client: Client, id: String) -> JoinHandle<()> {
    tokio::spawn(async move {
        let kinds = [
            ("SIGINT", SignalKind::interrupt()),
            ("SIGTERM", SignalKind::terminate()),
            ("SIGHUP", SignalKind::hangup()),
            ("SIGQUIT", SignalKind::quit()),
            ("SIGUSR1", SignalKind::user_defined1()),
            ("SIGUSR2", SignalKind::user_defined2()),
        ];
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for (name, kind) in kinds {
            let Ok(mut s) = signal(kind) else { continue };
            let tx = tx.clone();
            tokio::spawn(async move { while s.recv().await.is_some() && tx.send(name).is_ok() {} });
        }
        while let Some(name) = rx.recv().await {
            let _ = client
                .post(&format!("/containers/{id}/kill?signal={name}"))
                .await;
        }
    })
}

/// Copies the client's stdin into the attach connection when `send_stdin`, then half-closes
/// it so the daemon sees EOF (without `-i`, at once, as the docker CLI does).
pub fn pump_stdin(
    writer: Option<WriteHalf<TokioIo<Upgraded>>>,
    send_stdin: bool,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let Some(mut writer) = writer else { return };
        if send_stdin {
            let mut stdin = tokio::io::stdin();
            // A write error means the container is gone; the output side reports the end.
            let _ = tokio::io::copy(&mut stdin, &mut writer).await;
        }
        let _ = writer.shutdown().await;
    })
}

async fn write_out<W: AsyncWrite + Unpin>(w: &mut W, data: &[u8]) -> io::Result<()> {
    w.write_all(data).await?;
    w.flush().await
}

/// How an output stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// The daemon closed the stream (the container exited or the log ended).
    Eof,
    /// Our stdout or stderr was closed (`| head`): the docker CLI dies of SIGPIPE here.
    OutputClosed,
}

/// Copies the container's output to our stdout/stderr until the stream ends: raw bytes with a
/// TTY, stdcopy frames otherwise.
pub async fn stream_output(reader: &mut StreamReader, tty: bool) -> anyhow::Result<StreamEnd> {
    let mut stdout = tokio::io::stdout();
    let mut stderr = tokio::io::stderr();
    let mut decoder = Decoder::new();
    while let Some(chunk) = reader.next_chunk().await? {
        if tty {
            if write_out(&mut stdout, &chunk).await.is_err() {
                return Ok(StreamEnd::OutputClosed);
            }
            continue;
        }
        decoder.feed(&chunk);
        while let Some((stream, payload)) = decoder.next_frame() {
            let res = match stream {
                STDOUT => write_out(&mut stdout, &payload).await,
                STDERR => write_out(&mut stderr, &payload).await,
                SYSTEM_ERR => {
                    let message = String::from_utf8_lossy(&payload).into_owned();
                    return Err(SystemError(message).into());
                }
                _ => Ok(()),
            };
            if res.is_err() {
                return Ok(StreamEnd::OutputClosed);
            }
        }
    }
    Ok(StreamEnd::Eof)
}

/// Options of one attached session.
pub struct Session {
    pub tty: bool,
    pub stdin: bool,
    pub sig_proxy: bool,
}

/// Background helpers that run while attached; aborted by [`Helpers::stop`].
pub struct Helpers(Vec<JoinHandle<()>>);

impl Helpers {
    /// Starts stdin pumping, and signal forwarding (non-TTY with `sig_proxy`).
    pub fn start(client: &Client, id: &str, hijacked: &mut Hijacked, s: &Session) -> Self {
        let mut tasks = vec![pump_stdin(hijacked.writer.take(), s.stdin)];
        if s.sig_proxy && !s.tty {
            tasks.push(proxy_signals(client.clone(), id.to_string()));
        }
        Self(tasks)
    }

    /// Adds the resize monitor (started after the container, as docker does).
    pub fn watch_size(&mut self, client: &Client, id: &str) {
        self.0.push(monitor_size(client.clone(), id.to_string()));
    }

    /// Aborts all helpers.
    pub fn stop(self) {
        for t in self.0 {
            t.abort();
        }
    }
}
