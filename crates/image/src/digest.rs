use crate::{Error, Result};
use sha2::{Digest as _, Sha256};
use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

/// A content digest, `sha256:<64 hex>`. Image ids, diff ids and chain ids are all digests.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    /// The digest of `data`.
    pub fn of(data: &[u8]) -> Self {
        Self(format!("sha256:{}", sha256_hex(data)))
    }
    /// Wraps 64 hex characters (no prefix).
    pub fn from_hex(hex: &str) -> Result<Self> {
        format!("sha256:{hex}").parse()
    }
    /// The hex part.
    pub fn hex(&self) -> &str {
        &self.0[7..]
    }
    /// The full `sha256:…` text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Digest {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let hex = s
            .strip_prefix("sha256:")
            .ok_or_else(|| Error::InvalidDigest(s.into()))?;
        if hex.len() != 64
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(Error::InvalidDigest(s.into()));
        }
        Ok(Self(s.to_string()))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Lowercase hex sha256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// A sha256 computed on a thread of its own: [`update`](Self::update) copies the bytes into a
/// chunk and hands full chunks over, so hashing runs beside whatever produces and consumes
/// them (unpacking a layer, say) instead of after it, on another CPU.
pub struct BackgroundSha256 {
    chunk: Vec<u8>,
    tx: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    /// Emptied chunks coming back for reuse.
    spare: std::sync::mpsc::Receiver<Vec<u8>>,
    thread: Option<std::thread::JoinHandle<[u8; 32]>>,
}

/// Bytes per chunk handed to the hashing thread (below glibc's mmap threshold, so the few
/// buffers come from and go back to the heap), and chunks in flight.
const HASH_CHUNK: usize = 64 << 10;
const HASH_DEPTH: usize = 8;

impl BackgroundSha256 {
    /// Starts the hashing thread.
    pub fn new() -> io::Result<Self> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(HASH_DEPTH);
        let (spare_tx, spare) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("sha256".to_owned())
            .spawn(move || {
                let mut h = Sha256::new();
                for mut chunk in rx {
                    h.update(&chunk);
                    chunk.clear();
                    let _ = spare_tx.send(chunk);
                }
                h.finalize().into()
            })?;
        Ok(Self {
            chunk: Vec::with_capacity(HASH_CHUNK),
            tx: Some(tx),
            spare,
            thread: Some(thread),
        })
    }

    /// Adds `data` to the hash.
    pub fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let n = data.len().min(HASH_CHUNK - self.chunk.len());
            self.chunk.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.chunk.len() == HASH_CHUNK {
                self.send();
            }
        }
    }

    fn send(&mut self) {
        let next = self
            .spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(HASH_CHUNK));
        let full = std::mem::replace(&mut self.chunk, next);
        if let Some(tx) = &self.tx {
            // The thread only ends when `tx` is dropped, so this cannot fail.
            let _ = tx.send(full);
        }
    }

    /// The digest of everything added.
    pub fn finish(mut self) -> Digest {
        if !self.chunk.is_empty() {
            self.send();
        }
        self.tx = None;
        let sum = self
            .thread
            .take()
            .expect("joined only here")
            .join()
            .expect("the hashing thread does not panic");
        Digest(format!("sha256:{}", hex::encode(sum)))
    }
}

impl Drop for BackgroundSha256 {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A layer's chain id: its diff id for a base layer, else `sha256(parent_chain + " " + diff_id)`.
pub fn chain_id(parent: Option<&Digest>, diff_id: &Digest) -> Digest {
    match parent {
        None => diff_id.clone(),
        Some(p) => Digest::of(format!("{p} {diff_id}").as_bytes()),
    }
}

/// A writer that hashes everything passing through it into an inner writer.
pub struct DigestWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> DigestWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }
    /// The digest and byte count of everything written, and the inner writer.
    pub fn finish(self) -> (Digest, u64, W) {
        (
            Digest(format!("sha256:{}", hex::encode(self.hasher.finalize()))),
            self.written,
            self.inner,
        )
    }
}

impl<W: Write> Write for DigestWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that computes the sha256 of everything read through it (for diff id and blob digest
/// checks while the bytes stream elsewhere).
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    read: u64,
}

impl<R: Read> HashingReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            read: 0,
        }
    }
    /// The digest of the bytes read so far.
    pub fn digest(&self) -> Digest {
        Digest(format!(
            "sha256:{}",
            hex::encode(self.hasher.clone().finalize())
        ))
    }
    /// How many bytes have been read so far. On an owned reader, `r.bytes()` resolves to
    /// [`Read::bytes`] first: call `HashingReader::bytes(&r)` (or go through a `&HashingReader`).
    pub fn bytes(&self) -> u64 {
        self.read
    }
    /// The wrapped reader.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn background_hash_equals_the_plain_one() {
        let data: Vec<u8> = (0..(3 * HASH_CHUNK + 123))
            .map(|i| (i % 253) as u8)
            .collect();
        let mut h = BackgroundSha256::new().unwrap();
        for piece in data.chunks(7_777) {
            h.update(piece);
        }
        assert_eq!(h.finish(), Digest::of(&data));
        assert_eq!(BackgroundSha256::new().unwrap().finish(), Digest::of(b""));
    }

    #[test]
    fn parses_and_rejects() {
        let d = Digest::of(b"");
        assert_eq!(
            d.hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(d.as_str().parse::<Digest>().unwrap(), d);
        assert!("sha256:xyz".parse::<Digest>().is_err());
        assert!("md5:00".parse::<Digest>().is_err());
    }

    #[test]
    fn chain_id_of_base_is_diff_id() {
        let a = Digest::of(b"a");
        let b = Digest::of(b"b");
        assert_eq!(chain_id(None, &a), a);
        assert_eq!(
            chain_id(Some(&a), &b),
            Digest::of(format!("{a} {b}").as_bytes())
        );
    }

    #[test]
    fn digest_writer_hashes_stream() {
        let mut w = DigestWriter::new(Vec::new());
        w.write_all(b"hello").unwrap();
        let (d, n, inner) = w.finish();
        assert_eq!((d, n, inner), (Digest::of(b"hello"), 5, b"hello".to_vec()));
    }

    #[test]
    fn hashing_reader_hashes_what_was_read() {
        let mut r = HashingReader::new(&b"hello world"[..]);
        let mut buf = [0; 5];
        r.read_exact(&mut buf).unwrap();
        assert_eq!(
            (r.digest(), HashingReader::bytes(&r)),
            (Digest::of(b"hello"), 5)
        );
        io::copy(&mut r, &mut io::sink()).unwrap();
        assert_eq!(
            (r.digest(), HashingReader::bytes(&r)),
            (Digest::of(b"hello world"), 11)
        );
    }
}
