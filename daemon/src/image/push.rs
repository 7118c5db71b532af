//! `POST /images/{name}/push`: layers (gzip-compressed from the kept layer tars), the config
//! and a Docker schema 2 manifest go to the registry, with Docker's progress stream.

use super::ingest::LayerTar;
use super::progress::{bar_line, error_line, short, status, Progress};
use super::pull::registry_error;
use super::{source_name, ImageService};
use crate::error::{blocking, Result, ServiceError};
use api::image::ProgressMessage;
use registry::media_type::{DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST, OCI_LAYER_GZIP};
use registry::{Credentials, Descriptor, Manifest, Reference as RegRef};
use std::io::Write;
use std::sync::Arc;
use tokio::sync::mpsc;

impl ImageService {
    /// Starts pushing `name` (with `tag`, default `latest`); returns the progress stream.
    pub async fn push(
        self: &Arc<Self>,
        name: &str,
        tag: &str,
        auth: Option<&str>,
    ) -> Result<mpsc::Receiver<ProgressMessage>> {
        let full = if tag.is_empty() {
            name.to_string()
        } else {
            format!("{name}:{tag}")
        };
        let local = image::Reference::parse(&full)?;
        let id = self.store.resolve(&local.key()).map_err(|_| {
            ServiceError::not_found(format!(
                "An image does not exist locally with the tag: {}",
                local.repo
            ))
        })?;
        let r = RegRef::parse(&local.key()).map_err(|e| ServiceError::invalid(e.to_string()))?;
        let creds = Credentials::from_header(auth.unwrap_or(""))
            .map_err(|e| ServiceError::invalid(e.to_string()))?;
        let (tx, rx) = mpsc::channel(64);
        let svc = self.clone();
        tokio::spawn(async move {
            let _ = tx
                .send(status(
                    &format!("The push refers to repository [{}]", repo_name(&r)),
                    None,
                ))
                .await;
            if let Err(e) = svc.push_image(&r, &creds, &id, &tx).await {
                tracing::warn!(image = %r.familiar(), error = %e, "push failed");
                let _ = tx.send(error_line(e.message())).await;
            }
        });
        Ok(rx)
    }

    async fn push_image(
        self: &Arc<Self>,
        r: &RegRef,
        creds: &Credentials,
        id: &image::Digest,
        tx: &Progress,
    ) -> Result<()> {
        let cfg = self.store.get(id)?;
        // The layers' kept tars and the config, looked up on a blocking thread (they are files).
        let (svc, chains, image) = (self.clone(), cfg.chain_ids(), id.clone());
        let (kept, config) = blocking(move || {
            let kept: Vec<_> = chains
                .iter()
                .map(|c| svc.layer_tar(c))
                .collect::<Result<_>>()?;
            Ok((kept, svc.store.config_bytes(&image)?))
        })
        .await?;
        let mut tars = Vec::new();
        for (kept, diff_id) in Vec::into_iter(kept).zip(&cfg.rootfs.diff_ids).rev() {
            let _ = tx
                .send(status("Preparing", Some(&short(diff_id.as_str()))))
                .await;
            let tar = kept.ok_or_else(|| {
                ServiceError::internal(format!(
                    "layer {diff_id} has no kept tar; it cannot be pushed"
                ))
            })?;
            tars.push((diff_id.clone(), tar));
        }
        tars.reverse();
        let mut layers = Vec::new();
        for (diff_id, tar) in tars {
            layers.push(self.push_layer(r, creds, &diff_id, tar, tx).await?);
        }
        let config_desc = Descriptor {
            media_type: DOCKER_CONFIG.into(),
            digest: id.to_string(),
            size: config.len() as u64,
            ..Default::default()
        };
        if !self
            .registry()
            .blob_exists(r, creds, &config_desc.digest)
            .await
            .map_err(registry_error)?
        {
            let staged = super::Scratch::new(
                self.store
                    .tmp_dir()
                    .join(format!("config-{}", uuid::Uuid::new_v4().simple())),
            );
            tokio::fs::write(staged.path(), &config)
                .await
                .map_err(|e| ServiceError::from_err("staging config", &e))?;
            self.registry()
                .push_blob(r, creds, &config_desc.digest, staged.path(), &mut |_| {})
                .await
                .map_err(registry_error)?;
        }
        let manifest = Manifest {
            media_type: DOCKER_MANIFEST.into(),
            config: config_desc,
            layers,
        };
        let body = serde_json::to_vec_pretty(&manifest).expect("manifests always serialise");
        let digest = self
            .registry()
            .put_manifest(r, creds, DOCKER_MANIFEST, &body)
            .await
            .map_err(registry_error)?;
        let (svc, image_id) = (self.clone(), id.clone());
        let digest_ref = image::Reference::parse(&format!("{}@{digest}", r.familiar()))?;
        blocking(move || Ok(svc.store.tag(&digest_ref, &image_id)?)).await?;
        let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
        let _ = tx
            .send(status(
                &format!("{tag}: digest: {digest} size: {}", body.len()),
                None,
            ))
            .await;
        tracing::info!(image_id = %id, %digest, "image pushed");
        Ok(())
    }

