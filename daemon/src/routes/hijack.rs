//! Raw streams: the hijacked attach connection (`101 UPGRADED`, then stdcopy frames or raw TTY
//! bytes out and stdin in) and chunked log bodies.

use crate::container::{AttachStreams, Input, LogStream, Output};
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::broadcast::error::RecvError;

/// Which output streams the client asked for.
#[derive(Debug, Clone, Copy)]
pub struct Select {
    pub stdout: bool,
    pub stderr: bool,
}

const RAW_STREAM: &str = "application/vnd.docker.raw-stream";

/// Answers an attach request: hijacks the connection when the client asked to upgrade,
/// otherwise streams output in the response body (no stdin then).
pub fn attach(mut req: Request, streams: AttachStreams, select: Select) -> Response {
    let upgrade = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("tcp"));
    if !upgrade {
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
        tokio::spawn(async move {
            let mut sink = ChannelSink(tx);
            pump_output(&mut sink, streams.output, streams.tty, select).await;
        });
        let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv()
                .await
                .map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
        }));
        let mut res = Response::new(body);
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(RAW_STREAM));
        return res;
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => session(TokioIo::new(upgraded), streams, select).await,
            Err(e) => tracing::debug!(error = %e, "attach upgrade failed"),
        }
    });
    let mut res = Response::new(Body::empty());
    *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(RAW_STREAM));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    res
}

async fn session<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    io: S,
    s: AttachStreams,
    select: Select,
) {
    let (mut rd, wr) = tokio::io::split(io);
    let stdin_task = s.input.map(|input| {
        let once = s.stdin_once;
        tokio::spawn(async move {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if input
                            .send(Input::Data(Bytes::copy_from_slice(&buf[..n])))
                            .is_err()
                        {
                            return;
                        }
                    }
                }
            }
            // A client half-closing its side is not a detach: output keeps flowing.
            if once {
                let _ = input.send(Input::Close);
            }
        })
    });
    let mut sink = IoSink(wr);
    pump_output(&mut sink, s.output, s.tty, select).await;
    let _ = sink.0.shutdown().await;
    if let Some(t) = stdin_task {
        t.abort();
    }
}

/// Copies output to `w` until the container exits or the client goes away.
async fn pump_output<W: OutputSink>(
    w: &mut W,
    mut output: tokio::sync::broadcast::Receiver<Output>,
    tty: bool,
    select: Select,
) {
    loop {
        match output.recv().await {
            Ok(Output::Data(stream, data)) => {
                let wanted = if stream == 2 {
                    select.stderr
                } else {
                    select.stdout
                };
                if !wanted {
                    continue;
                }
                let bytes = if tty {
                    data.to_vec()
                } else {
                    api::stdcopy::frame(stream, &data)
                };
                if !w.put(bytes).await {
                    return;
                }
            }
            Ok(Output::Exited) | Err(RecvError::Closed) => return,
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(skipped = n, "attach client too slow; output dropped")
            }
        }
    }
}

/// Where attach output goes: the hijacked socket or a response body channel.
trait OutputSink {
    async fn put(&mut self, bytes: Vec<u8>) -> bool;
}

struct IoSink<W>(W);

impl<W: AsyncWrite + Unpin> OutputSink for IoSink<W> {
    async fn put(&mut self, bytes: Vec<u8>) -> bool {
        self.0.write_all(&bytes).await.is_ok() && self.0.flush().await.is_ok()
    }
}

struct ChannelSink(tokio::sync::mpsc::Sender<Bytes>);

impl OutputSink for ChannelSink {
    async fn put(&mut self, bytes: Vec<u8>) -> bool {
        self.0.send(Bytes::from(bytes)).await.is_ok()
    }
}

/// A chunked body of log lines: stdcopy frames without a TTY, raw bytes with one.
pub fn log_body(s: LogStream) -> Response {
    let tty = s.tty;
    let body = Body::from_stream(futures_util::stream::unfold(
        s.rx,
        move |mut rx| async move {
            let (stream, data) = rx.recv().await?;
            let bytes = if tty {
                data
            } else {
                Bytes::from(api::stdcopy::frame(stream, &data))
            };
            Some((Ok::<_, std::convert::Infallible>(bytes), rx))
        },
    ));
    Response::new(body)
}
