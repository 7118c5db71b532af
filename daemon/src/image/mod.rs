//! The image service: import, list, inspect, delete. It composes the image metadata store with
//! the graphdriver, which holds layer contents.

mod archive;
mod changes;
mod commit;
mod delete;
mod import;
mod ingest;
mod login;
mod progress;
mod pull;
mod push;

pub use commit::{CommitInput, CommitRequest};

pub use import::ImportOptions;

use crate::error::{Result, ServiceError};
use api::container::{ContainerConfig, GraphDriverData};
use api::image::{ImageInspect, ImageSummary, RootFs};
use graphdriver::GraphDriver;
use image::{Digest, ImageConfig, ImageStore, Reference};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The image service.
pub struct ImageService {
    graph: Arc<dyn GraphDriver>,
    store: Arc<ImageStore>,
    insecure_registries: Vec<String>,
    /// Built on first use: its TLS setup (root certificates) costs memory an idle daemon
    /// that never talks to a registry should not pay.
    registry: std::sync::OnceLock<registry::Client>,
}

impl ImageService {
    pub fn new(
        graph: Arc<dyn GraphDriver>,
        store: Arc<ImageStore>,
        insecure_registries: Vec<String>,
    ) -> Self {
        Self {
            graph,
            store,
            insecure_registries,
            registry: std::sync::OnceLock::new(),
        }
    }

    fn registry(&self) -> &registry::Client {
        self.registry
            .get_or_init(|| registry::Client::new(self.insecure_registries.clone()))
    }

    /// Number of images.
    pub fn count(&self) -> usize {
        self.store.list().len()
    }

    fn size_of(&self, cfg: &ImageConfig) -> i64 {
        cfg.chain_ids()
            .iter()
            .filter_map(|c| self.store.layer(c))
            .map(|l| l.size as i64)
            .sum()
    }

    /// Docker names the image as normalised (`gone` → `gone:latest`).
    fn not_found(name: &str) -> ServiceError {
        let shown = Reference::parse(name)
            .map(|r| r.key())
            .unwrap_or_else(|_| name.to_string());
        ServiceError::not_found(format!("No such image: {shown}"))
    }

    fn resolve(&self, name: &str) -> Result<Digest> {
        self.store.resolve(name).map_err(|e| match e {
            image::Error::ImageNotFound(_) => Self::not_found(name),
            other => other.into(),
        })
    }

    /// `GET /images/json` with Docker's filters (dangling, reference, label, before, since).
    /// As in Docker, untagged images that others were committed from are intermediate: listed
    /// only with `all`, never dangling. `users` counts the containers of an image (Docker
    /// counts them only for `system df`; -1 otherwise).
    pub fn list(
        &self,
        opts: &ListOptions,
        users: Option<&dyn Fn(&str) -> usize>,
    ) -> Result<Vec<ImageSummary>> {
        const KEYS: &[&str] = &["dangling", "reference", "label", "before", "since"];
        let filters = &opts.filters;
        if let Some(k) = filters.unknown_keys(KEYS).first() {
            return Err(ServiceError::invalid(format!("invalid filter '{k}'")));
        }
        let (dangling_only, _) = dangling_values(filters)?;
        let bound = |key: &str| -> Result<Option<Created>> {
            match filters.get(key).first() {
                Some(name) => Ok(Some(created_at(&self.store.get(&self.resolve(name)?)?))),
                None => Ok(None),
            }
        };
        let (before, since) = (bound("before")?, bound("since")?);
        let mut out = Vec::new();
        for (id, cfg) in &self.store.list() {
            let has_children = !self.store.children(id).is_empty();
            let created = created_at(cfg);
            if (dangling_only && has_children)
                || before.is_some_and(|b| created >= b)
                || since.is_some_and(|s| created <= s)
            {
                continue;
            }
            let labels = image_labels(cfg);
            if !filters.match_labels("label", &labels) {
                continue;
            }
            let refs = self.store.references(id);
            let patterns = filters.get("reference");
            let matching = |r: &&String| patterns.iter().any(|p| reference_matches(p, r));
            let refs: Vec<String> = match patterns.is_empty() {
                true => refs,
                false => refs.iter().filter(matching).cloned().collect(),
            };
            let (digests, tags): (Vec<String>, Vec<String>) =
                refs.into_iter().partition(|r| r.contains('@'));
            if !patterns.is_empty() && tags.is_empty() && digests.is_empty() {
                continue;
            }
            if tags.is_empty() && digests.is_empty() {
                // Untagged: dangling, or intermediate when others were committed from it.
                if (has_children && !opts.all) || filters.contains("dangling") && !dangling_only {
                    continue;
                }
            } else if dangling_only && !tags.is_empty() {
                continue;
            }
            let size = self.size_of(cfg);
            let summary = ImageSummary {
                containers: users.map_or(-1, |u| u(id.as_str()) as i64),
                id: id.to_string(),
                parent_id: self
                    .store
                    .parent(id)
                    .map(|p| p.to_string())
                    .unwrap_or_default(),
                repo_tags: tags,
                repo_digests: digests,
                created: created.timestamp(),
                size,
                shared_size: -1,
                virtual_size: size,
                labels: (!labels.is_empty()).then_some(labels),
            };
            out.push((summary, cfg.chain_ids(), created));
        }
        if opts.shared_size {
            self.fill_shared_sizes(&mut out);
        }
        // Newest first, by the full creation time (the listed one is in seconds).
        out.sort_by(|(a, _, ta), (b, _, tb)| tb.cmp(ta).then(a.id.cmp(&b.id)));
        Ok(out.into_iter().map(|(summary, _, _)| summary).collect())
    }

