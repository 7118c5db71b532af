//! A tar written on its own thread and read through a bounded channel: `diff` returns at once,
//! memory stays at a few chunks whatever the layer's size, and nothing is left on disk.

use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use crate::{Error, Result};

/// Bytes per message; the tar crate writes in blocks of 512 bytes to 8 KiB.
const CHUNK: usize = 64 * 1024;
/// Messages in flight: with [`CHUNK`], at most ~256 KiB queued per reader.
const DEPTH: usize = 4;

enum Msg {
    Data(Vec<u8>),
    Done,
    Failed(Error),
}

/// Runs `produce` on a new thread and returns a reader of what it writes. An error of
/// `produce` reaches the reader as an [`io::Error`] (wrapping the [`Error`]) after the bytes
/// written before it, so a truncated tar is never mistaken for a complete one. Dropping the
/// reader makes the next write fail, which ends the thread.
pub(crate) fn spawn<F>(layer: &Path, produce: F) -> Result<Box<dyn Read + Send>>
where
    F: FnOnce(&mut dyn Write) -> Result<()> + Send + 'static,
{
    let (tx, rx) = sync_channel(DEPTH);
    let path = layer.to_path_buf();
    std::thread::Builder::new()
        .name("layer-diff".to_owned())
        .spawn(move || {
            let mut out = ChannelWriter {
                tx,
                buf: Vec::with_capacity(CHUNK),
            };
            let result = produce(&mut out);
            // Bytes written before an error are delivered too, then the error.
            let flushed = out
                .flush()
                .map_err(|e| Error::io("write layer tar of", &path, e));
            let result = result.and(flushed);
            let last = match result {
                Ok(()) => Msg::Done,
                Err(error) => {
                    tracing::debug!(%error, "layer diff stream ended with an error");
                    Msg::Failed(error)
                }
            };
            // The reader may be gone already; nobody is left to tell then.
            let _ = out.tx.send(last);
        })
        .map_err(|e| Error::io("start a diff thread for", layer, e))?;
    Ok(Box::new(ChannelReader {
        rx,
        chunk: Vec::new(),
        pos: 0,
        done: false,
    }))
}

struct ChannelWriter {
    tx: SyncSender<Msg>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .send(Msg::Data(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the diff reader was dropped"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

struct ChannelReader {
    rx: Receiver<Msg>,
    chunk: Vec<u8>,
    pos: usize,
    done: bool,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            if self.done {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Msg::Data(chunk)) => {
                    self.chunk = chunk;
                    self.pos = 0;
                }
                Ok(Msg::Done) => self.done = true,
                Ok(Msg::Failed(error)) => {
                    self.done = true;
                    return Err(io::Error::other(error));
                }
                Err(_) => {
                    self.done = true;
                    return Err(io::Error::other("the layer diff thread died"));
                }
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_everything_then_eof() {
        let data: Vec<u8> = (0..1_000_000u32).map(|i| i as u8).collect();
        let expected = data.clone();
        let mut r = spawn(Path::new("/test"), move |w| {
            for piece in data.chunks(7_000) {
                w.write_all(piece).expect("write");
            }
            Ok(())
        })
        .expect("spawn");
        let mut got = Vec::new();
        r.read_to_end(&mut got).expect("read");
        assert_eq!(got, expected);
        assert_eq!(r.read(&mut [0u8; 8]).expect("eof again"), 0);
    }

    #[test]
    fn an_error_follows_the_bytes_before_it() {
        let mut r = spawn(Path::new("/test"), |w| {
            w.write_all(b"partial").expect("write");
            Err(Error::io(
                "read",
                "/x",
                io::Error::from(io::ErrorKind::NotFound),
            ))
        })
        .expect("spawn");
        let mut got = Vec::new();
        let err = r
            .read_to_end(&mut got)
            .expect_err("the error reaches the reader");
        assert_eq!(got, b"partial");
        let inner = err.get_ref().and_then(|e| e.downcast_ref::<Error>());
        assert!(matches!(inner, Some(Error::Io { .. })), "{err:?}");
    }

    #[test]
    fn dropping_the_reader_stops_the_writer() {
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let r = spawn(Path::new("/test"), move |w| {
            let result = (0..).try_for_each(|_| w.write_all(&[0u8; 4096]));
            done_tx.send(result.is_err()).expect("report");
            Ok(())
        })
        .expect("spawn");
        drop(r);
        assert!(done_rx.recv().expect("writer finished"), "write failed");
    }
}
