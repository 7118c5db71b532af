use crate::{Error, Platform, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Media types of manifests, indexes, configs and layers.
pub mod media_type {
    /// Docker image manifest, schema 2.
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    /// Docker manifest list (multi-platform).
    pub const DOCKER_MANIFEST_LIST: &str =
        "application/vnd.docker.distribution.manifest.list.v2+json";
    /// OCI image manifest.
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// OCI image index (multi-platform).
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// Docker image config.
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    /// OCI image config.
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    /// Docker gzip layer.
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    /// OCI uncompressed layer.
    pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
    /// OCI gzip layer.
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    /// OCI zstd layer.
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    /// Docker schema 1 (signed): no longer supported by Docker, nor here.
    pub const DOCKER_SCHEMA1_SIGNED: &str =
        "application/vnd.docker.distribution.manifest.v1+prettyjws";

    /// The `Accept` header for manifest requests, in order of preference.
    pub(crate) const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
        application/vnd.docker.distribution.manifest.list.v2+json, \
        application/vnd.oci.image.manifest.v1+json, \
        application/vnd.docker.distribution.manifest.v2+json";
}

/// A pointer to content: a config, a layer, or (in an index) a manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// What the content is.
    #[serde(default)]
    pub media_type: String,
    /// `sha256:…` of the content.
    pub digest: String,
    /// Its length in bytes.
    pub size: u64,
    /// For index entries: the platform the manifest is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Free-form metadata.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An image manifest (Docker schema 2 or OCI): one config and its layers, bottom first.
/// Serializes with `schemaVersion: 2`, so it can be pushed as built.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Docker schema 2 or OCI manifest media type.
    #[serde(default)]
    pub media_type: String,
    /// The image config blob.
    pub config: Descriptor,
    /// The layer blobs.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
}

/// A Docker manifest list or OCI index: one manifest per platform.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Docker manifest list or OCI index media type.
    #[serde(default)]
    pub media_type: String,
    /// The per-platform manifests.
    pub manifests: Vec<Descriptor>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WithSchema<'a, T> {
    schema_version: u32,
    #[serde(skip_serializing_if = "is_empty")]
    media_type: &'a str,
    #[serde(flatten)]
    body: T,
}

fn is_empty(s: &&str) -> bool {
    s.is_empty()
}

#[derive(Serialize)]
struct ManifestBody<'a> {
    config: &'a Descriptor,
    layers: &'a [Descriptor],
}

#[derive(Serialize)]
struct IndexBody<'a> {
    manifests: &'a [Descriptor],
}

impl Serialize for Manifest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let body = ManifestBody {
            config: &self.config,
            layers: &self.layers,
        };
        WithSchema {
            schema_version: 2,
            media_type: &self.media_type,
            body,
        }
        .serialize(s)
    }
}

impl Serialize for Index {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let body = IndexBody {
            manifests: &self.manifests,
        };
        WithSchema {
            schema_version: 2,
            media_type: &self.media_type,
            body,
        }
        .serialize(s)
    }
}

/// The image manifest a pull uses, after any index was resolved to one platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Digest of the image manifest actually used (not of the index).
    pub digest: String,
    /// The manifest.
    pub manifest: Manifest,
    /// Its exact bytes (what `digest` is the hash of).
    pub raw: Vec<u8>,
    /// Digest of the list/index it was picked from, if any: this is the repo digest Docker
    /// prints (`Digest: sha256:…`) for multi-platform images; else `digest` is.
    pub index_digest: Option<String>,
}

/// What a manifest response turned out to be.
pub(crate) enum Fetched {
    Image(Manifest),
    Index(Index),
}

/// Classifies a manifest body by its `mediaType` (or, when absent as OCI allows, the response's
/// Content-Type, then the presence of `manifests`).
pub(crate) fn classify(raw: &[u8], content_type: &str, reference: &str) -> Result<Fetched> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        schema_version: Option<u32>,
        #[serde(default)]
        media_type: String,
        manifests: Option<serde_json::Value>,
    }
    let invalid = |source| Error::InvalidManifest {
        reference: reference.to_string(),
        source,
    };
    let probe: Probe = serde_json::from_slice(raw).map_err(invalid)?;
    let mut mt = probe.media_type.clone();
    if mt.is_empty() {
        mt = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
    }
    let is_json = mt.is_empty() || mt == "application/json";
    if is_json && probe.schema_version == Some(2) {
        mt = if probe.manifests.is_some() {
            media_type::OCI_INDEX
        } else {
            media_type::OCI_MANIFEST
        }
        .to_string();
    }
    match mt.as_str() {
        media_type::DOCKER_MANIFEST | media_type::OCI_MANIFEST => {
            let mut m: Manifest = serde_json::from_slice(raw).map_err(invalid)?;
            m.media_type = mt;
            Ok(Fetched::Image(m))
        }
        media_type::DOCKER_MANIFEST_LIST | media_type::OCI_INDEX => {
            let mut i: Index = serde_json::from_slice(raw).map_err(invalid)?;
            i.media_type = mt;
            Ok(Fetched::Index(i))
        }
        _ => Err(Error::UnsupportedMediaType { media_type: mt }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrips_with_schema_version() {
        let m = Manifest {
            media_type: media_type::DOCKER_MANIFEST.into(),
            config: Descriptor {
                digest: "sha256:aa".into(),
                size: 2,
                ..Default::default()
            },
            layers: vec![],
        };
        let raw = serde_json::to_vec(&m).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(v["schemaVersion"], 2);
        assert_eq!(v["mediaType"], media_type::DOCKER_MANIFEST);
        assert!(v["config"].get("platform").is_none());
        match classify(&raw, "", "t").unwrap() {
            Fetched::Image(back) => assert_eq!(back, m),
            Fetched::Index(_) => panic!("not an index"),
        }
    }

    #[test]
    fn classifies_by_content_type_and_shape() {
        let idx = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert!(matches!(
            classify(idx, "application/json", "t"),
            Ok(Fetched::Index(_))
        ));
        assert!(
            matches!(classify(idx, media_type::DOCKER_MANIFEST_LIST, "t"), Ok(Fetched::Index(i)) if i.media_type == media_type::DOCKER_MANIFEST_LIST)
        );
        let m = br#"{"schemaVersion":2,"config":{"digest":"sha256:aa","size":1}}"#;
        assert!(
            matches!(classify(m, "", "t"), Ok(Fetched::Image(m)) if m.media_type == media_type::OCI_MANIFEST)
        );
        let s1 = br#"{"schemaVersion":1,"name":"x"}"#;
        assert!(matches!(
            classify(s1, media_type::DOCKER_SCHEMA1_SIGNED, "t"),
            Err(Error::UnsupportedMediaType { .. })
        ));
        assert!(matches!(
            classify(b"nope", "", "t"),
            Err(Error::InvalidManifest { .. })
        ));
    }
}