    /// Docker's `SharedSize`: the bytes of an image's layers that another listed image uses
    /// too. `listed`: each summary with its layers' chain ids.
    fn fill_shared_sizes(&self, listed: &mut [(ImageSummary, Vec<Digest>, Created)]) {
        let mut users: HashMap<Digest, usize> = HashMap::new();
        for chain in listed.iter().flat_map(|(_, chains, _)| chains) {
            *users.entry(chain.clone()).or_default() += 1;
        }
        for (summary, chains, _) in listed {
            summary.shared_size = chains
                .iter()
                .filter(|c| users.get(*c).is_some_and(|n| *n > 1))
                .filter_map(|c| self.store.layer(c))
                .map(|l| l.size as i64)
                .sum();
        }
    }

    /// `GET /images/{name}/json`.
    pub fn inspect(&self, name: &str) -> Result<ImageInspect> {
        let id = self.resolve(name)?;
        let cfg = self.store.get(&id)?;
        let config = cfg
            .config
            .as_ref()
            .and_then(|c| serde_json::from_value::<ContainerConfig>(c.clone()).ok());
        let mut data = std::collections::BTreeMap::new();
        let dirs: Vec<String> = cfg
            .chain_ids()
            .iter()
            .rev()
            .filter_map(|c| self.store.layer(c))
            .filter_map(|l| {
                l.cache_id
                    .parse()
                    .ok()
                    .and_then(|lid| self.graph.diff_dir(&lid).ok())
            })
            .map(|p| p.display().to_string())
            .collect();
        if self.graph.name() == "overlay2" {
            if let Some((top, lower)) = dirs.split_first() {
                data.insert("UpperDir".to_string(), top.clone());
                if !lower.is_empty() {
                    data.insert("LowerDir".to_string(), lower.join(":"));
                }
            }
        }
        let size = self.size_of(&cfg);
        Ok(ImageInspect {
            id: id.to_string(),
            parent: self
                .store
                .parent(&id)
                .map(|p| p.to_string())
                .unwrap_or_default(),
            repo_tags: self
                .store
                .references(&id)
                .into_iter()
                .filter(|r| !r.contains('@'))
                .collect(),
            repo_digests: digests_of(&self.store, &id),
            comment: cfg.comment.clone().unwrap_or_default(),
            created: cfg
                .created
                .clone()
                .unwrap_or_else(|| crate::container::ZERO_TIME.into()),
            docker_version: String::new(),
            author: cfg.author.clone().unwrap_or_default(),
            config,
            architecture: cfg.architecture.clone(),
            os: cfg.os.clone(),
            size,
            virtual_size: size,
            graph_driver: GraphDriverData {
                name: self.graph.name().into(),
                data,
            },
            metadata: api::image::ImageMetadata {
                last_tag_time: crate::container::ZERO_TIME.into(),
            },
            root_fs: RootFs {
                kind: "layers".into(),
                layers: cfg.rootfs.diff_ids.iter().map(|d| d.to_string()).collect(),
            },
            ..Default::default()
        })
    }
}

