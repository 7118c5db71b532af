//! `docker load` of archives the tests write themselves: multi-layer docker-archives with
//! whiteouts, opaque dirs and links (overlay2 and vfs), OCI layouts with gzip/zstd layers,
//! layer sharing between images, and hostile archives that must leave no trace.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::cmd::OutputExt;
use crate::harness::{busybox_tar, unique, TestDaemon};
use crate::imagetar::{
    chain_ids, config, digest, docker_archive, oci_layout, Compression, Layer, LayerTar,
};

/// The busybox rootfs, byte for byte the layer the harness imported as busybox:latest.
fn base_layer() -> Layer {
    Layer::plain(fs::read(busybox_tar()).expect("read busybox tar"))
}

/// Writes `data` under the daemon's temp root; returns the path.
fn write(d: &TestDaemon, name: &str, data: &[u8]) -> PathBuf {
    let path = d.root.join(name);
    fs::write(&path, data).expect("write archive");
    path
}

fn load(d: &TestDaemon, path: &Path) -> std::process::Output {
    d.docker(&["load", "-i", path.to_str().expect("utf-8 path")])
}

/// Layer 2: a whiteout of a base file, an opaque dir over a base dir, a hard link, symlinks.
fn layer2() -> Layer {
    Layer::plain(
        LayerTar::new()
            .dir("etc")
            .whiteout("etc", "group")
            .dir("home")
            .opaque("home")
            .dir("home/fresh")
            .file("home/fresh/data.txt", b"fresh\n")
            .dir("data")
            .file("data/orig", b"linked contents\n")
            .hardlink("data/hard", "data/orig")
            .symlink("data/sym", "orig")
            .symlink("data/abs", "/data/orig")
            .file("data/gone", b"removed by layer 3\n")
            .dir("data/sub")
            .file("data/sub/a", b"a\n")
            .finish(),
    )
}

/// Layer 3 (gzip): whiteout and opaque dir over layer 2's entries, a new file.
fn layer3() -> Layer {
    Layer {
        tar: LayerTar::new()
            .dir("data")
            .whiteout("data", "gone")
            .dir("data/sub")
            .opaque("data/sub")
            .file("data/sub/b", b"b\n")
            .dir("l3")
            .file("l3/greeting", b"from the gzip layer\n")
            .finish(),
        compression: Compression::Gzip,
    }
}

const CHECK_SCRIPT: &str = "test ! -e /etc/group && echo group-gone; \
    test -f /etc/passwd && echo passwd-kept; ls -A /etc | grep -c '^.wh.'; \
    ls -A /home; cat /home/fresh/data.txt; \
    stat -c %i /data/orig /data/hard | uniq | wc -l; stat -c %h /data/orig; \
    cat /data/hard /data/sym /data/abs; readlink /data/sym; \
    ls -A /data/sub; test ! -e /data/gone && echo gone-gone; cat /l3/greeting";

const CHECK_EXPECTED: &str = "group-gone\npasswd-kept\n0\nfresh\nfresh\n1\n2\n\
    linked contents\nlinked contents\nlinked contents\norig\nb\ngone-gone\nfrom the gzip layer\n";

fn multi_layer_archive(driver: &str) {
    let d = TestDaemon::start_with(driver);
    let layers = [base_layer(), layer2(), layer3()];
    let diff_ids: Vec<String> = layers.iter().map(Layer::diff_id).collect();
    let cfg = config(&diff_ids, &["sh"]);
    let path = write(
        &d,
        "multi.tar",
        &docker_archive(&["multi:v1"], &layers, &cfg),
    );
    let before = d.layer_records();

    let out = load(&d, &path).ok("docker load of the multi-layer archive");
    assert_eq!(out, "Loaded image: multi:v1\n");
    let inspect = d
        .docker(&[
            "image",
            "inspect",
            "-f",
            "{{.Id}} {{json .RootFS.Layers}}",
            "multi:v1",
        ])
        .ok("image inspect");
    let want = format!(
        "{} {}\n",
        digest(&cfg),
        serde_json::to_string(&diff_ids).unwrap()
    );
    assert_eq!(
        inspect, want,
        "image id is the config digest, layers its diff ids"
    );

    // The base layer is busybox:latest's (same diff id): only layers 2 and 3 are new.
    let chains = chain_ids(&diff_ids);
    assert!(
        before.contains(&chains[0]),
        "busybox layer {} not in {before:?}",
        chains[0]
    );
    let mut want = before.clone();
    want.extend(chains);
    assert_eq!(d.layer_records(), want, "layer records after the load");

    let out = d.docker(&["run", "--rm", "multi:v1", "sh", "-c", CHECK_SCRIPT]);
    assert_eq!(out.ok("run the loaded image"), CHECK_EXPECTED, "{driver}");
}

