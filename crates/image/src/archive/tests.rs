//! Archives are built here with the `tar` crate, as `docker save`, Docker 25+ and OCI tools lay
//! them out, plus hostile ones.

use super::*;
use crate::{decompress, Error, HashingReader};
use serde_json::{json, Value};
use std::io::{Cursor, Read, Write};

// ---- building blocks ----

/// A tar under construction; `raw` writes names the tar crate would refuse (`..`, absolute).
struct Tar(tar::Builder<Vec<u8>>);

impl Tar {
    fn new() -> Self {
        Self(tar::Builder::new(Vec::new()))
    }
    fn file(mut self, path: &str, data: &[u8]) -> Self {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        self.0.append_data(&mut h, path, data).unwrap();
        self
    }
    fn json(self, path: &str, v: &Value) -> Self {
        self.file(path, &serde_json::to_vec(v).unwrap())
    }
    fn link(mut self, kind: tar::EntryType, path: &str, target: &str) -> Self {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_size(0);
        h.set_mode(0o777);
        self.0.append_link(&mut h, path, target).unwrap();
        self
    }
    fn symlink(self, path: &str, target: &str) -> Self {
        self.link(tar::EntryType::Symlink, path, target)
    }
    fn raw(mut self, name: &str, data: &[u8]) -> Self {
        let mut h = tar::Header::new_ustar();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }
    fn done(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

/// A one-file layer tar (what a diff id hashes).
fn layer(name: &str) -> Vec<u8> {
    Tar::new()
        .file(name, format!("contents of {name}").as_bytes())
        .done()
}

fn config(arch: &str, layers: &[&[u8]]) -> Vec<u8> {
    let diff_ids: Vec<String> = layers.iter().map(|l| Digest::of(l).to_string()).collect();
    serde_json::to_vec(&json!({
        "architecture": arch, "os": "linux", "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap()
}

fn blob_path(data: &[u8]) -> String {
    format!("blobs/sha256/{}", Digest::of(data).hex())
}

fn load(tar: &[u8]) -> (tempfile::TempDir, Result<Vec<ArchiveImage>>) {
    let dir = tempfile::tempdir().unwrap();
    let r = read(tar, &dir.path().join("work"));
    (dir, r)
}

fn loaded(tar: &[u8]) -> (tempfile::TempDir, Vec<ArchiveImage>) {
    let (dir, r) = load(tar);
    (dir, r.unwrap())
}

/// The `InvalidArchive` message; anything else fails the test.
fn invalid_msg(tar: &[u8]) -> String {
    match load(tar).1 {
        Err(Error::InvalidArchive(m)) => m,
        other => panic!("expected InvalidArchive, got {other:?}"),
    }
}

fn uncompressed(l: &ArchiveLayer) -> Vec<u8> {
    let mut out = Vec::new();
    decompress(std::fs::File::open(&l.path).unwrap())
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn host_arch() -> String {
    oci::host_platform().architecture
}

fn other_arch() -> &'static str {
    if host_arch() == "s390x" {
        "amd64"
    } else {
        "s390x"
    }
}

// ---- docker-archive ----

/// Two images sharing `base`, laid out as `docker save` before Docker 25 did: `<id>/layer.tar`,
/// `<config hex>.json`, and the shared layer linked from the second image's directory.
#[test]
fn reads_legacy_docker_archive_with_shared_layer() {
    let (base, top1, top2) = (layer("base"), layer("one"), layer("two"));
    let (cfg1, cfg2) = (
        config("amd64", &[&base, &top1]),
        config("amd64", &[&base, &top2]),
    );
    let (c1, c2) = (Digest::of(&cfg1), Digest::of(&cfg2));
    let ids = [
        "a".repeat(64),
        "b".repeat(64),
        "c".repeat(64),
        "d".repeat(64),
    ];
    let tar = Tar::new()
        .file(&format!("{}/layer.tar", ids[0]), &base)
        .file(&format!("{}/VERSION", ids[0]), b"1.0")
        .file(&format!("{}/json", ids[0]), b"{}")
        .file(&format!("{}/layer.tar", ids[1]), &top1)
        .symlink(&format!("{}/layer.tar", ids[2]), &format!("../{}/layer.tar", ids[0]))
        .file(&format!("{}/layer.tar", ids[3]), &top2)
        .file(&format!("{}.json", c1.hex()), &cfg1)
        .file(&format!("{}.json", c2.hex()), &cfg2)
        .json("manifest.json", &json!([
            {"Config": format!("{}.json", c1.hex()), "RepoTags": ["busybox:latest", "docker.io/library/busybox:1.36"],
             "Layers": [format!("{}/layer.tar", ids[0]), format!("{}/layer.tar", ids[1])]},
            {"Config": format!("{}.json", c2.hex()), "RepoTags": null,
             "Layers": [format!("{}/layer.tar", ids[2]), format!("{}/layer.tar", ids[3])]},
        ]))
        .json("repositories", &json!({"busybox": {"latest": ids[1]}}))
        .done();
    let (_dir, imgs) = loaded(&tar);
    assert_eq!(imgs.len(), 2);
    assert_eq!((&imgs[0].config, &imgs[0].config_digest), (&cfg1, &c1));
    assert_eq!(imgs[0].repo_tags, ["busybox:latest", "busybox:1.36"]);
    assert_eq!((&imgs[1].config, imgs[1].repo_tags.len()), (&cfg2, 0));
    assert_eq!(
        imgs[0].layers[0].path, imgs[1].layers[0].path,
        "link resolved to the one copy"
    );
    for (img, layers) in imgs.iter().zip([[&base, &top1], [&base, &top2]]) {
        for (l, want) in img.layers.iter().zip(layers) {
            assert_eq!(
                (l.digest.as_ref(), l.compression),
                (None, Compression::None)
            );
            assert_eq!(&std::fs::read(&l.path).unwrap(), want);
        }
    }
}

/// Docker 25+: everything under `blobs/sha256/`, and an index.json beside manifest.json.
#[test]
fn reads_blobs_layout_docker_archive() {
    let (base, top1, top2) = (layer("base"), layer("one"), layer("two"));
    let (cfg1, cfg2) = (
        config("amd64", &[&base, &top1]),
        config("amd64", &[&base, &top2]),
    );
    let tar = Tar::new()
        .file(&blob_path(&base), &base)
        .file(&blob_path(&top1), &top1)
        .file(&blob_path(&top2), &top2)
        .file(&blob_path(&cfg1), &cfg1)
        .file(&blob_path(&cfg2), &cfg2)
        .json("index.json", &json!({"schemaVersion": 2, "manifests": []}))
        .file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)
        .json("manifest.json", &json!([
            {"Config": blob_path(&cfg1), "RepoTags": ["app:1"], "Layers": [blob_path(&base), blob_path(&top1)]},
            {"Config": blob_path(&cfg2), "RepoTags": ["app:2"], "Layers": [blob_path(&base), blob_path(&top2)]},
        ]))
        .done();
    let (_dir, imgs) = loaded(&tar);
    assert_eq!(
        imgs.iter().map(|i| &i.repo_tags[0]).collect::<Vec<_>>(),
        ["app:1", "app:2"]
    );
    assert_eq!(imgs[1].config_digest, Digest::of(&cfg2));
    let digests: Vec<Option<Digest>> = imgs[1].layers.iter().map(|l| l.digest.clone()).collect();
    assert_eq!(digests, [Some(Digest::of(&base)), Some(Digest::of(&top2))]);
    assert_eq!(imgs[0].layers[0].path, imgs[1].layers[0].path);
}

// ---- OCI layout ----

fn manifest(cfg: &[u8], blobs: &[&[u8]]) -> Vec<u8> {
    let layers: Vec<Value> = blobs
        .iter()
        .map(|b| json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": Digest::of(b), "size": b.len()}))
        .collect();
    serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": oci::MANIFEST_MEDIA_TYPE,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": Digest::of(cfg), "size": cfg.len()},
        "layers": layers,
    }))
    .unwrap()
}

fn desc(media_type: &str, blob: &[u8], extra: Value) -> Value {
    let mut d = json!({"mediaType": media_type, "digest": Digest::of(blob), "size": blob.len()});
    d.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    d
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

/// index → manifest, gzip and zstd layers, and the naming rules for annotations.
#[test]
fn reads_oci_layout_with_compressed_layers_and_names() {
    let (l1, l2) = (layer("base"), layer("top"));
    let (gz, zst) = (gzip(&l1), zstd::encode_all(&l2[..], 3).unwrap());
    let cfg = config(&host_arch(), &[&l1, &l2]);
    let m = manifest(&cfg, &[&gz, &zst]);
    let cfg_b = config(&host_arch(), &[]);
    let m_b = manifest(&cfg_b, &[]);
    let mt = oci::MANIFEST_MEDIA_TYPE;
    let tar = Tar::new()
        .file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)
        .json("index.json", &json!({"schemaVersion": 2, "manifests": [
            desc(mt, &m, json!({"annotations": {"io.containerd.image.name": "docker.io/library/app:1.0", "org.opencontainers.image.ref.name": "1.0"}})),
            desc(mt, &m, json!({"annotations": {"org.opencontainers.image.ref.name": "example.com/x/y:2"}})),
            desc(mt, &m, json!({"annotations": {"org.opencontainers.image.ref.name": "3.0"}})),
            desc(mt, &m_b, json!({"annotations": {"org.opencontainers.image.ref.name": "1.0"}})),
        ]}))
        .file(&blob_path(&m), &m)
        .file(&blob_path(&m_b), &m_b)
        .file(&blob_path(&cfg), &cfg)
        .file(&blob_path(&cfg_b), &cfg_b)
        .file(&blob_path(&gz), &gz)
        .file(&blob_path(&zst), &zst)
        .done();
    let (_dir, imgs) = loaded(&tar);
    assert_eq!(imgs.len(), 2, "entries naming one manifest are one image");
    assert_eq!(
        imgs[0].repo_tags,
        ["app:1.0", "example.com/x/y:2"],
        "a bare tag names nothing"
    );
    assert_eq!((imgs[1].repo_tags.len(), imgs[1].layers.len()), (0, 0));
    assert_eq!(imgs[0].config_digest, Digest::of(&cfg));
    let l = &imgs[0].layers;
    assert_eq!(
        (l[0].compression, l[1].compression),
        (Compression::Gzip, Compression::Zstd)
    );
    assert_eq!(
        (l[0].digest.clone(), l[1].digest.clone()),
        (Some(Digest::of(&gz)), Some(Digest::of(&zst)))
    );
    assert_eq!(
        (uncompressed(&l[0]), uncompressed(&l[1])),
        (l1.clone(), l2.clone())
    );
    // What the daemon does to check a diff id while applying a layer:
    let mut r = HashingReader::new(decompress(std::fs::File::open(&l[1].path).unwrap()).unwrap());
    std::io::copy(&mut r, &mut std::io::sink()).unwrap();
    assert_eq!(r.digest(), Digest::of(&l2));
}

/// index.json → image index with two platforms (and an attestation); the host's is chosen.
#[test]
fn nested_index_picks_host_platform() {
    let (mine, theirs) = (layer("mine"), layer("theirs"));
    let (cfg_m, cfg_t) = (
        config(&host_arch(), &[&mine]),
        config(other_arch(), &[&theirs]),
    );
    let (m_m, m_t) = (manifest(&cfg_m, &[&mine]), manifest(&cfg_t, &[&theirs]));
    let att = manifest(&cfg_t, &[]);
    let mt = oci::MANIFEST_MEDIA_TYPE;
    let index = serde_json::to_vec(
        &json!({"schemaVersion": 2, "mediaType": oci::INDEX_MEDIA_TYPE, "manifests": [
            desc(mt, &m_t, json!({"platform": {"os": "linux", "architecture": other_arch()}})),
            desc(mt, &att, json!({"platform": {"os": "unknown", "architecture": "unknown"},
                "annotations": {"vnd.docker.reference.type": "attestation-manifest"}})),
            desc(mt, &m_m, json!({"platform": {"os": "linux", "architecture": host_arch()}})),
        ]}),
    )
    .unwrap();
    let mut t = Tar::new().json("index.json", &json!({"schemaVersion": 2, "manifests": [
        desc(oci::INDEX_MEDIA_TYPE, &index, json!({"annotations": {"io.containerd.image.name": "multi:latest"}})),
    ]}));
    for b in [&index, &m_m, &m_t, &att, &cfg_m, &cfg_t, &mine, &theirs] {
        t = t.file(&blob_path(b), b);
    }
    let (_dir, imgs) = loaded(&t.done());
    assert_eq!(imgs.len(), 1);
    assert_eq!(
        (&imgs[0].config, &imgs[0].repo_tags[..]),
        (&cfg_m, &["multi:latest".to_string()][..])
    );
    assert_eq!(std::fs::read(&imgs[0].layers[0].path).unwrap(), mine);
}

#[test]
fn platform_choice_falls_back_to_the_only_manifest_else_fails() {
    let d = |arch: &str| oci::Descriptor {
        digest: format!("sha256:{}", "a".repeat(64)),
        platform: Some(oci::Platform {
            os: "linux".into(),
            architecture: arch.into(),
            variant: None,
        }),
        ..Default::default()
    };
    let want = oci::Platform {
        os: "linux".into(),
        architecture: "amd64".into(),
        variant: None,
    };
    let only = [d("riscv64")];
    assert!(
        oci::pick_platform(&only, &want).is_some(),
        "the only manifest"
    );
    let two = [d("riscv64"), d("s390x")];
    assert!(oci::pick_platform(&two, &want).is_none());
    let three = [d("riscv64"), d("amd64"), d("s390x")];
    assert_eq!(
        oci::pick_platform(&three, &want).unwrap().platform,
        three[1].platform
    );
}

#[test]
fn index_without_the_host_platform_is_a_clear_error() {
    let l = layer("x");
    let (cfg1, cfg2) = (config("riscv64", &[&l]), config(other_arch(), &[&l]));
    let (m1, m2) = (manifest(&cfg1, &[&l]), manifest(&cfg2, &[&l]));
    let mt = oci::MANIFEST_MEDIA_TYPE;
    let index = serde_json::to_vec(&json!({"manifests": [
        desc(mt, &m1, json!({"platform": {"os": "linux", "architecture": "riscv64"}})),
        desc(mt, &m2, json!({"platform": {"os": "linux", "architecture": other_arch()}})),
    ]}))
    .unwrap();
    // No media type on the outer descriptor: the nested index is recognised by its shape.
    let mut t = Tar::new().json(
        "index.json",
        &json!({"manifests": [
        {"digest": Digest::of(&index), "size": index.len()}]}),
    );
    for b in [&index, &m1, &m2, &cfg1, &cfg2, &l] {
        t = t.file(&blob_path(b), b);
    }
    if host_arch() == "riscv64" {
        return; // riscv64 would be picked; the other assertions cover the choice
    }
    let msg = invalid_msg(&t.done());
    assert!(
        msg.contains(&format!("has no manifest for linux/{}", host_arch())),
        "{msg}"
    );
    assert!(msg.contains("linux/riscv64"), "{msg}");
}

// ---- write ----

fn save_layer(bytes: &[u8]) -> SaveLayer {
    let owned = bytes.to_vec();
    SaveLayer {
        diff_id: Digest::of(bytes),
        size: bytes.len() as u64,
        open: Box::new(move || Ok(Box::new(Cursor::new(owned.clone())) as Box<dyn Read + Send>)),
    }
}

fn save_image(cfg: &[u8], tags: &[&str], layers: &[&[u8]]) -> SaveImage {
    SaveImage {
        config: cfg.to_vec(),
        repo_tags: tags.iter().map(|t| t.to_string()).collect(),
        layers: layers.iter().map(|l| save_layer(l)).collect(),
    }
}

fn entries(tar: &[u8]) -> Vec<(String, tar::EntryType, u64, Vec<u8>)> {
    let mut a = tar::Archive::new(tar);
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            let h = e.header();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            (name, h.entry_type(), h.mtime().unwrap(), data)
        })
        .collect()
}