    /// Pushes one layer. A blob of it that earlier pulls and pushes saw in this registry is
    /// used if the repository has it or can mount it from another one, as Docker does (the
    /// manifest then names the same blobs as the image it came from); otherwise the layer is
    /// compressed and uploaded unless the registry has that blob too.
    async fn push_layer(
        &self,
        r: &RegRef,
        creds: &Credentials,
        diff_id: &image::Digest,
        tar: LayerTar,
        tx: &Progress,
    ) -> Result<Descriptor> {
        let sid = short(diff_id.as_str());
        if let Some(desc) = self.reuse_blob(r, creds, diff_id, &sid, tx).await? {
            return Ok(desc);
        }
        // Deleted once pushed or failed (also when compressing fails).
        let out = Arc::new(super::Scratch::new(
            self.store
                .tmp_dir()
                .join(format!("push-{}.tar.gz", uuid::Uuid::new_v4().simple())),
        ));
        let (staged, store, id) = (out.clone(), self.store.clone(), diff_id.clone());
        let (digest, size) = blocking(move || {
            let (digest, size) = gzip(&tar, &id, staged.path())?;
            store.set_blob_diff_id(&digest, &id);
            Ok((digest, size))
        })
        .await?;
        let desc = Descriptor {
            media_type: DOCKER_LAYER_GZIP.into(),
            digest: digest.clone(),
            size,
            ..Default::default()
        };
        let result = async {
            if self
                .registry()
                .blob_exists(r, creds, &digest)
                .await
                .map_err(registry_error)?
            {
                let _ = tx.send(status("Layer already exists", Some(&sid))).await;
                return Ok(());
            }
            let ptx = tx.clone();
            let pid = sid.clone();
            let mut report = move |n: u64| {
                let _ = ptx.try_send(bar_line("Pushing", &pid, n, size));
            };
            self.registry()
                .push_blob(r, creds, &digest, out.path(), &mut report)
                .await
                .map_err(registry_error)?;
            let _ = tx.send(status("Pushed", Some(&sid))).await;
            Ok::<(), ServiceError>(())
        }
        .await;
        drop(out);
        result?;
        self.remember_source(r, diff_id, &desc).await;
        Ok(desc)
    }