#[test]
fn multi_layer_archive_overlay2() {
    multi_layer_archive("overlay2");
}

#[test]
fn multi_layer_archive_vfs() {
    multi_layer_archive("vfs");
}

#[test]
fn oci_layout_loads_with_its_ref_name() {
    let d = TestDaemon::start();
    let top = Layer {
        tar: LayerTar::new()
            .dir("oci")
            .file("oci/hello", b"from a zstd layer\n")
            .finish(),
        compression: Compression::Zstd,
    };
    let layers = [base_layer(), top];
    let diff_ids: Vec<String> = layers.iter().map(Layer::diff_id).collect();
    let before = d.layer_records();

    // containerd's full name wins over the tag-only OCI ref name (what `docker save` writes).
    let cfg = config(&diff_ids, &["cat", "/oci/hello"]);
    let annotations = json!({"io.containerd.image.name": "docker.io/library/ocimg:v1",
                             "org.opencontainers.image.ref.name": "v1"});
    let path = write(&d, "oci1.tar", &oci_layout(&layers, &cfg, annotations));
    let out = load(&d, &path).ok("docker load of an OCI layout");
    assert_eq!(out, "Loaded image: ocimg:v1\n");
    let out = d.docker(&["run", "--rm", "ocimg:v1"]);
    assert_eq!(out.ok("run the OCI image"), "from a zstd layer\n");
    let id = d
        .docker(&["image", "inspect", "-f", "{{.Id}}", "ocimg:v1"])
        .ok("inspect");
    assert_eq!(id.trim(), digest(&cfg));

    // A full reference as the OCI ref name (skopeo's `oci-archive:x.tar:name:tag`).
    let cfg = config(&diff_ids, &["echo", "second"]);
    let annotations = json!({"org.opencontainers.image.ref.name": "ocref:v2"});
    let path = write(&d, "oci2.tar", &oci_layout(&layers, &cfg, annotations));
    let out = load(&d, &path).ok("docker load of an OCI layout with a ref name");
    assert_eq!(out, "Loaded image: ocref:v2\n");
    let out = d.docker(&["run", "--rm", "ocref:v2"]);
    assert_eq!(out.ok("run the second OCI image"), "second\n");

    // Both images share busybox's base layer: one new layer record in all.
    let mut want = before.clone();
    want.extend(chain_ids(&diff_ids));
    assert_eq!(d.layer_records(), want);
}

#[test]
fn second_image_stores_no_shared_layer_again() {
    let d = TestDaemon::start();
    let l2 = || Layer::plain(LayerTar::new().file("two", b"2\n").finish());
    let l3 = Layer::plain(LayerTar::new().file("three", &[b'3'; 4096]).finish());
    let a = [base_layer(), l2()];
    let b = [base_layer(), l2(), l3];
    let ids = |ls: &[Layer]| ls.iter().map(Layer::diff_id).collect::<Vec<_>>();
    let (ids_a, ids_b) = (ids(&a), ids(&b));
    let layers_size = || d.http("GET", "/system/df", None).json()["LayersSize"].as_i64();

    let records0 = d.layer_records();
    let size0 = layers_size().expect("LayersSize");
    let path = write(
        &d,
        "a.tar",
        &docker_archive(&["share:a"], &a, &config(&ids_a, &["sh"])),
    );
    load(&d, &path).ok("load image a");
    let records1 = d.layer_records();
    assert_eq!(
        records1.len(),
        records0.len() + 1,
        "{records0:?} -> {records1:?}"
    );

    let path = write(
        &d,
        "b.tar",
        &docker_archive(&["share:b"], &b, &config(&ids_b, &["sh"])),
    );
    let out = load(&d, &path).ok("load image b");
    assert_eq!(out, "Loaded image: share:b\n");
    let records2 = d.layer_records();
    let mut want = records1.clone();
    want.insert(chain_ids(&ids_b)[2].clone());
    assert_eq!(records2, want, "image b adds exactly its own top layer");
    // The busybox layer (~2 MB) is counted once; a and b added a few KB.
    let grown = layers_size().expect("LayersSize") - size0;
    assert!(
        (4096..100_000).contains(&grown),
        "LayersSize grew by {grown}"
    );

    // Loading the same archive again changes nothing.
    load(&d, &path).ok("load image b again");
    assert_eq!(d.layer_records(), records2);
    let out = d.docker(&["run", "--rm", "share:b", "cat", "/two"]);
    assert_eq!(out.ok("run image b"), "2\n");
}

/// A marker file under /etc or /tmp that a hostile layer tries to create; removed on drop.
struct Outside(PathBuf);

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// Paths under `dir` whose name contains `needle`.
fn find_named(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if entry.file_name().to_string_lossy().contains(needle) {
            found.push(path.clone());
        }
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            found.extend(find_named(&path, needle));
        }
    }
    found
}