#[test]
fn write_then_read_round_trips() {
    let (base, top1, top2) = (layer("base"), layer("one"), layer("two"));
    let (cfg1, cfg2, cfg3) = (
        config("amd64", &[&base, &top1]),
        config("amd64", &[&base, &top2]),
        config("amd64", &[]),
    );
    let images = [
        save_image(&cfg1, &["busybox:latest", "busybox:1.36"], &[&base, &top1]),
        save_image(&cfg2, &["localhost:5000/team/app:v1"], &[&base, &top2]),
        save_image(&cfg3, &[], &[]),
    ];
    let mut out = Vec::new();
    write(&images, &mut out).unwrap();
    let (_dir, imgs) = loaded(&out);
    assert_eq!(imgs.len(), 3);
    for (got, (cfg, tags, layers)) in imgs.iter().zip([
        (
            &cfg1,
            vec!["busybox:latest", "busybox:1.36"],
            vec![&base, &top1],
        ),
        (
            &cfg2,
            vec!["localhost:5000/team/app:v1"],
            vec![&base, &top2],
        ),
        (&cfg3, vec![], vec![]),
    ]) {
        assert_eq!((&got.config, &got.config_digest), (cfg, &Digest::of(cfg)));
        assert_eq!(got.repo_tags, tags);
        assert_eq!(got.layers.len(), layers.len());
        for (l, want) in got.layers.iter().zip(layers) {
            assert_eq!(l.digest, Some(Digest::of(want)));
            assert_eq!(&std::fs::read(&l.path).unwrap(), want);
        }
    }
    let mut again = Vec::new();
    write(&images, &mut again).unwrap();
    assert!(out == again, "same images, same bytes");
}

