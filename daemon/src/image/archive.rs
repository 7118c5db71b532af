//! `POST /images/load` and `GET /images/{name}/get`, `GET /images/get?names=`: images in and
//! out as docker-archive / OCI layout tarballs.

use super::ingest::DiffId;
use super::progress::{error_line, short, Progress, ReportingReader};
use super::ImageService;
use crate::error::{blocking, Result, ServiceError};
use crate::stream::{end_mark, ChannelReader, ChannelWriter};
use api::image::ProgressMessage;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use image::archive::{self, ArchiveImage, SaveImage, SaveLayer};
use image::{chain_id, Digest, ImageConfig, LayerMeta, Reference};
use std::path::Path;
use std::sync::Arc;
use tokio::sync::mpsc;

impl ImageService {
    /// Loads every image of an archive streamed in `body`. The archive is read as it arrives
    /// (its entries are extracted into a scratch dir, then the images are ingested). Each layer
    /// is verified against the config's diff ids (and blob digests where the archive gives
    /// them); on any error nothing new is left behind. Returns the progress lines to send.
    pub async fn load<S, E>(self: &Arc<Self>, body: S) -> Result<Vec<ProgressMessage>>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin + Send,
        E: std::fmt::Display,
    {
        self.load_reporting(body, None).await
    }

    /// [`Self::load`] with Docker's `Loading layer` progress (a load without `quiet`), streamed
    /// as each layer is read. As with dockerd, a failure before the first line is sent is the
    /// answer (its status); one after it is the stream's last line.
    pub async fn load_with_progress<S, E>(
        self: &Arc<Self>,
        body: S,
    ) -> Result<mpsc::Receiver<ProgressMessage>>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin + Send + 'static,
        E: std::fmt::Display + Send,
    {
        let (tx, mut rx) = mpsc::channel(64);
        let svc = self.clone();
        let task = tokio::spawn(async move { svc.load_reporting(body, Some(tx)).await });
        // The load drops its sender when it ends: no first line means it ended without one.
        let Some(first) = rx.recv().await else {
            let lines = task
                .await
                .map_err(|e| ServiceError::internal(format!("load task failed: {e}")))??;
            let (out, orx) = mpsc::channel(lines.len().max(1));
            for l in lines {
                let _ = out.try_send(l);
            }
            return Ok(orx);
        };
        let (out, orx) = mpsc::channel(64);
        tokio::spawn(async move {
            let _ = out.send(first).await;
            while let Some(l) = rx.recv().await {
                let _ = out.send(l).await;
            }
            let last = match task.await {
                Ok(Ok(lines)) => lines,
                Ok(Err(e)) => vec![error_line(e.message())],
                Err(e) => vec![error_line(&format!("load task failed: {e}"))],
            };
            for l in last {
                let _ = out.send(l).await;
            }
        });
        Ok(orx)
    }

