//! `POST /images/create?fromSrc=-`: a rootfs tar from the request body becomes a one-layer image.

use super::ImageService;
use crate::error::{blocking, Result, ServiceError};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use graphdriver::LayerId;
use image::{Digest, LayerMeta, Reference};
use sha2::{Digest as _, Sha256};
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

/// What the import request asked for besides the tar.
#[derive(Debug, Default, Clone)]
pub struct ImportOptions {
    pub repo: String,
    pub tag: String,
    pub message: String,
    /// Dockerfile-style `CMD`/`ENV`/… lines applied to the image config.
    pub changes: Vec<String>,
}

impl ImageService {
    /// Imports a (possibly gzip-compressed) rootfs tar streamed in `body`; returns the image id.
    pub async fn import<S, E>(self: &Arc<Self>, mut body: S, opts: ImportOptions) -> Result<Digest>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin + Send,
        E: std::fmt::Display,
    {
        let reference = match (opts.repo.as_str(), opts.tag.as_str()) {
            ("", _) => None,
            (r, "") => Some(Reference::parse(r)?),
            (r, t) => Some(Reference::parse(&format!("{r}:{t}"))?),
        };
        let config = super::changes::apply(&opts.changes, None)?;
        let tmp_dir = self.paths.tmp();
        tokio::fs::create_dir_all(&tmp_dir)
            .await
            .map_err(|e| ServiceError::from_err("creating temp dir", &e))?;
        let tmp = TempFile(tmp_dir.join(format!("import-{}", uuid::Uuid::new_v4().simple())));
        let mut f = tokio::fs::File::create(&tmp.0)
            .await
            .map_err(|e| ServiceError::from_err("creating temp file", &e))?;
        while let Some(chunk) = body.next().await {
            let chunk =
                chunk.map_err(|e| ServiceError::invalid(format!("reading request body: {e}")))?;
            f.write_all(&chunk)
                .await
                .map_err(|e| ServiceError::from_err("writing temp file", &e))?;
        }
        drop(f);
        let svc = self.clone();
        blocking(move || {
            let layer = svc.import_layer(&tmp.0)?;
            let now = crate::container::now_rfc3339();
            let comment = if opts.message.is_empty() { "Imported from -".to_string() } else { opts.message };
            let cfg = serde_json::json!({
                "architecture": std::env::consts::ARCH.replace("x86_64", "amd64").replace("aarch64", "arm64"),
                "comment": comment,
                "config": config,
                "created": now,
                "history": [{"created": now, "comment": comment}],
                "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": [layer.diff_id.as_str()]},
            });
            let bytes = serde_json::to_vec(&cfg).expect("image configs always serialise");
            let id = svc.store.put_config(&bytes)?;
            if let Some(r) = reference {
                svc.store.tag(&r, &id)?;
            }
            tracing::info!(image_id = %id, "image imported");
            Ok(id)
        })
        .await
    }

    /// Blocking: unpacks a layer tar into a new graphdriver layer while hashing it; a layer with
    /// the same content already present is reused and the new copy dropped.
    fn import_layer(&self, path: &Path) -> Result<LayerMeta> {
        let file =
            std::fs::File::open(path).map_err(|e| ServiceError::from_err("opening import", &e))?;
        let mut buffered = BufReader::new(file);
        let magic = buffered
            .fill_buf()
            .map_err(|e| ServiceError::from_err("reading import", &e))?;
        let raw: Box<dyn Read> = if magic.starts_with(&[0x1f, 0x8b]) {
            Box::new(flate2::read::GzDecoder::new(buffered))
        } else {
            Box::new(buffered)
        };
        let mut reader = HashingReader {
            inner: raw,
            hasher: Sha256::new(),
        };
        let cache_id: LayerId = crate::container::new_id().parse()?;
        self.graph.create(&cache_id, None)?;
        let applied = match self.graph.apply_diff(&cache_id, &mut reader) {
            Ok(size) => io::copy(&mut reader, &mut io::sink())
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
        let diff_id = Digest::from_hex(&hex::encode(reader.hasher.finalize()))?;
        if let Some(existing) = self.store.layer(&diff_id) {
            self.graph.remove(&cache_id)?;
            return Ok(existing);
        }
        let meta = LayerMeta {
            chain_id: diff_id.clone(),
            diff_id,
            parent: None,
            cache_id: cache_id.to_string(),
            size,
        };
        if let Err(e) = self.store.register_layer(meta.clone()) {
            let _ = self.graph.remove(&cache_id);
            return Err(e.into());
        }
        Ok(meta)
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(&format!(": {c}"));
        src = c.source();
    }
    s
}

struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Deletes the file when dropped, whatever happened.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