#[test]
fn write_output_has_dockers_shape() {
    let (base, top) = (layer("base"), layer("top"));
    let cfg1 = config("amd64", &[&base, &top]);
    let cfg2 = config("arm64", &[&base]);
    let mut out = Vec::new();
    let images = [
        save_image(&cfg1, &["busybox:latest", "user/app:v1"], &[&base, &top]),
        save_image(&cfg2, &[], &[&base]),
    ];
    write(&images, &mut out).unwrap();
    let ents = entries(&out);
    let names: Vec<&str> = ents.iter().map(|e| e.0.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "entries are sorted");
    assert!(ents.iter().all(|e| e.2 == 0), "mtime 0");
    assert_eq!(&names[..2], ["blobs/", "blobs/sha256/"]);
    assert_eq!(ents[0].1, tar::EntryType::Directory);
    assert_eq!(
        &names[names.len() - 4..],
        ["index.json", "manifest.json", "oci-layout", "repositories"]
    );
    // blobs: 2 layers (base once), 2 configs, 2 manifests
    assert_eq!(
        names
            .iter()
            .filter(|n| n.starts_with("blobs/sha256/") && n.len() > 13)
            .count(),
        6
    );
    let file = |n: &str| -> Value {
        serde_json::from_slice(&ents.iter().find(|e| e.0 == n).unwrap().3).unwrap()
    };
    let manifest = file("manifest.json");
    assert_eq!(
        manifest,
        json!([
            {"Config": blob_path(&cfg1), "RepoTags": ["busybox:latest", "user/app:v1"], "Layers": [blob_path(&base), blob_path(&top)]},
            {"Config": blob_path(&cfg2), "RepoTags": null, "Layers": [blob_path(&base)]},
        ])
    );
    let raw_manifest = &ents.iter().find(|e| e.0 == "manifest.json").unwrap().3;
    assert!(
        raw_manifest.starts_with(br#"[{"Config":"#),
        "Docker's field order"
    );
    assert_eq!(
        file("repositories"),
        json!({
            "busybox": {"latest": Digest::of(&top).hex()}, "user/app": {"v1": Digest::of(&top).hex()},
        })
    );
    assert_eq!(file("oci-layout"), json!({"imageLayoutVersion": "1.0.0"}));
    let index = file("index.json");
    let m = index["manifests"].as_array().unwrap();
    assert_eq!(m.len(), 3, "one entry per tag, one for the untagged image");
    assert_eq!(
        m[0]["annotations"],
        json!({
        "io.containerd.image.name": "docker.io/library/busybox:latest", "org.opencontainers.image.ref.name": "latest"})
    );
    assert_eq!(
        m[1]["annotations"]["io.containerd.image.name"],
        "docker.io/user/app:v1"
    );
    assert!(m[2].get("annotations").is_none());
    // The OCI manifest lists the uncompressed layers and the config by digest.
    let hex = m[0]["digest"]
        .as_str()
        .unwrap()
        .strip_prefix("sha256:")
        .unwrap();
    let om = file(&format!("blobs/sha256/{hex}"));
    assert_eq!(om["config"]["digest"], Digest::of(&cfg1).to_string());
    assert_eq!(om["layers"][1]["digest"], Digest::of(&top).to_string());
    assert_eq!(
        om["layers"][1]["mediaType"],
        "application/vnd.oci.image.layer.v1.tar"
    );
}

#[test]
fn write_checks_layers_against_what_was_declared() {
    let (base, cfg) = (layer("base"), config("amd64", &[&layer("base")]));
    let write_with = |l: SaveLayer| {
        let img = SaveImage {
            config: cfg.clone(),
            repo_tags: vec![],
            layers: vec![l],
        };
        write(&[img], &mut Vec::new())
    };
    let short = SaveLayer {
        size: base.len() as u64 + 1,
        ..save_layer(&base)
    };
    assert!(matches!(
        write_with(short),
        Err(Error::LayerMismatch { .. })
    ));
    let long = SaveLayer {
        size: base.len() as u64 - 1,
        ..save_layer(&base)
    };
    assert!(matches!(write_with(long), Err(Error::LayerMismatch { .. })));
    let mut other = layer("BASE");
    other.truncate(base.len());
    let wrong = SaveLayer {
        diff_id: Digest::of(&base),
        ..save_layer(&other)
    };
    let err = write_with(wrong).unwrap_err();
    assert!(err.to_string().contains("content has digest"), "{err}");
    let broken = SaveLayer {
        open: Box::new(|| Err(std::io::Error::other("gone"))),
        ..save_layer(&base)
    };
    assert!(matches!(write_with(broken), Err(Error::LayerRead { .. })));
    let img = SaveImage {
        config: cfg.clone(),
        repo_tags: vec![],
        layers: vec![],
    };
    assert!(matches!(
        write(&[img], &mut Vec::new()),
        Err(Error::InvalidArchive(_))
    ));
    let img = SaveImage {
        config: cfg.clone(),
        repo_tags: vec![format!("busybox@sha256:{}", "a".repeat(64))],
        layers: vec![save_layer(&base)],
    };
    assert!(matches!(
        write(&[img], &mut Vec::new()),
        Err(Error::InvalidReference(_))
    ));
}

// ---- hostile and broken archives ----

/// Everything `dir` holds, as relative paths, to show nothing escaped `work`.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
            if p.symlink_metadata().unwrap().is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

fn assert_rejected(tar: &[u8], expect: &str) {
    let dir = tempfile::tempdir().unwrap();
    let err = read(tar, &dir.path().join("work")).unwrap_err();
    let Error::InvalidArchive(msg) = &err else {
        panic!("expected InvalidArchive, got {err:?}")
    };
    assert!(msg.contains(expect), "{msg:?} should mention {expect:?}");
    let outside: Vec<String> = tree(dir.path())
        .into_iter()
        .filter(|p| !p.starts_with("work"))
        .collect();
    assert!(outside.is_empty(), "written outside work: {outside:?}");
}

#[test]
fn entries_escaping_the_work_dir_are_refused() {
    assert_rejected(
        &Tar::new().raw("../x", b"evil").done(),
        "entry ../x contains '..'",
    );
    assert_rejected(
        &Tar::new().raw("a/../../x", b"evil").done(),
        "contains '..'",
    );
    let dir = tempfile::tempdir().unwrap();
    let abs = dir.path().join("abs");
    let tar = Tar::new().raw(abs.to_str().unwrap(), b"evil").done();
    let err = read(&tar[..], &dir.path().join("work")).unwrap_err();
    assert!(err.to_string().contains("is an absolute path"), "{err}");
    assert!(!abs.exists());
}

#[test]
fn links_cannot_be_used_to_escape() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let tar = Tar::new()
        .symlink("evil", outside.to_str().unwrap())
        .file("evil/x", b"owned")
        .done();
    let err = read(&tar[..], &dir.path().join("work")).unwrap_err();
    assert!(
        err.to_string()
            .contains("link evil points outside the archive"),
        "{err}"
    );
    assert_eq!(tree(&outside), Vec::<String>::new());
    assert_rejected(
        &Tar::new().symlink("a/up", "../../x").done(),
        "points outside the archive",
    );
    assert_rejected(
        &Tar::new().link(tar::EntryType::Link, "h", "../x").done(),
        "points outside",
    );
    // A link that stays inside is fine to name, but nothing may be written through it.
    let tar = Tar::new()
        .file("d/f", b"x")
        .symlink("l", "d")
        .file("l/g", b"evil")
        .done();
    assert_rejected(&tar, "entry l/g would be written through link l");
}

