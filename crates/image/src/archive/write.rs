//! `docker save`: one tar that is both a docker-archive and an OCI image layout, as Docker 25+
//! writes it. Every JSON document is built first (they are small), then entries are written in
//! sorted order with mtime 0, so equal inputs give byte-identical archives.

use super::oci::REF_NAME_ANNOTATION;
use super::oci::{Descriptor, IMAGE_NAME_ANNOTATION, INDEX_MEDIA_TYPE, MANIFEST_MEDIA_TYPE};
use super::{invalid, SaveImage, SaveLayer};
use crate::{Digest, Error, HashingReader, ImageConfig, Reference, Result};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::io::{self, BufWriter, Read, Write};

const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";

/// One entry of `manifest.json`, in Docker's field order; `RepoTags` is `null` when untagged.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ManifestEntry {
    config: String,
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

enum Blob<'a> {
    Json(Vec<u8>),
    Layer(&'a SaveLayer),
}

/// Everything but the layer contents, ready to be written.
#[derive(Default)]
struct Plan<'a> {
    blobs: BTreeMap<String, Blob<'a>>,
    index: Vec<Descriptor>,
    manifest: Vec<ManifestEntry>,
    repositories: BTreeMap<String, BTreeMap<String, String>>,
}

/// Writes `images` as one archive to `out`: `blobs/sha256/<hex>` for configs, uncompressed
/// layer tars and OCI manifests (each once, however many images share it), `oci-layout`,
/// `index.json` (one entry per image and tag, annotated with the full and the short name),
/// `manifest.json` and, when some image is tagged, `repositories`. Each layer is opened once
/// and must yield exactly [`SaveLayer::size`] bytes hashing to its diff id.
pub fn write(images: &[SaveImage], out: impl Write) -> Result<()> {
    let mut plan = Plan::default();
    for img in images {
        plan.add(img)?;
    }
    let mut tar = tar::Builder::new(BufWriter::with_capacity(256 << 10, out));
    append_dir(&mut tar, "blobs/")?;
    append_dir(&mut tar, "blobs/sha256/")?;
    for (hex, blob) in &plan.blobs {
        let path = format!("blobs/sha256/{hex}");
        match blob {
            Blob::Json(bytes) => append_bytes(&mut tar, &path, bytes)?,
            Blob::Layer(layer) => append_layer(&mut tar, &path, layer)?,
        }
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": INDEX_MEDIA_TYPE,
        "manifests": plan.index,
    });
    append_bytes(&mut tar, "index.json", &to_json(&index))?;
    append_bytes(&mut tar, "manifest.json", &to_json(&plan.manifest))?;
    append_bytes(&mut tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    if !plan.repositories.is_empty() {
        append_bytes(&mut tar, "repositories", &to_json(&plan.repositories))?;
    }
    tar.into_inner()
        .and_then(|mut w| w.flush())
        .map_err(Error::ArchiveWrite)
}

impl<'a> Plan<'a> {
    fn add(&mut self, img: &'a SaveImage) -> Result<()> {
        let cfg: ImageConfig = serde_json::from_slice(&img.config).map_err(Error::InvalidConfig)?;
        let id = Digest::of(&img.config);
        check_layers(&id, &cfg, &img.layers)?;
        let mut layer_descs = Vec::new();
        for l in &img.layers {
            self.blobs
                .entry(l.diff_id.hex().to_string())
                .or_insert(Blob::Layer(l));
            layer_descs.push(json!({
                "mediaType": LAYER_MEDIA_TYPE, "digest": l.diff_id, "size": l.size,
            }));
        }
        let manifest = to_json(&json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": id, "size": img.config.len()},
            "layers": layer_descs,
        }));
        let manifest_digest = Digest::of(&manifest);
        let manifest_size = manifest.len() as u64;
        self.blobs
            .insert(id.hex().to_string(), Blob::Json(img.config.clone()));
        self.blobs
            .insert(manifest_digest.hex().to_string(), Blob::Json(manifest));

        let refs = img
            .repo_tags
            .iter()
            .map(|t| tagged(t))
            .collect::<Result<Vec<Reference>>>()?;
        let descriptor = |annotations| Descriptor {
            media_type: MANIFEST_MEDIA_TYPE.to_string(),
            digest: manifest_digest.to_string(),
            size: manifest_size,
            annotations,
            platform: None,
        };
        if refs.is_empty() {
            self.index.push(descriptor(BTreeMap::new()));
        }
        for r in &refs {
            let tag = r
                .tag
                .clone()
                .expect("tagged() only returns tagged references");
            self.index.push(descriptor(BTreeMap::from([
                (IMAGE_NAME_ANNOTATION.to_string(), full_name(r)),
                (REF_NAME_ANNOTATION.to_string(), tag.clone()),
            ])));
            if let Some(top) = cfg.rootfs.diff_ids.last() {
                self.repositories
                    .entry(r.repo.clone())
                    .or_default()
                    .insert(tag, top.hex().to_string());
            }
        }
        self.manifest.push(ManifestEntry {
            config: format!("blobs/sha256/{}", id.hex()),
            repo_tags: (!refs.is_empty()).then(|| refs.iter().map(Reference::key).collect()),
            layers: img
                .layers
                .iter()
                .map(|l| format!("blobs/sha256/{}", l.diff_id.hex()))
                .collect(),
        });
        Ok(())
    }
}

