//! Test images built from scratch: a gzip layer tar, a config JSON, a manifest.

use flate2::write::GzEncoder;
use flate2::Compression;
use registry::{
    media_type, sha256_digest, Client, Credentials, Descriptor, Manifest, Platform, Reference,
};
use std::path::Path;

/// A blob and its descriptor.
pub struct Blob {
    pub data: Vec<u8>,
    pub desc: Descriptor,
}

impl Blob {
    pub fn new(media_type: &str, data: Vec<u8>) -> Self {
        let desc = Descriptor {
            media_type: media_type.to_string(),
            digest: sha256_digest(&data),
            size: data.len() as u64,
            ..Default::default()
        };
        Self { data, desc }
    }
}

/// A gzip tar of `files`, and its diff id (sha256 of the uncompressed tar).
pub fn layer(files: &[(&str, &[u8])], oci: bool) -> (Blob, String) {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        tar.append_data(&mut h, name, *data).expect("append to tar");
    }
    let raw = tar.into_inner().expect("finish tar");
    let diff_id = sha256_digest(&raw);
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    std::io::Write::write_all(&mut gz, &raw).expect("gzip");
    let mt = if oci {
        media_type::OCI_LAYER_GZIP
    } else {
        media_type::DOCKER_LAYER_GZIP
    };
    (Blob::new(mt, gz.finish().expect("gzip finish")), diff_id)
}

/// An image config for `platform` with one layer.
pub fn config(diff_id: &str, platform: &Platform, oci: bool) -> Blob {
    let json = serde_json::json!({
        "architecture": platform.architecture,
        "os": platform.os,
        "variant": platform.variant,
        "config": { "Cmd": ["/bin/sh"] },
        "rootfs": { "type": "layers", "diff_ids": [diff_id] },
        "history": [{ "created_by": "rdocker registry test" }],
    });
    let mt = if oci {
        media_type::OCI_CONFIG
    } else {
        media_type::DOCKER_CONFIG
    };
    Blob::new(mt, serde_json::to_vec(&json).expect("config json"))
}

/// A pushed single-platform image.
pub struct Image {
    pub layer: Blob,
    pub config: Blob,
    pub manifest: Manifest,
    pub raw: Vec<u8>,
    pub digest: String,
}

/// Pushes a one-layer image for `platform` (its blobs, then the manifest under `r`'s tag).
pub async fn push_image(
    client: &Client,
    r: &Reference,
    creds: &Credentials,
    platform: &Platform,
    contents: &[u8],
    oci: bool,
    scratch: &Path,
) -> Image {
    let (layer, diff_id) = layer(&[("hello.txt", contents)], oci);
    let config = config(&diff_id, platform, oci);
    for blob in [&layer, &config] {
        push_blob(client, r, creds, blob, scratch).await;
    }
    let manifest = Manifest {
        media_type: if oci {
            media_type::OCI_MANIFEST
        } else {
            media_type::DOCKER_MANIFEST
        }
        .into(),
        config: config.desc.clone(),
        layers: vec![layer.desc.clone()],
    };
    let raw = serde_json::to_vec_pretty(&manifest).expect("manifest json");
    let digest = client
        .put_manifest(r, creds, &manifest.media_type, &raw)
        .await
        .expect("put manifest");
    assert_eq!(digest, sha256_digest(&raw));
    Image {
        layer,
        config,
        manifest,
        raw,
        digest,
    }
}

/// Pushes one blob from a scratch file, checking progress reaches its size.
pub async fn push_blob(
    client: &Client,
    r: &Reference,
    creds: &Credentials,
    blob: &Blob,
    scratch: &Path,
) {
    let path = scratch.join(blob.desc.digest.replace(':', "_"));
    std::fs::write(&path, &blob.data).expect("write scratch blob");
    let mut last = 0;
    client
        .push_blob(r, creds, &blob.desc.digest, &path, &mut |n| last = n)
        .await
        .unwrap_or_else(|e| panic!("push {}: {e:?}", blob.desc.digest));
    assert_eq!(last, blob.desc.size, "progress ends at the blob's size");
}

/// Fetches a blob into memory.
pub async fn fetch(
    client: &Client,
    r: &Reference,
    creds: &Credentials,
    d: &Descriptor,
) -> registry::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut last = 0;
    client
        .fetch_blob(r, creds, d, &mut out, &mut |n| last = n)
        .await?;
    assert_eq!(last, d.size, "progress ends at the blob's size");
    Ok(out)
}
