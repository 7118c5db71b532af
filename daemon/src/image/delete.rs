//! Names and removal: `POST /images/{name}/tag`, `DELETE /images/{name}` with Docker's rules,
//! and `POST /images/prune`. Each runs as one blocking task: they write `repositories.json`
//! (fsynced) and delete layers.

use super::progress::short;
use super::{gc_layers, is_id_reference, ImageService, ImageUsers};
use crate::error::{blocking, Result, ServiceError};
use crate::prune::PruneFilter;
use api::image::{ImageDeleteItem, ImagePruneResponse};
use image::{Digest, Reference};
use std::sync::Arc;

impl ImageService {
    /// `POST /images/{name}/tag`: adds `repo[:tag]` (tag `latest` when empty) to an image.
    pub async fn tag(self: &Arc<Self>, name: &str, repo: &str, tag: &str) -> Result<()> {
        let svc = self.clone();
        let (name, repo, tag) = (name.to_string(), repo.to_string(), tag.to_string());
        blocking(move || svc.tag_blocking(&name, &repo, &tag)).await
    }

    fn tag_blocking(&self, name: &str, repo: &str, tag: &str) -> Result<()> {
        let id = self.resolve(name)?;
        if repo.is_empty() {
            return Err(ServiceError::invalid(
                "repository name must have at least one component",
            ));
        }
        let full = if tag.is_empty() {
            repo.to_string()
        } else {
            format!("{repo}:{tag}")
        };
        let r = Reference::parse(&full)?;
        if r.digest.is_some() {
            return Err(ServiceError::invalid(
                "refusing to create a tag with a digest reference",
            ));
        }
        self.store.tag(&r, &id)?;
        tracing::info!(image_id = %id, reference = %r, "image tagged");
        Ok(())
    }

    /// `DELETE /images/{name}` with Docker's conflict rules. `users` lists the containers of
    /// each image in use.
    pub async fn delete(
        self: &Arc<Self>,
        name: &str,
        force: bool,
        users: ImageUsers,
    ) -> Result<Vec<ImageDeleteItem>> {
        let svc = self.clone();
        let name = name.to_string();
        blocking(move || svc.delete_blocking(&name, force, &users)).await
    }

    fn delete_blocking(
        &self,
        name: &str,
        force: bool,
        all_users: &ImageUsers,
    ) -> Result<Vec<ImageDeleteItem>> {
        let id = self.resolve(name)?;
        let by_id = is_id_reference(name, &id);
        let users: &[(String, bool)] = all_users.get(id.as_str()).map_or(&[], Vec::as_slice);
        let refs = self.store.references(&id);
        let mut items = Vec::new();
        if !by_id {
            let r = Reference::parse(name)?;
            // Removing one of several names never strands the image; removing the last one
            // while a container uses it would leave it dangling, so that needs force.
            if !force && refs.len() <= 1 {
                if let Some((cid, _)) = users.first() {
                    return Err(ServiceError::conflict(format!(
                        "conflict: unable to remove repository reference \"{name}\" (must force) - container {} is using its referenced image {}",
                        short(cid),
                        short(id.as_str())
                    )));
                }
            }
            self.store.untag(&r)?;
            items.push(ImageDeleteItem {
                untagged: Some(r.key()),
                deleted: None,
            });
            // When no tag of this repository remains, its digest references go too (moby's
            // rule); the image stays while any other name remains.
            let rest: Vec<String> = refs.iter().filter(|x| **x != r.key()).cloned().collect();
            let same_repo = |x: &String| Reference::parse(x).is_ok_and(|o| o.repo == r.repo);
            let mut remaining = Vec::new();
            if r.digest.is_some() || rest.iter().any(|x| same_repo(x) && !x.contains('@')) {
                remaining = rest;
            } else {
                for x in rest {
                    if same_repo(&x) {
                        self.store.untag(&Reference::parse(&x)?)?;
                        items.push(ImageDeleteItem {
                            untagged: Some(x),
                            deleted: None,
                        });
                    } else {
                        remaining.push(x);
                    }
                }
            }
            // Untagged only: it has other names, or images were committed from it (it stays
            // as their intermediate image).
            if !remaining.is_empty() || !self.store.children(&id).is_empty() {
                return Ok(items);
            }
        } else if !self.store.children(&id).is_empty() {
            return Err(image::Error::HasChildren(id).into());
        } else if refs.len() > 1 && !force {
            return Err(ServiceError::conflict(format!(
                "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                short(id.as_str())
            )));
        }
        if let Some((cid, _)) = users.iter().find(|(_, running)| *running) {
            if !by_id && force {
                return Ok(items); // untagged; a running container keeps the image
            }
            return Err(ServiceError::conflict(format!(
                "conflict: unable to delete {} (cannot be forced) - image is being used by running container {}",
                short(id.as_str()),
                short(cid)
            )));
        }
        if let (Some((cid, _)), false) = (users.first(), force) {
            return Err(ServiceError::conflict(format!(
                "conflict: unable to delete {} (must be forced) - image is being used by stopped container {}",
                short(id.as_str()),
                short(cid)
            )));
        }
        if by_id {
            for r in &refs {
                items.push(ImageDeleteItem {
                    untagged: Some(r.clone()),
                    deleted: None,
                });
            }
        }
        items.extend(self.remove_with_parents(&id, all_users)?.0);
        Ok(items)
    }

