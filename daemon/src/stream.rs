//! Blocking producers feeding streamed response bodies (export, save).

use bytes::Bytes;
use std::io::Write;
use tokio::sync::mpsc;

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
