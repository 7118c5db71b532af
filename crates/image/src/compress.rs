//! Layer blob compression: detection by magic bytes and transparent decompression.

use std::io::{self, Cursor, Read};

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0x00];
const BZIP2_MAGIC: &[u8] = b"BZh";
/// Enough bytes to tell every format above apart.
const MAGIC_LEN: usize = 6;

/// How a layer blob is compressed, as told by its first bytes (media types lie; magic doesn't).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar (or anything that is neither gzip nor zstd).
    None,
    /// gzip (`1f 8b`).
    Gzip,
    /// zstd (`28 b5 2f fd`).
    Zstd,
}

impl Compression {
    /// The compression of a blob starting with `head`.
    pub fn detect(head: &[u8]) -> Self {
        if head.starts_with(GZIP_MAGIC) {
            Self::Gzip
        } else if head.starts_with(ZSTD_MAGIC) {
            Self::Zstd
        } else {
            Self::None
        }
    }
}

/// Reads up to `MAGIC_LEN` bytes, retrying short reads (pipes and decoders return less than asked).
pub(crate) fn read_head(r: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut head = vec![0; MAGIC_LEN];
    let mut n = 0;
    while n < MAGIC_LEN {
        match r.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    head.truncate(n);
    Ok(head)
}

/// Opens a layer blob, transparently decompressing gzip or zstd (detected by magic bytes); any
/// other content is returned as it is. xz and bzip2, which Docker's legacy loader also accepts,
/// are refused with [`io::ErrorKind::Unsupported`] rather than misread as a tar.
pub fn decompress(mut r: impl Read + Send + 'static) -> io::Result<Box<dyn Read + Send>> {
    let head = read_head(&mut r)?;
    let kind = Compression::detect(&head);
    if kind == Compression::None && (head.starts_with(XZ_MAGIC) || head.starts_with(BZIP2_MAGIC)) {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "xz and bzip2 compressed layers are not supported",
        ));
    }
    let whole = Cursor::new(head).chain(r);
    Ok(match kind {
        Compression::None => Box::new(whole),
        // Multi-member, as Go's gzip reader (and so Docker) reads concatenated gzip streams.
        Compression::Gzip => read_ahead(Box::new(flate2::read::MultiGzDecoder::new(whole)))?,
        Compression::Zstd => read_ahead(Box::new(zstd::stream::read::Decoder::new(whole)?))?,
    })
}

/// Bytes per chunk a [`read_ahead`] thread hands over (below glibc's mmap threshold, so the
/// few buffers come from and go back to the heap), and chunks in flight.
const AHEAD_CHUNK: usize = 64 << 10;
const AHEAD_DEPTH: usize = 4;

/// Reads `inner` on a thread of its own, ahead of the caller: a decompressor then runs beside
/// what consumes its output (unpacking a layer), on another CPU, instead of taking turns with
/// it. An error of `inner` reaches the caller after the bytes read before it; dropping the
/// returned reader ends the thread at its next chunk.
fn read_ahead(mut inner: Box<dyn Read + Send>) -> io::Result<Box<dyn Read + Send>> {
    use std::sync::mpsc::{channel, sync_channel};
    let (tx, rx) = sync_channel::<io::Result<Vec<u8>>>(AHEAD_DEPTH);
    let (spare_tx, spare) = channel::<Vec<u8>>();
    std::thread::Builder::new()
        .name("decompress".to_owned())
        .spawn(move || loop {
            let mut buf = spare.try_recv().unwrap_or_default();
            buf.resize(AHEAD_CHUNK, 0);
            // An empty chunk marks the end: a thread gone without one did not finish.
            let msg = match read_full(&mut inner, &mut buf) {
                Ok(n) => {
                    buf.truncate(n);
                    Ok(buf)
                }
                Err(e) => Err(e),
            };
            let last = msg.as_ref().map_or(true, Vec::is_empty);
            if tx.send(msg).is_err() || last {
                return;
            }
        })?;
    Ok(Box::new(Ahead {
        rx,
        spare: spare_tx,
        chunk: Vec::new(),
        pos: 0,
        done: false,
    }))
}

/// Fills `buf` unless the input ends first; returns how much was read.
fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

struct Ahead {
    rx: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    spare: std::sync::mpsc::Sender<Vec<u8>>,
    chunk: Vec<u8>,
    pos: usize,
    /// The end was seen.
    done: bool,
}

impl Read for Ahead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            if self.done {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Ok(next)) => {
                    self.done = next.is_empty();
                    let used = std::mem::replace(&mut self.chunk, next);
                    let _ = self.spare.send(used);
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err(io::Error::other("the decompressing thread stopped")),
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
    use std::io::Write;

    fn roundtrip(blob: Vec<u8>) -> Vec<u8> {
        let mut out = Vec::new();
        decompress(Cursor::new(blob))
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    /// Yields `good` bytes, then fails.
    struct FailsAfter {
        good: usize,
    }

    impl Read for FailsAfter {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.good == 0 {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "corrupt stream"));
            }
            let n = buf.len().min(self.good).min(1000);
            buf[..n].fill(7);
            self.good -= n;
            Ok(n)
        }
    }

    #[test]
    fn read_ahead_gives_everything_then_the_error() {
        let mut r = read_ahead(Box::new(FailsAfter {
            good: 3 * AHEAD_CHUNK + 5,
        }))
        .unwrap();
        let mut got = Vec::new();
        let err = r.read_to_end(&mut got).unwrap_err();
        assert_eq!(err.to_string(), "corrupt stream");
        // Whole chunks before the failing one arrive; the partial one is lost with the error.
        assert_eq!(got.len(), 3 * AHEAD_CHUNK);
        let data: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let mut out = Vec::new();
        read_ahead(Box::new(Cursor::new(data.clone())))
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn plain_gzip_and_zstd_decompress_to_the_same_bytes() {
        let data = b"layer tar bytes".repeat(100);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&data[..], 3).unwrap();
        assert_eq!(Compression::detect(&gz), Compression::Gzip);
        assert_eq!(Compression::detect(&zst), Compression::Zstd);
        assert_eq!(Compression::detect(&data), Compression::None);
        assert_eq!(roundtrip(data.clone()), data);
        assert_eq!(roundtrip(gz), data);
        assert_eq!(roundtrip(zst), data);
        assert_eq!(
            roundtrip(Vec::new()),
            b"",
            "an empty blob is an empty stream"
        );
        assert_eq!(roundtrip(vec![1]), [1], "shorter than any magic");
    }

    #[test]
    fn concatenated_gzip_members_are_read_whole() {
        let mut blob = Vec::new();
        for part in [&b"one "[..], b"two"] {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(part).unwrap();
            blob.extend(gz.finish().unwrap());
        }
        assert_eq!(roundtrip(blob), b"one two");
    }

    #[test]
    fn xz_is_refused_clearly() {
        let err = match decompress(Cursor::new(XZ_MAGIC.to_vec())) {
            Err(e) => e,
            Ok(_) => panic!("xz accepted"),
        };
        assert_eq!(err.kind(), io::ErrorKind::Unsupported);
    }
}
