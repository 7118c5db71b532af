//! `docker save` / `docker load` tarballs.
//!
//! [`read`] accepts a docker-archive (`manifest.json` + `repositories` + configs + layer tars, in
//! the old `<id>/layer.tar` layout or Docker 25+'s `blobs/sha256/` layout) or an OCI image layout
//! (`oci-layout` + `index.json` + `blobs/sha256/`); an archive that is both is read through its
//! `manifest.json`, as Docker does. [`write`] produces the combined form Docker 25+ writes.
//! Layer contents are not applied here: the daemon feeds each [`ArchiveLayer::path`] through
//! [`crate::decompress`] and a [`crate::HashingReader`] into the graphdriver.

mod docker;
mod extract;
mod oci;
mod write;

#[cfg(test)]
mod tests;

pub use crate::compress::Compression;
pub use write::write;

use crate::{Digest, Error, ImageConfig, Reference, Result};
use std::fs::File;
use std::path::{Path, PathBuf};

/// One image found in an archive.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchiveImage {
    /// The image config JSON, verbatim (its sha256 is the image id).
    pub config: Vec<u8>,
    /// `sha256(config)`, checked against the name or digest the archive gives the config.
    pub config_digest: Digest,
    /// Familiar `repo:tag` names, e.g. `["busybox:latest"]`; empty for an untagged image.
    pub repo_tags: Vec<String>,
    /// Bottom first, as many as the config's `rootfs.diff_ids`.
    pub layers: Vec<ArchiveLayer>,
}

/// One layer blob of an [`ArchiveImage`], extracted into the work dir.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchiveLayer {
    /// The blob inside the work dir, possibly compressed. Layers shared by images share a path.
    pub path: PathBuf,
    /// The blob digest the archive claims: always for OCI, from a `blobs/sha256/<hex>` name for a
    /// docker-archive. Blobs under `blobs/sha256/` were checked against it during extraction.
    pub digest: Option<Digest>,
    /// Detected from the blob's magic bytes.
    pub compression: Compression,
}

/// One image to [`write`].
pub struct SaveImage {
    /// The image config JSON, verbatim.
    pub config: Vec<u8>,
    /// Names such as `busybox:latest`; each must carry a tag.
    pub repo_tags: Vec<String>,
    /// Bottom first, matching the config's `rootfs.diff_ids`.
    pub layers: Vec<SaveLayer>,
}

/// Opens a layer's uncompressed tar.
pub type LayerOpener =
    Box<dyn Fn() -> std::io::Result<Box<dyn std::io::Read + Send>> + Send + Sync>;

/// One layer to [`write`].
pub struct SaveLayer {
    /// sha256 of the uncompressed layer tar; checked while it is written.
    pub diff_id: Digest,
    /// Exact byte length of the tar: tar headers need it before the content. A layer that turns
    /// out longer or shorter fails the save with [`Error::LayerMismatch`].
    pub size: u64,
    /// Opens the uncompressed layer tar. Called at most once per distinct `diff_id`.
    pub open: LayerOpener,
}

/// Extracts `tar` into `work_dir` and lists its images. `work_dir` should be a fresh directory
/// owned by the caller (it is created if missing); nothing is written outside it: entries that
/// are absolute, contain `..`, or would be written through a link are refused, and links are
/// never created on disk (see `extract`). Errors name what is wrong ([`Error::InvalidArchive`]);
/// a config must hash to the name or digest the archive gives it.
pub fn read(tar: impl std::io::Read, work_dir: &Path) -> Result<Vec<ArchiveImage>> {
    let ex = extract::extract(tar, work_dir)?;
    if ex.exists("manifest.json") {
        docker::images(&ex)
    } else if ex.exists("index.json") {
        oci::images(&ex)
    } else {
        Err(invalid(
            "neither manifest.json (docker-archive) nor index.json (OCI layout) found".into(),
        ))
    }
}

pub(crate) fn invalid(msg: String) -> Error {
    Error::InvalidArchive(msg)
}

/// Parses a config found at `name` and checks it against `claimed` and its layer count.
fn checked_config(bytes: &[u8], name: &str, claimed: Option<&Digest>) -> Result<ImageConfig> {
    let actual = Digest::of(bytes);
    if let Some(c) = claimed.filter(|c| **c != actual) {
        return Err(invalid(format!(
            "config {name} does not match its digest {c} (its content is {actual})"
        )));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| invalid(format!("config {name} is not an image config: {e}")))
}

fn layer_count_matches(cfg: &ImageConfig, found: usize, name: &str) -> Result<()> {
    let want = cfg.rootfs.diff_ids.len();
    if want == found {
        Ok(())
    } else {
        Err(invalid(format!(
            "image {name} lists {found} layers but its config has {want} diff_ids"
        )))
    }
}

/// An [`ArchiveLayer`] for the extracted blob at `rel`.
fn layer_at(ex: &extract::Extracted, rel: &Path, digest: Option<Digest>) -> Result<ArchiveLayer> {
    use crate::error::IoContext;
    let path = ex.abs(rel);
    let head = File::open(&path)
        .and_then(|mut f| crate::compress::read_head(&mut f))
        .at(&path)?;
    Ok(ArchiveLayer {
        path,
        digest,
        compression: Compression::detect(&head),
    })
}

/// A familiar `repo:tag`, or `None` for a digest-only or malformed name.
fn familiar_tag(name: &str) -> Option<String> {
    let r = Reference::parse(name).ok()?;
    r.tag.is_some().then(|| r.key())
}

/// Adds `tag` unless already present, keeping first-seen order.
fn push_unique(tags: &mut Vec<String>, tag: String) {
    if !tags.contains(&tag) {
        tags.push(tag);
    }
}
