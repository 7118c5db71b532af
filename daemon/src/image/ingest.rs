//! Layer ingestion, shared by import, load, pull and commit: one pass over an uncompressed
//! layer tar unpacks it into a new graphdriver layer, hashes it (the diff id) and keeps it for
//! `save` and `push`, split from its file contents ([`image::SplitWriter`]); a layer already in
//! the store is reused and the new copy dropped.

use super::ImageService;
use crate::error::{chain, Result, ServiceError};
use graphdriver::LayerId;
use image::{chain_id, BackgroundSha256, Digest, KeptTar, LayerHold, LayerMeta, SplitWriter};
use std::io::{self, Read};
use std::path::PathBuf;

/// What is known of the diff id (sha256) of a layer tar before it is ingested.
#[derive(Clone, Copy)]
pub(crate) enum DiffId<'a> {
    /// Nothing: it is computed.
    Unknown,
    /// The image config names it: it is computed and must match.
    Expected(&'a Digest),
    /// The tar's sha256 was checked already (a load's uncompressed blob named by its digest):
    /// it is not computed again.
    Verified(&'a Digest),
}

impl ImageService {
    /// Blocking: ingests the layer tar read from `tar` on top of `parent`. A diff id that
    /// does not match what `known` expects is an error and leaves nothing. The layer is held
    /// (safe from layer collection) until the returned hold is dropped, which the caller does
    /// once an image refers to it.
    pub(crate) fn ingest_layer(
        &self,
        parent: Option<&LayerMeta>,
        tar: &mut dyn Read,
        known: DiffId<'_>,
    ) -> Result<(LayerMeta, LayerHold)> {
        let hasher = match known {
            DiffId::Verified(d) => Hashing::Known(d.clone()),
            DiffId::Unknown | DiffId::Expected(_) => Hashing::Running(
                BackgroundSha256::new()
                    .map_err(|e| ServiceError::from_err("starting a hashing thread", &e))?,
            ),
        };
        let cache_id: LayerId = crate::container::new_id().parse()?;
        let parent_cache = parent.map(|p| p.cache_id.parse::<LayerId>()).transpose()?;
        self.graph.create(&cache_id, parent_cache.as_ref())?;
        let split_path = self
            .store
            .tmp_dir()
            .join(format!("layer-{}.tar-split", uuid::Uuid::new_v4().simple()));
        let split = self
            .graph
            .diff_dir(&cache_id)
            .map_err(ServiceError::from)
            .and_then(|dir| {
                SplitWriter::create(split_path, dir)
                    .map_err(|e| ServiceError::from_err("creating the layer's kept tar", &e))
            });
        let split = match split {
            Ok(s) => s,
            Err(e) => {
                let _ = self.graph.remove(&cache_id);
                return Err(e);
            }
        };
        // The unpacker reads the tar straight through the tee, nothing buffered between
        // them: the split writer relies on it (see `image::SplitWriter`).
        let mut tee = Tee {
            inner: tar,
            hasher,
            split,
        };
        let applied = match self.graph.apply_diff(&cache_id, &mut tee) {
            Ok(size) => io::copy(&mut tee, &mut io::sink())
                .map(|_| size)
                .map_err(|e| chain(&e)),
            Err(e) => Err(chain(&e)),
        };
        let kept = applied.and_then(|size| {
            let Tee { hasher, split, .. } = tee;
            let kept = split.finish().map_err(|e| chain(&e))?;
            Ok((size, hasher, kept))
        });
        let (size, hasher, kept) = match kept {
            Ok(k) => k,
            Err(e) => {
                let _ = self.graph.remove(&cache_id);
                return Err(ServiceError::invalid(format!(
                    "Error processing tar file: {e}"
                )));
            }
        };
        let mut guard = Unkept { kept, armed: true };
        let diff_id = hasher.finish();
        let expected = match known {
            DiffId::Expected(d) => Some(d),
            DiffId::Unknown | DiffId::Verified(_) => None,
        };
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
                self.store.attach_layer_tar(&chain, &guard.kept)?;
                guard.armed = false;
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
        if let Err(e) = self
            .store
            .register_layer_with_tar(meta.clone(), Some(&guard.kept))
        {
            let _ = self.graph.remove(&cache_id);
            return Err(e.into());
        }
        guard.armed = false;
        Ok((meta, hold))
    }

    /// A layer's kept tar, and the directory holding the layer's files (which a split one
    /// reads); `None` for a layer stored before rdocker kept them.
    pub(crate) fn layer_tar(&self, chain: &Digest) -> Result<Option<LayerTar>> {
        let Some(kept) = self.store.layer_tar(chain) else {
            return Ok(None);
        };
        let layer = self
            .store
            .layer(chain)
            .ok_or_else(|| ServiceError::not_found(format!("layer {chain}")))?;
        let dir = self.graph.diff_dir(&layer.cache_id.parse()?)?;
        Ok(Some(LayerTar { kept, dir }))
    }
}

/// A layer's kept tar, ready to be read.
pub(crate) struct LayerTar {
    kept: KeptTar,
    dir: PathBuf,
}

impl LayerTar {
    /// Size of the tar in bytes.
    pub(crate) fn size(&self) -> io::Result<u64> {
        self.kept.tar_size()
    }

    /// The tar, byte for byte as it was ingested (or an error if the layer changed).
    pub(crate) fn open(&self) -> io::Result<Box<dyn Read + Send>> {
        self.kept.open(&self.dir)
    }
}

/// The diff id of a tar being ingested: hashed as it is read, or known already.
enum Hashing {
    Running(BackgroundSha256),
    Known(Digest),
}

impl Hashing {
    fn update(&mut self, data: &[u8]) {
        if let Hashing::Running(h) = self {
            h.update(data);
        }
    }

    fn finish(self) -> Digest {
        match self {
            Hashing::Running(h) => h.finish(),
            Hashing::Known(d) => d,
        }
    }
}

/// Hashes everything read through it (unless the digest is known) and feeds it to the split
/// writer.
struct Tee<'a> {
    inner: &'a mut dyn Read,
    hasher: Hashing,
    split: SplitWriter,
}

impl Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.split.write(&buf[..n])?;
        Ok(n)
    }
}

/// A kept tar still in the store's scratch space: deleted when dropped, unless it was moved
/// into a layer record (`armed` cleared).
struct Unkept {
    kept: KeptTar,
    armed: bool,
}

impl Drop for Unkept {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(self.kept.path());
        }
    }
}