/// Docker's `reference` filter: a glob (`*`, `?`) against `repo:tag` (or `repo@digest`), or
/// against the repo alone when the pattern has neither tag nor digest.
fn reference_matches(pattern: &str, reference: &str) -> bool {
    let name = match reference.split_once('@') {
        Some((name, _)) => name,
        None => reference
            .rsplit_once(':')
            .map_or(reference, |(name, _)| name),
    };
    let bare = !pattern.contains('@')
        && pattern
            .rsplit_once(':')
            .is_none_or(|(_, tag)| tag.contains('/'));
    glob(
        pattern.as_bytes(),
        if bare { name } else { reference }.as_bytes(),
    )
}

fn glob(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => glob(&p[1..], s) || (!s.is_empty() && s[0] != b'/' && glob(p, &s[1..])),
        (Some(b'?'), Some(c)) if *c != b'/' => glob(&p[1..], &s[1..]),
        (Some(a), Some(b)) if a == b => glob(&p[1..], &s[1..]),
        _ => false,
    }
}

impl ImageService {
    /// `GET /images/{name}/history`: the config's history, newest first; entries that made a
    /// layer carry its size, the newest one the image id and tags.
    pub fn history(&self, name: &str) -> Result<Vec<api::image::HistoryItem>> {
        let id = self.resolve(name)?;
        let cfg = self.store.get(&id)?;
        let sizes: Vec<i64> = cfg
            .chain_ids()
            .iter()
            .map(|c| self.store.layer(c).map_or(0, |l| l.size as i64))
            .collect();
        let mut layer = 0;
        let mut out = Vec::new();
        for h in &cfg.history {
            let empty = h
                .get("empty_layer")
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            let size = if empty {
                0
            } else {
                sizes.get(layer).copied().unwrap_or(0)
            };
            if !empty {
                layer += 1;
            }
            let text = |k: &str| h.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
            let created =
                chrono::DateTime::parse_from_rfc3339(&text("created")).map_or(0, |t| t.timestamp());
            out.push(api::image::HistoryItem {
                id: "<missing>".into(),
                created,
                created_by: text("created_by"),
                tags: Vec::new(),
                size,
                comment: text("comment"),
            });
        }
        if out.is_empty() {
            out.push(api::image::HistoryItem {
                created: created_secs(&cfg),
                size: self.size_of(&cfg),
                ..Default::default()
            });
        }
        out.reverse();
        // The newest entry is the image's; as in Docker, each older one is the parent's (the
        // image committed from), as far as parents are known.
        let mut image = Some(id);
        for item in &mut out {
            let Some(id) = image.take() else { break };
            item.tags = self
                .store
                .references(&id)
                .into_iter()
                .filter(|r| !r.contains('@'))
                .collect();
            item.id = id.to_string();
            image = self.store.parent(&id);
        }
        Ok(out)
    }

    /// Total bytes of all layers (each counted once), for `GET /system/df`.
    pub fn layers_size(&self) -> i64 {
        let mut seen = std::collections::HashSet::new();
        self.store
            .list()
            .iter()
            .flat_map(|(_, c)| c.chain_ids())
            .filter(|c| seen.insert(c.clone()))
            .filter_map(|c| self.store.layer(&c))
            .map(|l| l.size as i64)
            .sum()
    }
}

/// `repo@sha256:…` names of an image (RepoDigests).
fn digests_of(store: &ImageStore, id: &Digest) -> Vec<String> {
    store
        .references(id)
        .into_iter()
        .filter(|r| r.contains('@'))
        .collect()
}