#[test]
fn planted_symlinks_in_the_work_dir_are_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let (work, outside) = (dir.path().join("work"), dir.path().join("outside"));
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, work.join("d")).unwrap();
    let err = read(&Tar::new().file("d/x", b"evil").done()[..], &work).unwrap_err();
    assert!(
        err.to_string().contains("needs d to be a directory"),
        "{err}"
    );
    std::os::unix::fs::symlink(outside.join("f"), work.join("f")).unwrap();
    assert!(read(&Tar::new().file("f", b"evil").done()[..], &work).is_err());
    assert_eq!(tree(&outside), Vec::<String>::new());
}

#[test]
fn manifest_paths_must_stay_inside() {
    let l = layer("x");
    let cfg = config("amd64", &[&l]);
    let with = |config: &str, layers: Value| {
        Tar::new()
            .file(&blob_path(&cfg), &cfg)
            .file("x/layer.tar", &l)
            .json(
                "manifest.json",
                &json!([{"Config": config, "RepoTags": [], "Layers": layers}]),
            )
            .done()
    };
    assert_rejected(
        &with("../../etc/passwd", json!(["x/layer.tar"])),
        "manifest.json references \"../../etc/passwd\", which contains '..'",
    );
    assert_rejected(
        &with(&blob_path(&cfg), json!(["/etc/passwd"])),
        "which is an absolute path",
    );
    let missing = blob_path(b"nothing");
    assert_rejected(
        &with(&blob_path(&cfg), json!([missing])),
        &format!("manifest.json references missing file {missing}"),
    );
    assert_rejected(
        &with(&blob_path(&cfg), json!(["x/layer.tar", "x/layer.tar"])),
        "lists 2 layers but its config has 1 diff_ids",
    );
    // A link loop resolves to nothing.
    let looped = Tar::new()
        .file(&blob_path(&cfg), &cfg)
        .symlink("a", "b")
        .symlink("b", "a")
        .json(
            "manifest.json",
            &json!([{"Config": blob_path(&cfg), "Layers": ["a"]}]),
        )
        .done();
    assert_rejected(&looped, "references missing file a");
}

