//! `POST /images/create?fromImage=`: pull from a registry with Docker's progress stream.
//! The manifest is resolved before answering (a missing image is a plain 404); layers already
//! present are not fetched, the others are downloaded concurrently and applied in order, the
//! first of them while it downloads.

use super::ingest::DiffId;
use super::progress::{
    bar_line, error_line, progress_reporter, short, status, Progress, ReportingReader,
};
use super::ImageService;
use super::Scratch;
use crate::error::{blocking, Result, ServiceError};
use crate::stream::{end_mark, ChannelReader, ChannelSink};
use api::image::ProgressMessage;
use futures_util::StreamExt;
use image::{ImageConfig, LayerMeta};
use registry::{Credentials, Descriptor, Platform, Reference as RegRef};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::PollSender;

impl ImageService {
    /// Starts a pull of `image` (`tag` may be a tag or a `sha256:` digest); returns the
    /// progress stream once the manifest is known.
    pub async fn pull(
        self: &Arc<Self>,
        image: &str,
        tag: &str,
        auth: Option<&str>,
    ) -> Result<mpsc::Receiver<ProgressMessage>> {
        let name = match tag {
            "" => image.to_string(),
            t if t.starts_with("sha256:") => format!("{image}@{t}"),
            t => format!("{image}:{t}"),
        };
        let r = RegRef::parse(&name).map_err(|e| ServiceError::invalid(e.to_string()))?;
        let creds = Credentials::from_header(auth.unwrap_or(""))
            .map_err(|e| ServiceError::invalid(e.to_string()))?;
        let resolved = self
            .registry()
            .resolve(&r, &creds, &Platform::host())
            .await
            .map_err(registry_error)?;
        let (tx, rx) = mpsc::channel(64);
        let svc = self.clone();
        tokio::spawn(async move {
            if let Err(e) = svc.pull_layers(&r, &creds, resolved, &tx).await {
                tracing::warn!(image = %r.familiar(), error = %e, "pull failed");
                svc.collect_layers().await;
                let _ = tx.send(error_line(e.message())).await;
            }
        });
        Ok(rx)
    }