#[test]
fn hostile_archives_fail_and_leave_no_trace() {
    let d = TestDaemon::start();
    let tag = unique("evil");
    let etc = Outside(PathBuf::from(format!("/etc/{tag}")));
    let tmp = Outside(PathBuf::from(format!("/tmp/{tag}")));
    let escape_tmp = format!("{}tmp/{tag}", "../".repeat(16));

    // Each hostile layer comes after a valid new layer, so a load that does not roll back
    // leaves that layer's record behind.
    let good = || Layer::plain(LayerTar::new().file("good", b"ok\n").finish());
    let cases: Vec<(&str, Vec<u8>, Option<String>, &str)> = vec![
        (
            "`..` entries",
            LayerTar::new()
                .raw_file(&format!("../{tag}-up"), b"x")
                .raw_file(&escape_tmp, b"x")
                .finish(),
            None,
            "..",
        ),
        (
            "a symlink escape",
            LayerTar::new()
                .symlink("link", "/etc")
                .file(&format!("link/{tag}"), b"x")
                .finish(),
            None,
            "symlink",
        ),
        (
            "a hard link out of the layer",
            LayerTar::new()
                .hardlink("passwd", "../../../../../../../../etc/passwd")
                .finish(),
            None,
            "hard link",
        ),
        (
            "a diff id that does not match",
            LayerTar::new().file("real", b"real\n").finish(),
            Some(digest(b"something else")),
            "sha256:",
        ),
    ];
    let before = d.snapshot();
    for (what, tar, fake_diff_id, needle) in cases {
        let layers = [good(), Layer::plain(tar)];
        let mut diff_ids: Vec<String> = layers.iter().map(Layer::diff_id).collect();
        if let Some(fake) = &fake_diff_id {
            diff_ids[1] = fake.clone();
        }
        let archive = docker_archive(&["hostile:1"], &layers, &config(&diff_ids, &["sh"]));
        let path = write(&d, "hostile.tar", &archive);
        let out = load(&d, &path);
        assert_ne!(out.code(), 0, "load of {what} succeeded: {}", out.out());
        let err = out.err();
        assert!(
            err.contains("Error") && err.contains(needle),
            "load of {what}: the error should name the problem ({needle:?}): {err}"
        );
        if let Some(fake) = fake_diff_id {
            assert!(
                err.contains(&fake),
                "diff id error names the expected digest: {err}"
            );
        }
        for marker in [&etc.0, &tmp.0] {
            assert!(
                !marker.exists(),
                "load of {what} wrote {}",
                marker.display()
            );
        }
        let found = find_named(&d.root, &tag);
        assert!(found.is_empty(), "load of {what} left {found:?}");
        assert_eq!(d.snapshot(), before, "load of {what} left state behind");
    }
    let out = d.docker(&["run", "--rm", "busybox", "echo", "healthy"]);
    assert_eq!(out.ok("run after the hostile loads"), "healthy\n");
}

/// Without `quiet`, a load reports each layer it reads as Docker's `Loading layer` lines (the
/// layers present already are not read), then names the image; a broken archive is still an
/// error status, since it fails before the first line.
#[test]
fn load_without_quiet_reports_each_layer() {
    let d = TestDaemon::start();
    let layers = [base_layer(), layer2()];
    let diff_ids: Vec<String> = layers.iter().map(Layer::diff_id).collect();
    let cfg = config(&diff_ids, &["sh"]);
    let archive = docker_archive(&["progress:v1"], &layers, &cfg);
    let post = |body: &[u8]| {
        let headers = [("Content-Type", "application/x-tar")];
        crate::http::request_with(&d.sock, "POST", "/images/load?quiet=0", &headers, body)
            .expect("POST /images/load")
    };
    let r = post(&archive);
    assert_eq!(r.status, 200, "{}", r.text());
    let lines = r.json_lines();
    let (last, loading) = lines.split_last().expect("lines");
    assert_eq!(last["stream"], "Loaded image: progress:v1\n", "{lines:?}");
    let top = &chain_ids(&diff_ids)[1];
    let total = layers[1].tar.len() as u64;
    assert!(!loading.is_empty(), "no Loading layer line: {lines:?}");
    for l in loading {
        assert_eq!(l["status"], "Loading layer", "{l}");
        assert_eq!(
            l["id"],
            top["sha256:".len()..][..12],
            "only the new layer is read: {l}"
        );
        assert_eq!(l["progressDetail"]["total"], total, "{l}");
    }
    let end = loading.last().expect("a line");
    assert_eq!(end["progressDetail"]["current"], total, "{end}");
    assert!(
        end["progress"].as_str().is_some_and(|p| p.contains("=>]")),
        "{end}"
    );

    let r = post(&archive[..archive.len() / 2]);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.json()["message"].is_string(), "{}", r.text());
}