#[test]
fn content_must_match_its_name() {
    let l = layer("x");
    let (cfg, other) = (config("amd64", &[&l]), config("arm64", &[&l]));
    // Old layout: <hex>.json whose sha256 is something else.
    let name = format!("{}.json", Digest::of(&other).hex());
    let tar = Tar::new()
        .file(&name, &cfg)
        .file("x/layer.tar", &l)
        .json(
            "manifest.json",
            &json!([{"Config": name, "Layers": ["x/layer.tar"]}]),
        )
        .done();
    assert_rejected(&tar, &format!("config {name} does not match its digest"));
    // Blobs layout: checked as the blob is extracted, whatever refers to it.
    let tar = Tar::new().file(&blob_path(&other), &cfg).done();
    assert_rejected(&tar, "does not match its digest");
    // Reached through a link, the blob is hashed when used.
    let tar = Tar::new()
        .file("cfg", &cfg)
        .symlink(&blob_path(&other), "../../cfg")
        .file("x/layer.tar", &l)
        .json(
            "manifest.json",
            &json!([{"Config": blob_path(&other), "Layers": ["x/layer.tar"]}]),
        )
        .done();
    assert_rejected(&tar, "does not match its digest");
}

#[test]
fn broken_archives_fail_clearly() {
    assert_eq!(
        invalid_msg(&Tar::new().file("hello", b"x").done()),
        "neither manifest.json (docker-archive) nor index.json (OCI layout) found"
    );
    let msg = invalid_msg(&Tar::new().file("manifest.json", b"{").done());
    assert!(msg.starts_with("manifest.json: "), "{msg}");
    let tar = Tar::new()
        .json("index.json", &json!({"manifests": [{"digest": "md5:00"}]}))
        .done();
    assert!(invalid_msg(&tar).contains("unsupported digest"));
    let missing = blob_path(b"m");
    let tar = Tar::new()
        .json(
            "index.json",
            &json!({"manifests": [desc(oci::MANIFEST_MEDIA_TYPE, b"m", json!({}))]}),
        )
        .done();
    assert_eq!(
        invalid_msg(&tar),
        format!("index.json references missing file {missing}")
    );
    assert!(matches!(
        load(b"definitely not a tar file, just text that is long enough to fill").1,
        Err(Error::ArchiveRead(_)) | Err(Error::InvalidArchive(_))
    ));
}