    async fn pull_layers(
        self: &Arc<Self>,
        r: &RegRef,
        creds: &Credentials,
        resolved: registry::Resolved,
        tx: &Progress,
    ) -> Result<()> {
        let shown_tag = r
            .tag
            .clone()
            .or_else(|| r.digest.clone())
            .unwrap_or_else(|| "latest".into());
        let repo_path = r.repository.trim_start_matches("library/").to_string();
        let _ = tx
            .send(status(
                &format!(
                    "Pulling from {}",
                    if r.registry == "docker.io" {
                        &r.repository
                    } else {
                        &repo_path
                    }
                ),
                Some(&shown_tag),
            ))
            .await;
        // An image that is here already (its id is the config's digest) needs nothing more
        // from the registry, as in Docker: only its names are set.
        if let Some(img) = self.stored_image(&resolved).await? {
            return self
                .finish_pull(r, &img.config, &img.diff_ids, &resolved, true, tx)
                .await;
        }
        // The layer that is probably the first one missing starts downloading now, while the
        // config is fetched (a guess from the blob digests of earlier pulls and pushes), and
        // unpacking too if it is known to be missing; it is checked against the config once
        // that arrives.
        let layers = &resolved.manifest.layers;
        let (svc, descriptors) = (self.clone(), layers.clone());
        let guess = blocking(move || Ok(svc.first_missing_guess(&descriptors))).await?;
        let early = guess.map(|g| {
            let early = match g.known_missing {
                true => {
                    let d = &layers[g.index];
                    let mut u = self.start_unpack(r, creds, d, g.parent, None, tx);
                    u.parent_hold = g.parent_hold;
                    Early::Unpacking(u)
                }
                false => Early::Fetching(self.fetch_layer(r, creds, &layers[g.index], tx)),
            };
            (g.index, early)
        });
        let (config, cfg) = match self.fetch_config(r, creds, &resolved).await {
            Ok(c) => c,
            Err(e) => {
                if let Some((_, early)) = early {
                    self.cancel_early(early).await;
                }
                return Err(e);
            }
        };
        let chains = cfg.chain_ids();
        let _holds: Vec<image::LayerHold> = chains.iter().map(|c| self.store.hold(c)).collect();
        // A layer unpacked early on the parent the config confirms is this pull's: it may be
        // recorded already, and is still reported (and finished) as pulled.
        let confirmed = |i: usize, e: &Early| match e {
            Early::Unpacking(u) => u.parent == (i > 0).then(|| chains[i - 1].clone()),
            Early::Fetching(_) => false,
        };
        let ours = early
            .as_ref()
            .and_then(|(i, e)| confirmed(*i, e).then_some(*i));
        let mut missing = Vec::new();
        for (i, d) in layers.iter().enumerate() {
            if ours != Some(i) && self.store.layer(&chains[i]).is_some() {
                let _ = tx
                    .send(status("Already exists", Some(&short(&d.digest))))
                    .await;
            } else {
                let _ = tx
                    .send(status("Pulling fs layer", Some(&short(&d.digest))))
                    .await;
                missing.push(i);
            }
        }
        // The first missing layer is unpacked while it downloads; the others download to
        // scratch files meanwhile (up to 3 at a time) and are unpacked in order after it.
        let first = missing.first().copied();
        let parent_of = |i: usize| (i > 0).then(|| self.store.layer(&chains[i - 1])).flatten();
        let early = match early {
            Some((i, Early::Unpacking(u))) if Some(i) == first && ours == Some(i) => Some(u),
            Some((i, Early::Fetching(f))) if Some(i) == first => {
                let diff_id = Some(&cfg.rootfs.diff_ids[i]);
                Some(self.unpack_fetched(f, &layers[i], parent_of(i), diff_id))
            }
            Some((_, wrong)) => {
                self.cancel_early(wrong).await;
                None
            }
            None => None,
        };
        let streamed = async {
            let i = first?;
            let (d, diff_id) = (&layers[i], &cfg.rootfs.diff_ids[i]);
            let u = early
                .unwrap_or_else(|| self.start_unpack(r, creds, d, parent_of(i), Some(diff_id), tx));
            Some(self.finish_unpack(u, d, diff_id, tx).await)
        };
        let rest = futures_util::stream::iter(missing.iter().skip(1).copied())
            .map(|i| {
                let svc = self.clone();
                let d = layers[i].clone();
                let tx = tx.clone();
                async move { (i, svc.download(r, creds, &d, &tx).await) }
            })
            .buffer_unordered(3)
            .collect::<Vec<(usize, Result<Scratch>)>>();
        let (streamed, downloads) = tokio::join!(streamed, rest);
        // Every downloaded blob is owned (and so deleted) before any failure is returned.
        let mut files = std::collections::HashMap::new();
        let mut failed = None;
        for (i, f) in downloads {
            match f {
                Ok(blob) => {
                    files.insert(i, blob);
                }
                Err(e) => {
                    failed.get_or_insert(e);
                }
            }
        }
        if let Some(e) = failed {
            return Err(e);
        }
        let (mut parent, _streamed_hold) = match streamed.transpose()? {
            Some((layer, hold)) => (Some(layer), Some(hold)),
            None => (None, None),
        };
        for (i, d) in layers.iter().enumerate() {
            if Some(i) <= first {
                continue;
            }
            let layer = match (self.store.layer(&chains[i]), files.remove(&i)) {
                (Some(l), _) => l,
                (None, Some(blob)) => {
                    let svc = self.clone();
                    let diff_id = cfg.rootfs.diff_ids[i].clone();
                    let p = parent.clone();
                    let (digest, size, ptx) = (d.digest.clone(), d.size, tx.clone());
                    let (l, _) = blocking(move || {
                        let file = std::fs::File::open(blob.path())
                            .map_err(|e| ServiceError::from_err("opening layer", &e))?;
                        let file =
                            ReportingReader::new(file, ptx, "Extracting", &short(&digest), size);
                        svc.unpack_layer(file, p.as_ref(), Some(&diff_id), &digest)
                    })
                    .await?;
                    let _ = tx
                        .send(status("Pull complete", Some(&short(&d.digest))))
                        .await;
                    l
                }
                (None, None) => {
                    return Err(ServiceError::internal(format!(
                        "layer {} was not downloaded",
                        d.digest
                    )))
                }
            };
            debug_assert_eq!(layer.chain_id, chains[i]);
            parent = Some(layer);
        }
        self.finish_pull(r, &config, &cfg.rootfs.diff_ids, &resolved, false, tx)
            .await
    }

