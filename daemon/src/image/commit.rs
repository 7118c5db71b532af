//! `POST /commit`: a container's read-write layer (only what it changed, not the init layer)
//! becomes a new layer on top of its image, with the container's config as the image's config.

use super::ingest::DiffId;
use super::ImageService;
use crate::error::{blocking, Result, ServiceError};
use api::container::ContainerConfig;
use graphdriver::LayerId;
use image::{Digest, ImageConfig, LayerMeta, Reference};
use std::sync::Arc;

/// What commit needs to know about the container.
#[derive(Debug, Clone)]
pub struct CommitInput {
    pub container_id: String,
    pub mount_id: String,
    /// The container's image (it may have been deleted since; the layers remain).
    pub image_id: String,
    pub config: ContainerConfig,
    /// The container's command, for the history entry.
    pub created_by: String,
    pub request: CommitRequest,
}

/// What the client asked for (`POST /commit` query).
#[derive(Debug, Clone, Default)]
pub struct CommitRequest {
    pub repo: String,
    pub tag: String,
    pub comment: String,
    pub author: String,
    pub changes: Vec<String>,
}

impl ImageService {
    /// Commits a container; returns the new image id.
    pub async fn commit(self: &Arc<Self>, input: CommitInput) -> Result<Digest> {
        let reference = match (input.request.repo.as_str(), input.request.tag.as_str()) {
            ("", _) => None,
            (r, "") => Some(Reference::parse(r)?),
            (r, t) => Some(Reference::parse(&format!("{r}:{t}"))?),
        };
        let config = super::changes::apply(&input.request.changes, Some(input.config.clone()))?;
        let svc = self.clone();
        blocking(move || {
            let parent = svc
                .store
                .mount(&input.container_id)
                .and_then(|m| m.parent)
                .map(|chain| {
                    svc.store
                        .layer(&chain)
                        .ok_or_else(|| ServiceError::internal(format!("layer {chain} of the container is missing")))
                })
                .transpose()?;
            let rw: LayerId = input.mount_id.parse()?;
            let mut tar = svc.graph.diff(&rw)?;
            let (layer, _hold) = svc.ingest_layer(parent.as_ref(), &mut tar, DiffId::Unknown)?;
            // The image the container was made from becomes the new image's parent, as in
            // Docker, while it is still stored.
            let stored = |id: Digest| Some((svc.store.get(&id).ok()?, id));
            let (base, parent) = input.image_id.parse().ok().and_then(stored).unzip();
            let cfg = svc.commit_config(base, &input, config, &layer);
            let bytes = serde_json::to_vec(&cfg).expect("image configs always serialise");
            let id = svc.store.put_child_image(&bytes, reference.as_slice(), parent.as_ref())?;
            tracing::info!(container_id = %input.container_id, image_id = %id, "container committed");
            Ok(id)
        })
        .await
    }

    fn commit_config(
        &self,
        base: Option<ImageConfig>,
        input: &CommitInput,
        config: serde_json::Value,
        layer: &LayerMeta,
    ) -> ImageConfig {
        let now = crate::container::now_rfc3339();
        let mut cfg = base.unwrap_or_else(|| ImageConfig {
            architecture: super::host_arch(),
            os: "linux".into(),
            ..Default::default()
        });
        cfg.rootfs.kind = "layers".into();
        cfg.rootfs.diff_ids = self.diff_ids_of(layer);
        cfg.created = Some(now.clone());
        cfg.author = (!input.request.author.is_empty()).then(|| input.request.author.clone());
        cfg.comment = (!input.request.comment.is_empty()).then(|| input.request.comment.clone());
        cfg.config = Some(config);
        cfg.extra
            .insert("container".into(), serde_json::json!(input.container_id));
        cfg.extra.insert(
            "container_config".into(),
            serde_json::to_value(&input.config).expect("container configs always serialise"),
        );
        let mut entry = serde_json::json!({"created": now, "created_by": input.created_by});
        if !input.request.author.is_empty() {
            entry["author"] = serde_json::json!(input.request.author);
        }
        if !input.request.comment.is_empty() {
            entry["comment"] = serde_json::json!(input.request.comment);
        }
        cfg.history.push(entry);
        cfg
    }

    /// The diff ids of a layer and all below it, bottom first.
    fn diff_ids_of(&self, top: &LayerMeta) -> Vec<Digest> {
        let mut out = vec![top.diff_id.clone()];
        let mut cur = top.parent.clone();
        while let Some(chain) = cur {
            match self.store.layer(&chain) {
                Some(l) => {
                    out.push(l.diff_id.clone());
                    cur = l.parent;
                }
                None => break,
            }
        }
        out.reverse();
        out
    }
}