    async fn load_reporting<S, E>(
        self: &Arc<Self>,
        mut body: S,
        progress: Option<Progress>,
    ) -> Result<Vec<ProgressMessage>>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin + Send,
        E: std::fmt::Display,
    {
        let work = super::Scratch::new(
            self.store
                .tmp_dir()
                .join(format!("load-{}", uuid::Uuid::new_v4().simple())),
        );
        let (tx, rx) = mpsc::channel(16);
        let svc = self.clone();
        let reader = tokio::task::spawn_blocking(move || {
            svc.load_from(ChannelReader::new(rx), work.path(), progress.as_ref())
        });
        let mut whole = true;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| format!("reading request body: {e}"));
            let failed = chunk.is_err();
            if matches!(&chunk, Ok(c) if c.is_empty()) {
                continue; // an empty chunk would read as the end
            }
            // A send fails once the reader has stopped (a bad archive): its error is the answer.
            if tx.send(chunk).await.is_err() || failed {
                whole = false;
                break;
            }
        }
        if whole {
            let _ = tx.send(end_mark()).await;
        }
        drop(tx);
        reader
            .await
            .map_err(|e| ServiceError::internal(format!("blocking task failed: {e}")))?
    }

    /// Blocking: extracts the archive read from `tar` into `work` and loads its images,
    /// reporting each layer it reads to `progress`.
    fn load_from(
        &self,
        tar: ChannelReader,
        work: &Path,
        progress: Option<&Progress>,
    ) -> Result<Vec<ProgressMessage>> {
        let images = archive::read(tar, work)?;
        if images.is_empty() {
            return Err(ServiceError::invalid("no images found in the archive"));
        }
        let mut lines = Vec::new();
        for img in images {
            match self.load_one(&img, progress) {
                Ok(mut l) => lines.append(&mut l),
                Err(e) => {
                    super::gc_layers(&self.store, self.graph.as_ref());
                    return Err(e);
                }
            }
        }
        Ok(lines)
    }

    fn load_one(
        &self,
        img: &ArchiveImage,
        progress: Option<&Progress>,
    ) -> Result<Vec<ProgressMessage>> {
        let cfg: ImageConfig =
            serde_json::from_slice(&img.config).map_err(image::Error::InvalidConfig)?;
        if cfg.rootfs.diff_ids.len() != img.layers.len() {
            return Err(ServiceError::invalid(
                "image config and archive disagree on the number of layers",
            ));
        }
        let mut parent: Option<LayerMeta> = None;
        let mut holds = Vec::new();
        for (diff_id, blob) in cfg.rootfs.diff_ids.iter().zip(&img.layers) {
            let chain = chain_id(parent.as_ref().map(|p| &p.chain_id), diff_id);
            holds.push(self.store.hold(&chain));
            let layer = match self.store.layer(&chain) {
                Some(l) if self.store.layer_tar(&chain).is_some() => l,
                _ => {
                    let file = std::fs::File::open(&blob.path)
                        .map_err(|e| ServiceError::from_err("opening layer", &e))?;
                    let file: Box<dyn std::io::Read + Send> = match progress {
                        Some(tx) => {
                            let total = file
                                .metadata()
                                .map_err(|e| ServiceError::from_err("opening layer", &e))?
                                .len();
                            let id = short(chain.as_str());
                            let status = "Loading layer";
                            Box::new(ReportingReader::new(file, tx.clone(), status, &id, total))
                        }
                        None => Box::new(file),
                    };
                    let mut tar = image::decompress(file)
                        .map_err(|e| ServiceError::invalid(format!("decompressing layer: {e}")))?;
                    // An uncompressed blob named by its digest was checked against it when
                    // the archive was extracted: that digest is the diff id, not hashed again.
                    let verified = blob.compression == archive::Compression::None
                        && blob.digest.as_ref() == Some(diff_id);
                    let known = match verified {
                        true => DiffId::Verified(diff_id),
                        false => DiffId::Expected(diff_id),
                    };
                    let (layer, hold) = self.ingest_layer(parent.as_ref(), &mut tar, known)?;
                    holds.push(hold);
                    layer
                }
            };
            parent = Some(layer);
        }
        let refs = img
            .repo_tags
            .iter()
            .map(|t| Reference::parse(t))
            .collect::<image::Result<Vec<_>>>()?;
        let id = self.store.put_image(&img.config, &refs)?;
        drop(holds);
        let mut lines: Vec<ProgressMessage> = img
            .repo_tags
            .iter()
            .map(|t| stream_line(format!("Loaded image: {t}\n")))
            .collect();
        if img.repo_tags.is_empty() {
            lines.push(stream_line(format!("Loaded image ID: {id}\n")));
        }
        tracing::info!(image_id = %id, "image loaded");
        Ok(lines)
    }

    /// Streams an archive of the named images (tags as named; an id saves the image untagged).
    pub async fn save(
        self: &Arc<Self>,
        names: Vec<String>,
    ) -> Result<mpsc::Receiver<std::io::Result<Bytes>>> {
        let svc = self.clone();
        let images = blocking(move || {
            let mut images = Vec::new();
            for name in &names {
                let id = svc.resolve(name)?;
                let tags = if super::is_id_reference(name, &id) {
                    Vec::new()
                } else {
                    vec![Reference::parse(name)?.key()]
                };
                images.push(svc.save_image(&id, tags)?);
            }
            Ok(images)
        })
        .await?;
        let (tx, rx) = mpsc::channel(16);
        tokio::task::spawn_blocking(move || {
            let out = ChannelWriter(tx.clone());
            if let Err(e) = archive::write(&images, out) {
                tracing::warn!(error = %e, "save failed");
                let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
            }
        });
        Ok(rx)
    }

    fn save_image(&self, id: &Digest, repo_tags: Vec<String>) -> Result<SaveImage> {
        let cfg = self.store.get(id)?;
        let mut layers = Vec::new();
        for (chain, diff_id) in cfg.chain_ids().into_iter().zip(cfg.rootfs.diff_ids.iter()) {
            let tar = self.layer_tar(&chain)?.ok_or_else(|| {
                ServiceError::internal(format!("layer {diff_id} has no kept tar (stored before rdocker kept them); it cannot be saved"))
            })?;
            let size = tar
                .size()
                .map_err(|e| ServiceError::from_err("reading layer", &e))?;
            layers.push(SaveLayer {
                diff_id: diff_id.clone(),
                size,
                open: Box::new(move || tar.open()),
            });
        }
        Ok(SaveImage {
            config: self.store.config_bytes(id)?,
            repo_tags,
            layers,
        })
    }
}

fn stream_line(text: String) -> ProgressMessage {
    ProgressMessage {
        stream: Some(text),
        ..Default::default()
    }
}