    /// Stores the image (or, when it was `stored` here already, only its names) and records
    /// where its layers are in the registry (a hint for later pushes); then the closing lines.
    async fn finish_pull(
        self: &Arc<Self>,
        r: &RegRef,
        config: &[u8],
        diff_ids: &[image::Digest],
        resolved: &registry::Resolved,
        stored: bool,
        tx: &Progress,
    ) -> Result<()> {
        let familiar = r.familiar();
        let tag_ref = r.tag.as_ref().map(|t| format!("{familiar}:{t}"));
        let repo_digest = resolved
            .index_digest
            .clone()
            .unwrap_or_else(|| resolved.digest.clone());
        let svc = self.clone();
        let (config, names) = (config.to_vec(), tag_ref.clone());
        let digest_ref = format!("{familiar}@{repo_digest}");
        let repository = super::source_name(r);
        let sources: Vec<(image::Digest, image::BlobSource)> = resolved
            .manifest
            .layers
            .iter()
            .zip(diff_ids)
            .map(|(blob, diff_id)| {
                let source = image::BlobSource::new(&blob.digest, &repository, &blob.media_type);
                (diff_id.clone(), source)
            })
            .collect();
        let (id, before) = blocking(move || {
            // What the name pulled pointed to (a tag, or for a pull by digest that digest).
            let before = svc
                .store
                .resolve(names.as_ref().unwrap_or(&digest_ref))
                .ok();
            let refs = names
                .iter()
                .chain(std::iter::once(&digest_ref))
                .map(|n| image::Reference::parse(n))
                .collect::<image::Result<Vec<_>>>()?;
            let id = image::Digest::of(&config);
            match stored.then(|| svc.store.add_references(&id, &refs)) {
                Some(Ok(())) => {}
                // Not stored, or deleted since it was found (its layers are still held).
                Some(Err(image::Error::ImageNotFound(_))) | None => {
                    svc.store.put_image(&config, &refs)?;
                }
                Some(Err(e)) => return Err(e.into()),
            }
            for (diff_id, source) in sources {
                svc.store.add_blob_source(&diff_id, source);
            }
            Ok((id, before))
        })
        .await?;
        let _ = tx
            .send(status(&format!("Digest: {repo_digest}"), None))
            .await;
        let shown = tag_ref.unwrap_or_else(|| format!("{familiar}@{repo_digest}"));
        let text = if before.as_ref() == Some(&id) {
            format!("Status: Image is up to date for {shown}")
        } else {
            format!("Status: Downloaded newer image for {shown}")
        };
        let _ = tx.send(status(&text, None)).await;
        tracing::info!(image_id = %id, reference = %shown, "image pulled");
        Ok(())
    }

    /// The config (bytes and diff ids) of the manifest's image if that image is stored here
    /// with all its layers, which are held meanwhile.
    async fn stored_image(
        self: &Arc<Self>,
        resolved: &registry::Resolved,
    ) -> Result<Option<StoredImage>> {
        let Ok(id) = resolved.manifest.config.digest.parse::<image::Digest>() else {
            return Ok(None);
        };
        let svc = self.clone();
        blocking(move || {
            let Ok(cfg) = svc.store.get(&id) else {
                return Ok(None);
            };
            let chains = cfg.chain_ids();
            let holds: Vec<image::LayerHold> = chains.iter().map(|c| svc.store.hold(c)).collect();
            if chains.iter().any(|c| svc.store.layer(c).is_none()) {
                return Ok(None);
            }
            let diff_ids = cfg.rootfs.diff_ids;
            Ok(svc.store.config_bytes(&id).ok().map(|config| StoredImage {
                config,
                diff_ids,
                _holds: holds,
            }))
        })
        .await
    }

