//! Bridges between blocking code and async streams: blocking producers feeding response
//! bodies (export, save), and blocking consumers of request bodies and downloads (load, pull).

use bytes::Bytes;
use std::io::{Read, Write};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::AsyncWrite;
use tokio::sync::mpsc;
use tokio_util::sync::PollSender;

/// A blocking `Write` into the channel a response body reads from; a gone client is a
/// broken pipe.
pub struct ChannelWriter(pub mpsc::Sender<std::io::Result<Bytes>>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A blocking `Read` over chunks sent from the async side (a request body, a download). A
/// chunk that failed to arrive reads as an error; an empty chunk marks the end. A sender gone
/// without sending that mark (a dropped request, a cancelled download) cut the input short,
/// which reads as an error, never as a shorter input.
pub struct ChannelReader {
    rx: mpsc::Receiver<std::result::Result<Bytes, String>>,
    chunk: Bytes,
    /// The end mark came.
    done: bool,
}

impl ChannelReader {
    pub fn new(rx: mpsc::Receiver<std::result::Result<Bytes, String>>) -> Self {
        Self {
            rx,
            chunk: Bytes::new(),
            done: false,
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            if self.done {
                return Ok(0);
            }
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) if chunk.is_empty() => self.done = true,
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(e)) => return Err(std::io::Error::other(e)),
                None => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the input stopped before its end",
                    ))
                }
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

/// The end mark of a [`ChannelReader`]'s input.
pub fn end_mark() -> std::result::Result<Bytes, String> {
    Ok(Bytes::new())
}

/// An `AsyncWrite` into the channel a [`ChannelReader`] reads: a download written here is read
/// by blocking code as it arrives. A gone reader is a broken pipe.
pub struct ChannelSink(pub PollSender<std::result::Result<Bytes, String>>);

impl AsyncWrite for ChannelSink {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0)); // an empty chunk would read as the end
        }
        let gone = |_| std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        ready!(self.0.poll_reserve(cx)).map_err(gone)?;
        self.0
            .send_item(Ok(Bytes::copy_from_slice(buf)))
            .map_err(gone)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
