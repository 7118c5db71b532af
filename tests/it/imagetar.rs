//! Image archives written by the tests, without the internet: layer tars built entry by entry
//! (whiteouts, links, and the hostile names the `tar` crate refuses to write), wrapped as a
//! docker-archive (`docker save`'s `manifest.json` layout) or as an OCI image layout.

use std::io::Write;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `sha256:<hex>` of `data`: a layer's diff id (of the uncompressed tar), a blob's digest.
pub fn digest(data: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(data))
}

/// The chain ids of a stack of diff ids: the base's is its diff id, the next ones are
/// `sha256(parent_chain + " " + diff_id)` (the names of `layerdb/sha256/` entries).
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(parent) => digest(format!("{parent} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

/// A layer tar under construction. Entries are owned by root with a fixed mtime, so the same
/// calls always give the same bytes (and diff id).
pub struct LayerTar(tar::Builder<Vec<u8>>);

impl LayerTar {
    pub fn new() -> LayerTar {
        LayerTar(tar::Builder::new(Vec::new()))
    }

    fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h
    }

    pub fn dir(mut self, path: &str) -> LayerTar {
        let mut h = Self::header(tar::EntryType::Directory, 0o755, 0);
        self.0
            .append_data(&mut h, path, std::io::empty())
            .expect("append dir");
        self
    }

    pub fn file(mut self, path: &str, data: &[u8]) -> LayerTar {
        let mut h = Self::header(tar::EntryType::Regular, 0o644, data.len() as u64);
        self.0.append_data(&mut h, path, data).expect("append file");
        self
    }

    pub fn symlink(self, path: &str, target: &str) -> LayerTar {
        self.link(tar::EntryType::Symlink, path, target)
    }

    /// A hard link to `target`, an earlier entry of the same layer (path from the layer root).
    pub fn hardlink(self, path: &str, target: &str) -> LayerTar {
        self.link(tar::EntryType::Link, path, target)
    }

    fn link(mut self, kind: tar::EntryType, path: &str, target: &str) -> LayerTar {
        let mut h = Self::header(kind, 0o777, 0);
        self.0
            .append_link(&mut h, path, target)
            .expect("append link");
        self
    }

    /// `dir/.wh.name`: deletes `dir/name` of the layers below.
    pub fn whiteout(self, dir: &str, name: &str) -> LayerTar {
        self.file(&format!("{dir}/.wh.{name}"), b"")
    }

    /// `dir/.wh..wh..opq`: hides everything the layers below have in `dir`.
    pub fn opaque(self, dir: &str) -> LayerTar {
        self.file(&format!("{dir}/.wh..wh..opq"), b"")
    }

    /// A regular file whose name is written as is (`../evil`), which `append_data` refuses.
    pub fn raw_file(mut self, name: &str, data: &[u8]) -> LayerTar {
        let mut h = Self::header(tar::EntryType::Regular, 0o644, data.len() as u64);
        let slot = &mut h.as_old_mut().name;
        assert!(name.len() < slot.len(), "raw name too long: {name}");
        slot[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        self.0.append(&h, data).expect("append raw entry");
        self
    }

    pub fn finish(self) -> Vec<u8> {
        self.0.into_inner().expect("finish layer tar")
    }
}

/// How a layer's blob is stored in the archive.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

pub fn compress(tar: &[u8], c: Compression) -> Vec<u8> {
    match c {
        Compression::None => tar.to_vec(),
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(tar).expect("gzip");
            enc.finish().expect("gzip finish")
        }
        Compression::Zstd => zstd::encode_all(tar, 3).expect("zstd"),
    }
}

/// One layer of an image: its uncompressed tar and how the archive stores it.
pub struct Layer {
    pub tar: Vec<u8>,
    pub compression: Compression,
}

impl Layer {
    pub fn plain(tar: Vec<u8>) -> Layer {
        Layer {
            tar,
            compression: Compression::None,
        }
    }

    pub fn diff_id(&self) -> String {
        digest(&self.tar)
    }
}

/// Docker's architecture name for the host.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// An image config with these diff ids and `Cmd`.
pub fn config(diff_ids: &[String], cmd: &[&str]) -> Vec<u8> {
    let history: Vec<Value> = (0..diff_ids.len())
        .map(|i| json!({"created": "2024-01-01T00:00:00Z", "created_by": format!("it layer {i}")}))
        .collect();
    serde_json::to_vec(&json!({
        "architecture": host_arch(),
        "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": {
            "Cmd": cmd,
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    }))
    .expect("config json")
}

fn append(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_mtime(1_700_000_000);
    b.append_data(&mut h, path, data)
        .expect("append archive entry");
}

/// A docker-archive (`manifest.json`, `<config>.json`, `<n>/layer.tar`) of one image tagged
/// `tags`, with `config` as its config; returns the archive.
pub fn docker_archive(tags: &[&str], layers: &[Layer], config: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let config_name = format!("{}.json", sha256_hex(config));
    append(&mut b, &config_name, config);
    let mut paths = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let path = format!("layer{i}/layer.tar");
        append(&mut b, &path, &compress(&l.tar, l.compression));
        paths.push(path);
    }
    let manifest = json!([{"Config": config_name, "RepoTags": tags, "Layers": paths}]);
    append(
        &mut b,
        "manifest.json",
        &serde_json::to_vec(&manifest).unwrap(),
    );
    b.into_inner().expect("finish archive")
}

/// An OCI image layout tar (`oci-layout`, `index.json` → manifest → config + layers under
/// `blobs/sha256/`) whose one manifest carries `annotations`.
pub fn oci_layout(layers: &[Layer], config: &[u8], annotations: Value) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let blob = |b: &mut tar::Builder<Vec<u8>>, data: &[u8]| {
        append(b, &format!("blobs/sha256/{}", sha256_hex(data)), data);
        (digest(data), data.len())
    };
    let mut descs = Vec::new();
    for l in layers {
        let data = compress(&l.tar, l.compression);
        let media_type = match l.compression {
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        };
        let (d, size) = blob(&mut b, &data);
        descs.push(json!({"mediaType": media_type, "digest": d, "size": size}));
    }
    let (config_digest, config_size) = blob(&mut b, config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config_size},
        "layers": descs,
    }))
    .unwrap();
    let (manifest_digest, manifest_size) = blob(&mut b, &manifest);
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": manifest_digest, "size": manifest_size,
                       "annotations": annotations}],
    });
    append(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    append(&mut b, "index.json", &serde_json::to_vec(&index).unwrap());
    b.into_inner().expect("finish layout")
}