    /// Which layer is probably the first one missing here, with the layer probably below it
    /// (held, so that nothing collects it meanwhile): the first whose blob was never pulled or
    /// pushed before, or whose layer is gone. `None` if all seem present.
    fn first_missing_guess(&self, layers: &[Descriptor]) -> Option<Guess> {
        let mut below: Option<LayerMeta> = None;
        for (index, d) in layers.iter().enumerate() {
            let diff_id = self.store.blob_diff_id(&d.digest);
            let c = diff_id.map(|id| image::chain_id(below.as_ref().map(|l| &l.chain_id), &id));
            match c.as_ref().and_then(|c| self.store.layer(c)) {
                Some(l) => below = Some(l),
                None => {
                    let parent_hold = below.as_ref().map(|l| self.store.hold(&l.chain_id));
                    if below
                        .as_ref()
                        .is_some_and(|l| self.store.layer(&l.chain_id).is_none())
                    {
                        return None; // collected just now: no guess
                    }
                    return Some(Guess {
                        index,
                        parent: below,
                        parent_hold,
                        known_missing: c.is_some(),
                    });
                }
            }
        }
        None
    }

    /// Starts downloading layer `d` into a channel, for [`Self::unpack_fetched`]. A blob that
    /// does not match its digest reaches the reader as an error before the end of the stream.
    fn fetch_layer(
        self: &Arc<Self>,
        r: &RegRef,
        creds: &Credentials,
        d: &Descriptor,
        tx: &Progress,
    ) -> Fetching {
        let (chunks_tx, chunks) = mpsc::channel(16);
        let announced = Arc::new(AtomicBool::new(false));
        let (svc, r, creds, d, tx) = (
            self.clone(),
            r.clone(),
            creds.clone(),
            d.clone(),
            tx.clone(),
        );
        let shown = announced.clone();
        let task = tokio::spawn(async move {
            let id = short(&d.digest);
            let mut report = progress_reporter(&tx, &id, d.size);
            let mut sink = ChannelSink(PollSender::new(chunks_tx.clone()));
            let fetched = svc
                .registry()
                .fetch_blob(&r, &creds, &d, &mut sink, &mut |n| {
                    if shown.load(Ordering::Relaxed) {
                        report(n);
                    }
                })
                .await;
            drop(sink);
            if let Err(e) = fetched {
                let e = registry_error(e);
                let _ = chunks_tx.send(Err(e.message().to_string())).await;
                return Err(e);
            }
            // The blob is whole and verified: mark its end (a reader that sees the channel close
            // without this mark was cancelled, not finished).
            let _ = chunks_tx.send(end_mark()).await;
            Ok(())
        });
        Fetching {
            chunks,
            task,
            announced,
        }
    }

    /// Starts downloading layer `d` and unpacking it on top of `parent` as it arrives, checked
    /// against `diff_id` if known already. Its progress lines wait for
    /// [`Self::finish_unpack`].
    fn start_unpack(
        self: &Arc<Self>,
        r: &RegRef,
        creds: &Credentials,
        d: &Descriptor,
        parent: Option<LayerMeta>,
        diff_id: Option<&image::Digest>,
        tx: &Progress,
    ) -> Unpacking {
        let f = self.fetch_layer(r, creds, d, tx);
        self.unpack_fetched(f, d, parent, diff_id)
    }

    /// Unpacks layer `d`, downloading in `f`, on top of `parent` as it arrives.
    fn unpack_fetched(
        self: &Arc<Self>,
        f: Fetching,
        d: &Descriptor,
        parent: Option<LayerMeta>,
        diff_id: Option<&image::Digest>,
    ) -> Unpacking {
        let (svc, digest, diff_id) = (self.clone(), d.digest.clone(), diff_id.cloned());
        let parent_chain = parent.as_ref().map(|p| p.chain_id.clone());
        let chunks = f.chunks;
        let unpack = tokio::task::spawn_blocking(move || {
            let blob = ChannelReader::new(chunks);
            svc.unpack_layer(blob, parent.as_ref(), diff_id.as_ref(), &digest)
        });
        Unpacking {
            parent: parent_chain,
            parent_hold: None,
            download: f.task,
            announced: f.announced,
            unpack,
        }
    }