fn check_layers(id: &Digest, cfg: &ImageConfig, layers: &[SaveLayer]) -> Result<()> {
    let want = &cfg.rootfs.diff_ids;
    let have: Vec<&Digest> = layers.iter().map(|l| &l.diff_id).collect();
    if have.len() != want.len() || have.iter().zip(want).any(|(a, b)| *a != b) {
        return Err(invalid(format!(
            "image {id} is given layers that differ from its config's diff_ids"
        )));
    }
    Ok(())
}

fn tagged(name: &str) -> Result<Reference> {
    let r = Reference::parse(name)?;
    if r.tag.is_none() {
        return Err(Error::InvalidReference(format!(
            "{name} has no tag; only tagged names can be saved"
        )));
    }
    Ok(r)
}

/// `busybox:latest` → `docker.io/library/busybox:latest`; a name with a registry keeps it.
fn full_name(r: &Reference) -> String {
    let first = r.repo.split('/').next().unwrap_or_default();
    let has_host = r.repo.contains('/')
        && (first.contains('.') || first.contains(':') || first == "localhost");
    let repo = match (has_host, r.repo.contains('/')) {
        (true, _) => r.repo.clone(),
        (false, true) => format!("docker.io/{}", r.repo),
        (false, false) => format!("docker.io/library/{}", r.repo),
    };
    format!("{repo}:{}", r.tag.as_deref().unwrap_or("latest"))
}

fn to_json(v: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(v).expect("archive documents always serialise")
}

fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

fn append_dir<W: Write>(tar: &mut tar::Builder<W>, path: &str) -> Result<()> {
    let mut h = header(tar::EntryType::Directory, 0, 0o755);
    tar.append_data(&mut h, path, io::empty())
        .map_err(Error::ArchiveWrite)
}

fn append_bytes<W: Write>(tar: &mut tar::Builder<W>, path: &str, data: &[u8]) -> Result<()> {
    let mut h = header(tar::EntryType::Regular, data.len() as u64, 0o644);
    tar.append_data(&mut h, path, data)
        .map_err(Error::ArchiveWrite)
}

/// Streams a layer, checking its length and digest against what the caller declared.
fn append_layer<W: Write>(tar: &mut tar::Builder<W>, path: &str, l: &SaveLayer) -> Result<()> {
    let read_err = |source| Error::LayerRead {
        diff_id: l.diff_id.clone(),
        source,
    };
    let mismatch = |detail| Error::LayerMismatch {
        diff_id: l.diff_id.clone(),
        detail,
    };
    let mut src = Exact {
        inner: HashingReader::new((l.open)().map_err(read_err)?),
        remaining: l.size,
        failure: None,
    };
    let mut h = header(tar::EntryType::Regular, l.size, 0o644);
    if let Err(e) = tar.append_data(&mut h, path, &mut src) {
        return Err(match src.failure.take() {
            Some(Failure::Read(source)) => read_err(source),
            Some(Failure::Short) => mismatch(format!(
                "ended after {} bytes, not the {} declared",
                HashingReader::bytes(&src.inner),
                l.size
            )),
            None => Error::ArchiveWrite(e),
        });
    }
    let digest = src.inner.digest();
    if digest != l.diff_id {
        return Err(mismatch(format!("content has digest {digest}")));
    }
    let mut extra = [0u8; 1];
    if src.inner.read(&mut extra).map_err(read_err)? > 0 {
        return Err(mismatch(format!(
            "is longer than the {} bytes declared",
            l.size
        )));
    }
    Ok(())
}

enum Failure {
    Read(io::Error),
    Short,
}

/// Yields exactly `remaining` bytes of `inner` or fails, remembering why: the tar builder
/// copies whatever it is given and would otherwise write a corrupt entry.
struct Exact<R> {
    inner: HashingReader<R>,
    remaining: u64,
    failure: Option<Failure>,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let max = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        match self.inner.read(&mut buf[..max]) {
            Ok(0) => {
                self.failure = Some(Failure::Short);
                Err(io::ErrorKind::UnexpectedEof.into())
            }
            Ok(n) => {
                self.remaining -= n as u64;
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                let kind = e.kind();
                self.failure = Some(Failure::Read(e));
                Err(kind.into())
            }
        }
    }
}
