//! docker-archive: `manifest.json` → configs and layer files.

use super::extract::{blob_digest, Extracted};
use super::{checked_config, familiar_tag, invalid, layer_at, layer_count_matches, push_unique};
use super::{ArchiveImage, ArchiveLayer};
use crate::{Digest, Result};
use serde::Deserialize;
use std::path::Path;

/// One entry of `manifest.json`. `RepoTags` is `null` for an untagged image.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    #[serde(default)]
    layers: Vec<String>,
}

pub(super) fn images(ex: &Extracted) -> Result<Vec<ArchiveImage>> {
    const DOC: &str = "manifest.json";
    let bytes = ex.read_small(&ex.lookup(DOC, "the archive")?)?;
    let entries: Vec<Entry> =
        serde_json::from_slice(&bytes).map_err(|e| invalid(format!("{DOC}: {e}")))?;
    entries.iter().map(|e| image(ex, e)).collect()
}

fn image(ex: &Extracted, e: &Entry) -> Result<ArchiveImage> {
    const DOC: &str = "manifest.json";
    let cfg_rel = ex.lookup(&e.config, DOC)?;
    let config = ex.read_small(&cfg_rel)?;
    let claimed = named_digest(Path::new(&e.config)).or_else(|| named_digest(&cfg_rel));
    let cfg = checked_config(&config, &e.config, claimed.as_ref())?;
    layer_count_matches(&cfg, e.layers.len(), &e.config)?;
    let layers = e
        .layers
        .iter()
        .map(|name| {
            let rel = ex.lookup(name, DOC)?;
            let digest = blob_digest(Path::new(name)).or_else(|| blob_digest(&rel));
            if let Some(d) = &digest {
                ex.verify(&rel, d)?;
            }
            layer_at(ex, &rel, digest)
        })
        .collect::<Result<Vec<ArchiveLayer>>>()?;
    let mut repo_tags = Vec::new();
    for t in e.repo_tags.iter().flatten() {
        let tag =
            familiar_tag(t).ok_or_else(|| invalid(format!("{DOC} has an invalid tag {t:?}")))?;
        push_unique(&mut repo_tags, tag);
    }
    Ok(ArchiveImage {
        config_digest: Digest::of(&config),
        config,
        repo_tags,
        layers,
    })
}

/// The digest a config's name claims: `blobs/sha256/<hex>` or the old `<hex>.json`. Other
/// names (some tools write `config.json`) claim nothing; the image id is then its sha256.
fn named_digest(p: &Path) -> Option<Digest> {
    blob_digest(p).or_else(|| {
        let name = p.file_name()?.to_str()?;
        Digest::from_hex(name.strip_suffix(".json")?).ok()
    })
}
