//! Layer ingestion, shared by import, load, pull and commit: one pass over an uncompressed
//! layer tar unpacks it into a new graphdriver layer, hashes it (the diff id) and keeps a copy
//! for `save`; a layer already in the store is reused and the new copy dropped.

use super::ImageService;
use crate::error::{chain, Result, ServiceError};
use graphdriver::LayerId;
use image::{chain_id, Digest, LayerHold, LayerMeta};
use sha2::{Digest as _, Sha256};
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;

impl ImageService {
    /// Blocking: ingests the layer tar read from `tar` on top of `parent`. `expected` is the
    /// diff id the image config names, if known: a mismatch is an error and leaves nothing.
    /// The layer is held (safe from layer collection) until the returned hold is dropped,
    /// which the caller does once an image refers to it.
    pub(crate) fn ingest_layer(
        &self,
        parent: Option<&LayerMeta>,
        tar: &mut dyn Read,
        expected: Option<&Digest>,
    ) -> Result<(LayerMeta, LayerHold)> {
        let copy_path = self
            .store
            .tmp_dir()
            .join(format!("layer-{}.tar", uuid::Uuid::new_v4().simple()));
        let copy = File::create(&copy_path)
            .map_err(|e| ServiceError::from_err("creating layer copy", &e))?;
        let guard = TempPath(Some(copy_path));
        let mut tee = Tee {
            inner: tar,
            hasher: Sha256::new(),
            copy: BufWriter::new(copy),
            written: 0,
            flushed: 0,
        };
        let cache_id: LayerId = crate::container::new_id().parse()?;
        let parent_cache = parent.map(|p| p.cache_id.parse::<LayerId>()).transpose()?;
        self.graph.create(&cache_id, parent_cache.as_ref())?;
        let applied = match self.graph.apply_diff(&cache_id, &mut tee) {
            Ok(size) => io::copy(&mut tee, &mut io::sink())
                .and_then(|_| tee.start_writeback())
                .map(|_| size)
                .map_err(|e| chain(&e)),
            Err(e) => Err(chain(&e)),
        };
        let size = match applied {
            Ok(size) => size,
            Err(e) => {
                let _ = self.graph.remove(&cache_id);
                return Err(ServiceError::invalid(format!(
                    "Error processing tar file: {e}"
                )));
            }
        };
        let diff_id = Digest::from_hex(&hex::encode(tee.hasher.finalize()))?;
        if let Some(want) = expected.filter(|w| **w != diff_id) {
            let _ = self.graph.remove(&cache_id);
            return Err(ServiceError::invalid(format!(
                "layer content does not match its digest: expected {want}, got {diff_id}"
            )));
        }
        let chain = chain_id(parent.map(|p| &p.chain_id), &diff_id);
        let hold = self.store.hold(&chain);
        if let Some(existing) = self.store.layer(&chain) {
            self.graph.remove(&cache_id)?;
            if self.store.layer_tar(&chain).is_none() {
                let mut guard = guard;
                if let Some(path) = guard.0.take() {
                    self.store.attach_layer_tar(&chain, &path)?;
                }
            }
            return Ok((existing, hold));
        }
        let meta = LayerMeta {
            chain_id: chain,
            diff_id,
            parent: parent.map(|p| p.chain_id.clone()),
            cache_id: cache_id.to_string(),
            size,
        };
        let mut guard = guard;
        let path = guard
            .0
            .take()
            .expect("the copy's path is set until it is moved");
        if let Err(e) = self
            .store
            .register_layer_with_tar(meta.clone(), Some(&path))
        {
            let _ = std::fs::remove_file(&path);
            let _ = self.graph.remove(&cache_id);
            return Err(e.into());
        }
        Ok((meta, hold))
    }
}

/// Hashes and copies everything read through it.
struct Tee<'a> {
    inner: &'a mut dyn Read,
    hasher: Sha256,
    copy: BufWriter<File>,
    /// Bytes copied, and how many of them were handed to the disk.
    written: u64,
    flushed: u64,
}

/// The kept copy is handed to the disk in chunks this big while it is written, so that the
/// flush that makes the layer durable has little left to write.
const WRITEBACK_CHUNK: u64 = 1 << 20;

impl Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.copy.write_all(&buf[..n])?;
        self.written += n as u64;
        if self.written - self.flushed >= WRITEBACK_CHUNK {
            self.start_writeback()?;
        }
        Ok(n)
    }
}

impl Tee<'_> {
    /// Flushes the buffer and starts writing what was copied since the last call to disk,
    /// without waiting (`POSIX_FADV_DONTNEED` starts writeback of dirty pages; the copy is
    /// read again only by `save`, so it need not stay cached).
    fn start_writeback(&mut self) -> io::Result<()> {
        use nix::fcntl::{posix_fadvise, PosixFadviseAdvice};
        self.copy.flush()?;
        let (Ok(offset), Ok(len)) = (
            i64::try_from(self.flushed),
            i64::try_from(self.written - self.flushed),
        ) else {
            return Ok(());
        };
        let advice = PosixFadviseAdvice::POSIX_FADV_DONTNEED;
        let _ = posix_fadvise(self.copy.get_ref(), offset, len, advice);
        self.flushed = self.written;
        Ok(())
    }
}

/// Deletes the file when dropped unless it was taken.
struct TempPath(Option<PathBuf>);

impl Drop for TempPath {
    fn drop(&mut self) {
        if let Some(p) = &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}