    /// `POST /images/prune`: deletes the dangling images (every image with `dangling=false`)
    /// that no container uses and the `until` and `label` filters allow, and the untagged
    /// images they were committed from. Reclaimed space counts only released layers.
    pub async fn prune(
        self: &Arc<Self>,
        filters: &api::Filters,
        users: ImageUsers,
    ) -> Result<ImagePruneResponse> {
        let filter = PruneFilter::parse(filters, &["dangling"])?;
        // As Docker reads it: a `false` among the values means every unused image (the CLI
        // adds `true` to what the user gave without `-a`).
        let (_, all) = super::dangling_values(filters)?;
        let svc = self.clone();
        blocking(move || {
            let mut deleted = Vec::new();
            let mut reclaimed = 0u64;
            // Children before parents: a parent is free once its children are gone.
            let mut images: Vec<(usize, Digest)> = svc
                .store
                .list()
                .into_iter()
                .map(|(id, _)| (svc.ancestors(&id), id))
                .collect();
            images.sort_by(|a, b| b.cmp(a));
            for (_, id) in images {
                let tags = svc.store.references(&id);
                let Ok(cfg) = svc.store.get(&id) else {
                    continue; // deleted as a parent already
                };
                let deletable = (all || tags.is_empty())
                    && filter.allows(cfg.created.as_deref(), &super::image_labels(&cfg))
                    && svc.store.children(&id).is_empty()
                    && !users.contains_key(id.as_str());
                if !deletable {
                    continue;
                }
                for t in &tags {
                    if let Ok(r) = Reference::parse(t) {
                        svc.store.untag(&r)?;
                        deleted.push(ImageDeleteItem {
                            untagged: Some(t.clone()),
                            deleted: None,
                        });
                    }
                }
                let (items, bytes) = svc.remove_with_parents(&id, &users)?;
                deleted.extend(items);
                reclaimed += bytes;
            }
            Ok(ImagePruneResponse {
                images_deleted: Some(deleted),
                space_reclaimed: reclaimed,
            })
        })
        .await
    }

    /// How many images image `id` was committed from, in a line.
    fn ancestors(&self, id: &Digest) -> usize {
        std::iter::successors(self.store.parent(id), |p| self.store.parent(p)).count()
    }

    /// Blocking: deletes image `id`, then, as Docker does, the image it was committed from if
    /// nothing needs that any more (no name, no other child, no container), and so on down.
    /// Returns the `Deleted` entries and the bytes of the released layers.
    fn remove_with_parents(
        &self,
        id: &Digest,
        users: &ImageUsers,
    ) -> Result<(Vec<ImageDeleteItem>, u64)> {
        let mut parent = self.store.parent(id);
        let (mut items, mut bytes) = self.remove_image(id)?;
        while let Some(p) = parent.take() {
            let unneeded = self.store.references(&p).is_empty()
                && self.store.children(&p).is_empty()
                && !users.contains_key(p.as_str());
            if !unneeded || self.store.get(&p).is_err() {
                break;
            }
            parent = self.store.parent(&p);
            let (more, freed) = self.remove_image(&p)?;
            items.extend(more);
            bytes += freed;
        }
        Ok((items, bytes))
    }

    /// Blocking: deletes an image record, then the layers nothing uses any more. Returns
    /// Docker's `Deleted` entries (the image, then its released layers, top first) and the
    /// bytes those layers held.
    fn remove_image(&self, id: &Digest) -> Result<(Vec<ImageDeleteItem>, u64)> {
        let chains = self
            .store
            .get(id)
            .map(|c| c.chain_ids())
            .unwrap_or_default();
        self.store.delete(id)?;
        let mut released: Vec<image::LayerMeta> = gc_layers(&self.store, self.graph.as_ref())
            .into_iter()
            .filter(|l| chains.contains(&l.chain_id))
            .collect();
        released.sort_by_key(|l| std::cmp::Reverse(chains.iter().position(|c| *c == l.chain_id)));
        let bytes = released.iter().map(|l| l.size).sum();
        let mut items = vec![ImageDeleteItem {
            untagged: None,
            deleted: Some(id.to_string()),
        }];
        items.extend(released.into_iter().map(|l| ImageDeleteItem {
            untagged: None,
            deleted: Some(l.chain_id.to_string()),
        }));
        Ok((items, bytes))
    }
}