    /// A gzip blob of layer `diff_id` that the repository has, or that the registry mounted
    /// into it from another repository, as Docker finds one: first the blobs known in this
    /// repository (whatever their age), then mounts of the newest known elsewhere in this
    /// registry, three of each at most. A blob the registry answers otherwise for is forgotten;
    /// a request that fails only skips the blob (the layer is then uploaded).
    async fn reuse_blob(
        &self,
        r: &RegRef,
        creds: &Credentials,
        diff_id: &image::Digest,
        sid: &str,
        tx: &Progress,
    ) -> Result<Option<Descriptor>> {
        let (store, id) = (self.store.clone(), diff_id.clone());
        let sources = blocking(move || Ok(store.blob_sources(&id))).await?;
        let here = source_name(r);
        let prefix = format!("{}/", r.registry);
        let usable = |s: &&image::BlobSource| {
            GZIP_TYPES.contains(&s.media_type.as_str()) && s.repository.starts_with(&prefix)
        };
        let own = sources
            .iter()
            .filter(usable)
            .filter(|s| s.repository == here);
        let others = sources
            .iter()
            .filter(usable)
            .filter(|s| s.repository != here);
        for s in own.take(3).chain(others.take(3)) {
            let from = &s.repository[prefix.len()..];
            let line = if s.repository == here {
                "Layer already exists".to_string()
            } else {
                match self.registry().mount_blob(r, creds, &s.digest, from).await {
                    Ok(true) => format!("Mounted from {from}"),
                    Ok(false) => {
                        self.forget_source(diff_id, s).await;
                        continue;
                    }
                    Err(e) => {
                        tracing::debug!(digest = %s.digest, from, error = %e, "mount failed");
                        continue;
                    }
                }
            };
            let size = match self.registry().blob_size(r, creds, &s.digest).await {
                Ok(Some(size)) => size,
                Ok(None) => {
                    self.forget_source(diff_id, s).await; // gone from the repository since
                    continue;
                }
                Err(e) => {
                    tracing::debug!(digest = %s.digest, error = %e, "blob check failed");
                    continue;
                }
            };
            let _ = tx.send(status(&line, Some(sid))).await;
            let desc = Descriptor {
                media_type: DOCKER_LAYER_GZIP.into(),
                digest: s.digest.clone(),
                size,
                ..Default::default()
            };
            self.remember_source(r, diff_id, &desc).await;
            return Ok(Some(desc));
        }
        Ok(None)
    }

    /// Forgets a registry location of layer `diff_id` that turned out wrong.
    async fn forget_source(&self, diff_id: &image::Digest, s: &image::BlobSource) {
        let (store, id, s) = (self.store.clone(), diff_id.clone(), s.clone());
        let _ = blocking(move || {
            store.remove_blob_source(&id, &s.digest, &s.repository);
            Ok(())
        })
        .await;
    }

    /// Records that the repository of `r` has layer `diff_id` as blob `desc`.
    async fn remember_source(&self, r: &RegRef, diff_id: &image::Digest, desc: &Descriptor) {
        let (store, id) = (self.store.clone(), diff_id.clone());
        let source = image::BlobSource::new(&desc.digest, &source_name(r), &desc.media_type);
        let _ = blocking(move || {
            store.add_blob_source(&id, source);
            Ok(())
        })
        .await;
    }
}

/// Layer media types whose blobs a Docker schema 2 manifest can name as its gzip layers.
const GZIP_TYPES: [&str; 2] = [DOCKER_LAYER_GZIP, OCI_LAYER_GZIP];

/// Gzips a layer tar into `dst` at Docker's level (`docker push` compresses with Go's default,
/// level 6) and deterministically (no name or mtime in the header), checking on the way that
/// the tar still has the layer's diff id; returns the blob's digest and size.
fn gzip(src: &LayerTar, diff_id: &image::Digest, dst: &std::path::Path) -> Result<(String, u64)> {
    let io = |e: std::io::Error| ServiceError::from_err("compressing layer", &e);
    let mut input = image::HashingReader::new(src.open().map_err(io)?);
    let file = std::fs::File::create(dst).map_err(io)?;
    let out = image::DigestWriter::new(std::io::BufWriter::new(file));
    let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::default());
    std::io::copy(&mut input, &mut enc).map_err(io)?;
    let (digest, size, mut file) = enc.finish().map_err(io)?.finish();
    file.flush().map_err(io)?;
    let actual = input.digest();
    if actual != *diff_id {
        return Err(ServiceError::internal(format!(
            "layer {diff_id} does not match its content any more (it has digest {actual}): it cannot be pushed"
        )));
    }
    Ok((digest.to_string(), size))
}

/// The repository as Docker prints it in "The push refers to repository [...]".
fn repo_name(r: &RegRef) -> String {
    if r.registry == "docker.io" {
        format!("docker.io/{}", r.repository)
    } else {
        format!("{}/{}", r.registry, r.repository)
    }
}