    /// Once layer `d` has been announced: its download progress, then the unpacked layer,
    /// which must have the config's `diff_id`; nothing of it is kept if anything fails (a
    /// layer recorded with another diff id is collected by the failed pull).
    async fn finish_unpack(
        &self,
        u: Unpacking,
        d: &Descriptor,
        diff_id: &image::Digest,
        tx: &Progress,
    ) -> Result<(LayerMeta, image::LayerHold)> {
        u.announced.store(true, Ordering::Relaxed);
        let id = short(&d.digest);
        let download = async {
            let done = u
                .download
                .await
                .map_err(|e| ServiceError::internal(format!("download task failed: {e}")))?;
            if done.is_ok() {
                let _ = tx.send(status("Verifying Checksum", Some(&id))).await;
                let _ = tx.send(status("Download complete", Some(&id))).await;
            }
            done
        };
        let unpacked = async {
            u.unpack
                .await
                .map_err(|e| ServiceError::internal(format!("unpack task failed: {e}")))?
        };
        let (downloaded, unpacked) = tokio::join!(download, unpacked);
        // A failed download reached the reader as an error, so the unpacking failed with it;
        // a failed unpacking stopped the download (its reader went away).
        let (layer, hold) = unpacked?;
        downloaded?;
        if layer.diff_id != *diff_id {
            return Err(ServiceError::invalid(format!(
                "layer content does not match its digest: expected {diff_id}, got {}",
                layer.diff_id
            )));
        }
        // Unpacked as it downloaded: all of it is extracted by now.
        let _ = tx.send(bar_line("Extracting", &id, d.size, d.size)).await;
        let _ = tx.send(status("Pull complete", Some(&id))).await;
        Ok((layer, hold))
    }

    /// The image config, checked against the manifest's layer count; its bytes too.
    async fn fetch_config(
        &self,
        r: &RegRef,
        creds: &Credentials,
        resolved: &registry::Resolved,
    ) -> Result<(Vec<u8>, ImageConfig)> {
        let mut config = Vec::new();
        self.registry()
            .fetch_blob(
                r,
                creds,
                &resolved.manifest.config,
                &mut config,
                &mut |_| {},
            )
            .await
            .map_err(registry_error)?;
        let cfg: ImageConfig =
            serde_json::from_slice(&config).map_err(image::Error::InvalidConfig)?;
        if cfg.rootfs.diff_ids.len() != resolved.manifest.layers.len() {
            return Err(ServiceError::invalid(
                "manifest and image config disagree on the number of layers",
            ));
        }
        Ok((config, cfg))
    }

    /// Collects the layers nothing uses (what a failed or cancelled pull recorded), on a
    /// blocking thread.
    async fn collect_layers(self: &Arc<Self>) {
        let svc = self.clone();
        let _ = blocking(move || {
            super::gc_layers(&svc.store, svc.graph.as_ref());
            Ok(())
        })
        .await;
    }

    /// Stops what a wrong guess started.
    async fn cancel_early(self: &Arc<Self>, early: Early) {
        match early {
            Early::Unpacking(u) => self.cancel_unpack(u).await,
            Early::Fetching(f) => f.task.abort(),
        }
    }

    /// Stops an unpacking that is not wanted: its download ends, so the unpacking fails and
    /// leaves nothing; should it have finished already, its layer is collected.
    async fn cancel_unpack(self: &Arc<Self>, u: Unpacking) {
        u.download.abort();
        if let Ok(Ok(done)) = u.unpack.await {
            drop(done);
            self.collect_layers().await;
        }
    }

    /// Blocking: decompresses `blob` and ingests it on top of `parent`, checked against
    /// `diff_id` if given, and records which diff id the blob unpacked to.
    fn unpack_layer(
        &self,
        blob: impl std::io::Read + Send + 'static,
        parent: Option<&LayerMeta>,
        diff_id: Option<&image::Digest>,
        digest: &str,
    ) -> Result<(LayerMeta, image::LayerHold)> {
        let mut tar = image::decompress(blob)
            .map_err(|e| ServiceError::invalid(format!("decompressing layer: {e}")))?;
        let known = diff_id.map_or(DiffId::Unknown, DiffId::Expected);
        let (layer, hold) = self.ingest_layer(parent, &mut tar, known)?;
        self.store.set_blob_diff_id(digest, &layer.diff_id);
        Ok((layer, hold))
    }