pub(crate) fn is_id_reference(name: &str, id: &Digest) -> bool {
    let hex = name.strip_prefix("sha256:").unwrap_or(name);
    !hex.is_empty() && id.hex().starts_with(hex) && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The host's architecture in Go's naming, as image configs use it.
pub(crate) fn host_arch() -> String {
    match std::env::consts::ARCH {
        "x86_64" => "amd64".into(),
        "aarch64" => "arm64".into(),
        other => other.into(),
    }
}

/// An image's creation time (the epoch when its config has none or a malformed one).
type Created = chrono::DateTime<chrono::FixedOffset>;

fn created_at(cfg: &ImageConfig) -> Created {
    cfg.created
        .as_deref()
        .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
        .unwrap_or_default()
}

fn created_secs(cfg: &ImageConfig) -> i64 {
    created_at(cfg).timestamp()
}

/// Docker's reading of a `dangling` filter (its `ExactMatch`): whether `true`/`1`, and whether
/// `false`/`0`, are among the values; given with neither, it is an error.
fn dangling_values(filters: &api::Filters) -> Result<(bool, bool)> {
    let values = filters.get("dangling");
    let has = |a: &str, b: &str| values.iter().any(|v| v == a || v == b);
    let (yes, no) = (has("true", "1"), has("false", "0"));
    if !values.is_empty() && !yes && !no {
        return Err(ServiceError::invalid(format!(
            "invalid filter 'dangling={}'",
            values.join(",")
        )));
    }
    Ok((yes, no))
}

/// The labels of an image's default container config.
pub(crate) fn image_labels(cfg: &ImageConfig) -> BTreeMap<String, String> {
    cfg.config
        .as_ref()
        .and_then(|c| serde_json::from_value::<ContainerConfig>(c.clone()).ok())
        .map(|c| c.labels)
        .unwrap_or_default()
}

/// The containers using each image (by image id), each with whether it runs.
pub type ImageUsers = HashMap<String, Vec<(String, bool)>>;

/// What `GET /images/json` asks for.
#[derive(Debug, Default)]
pub struct ListOptions {
    /// Intermediate images too.
    pub all: bool,
    pub filters: api::Filters,
    /// Compute `SharedSize` (else -1).
    pub shared_size: bool,
}

/// A registry repository as Docker records it in `v2metadata-by-diffid` (`host/path`), where
/// pulls and pushes note the blobs they saw.
pub(crate) fn source_name(r: &registry::Reference) -> String {
    format!("{}/{}", r.registry, r.repository)
}

/// A scratch file or directory (in the store's or the daemon's temp space), deleted when
/// dropped, whatever happened. Within the runtime the deletion runs on a blocking thread,
/// after the caller has moved on: it can wait on the disk, and no answer depends on it (a
/// restarted daemon empties the scratch space).
pub(crate) struct Scratch(PathBuf);

impl Scratch {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let path = std::mem::take(&mut self.0);
        let remove = move || {
            let _ = match std::fs::symlink_metadata(&path) {
                Ok(md) if md.is_dir() => std::fs::remove_dir_all(&path),
                _ => std::fs::remove_file(&path),
            };
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn_blocking(remove)),
            Err(_) => remove(),
        }
    }
}

/// Removes the contents and records of layers that no image or container uses any more.
/// Returns the layers it removed.
pub fn gc_layers(store: &ImageStore, graph: &dyn GraphDriver) -> Vec<image::LayerMeta> {
    let mut removed = Vec::new();
    for l in store.unreferenced_layers() {
        if let Ok(id) = l.cache_id.parse::<graphdriver::LayerId>() {
            // The init layer containers of this image shared: no container uses it any more
            // (their mount records would keep this layer referenced).
            if let Ok(init) = crate::container::shared_init_layer(&l.cache_id) {
                if graph.exists(&init) {
                    if let Err(e) = graph.remove(&init) {
                        tracing::warn!(layer = %init, error = %e, "removing unused init layer");
                        continue;
                    }
                }
            }
            if graph.exists(&id) {
                if let Err(e) = graph.remove(&id) {
                    tracing::warn!(layer = %l.chain_id, error = %e, "removing unused layer");
                    continue;
                }
            }
        }
        match store.remove_layer(&l.chain_id) {
            Ok(()) => removed.push(l),
            Err(e) => tracing::warn!(layer = %l.chain_id, error = %e, "forgetting unused layer"),
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_filter_globs_like_docker() {
        assert!(reference_matches("busybox", "busybox:latest"));
        assert!(reference_matches("busy*", "busybox:latest"));
        assert!(reference_matches("busybox:lat*", "busybox:latest"));
        assert!(!reference_matches("busybox:1.0", "busybox:latest"));
        assert!(!reference_matches("nomatch", "busybox:latest"));
        assert!(reference_matches(
            "localhost:5000/app",
            "localhost:5000/app:v1"
        ));
        assert!(!reference_matches("*", "localhost:5000/app:v1"));
        assert!(reference_matches("app", "app@sha256:0123"));
        assert!(!reference_matches("app:v1", "app@sha256:0123"));
    }
}
