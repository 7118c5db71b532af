//! OCI image layout: `index.json` → (nested indexes →) manifests → config and layer blobs.

use super::extract::Extracted;
use super::{checked_config, familiar_tag, invalid, layer_at, layer_count_matches, push_unique};
use super::{ArchiveImage, ArchiveLayer};
use crate::{Digest, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

pub(super) const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
pub(super) const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const DOCKER_LIST_MEDIA_TYPE: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_MANIFEST_MEDIA_TYPE: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// containerd's (and Docker 25+'s) full image name annotation.
pub(super) const IMAGE_NAME_ANNOTATION: &str = "io.containerd.image.name";
/// OCI's name annotation: a full reference or, often, only a tag.
pub(super) const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";
/// How deep indexes may nest before the archive is deemed hostile.
const MAX_INDEX_DEPTH: usize = 8;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Descriptor {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub media_type: String,
    pub digest: String,
    #[serde(default)]
    pub size: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct Platform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

#[derive(Deserialize)]
struct Index {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct Manifest {
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

/// The images of the layout, one per distinct manifest, with the names of every `index.json`
/// entry that leads to it.
pub(super) fn images(ex: &Extracted) -> Result<Vec<ArchiveImage>> {
    let index: Index = parse(ex, &ex.lookup("index.json", "the archive")?, "index.json")?;
    let mut found: Vec<(Digest, Vec<String>, Manifest)> = Vec::new();
    for desc in &index.manifests {
        let (digest, manifest) = resolve(ex, desc, "index.json", 0)?;
        let names = names(&desc.annotations);
        match found.iter_mut().find(|(d, _, _)| *d == digest) {
            Some((_, tags, _)) => names.into_iter().for_each(|n| push_unique(tags, n)),
            None => found.push((digest, names, manifest)),
        }
    }
    found
        .into_iter()
        .map(|(digest, repo_tags, m)| image(ex, &digest, repo_tags, &m))
        .collect()
}

fn image(
    ex: &Extracted,
    digest: &Digest,
    repo_tags: Vec<String>,
    m: &Manifest,
) -> Result<ArchiveImage> {
    let doc = format!("manifest {digest}");
    let (cfg_digest, cfg_rel) = blob(ex, &m.config, &doc)?;
    let config = ex.read_small(&cfg_rel)?;
    let cfg = checked_config(&config, &m.config.digest, Some(&cfg_digest))?;
    layer_count_matches(&cfg, m.layers.len(), digest.as_str())?;
    let layers = m
        .layers
        .iter()
        .map(|l| {
            let (d, rel) = blob(ex, l, &doc)?;
            layer_at(ex, &rel, Some(d))
        })
        .collect::<Result<Vec<ArchiveLayer>>>()?;
    Ok(ArchiveImage {
        config,
        config_digest: cfg_digest,
        repo_tags,
        layers,
    })
}

/// Follows `desc` through nested indexes to one image manifest.
fn resolve(
    ex: &Extracted,
    desc: &Descriptor,
    doc: &str,
    depth: usize,
) -> Result<(Digest, Manifest)> {
    if depth > MAX_INDEX_DEPTH {
        return Err(invalid(format!(
            "{doc}: indexes nest deeper than {MAX_INDEX_DEPTH}"
        )));
    }
    let (digest, rel) = blob(ex, desc, doc)?;
    let here = format!("index {digest}");
    let is_index = match desc.media_type.as_str() {
        INDEX_MEDIA_TYPE | DOCKER_LIST_MEDIA_TYPE => true,
        MANIFEST_MEDIA_TYPE | DOCKER_MANIFEST_MEDIA_TYPE => false,
        // Media types are optional in descriptors: tell by shape.
        "" => {
            let v: serde_json::Value = parse(ex, &rel, &digest.to_string())?;
            v.get("manifests").is_some()
        }
        other => {
            return Err(invalid(format!(
                "{doc} lists {digest} of unsupported media type {other}"
            )))
        }
    };
    if !is_index {
        return Ok((digest.clone(), parse(ex, &rel, digest.as_str())?));
    }
    let index: Index = parse(ex, &rel, digest.as_str())?;
    let child = pick_platform(&index.manifests, &host_platform())
        .ok_or_else(|| no_platform(&here, &index.manifests))?;
    resolve(ex, child, &here, depth + 1)
}

/// The manifest for `want` (variants aside); else the only one that is not an attestation.
pub(super) fn pick_platform<'a>(list: &'a [Descriptor], want: &Platform) -> Option<&'a Descriptor> {
    let matching = list.iter().find(|d| {
        d.platform
            .as_ref()
            .is_some_and(|p| p.os == want.os && p.architecture == want.architecture)
    });
    matching.or_else(|| {
        let mut images = list.iter().filter(|d| !is_attestation(d));
        match (images.next(), images.next()) {
            (Some(only), None) => Some(only),
            _ => None,
        }
    })
}

/// BuildKit's provenance/SBOM manifests, listed with platform `unknown/unknown`.
fn is_attestation(d: &Descriptor) -> bool {
    d.annotations
        .get("vnd.docker.reference.type")
        .map(String::as_str)
        == Some("attestation-manifest")
        || d.platform.as_ref().is_some_and(|p| p.os == "unknown")
}

fn no_platform(index: &str, list: &[Descriptor]) -> crate::Error {
    let want = host_platform();
    let have: Vec<String> = list
        .iter()
        .filter_map(|d| d.platform.as_ref())
        .map(|p| format!("{}/{}", p.os, p.architecture))
        .collect();
    invalid(format!(
        "{index} has no manifest for {}/{} (it has: {})",
        want.os,
        want.architecture,
        have.join(", ")
    ))
}

/// `linux/<this machine's architecture>` in OCI's (Go's) spelling.
pub(super) fn host_platform() -> Platform {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "loongarch64" => "loong64",
        other => other, // arm, riscv64, s390x, mips64 are spelled alike
    };
    Platform {
        architecture: arch.to_string(),
        os: "linux".to_string(),
        variant: None,
    }
}

/// Familiar tags from an `index.json` entry's annotations. containerd's full name wins; OCI's
/// `ref.name` counts only when it is a full reference (it is often a bare tag like `1.0`, which
/// names no repository, so the image is then untagged).
pub(super) fn names(annotations: &BTreeMap<String, String>) -> Vec<String> {
    let full = annotations.get(IMAGE_NAME_ANNOTATION).or_else(|| {
        annotations
            .get(REF_NAME_ANNOTATION)
            .filter(|r| r.contains('/') || r.contains(':'))
    });
    full.and_then(|n| familiar_tag(n)).into_iter().collect()
}

/// The digest and extracted path of the blob a descriptor names (checked during extraction).
fn blob(ex: &Extracted, desc: &Descriptor, doc: &str) -> Result<(Digest, PathBuf)> {
    let digest: Digest = desc
        .digest
        .parse()
        .map_err(|_| invalid(format!("{doc} has unsupported digest {:?}", desc.digest)))?;
    let rel = ex.lookup(&format!("blobs/sha256/{}", digest.hex()), doc)?;
    ex.verify(&rel, &digest)?;
    Ok((digest, rel))
}

fn parse<T: serde::de::DeserializeOwned>(
    ex: &Extracted,
    rel: &std::path::Path,
    doc: &str,
) -> Result<T> {
    serde_json::from_slice(&ex.read_small(rel)?).map_err(|e| invalid(format!("{doc}: {e}")))
}