    /// Downloads one blob into the store's scratch space, reporting progress.
    async fn download(
        &self,
        r: &RegRef,
        creds: &Credentials,
        d: &Descriptor,
        tx: &Progress,
    ) -> Result<Scratch> {
        let blob = Scratch::new(
            self.store
                .tmp_dir()
                .join(format!("blob-{}", uuid::Uuid::new_v4().simple())),
        );
        let mut file = tokio::fs::File::create(blob.path())
            .await
            .map_err(|e| ServiceError::from_err("creating blob file", &e))?;
        let id = short(&d.digest);
        self.registry()
            .fetch_blob(
                r,
                creds,
                d,
                &mut file,
                &mut progress_reporter(tx, &id, d.size),
            )
            .await
            .map_err(registry_error)?;
        use tokio::io::AsyncWriteExt;
        file.flush()
            .await
            .map_err(|e| ServiceError::from_err("writing blob", &e))?;
        let _ = tx.send(status("Verifying Checksum", Some(&id))).await;
        let _ = tx.send(status("Download complete", Some(&id))).await;
        Ok(blob)
    }
}

/// An image a pull found stored here already.
struct StoredImage {
    config: Vec<u8>,
    diff_ids: Vec<image::Digest>,
    /// Its layers, held until its names are set.
    _holds: Vec<image::LayerHold>,
}

/// The layer a pull guessed to be the first one it lacks, before the image config arrived.
struct Guess {
    index: usize,
    /// The layer guessed to be below it, and a hold on it.
    parent: Option<LayerMeta>,
    parent_hold: Option<image::LayerHold>,
    /// Known to be missing (the diff id its blob unpacked to before is known, and no such layer
    /// is here), rather than only never seen.
    known_missing: bool,
}

/// What a pull started for its [`Guess`] while the image config downloads.
enum Early {
    /// A layer known to be missing: unpacking as it downloads.
    Unpacking(Unpacking),
    /// A layer perhaps present after all (loaded, not pulled): only downloading.
    Fetching(Fetching),
}

/// A layer downloading and unpacking (see [`ImageService::start_unpack`]).
struct Unpacking {
    /// The chain id of the layer it is unpacked on.
    parent: Option<image::Digest>,
    /// Keeps that layer from being collected, when nothing else does yet.
    parent_hold: Option<image::LayerHold>,
    download: tokio::task::JoinHandle<Result<()>>,
    announced: Arc<AtomicBool>,
    unpack: tokio::task::JoinHandle<Result<(LayerMeta, image::LayerHold)>>,
}

/// A layer download under way (see [`ImageService::fetch_layer`]).
struct Fetching {
    chunks: mpsc::Receiver<std::result::Result<bytes::Bytes, String>>,
    task: tokio::task::JoinHandle<Result<()>>,
    /// Progress lines are held back until the layer has been announced.
    announced: Arc<AtomicBool>,
}

/// Registry failures with Docker's status codes.
pub(super) fn registry_error(e: registry::Error) -> ServiceError {
    use registry::Error as E;
    match &e {
        E::ManifestUnknown { .. } | E::PullDenied { .. } => ServiceError::not_found(e.to_string()),
        E::InvalidReference { .. }
        | E::InvalidDigest(_)
        | E::InvalidAuthHeader(_)
        | E::NoMatchingPlatform { .. } => ServiceError::invalid(e.to_string()),
        E::Unauthorized { .. } | E::LoginFailed { .. } => {
            ServiceError::new(crate::error::ErrorKind::Unauthorized, e.to_string())
        }
        // The registry's own words (`unauthorized: …`, `denied: …`), as dockerd shows them.
        E::Registry { .. } => ServiceError::internal(e.to_string()),
        E::InsecureRealm { .. }
        | E::NoToken { .. }
        | E::Http { .. }
        | E::DigestMismatch { .. }
        | E::SizeMismatch { .. }
        | E::ManifestTooLarge { .. }
        | E::UnsupportedMediaType { .. }
        | E::InvalidManifest { .. }
        | E::NoUploadLocation { .. }
        | E::ReadFile { .. }
        | E::WriteBlob { .. } => ServiceError::from_err("registry", &e),
    }
}
