//! `POST /images/create?fromSrc=-`: a rootfs tar from the request body becomes a one-layer image.

use super::ingest::DiffId;
use super::{ImageService, Scratch};
use crate::error::{blocking, Result, ServiceError};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use image::{Digest, LayerMeta, Reference};
use std::path::Path;
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
        // In the store's scratch space, which a restarted daemon empties.
        let tmp = Scratch::new(
            self.store
                .tmp_dir()
                .join(format!("import-{}", uuid::Uuid::new_v4().simple())),
        );
        let mut f = tokio::fs::File::create(tmp.path())
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
            let (layer, _hold) = svc.import_layer(tmp.path())?;
            let now = crate::container::now_rfc3339();
            let comment = if opts.message.is_empty() {
                "Imported from -".to_string()
            } else {
                opts.message
            };
            let cfg = serde_json::json!({
                "architecture": super::host_arch(),
                "comment": comment,
                "config": config,
                "created": now,
                "history": [{"created": now, "comment": comment}],
                "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": [layer.diff_id.as_str()]},
            });
            let bytes = serde_json::to_vec(&cfg).expect("image configs always serialise");
            let id = svc.store.put_image(&bytes, reference.as_slice())?;
            tracing::info!(image_id = %id, "image imported");
            Ok(id)
        })
        .await
    }

    /// Blocking: the import's layer, decompressed when gzip- or zstd-compressed.
    fn import_layer(&self, path: &Path) -> Result<(LayerMeta, image::LayerHold)> {
        let file =
            std::fs::File::open(path).map_err(|e| ServiceError::from_err("opening import", &e))?;
        let mut tar = image::decompress(file)
            .map_err(|e| ServiceError::invalid(format!("Error processing tar file: {e}")))?;
        self.ingest_layer(None, &mut tar, DiffId::Unknown)
    }
}
