//! Push and pull against a real registry on loopback: Debian's `docker-registry` (distribution
//! 2.x) on a free 127.0.0.1 port with a temp storage dir, plus `skopeo` as a third-party client.

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::cmd::{self, poll, OutputExt, CMD_TIMEOUT};
use crate::harness::{unique, TestDaemon};
use crate::imagetar;

/// A `docker-registry serve` child, killed and its storage removed on drop (also on panic).
struct Registry {
    /// `127.0.0.1:<port>`
    addr: String,
    child: Child,
    dir: tempfile::TempDir,
}

/// `name` on PATH or in the usual system dirs.
fn find_binary(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin", "/usr/sbin", "/usr/local/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn require_binary(name: &str, package: &str) -> PathBuf {
    find_binary(name).unwrap_or_else(|| {
        panic!("{name} not found: install it with `make deps` (or `apt-get install {package}`)")
    })
}

/// Whether `GET /v2/` on `addr` answers (200, or 401 when it asks for credentials).
fn v2_answers(addr: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let req = format!("GET /v2/ HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let mut head = [0u8; 12];
    s.write_all(req.as_bytes()).is_ok()
        && s.read_exact(&mut head).is_ok()
        && (head.starts_with(b"HTTP/1.1 200") || head.starts_with(b"HTTP/1.1 401"))
}

impl Registry {
    fn start() -> Registry {
        Self::start_with("")
    }

    /// A registry that asks for user `u`, password `s3cret` (basic auth, htpasswd).
    fn start_with_password() -> Registry {
        let hash = bcrypt::hash("s3cret", 4).expect("bcrypt hash");
        Self::start_with(&format!("u:{hash}\n"))
    }

    /// `htpasswd`: users the registry asks for (basic auth), if not empty.
    fn start_with(htpasswd: &str) -> Registry {
        let bin = require_binary("docker-registry", "docker-registry");
        // A port taken between our probe and the registry's bind makes it exit: try another.
        for _ in 0..5 {
            let port = {
                let l = TcpListener::bind("127.0.0.1:0").expect("probe a free port");
                l.local_addr().expect("local_addr").port()
            };
            let dir = tempfile::Builder::new()
                .prefix("rdocker-it-registry-")
                .tempdir()
                .expect("registry temp dir");
            let addr = format!("127.0.0.1:{port}");
            let config = dir.path().join("config.yml");
            let mut extra = String::new();
            if !htpasswd.is_empty() {
                let file = dir.path().join("htpasswd");
                fs::write(&file, htpasswd).expect("write htpasswd");
                let path = file.display();
                extra = format!("auth:\n  htpasswd:\n    realm: test\n    path: {path}\n");
            }
            let yaml = format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    \
                 rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n{extra}",
                dir.path().join("data").display()
            );
            fs::write(&config, yaml).expect("write registry config");
            let log = fs::File::create(dir.path().join("registry.log")).expect("registry log");
            let child = Command::new(&bin)
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("dup log"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
            // From here on, a panic drops `r`, which kills the child.
            let mut r = Registry { addr, child, dir };
            let up = poll(
                "docker-registry to answer /v2/",
                Duration::from_secs(20),
                || {
                    if r.child.try_wait().expect("try_wait registry").is_some() {
                        return Some(false);
                    }
                    v2_answers(&r.addr).then_some(true)
                },
            );
            if up {
                return r;
            }
            eprintln!("docker-registry exited on {}:\n{}", r.addr, r.log());
        }
        panic!("docker-registry did not start in 5 attempts");
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// `127.0.0.1:<port>/<path>`
    fn name(&self, path: &str) -> String {
        format!("{}/{path}", self.addr)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- docker-registry log ---\n{}\n---", self.log());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // `dir` (storage and config) is removed when the TempDir field drops.
    }
}

/// `docker push NAME`; returns its output after checking that it succeeded.
fn push(d: &TestDaemon, name: &str) -> String {
    d.docker(&["push", name]).ok("docker push")
}

/// The manifest digest from `docker push` output (`<tag>: digest: sha256:… size: N`).
fn pushed_digest(out: &str, tag: &str) -> String {
    let prefix = format!("{tag}: digest: ");
    let line = out.lines().find(|l| l.starts_with(&prefix));
    let line = line.unwrap_or_else(|| panic!("no {prefix:?} line in push output:\n{out}"));
    let rest = &line[prefix.len()..];
    let (digest, size) = rest
        .split_once(" size: ")
        .expect("`size: N` after the digest");
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{line}"
    );
    assert!(size.parse::<u64>().is_ok_and(|n| n > 0), "{line}");
    digest.to_string()
}

fn assert_has(out: &str, needles: &[&str], what: &str) {
    for n in needles {
        assert!(out.contains(n), "{what}: no {n:?} in:\n{out}");
    }
}

/// Tags busybox as `name`, pushes it and removes both local names (and so the image and its
/// layer); returns the pushed digest.
fn push_busybox(d: &TestDaemon, name: &str) -> String {
    d.docker(&["tag", "busybox", name]).ok("docker tag");
    let out = push(d, name);
    assert_has(&out, &["Pushed"], "push");
    let tag = name.rsplit_once(':').expect("name with a tag").1;
    let digest = pushed_digest(&out, tag);
    d.docker(&["rmi", "busybox", name])
        .ok("docker rmi of both names");
    assert!(d.image_ids().is_empty(), "images left: {:?}", d.image_ids());
    assert!(
        d.layer_records().is_empty(),
        "layers left: {:?}",
        d.layer_records()
    );
    digest
}

#[test]
fn push_pull_run_by_tag_and_digest() {
    let r = Registry::start();
    let d = TestDaemon::start();
    let name = r.name("bb:t1");
    let digest = push_busybox(&d, &name);

    let out = d.docker(&["pull", &name]).ok("docker pull");
    let status = format!("Status: Downloaded newer image for {name}");
    assert_has(
        &out,
        &["Pull complete", &format!("Digest: {digest}"), &status],
        "pull",
    );
    assert_eq!(out.lines().last(), Some(name.as_str()), "{out}");
    let out = d.docker(&["run", "--rm", &name, "echo", "ok"]);
    assert_eq!(out.ok("run the pulled image"), "ok\n");
    let fmt = "{{.Repository}}:{{.Tag}} {{.Digest}}";
    let list = d
        .docker(&["images", "--digests", "--format", fmt])
        .ok("images --digests");
    assert_eq!(list, format!("{name} {digest}\n"));
    let out = d
        .docker(&["images", "--digests"])
        .ok("docker images --digests");
    assert!(
        out.lines().nth(1).is_some_and(|l| l.contains(&digest)),
        "{out}"
    );

    let out = d.docker(&["pull", &name]).ok("docker pull again");
    assert_has(
        &out,
        &[&format!("Status: Image is up to date for {name}")],
        "pull again",
    );
    assert!(
        !out.contains("Pull complete"),
        "second pull downloaded again:\n{out}"
    );
    // As Docker: an image that is here already gets no layer lines (nothing is fetched).
    assert!(!out.contains("Already exists"), "{out}");

    // By digest, after removing everything.
    d.docker(&["rmi", &name]).ok("docker rmi");
    assert!(d.image_ids().is_empty(), "images left: {:?}", d.image_ids());
    let by_digest = format!("{}@{digest}", r.name("bb"));
    let out = d.docker(&["pull", &by_digest]).ok("docker pull by digest");
    let status = format!("Status: Downloaded newer image for {by_digest}");
    assert_has(&out, &["Pull complete", &status], "pull by digest");
    let out = d
        .docker(&["pull", &by_digest])
        .ok("docker pull by digest again");
    let status = format!("Status: Image is up to date for {by_digest}");
    assert_has(&out, &[&status], "pull by digest again");
    let out = d.docker(&["run", "--rm", &by_digest, "echo", "ok"]);
    assert_eq!(out.ok("run by digest"), "ok\n");
    let list = d
        .docker(&["images", "--digests", "--format", fmt])
        .ok("images --digests");
    assert_eq!(list, format!("{}:<none> {digest}\n", r.name("bb")));
}

#[test]
fn shared_base_layer_is_pushed_and_pulled_once() {
    let r = Registry::start();
    let d = TestDaemon::start();
    let t1 = r.name("bb:t1");
    let t2 = r.name("bb:t2");
    d.docker(&["tag", "busybox", &t1]).ok("docker tag");
    push(&d, &t1);

    let c = unique("two");
    let out = d.docker(&[
        "run",
        "--name",
        &c,
        "busybox",
        "sh",
        "-c",
        "echo two > /two",
    ]);
    out.ok("docker run");
    d.docker(&["commit", &c, &t2]).ok("docker commit");
    let out = push(&d, &t2);
    assert_has(&out, &["Layer already exists", "Pushed"], "push of t2");
    assert_eq!(out.matches(": Layer already exists").count(), 1, "{out}");
    assert_eq!(out.matches(": Pushed").count(), 1, "{out}");
    pushed_digest(&out, "t2");

    d.docker(&["rm", &c]).ok("docker rm");
    d.docker(&["rmi", &t2]).ok("docker rmi t2");
    let out = d.docker(&["pull", &t2]).ok("docker pull t2");
    assert_has(
        &out,
        &["Already exists", "Pull complete", "Downloaded newer image"],
        "pull",
    );
    assert_eq!(out.matches(": Already exists").count(), 1, "{out}");
    assert_eq!(out.matches(": Pull complete").count(), 1, "{out}");
    let out = d.docker(&["run", "--rm", &t2, "cat", "/two"]);
    assert_eq!(out.ok("run t2"), "two\n");
}

#[test]
fn pull_of_a_missing_repository_fails() {
    let r = Registry::start();
    let d = TestDaemon::start();
    let out = d.docker(&["pull", &r.name("nosuch")]);
    assert_ne!(
        out.code(),
        0,
        "pull of a missing repo succeeded:\n{}",
        out.out()
    );
    assert_has(
        &out.err(),
        &["manifest unknown", &r.name("nosuch:latest")],
        "pull",
    );
    assert_eq!(d.image_ids().len(), 1, "only busybox");
}

#[test]
fn run_pulls_a_missing_image() {
    let r = Registry::start();
    let d = TestDaemon::start();
    let name = r.name("bb:t1");
    push_busybox(&d, &name);

    let out = d.docker(&["run", "--rm", &name, "echo", "ok"]);
    assert_eq!(out.ok("docker run of a missing image"), "ok\n");
    let err = out.err();
    assert_has(
        &err,
        &[
            &format!("Unable to find image '{name}' locally"),
            "Pull complete",
        ],
        "run",
    );

    d.docker(&["rmi", &name]).ok("docker rmi");
    assert!(d.image_ids().is_empty());
    let out = d.rdocker(&["run", "--rm", &name, "echo", "ok"]);
    assert_eq!(out.ok("rdocker run of a missing image"), "ok\n");
    assert_has(&out.err(), &["Pull complete"], "rdocker run");
}

/// Saves busybox, removes it, and has skopeo (a third-party client, with Go's gzip) push the
/// archive to the registry as `name`.
fn skopeo_push_busybox(d: &TestDaemon, r: &Registry, name: &str) {
    let skopeo = require_binary("skopeo", "skopeo");
    let tar = d.root.join("saved.tar");
    let tar_s = tar.to_str().expect("utf-8 path");
    d.rdocker(&["save", "-o", tar_s, "busybox"])
        .ok("rdocker save");
    d.docker(&["rmi", "busybox"]).ok("docker rmi");
    let mut c = Command::new(skopeo);
    c.args(["--insecure-policy", "copy", "--dest-tls-verify=false"])
        .arg(format!("docker-archive:{tar_s}"))
        .arg(format!("docker://{}", r.name(name)))
        .env("TMPDIR", &d.root);
    cmd::run(c, None, CMD_TIMEOUT).ok("skopeo copy docker-archive: → registry");
}

#[test]
fn skopeo_pushed_archive_pulls_and_runs() {
    let r = Registry::start();
    let d = TestDaemon::start();
    skopeo_push_busybox(&d, &r, "sk:1");

    let name = r.name("sk:1");
    let out = d
        .docker(&["pull", &name])
        .ok("docker pull of skopeo's push");
    assert_has(
        &out,
        &["Pull complete", "Status: Downloaded newer image"],
        "pull",
    );
    let out = d.docker(&["run", "--rm", &name, "echo", "ok"]);
    assert_eq!(out.ok("run skopeo's image"), "ok\n");
}

#[test]
fn rmi_of_the_last_tag_drops_the_repos_digests() {
    let r = Registry::start();
    let d = TestDaemon::start();
    let name = r.name("bb:t1");
    d.docker(&["tag", "busybox", &name]).ok("docker tag");
    let digest = pushed_digest(&push(&d, &name), "t1");
    let by_digest = format!("{}@{digest}", r.name("bb"));
    let id = d
        .docker(&["image", "inspect", "-f", "{{.Id}}", "busybox"])
        .ok("inspect");
    let repo_digests = d.docker(&["image", "inspect", "-f", "{{json .RepoDigests}}", &name]);
    assert_eq!(
        repo_digests.ok("RepoDigests"),
        format!("[\"{by_digest}\"]\n")
    );

    // Docker (daemon/images/image_delete.go) drops a repository's digest references with its
    // last tag, whatever other names remain; otherwise the image would linger as `<repo> <none>`.
    let out = d
        .docker(&["rmi", &name])
        .ok("docker rmi of the pushed name");
    assert_eq!(out, format!("Untagged: {name}\nUntagged: {by_digest}\n"));
    let out = d.docker(&["rmi", "busybox"]).ok("docker rmi busybox");
    let rows: Vec<&str> = out.lines().collect();
    assert_eq!(
        rows[..2],
        [
            "Untagged: busybox:latest",
            &format!("Deleted: {}", id.trim())
        ]
    );
    assert!(d.image_ids().is_empty(), "images left: {:?}", d.image_ids());
}

/// A layer blob that does not match its digest fails the pull, although it is unpacked while
/// it downloads, and leaves no layer behind.
#[test]
fn corrupt_layer_blob_fails_the_pull_and_leaves_nothing() {
    let r = Registry::start();
    let d = TestDaemon::start();
    let name = r.name("corrupt:1");
    push_busybox(&d, &name);
    let before = d.data_entries(&d.driver);
    // The layer is the biggest blob; flip bytes in its middle, keeping its size.
    let layer = r
        .stored_blobs()
        .into_iter()
        .max_by_key(|p| fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .expect("a blob in the registry");
    let mut bytes = fs::read(&layer).expect("read layer blob");
    let mid = bytes.len() / 2;
    for b in &mut bytes[mid..mid + 64] {
        *b = !*b;
    }
    fs::write(layer, &bytes).expect("corrupt layer blob");

    let out = d.docker(&["pull", &name]);
    assert_ne!(
        out.code(),
        0,
        "pull of a corrupt blob succeeded:\n{}",
        out.out()
    );
    assert!(d.image_ids().is_empty(), "images: {:?}", d.image_ids());
    assert!(
        d.layer_records().is_empty(),
        "layers: {:?}",
        d.layer_records()
    );
    let left: Vec<String> = d
        .data_entries(&d.driver)
        .difference(&before)
        .cloned()
        .collect();
    assert!(left.is_empty(), "layer dirs left: {left:?}");
}

/// Push checks that a layer's tar still has its diff id. A layer whose tar is kept whole (one
/// that writes a name twice) is changed on disk behind the daemon's back, keeping its size:
/// the push fails, naming the layer, and the registry gets no manifest.
#[test]
fn push_refuses_a_layer_that_no_longer_matches_its_diff_id() {
    let r = Registry::start();
    let d = TestDaemon::start();
    let tar = imagetar::LayerTar::new()
        .file("f", b"first\n")
        .file("f", b"SECRET-CONTENT\n")
        .finish();
    let diff_id = imagetar::digest(&tar);
    let config = imagetar::config(std::slice::from_ref(&diff_id), &["cat", "/f"]);
    let archive = imagetar::docker_archive(&["twice:1"], &[imagetar::Layer::plain(tar)], &config);
    d.docker_stdin(&["load"], &archive).ok("docker load");
    let record = d
        .data_root
        .join(format!("image/{}/layerdb/sha256", d.driver))
        .join(diff_id.trim_start_matches("sha256:"));
    let kept = record.join("layer.tar");
    let mut bytes = fs::read(&kept).expect("a layer writing a name twice is kept whole");
    let at = bytes
        .windows(6)
        .position(|w| w == b"SECRET")
        .expect("file data in the kept tar");
    bytes[at..at + 6].copy_from_slice(b"secret");
    fs::write(&kept, &bytes).expect("change the kept tar");

    let name = r.name("twice:1");
    d.docker(&["tag", "twice:1", &name]).ok("docker tag");
    let out = d.docker(&["push", &name]);
    assert_ne!(
        out.code(),
        0,
        "push of a changed layer succeeded:\n{}",
        out.out()
    );
    let text = format!("{}{}", out.out(), out.err());
    assert!(
        text.contains(&format!("layer {diff_id} does not match its content")),
        "{text}"
    );
    let tags_dir = r
        .dir
        .path()
        .join("data/docker/registry/v2/repositories/twice/_manifests/tags");
    let tags: Vec<_> = fs::read_dir(tags_dir)
        .map(|it| it.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(tags.is_empty(), "tags in the registry: {tags:?}");
    // The compressed copy is deleted (after the answer, so it may take a moment).
    let scratch = format!("image/{}/tmp", d.driver);
    poll(
        "the push's scratch file to go",
        Duration::from_secs(10),
        || d.data_entries(&scratch).is_empty().then_some(()),
    );
}

/// A pulled image pushed to another repository of the same registry mounts its layer blob from
/// the first one, and pushed back to its own repository finds it there, as with Docker:
/// the layer is neither compressed nor uploaded again, and both manifests name the original
/// blob (here one skopeo compressed, which rdocker's gzip would not reproduce).
#[test]
fn push_of_a_pulled_image_mounts_or_finds_its_layer() {
    let r = Registry::start();
    let d = TestDaemon::start();
    skopeo_push_busybox(&d, &r, "mnt/a:1");
    let blobs_before = r.stored_blobs();

    let a = r.name("mnt/a:1");
    d.docker(&["pull", &a]).ok("docker pull of skopeo's push");
    let b = r.name("mnt/b:1");
    d.docker(&["tag", &a, &b]).ok("docker tag");
    let out = push(&d, &b);
    assert_has(&out, &["Mounted from mnt/a"], "push to another repository");
    let digest_b = pushed_digest(&out, "1");
    let out = push(&d, &a);
    assert_has(&out, &["Layer already exists"], "push back");
    assert!(!out.contains("Pushed"), "a layer was uploaded:\n{out}");
    assert_eq!(pushed_digest(&out, "1"), digest_b, "same manifest for both");
    // New in the registry: only rdocker's manifest (skopeo wrote its own JSON).
    let new: Vec<u64> = r
        .stored_blobs()
        .iter()
        .filter(|p| !blobs_before.contains(p))
        .map(|p| fs::metadata(p).expect("blob size").len())
        .collect();
    assert!(
        new.len() == 1 && new[0] < 2048,
        "new blobs in the registry (sizes): {new:?}"
    );
    // The manifest pushed to the other repository is whole (a layer's size taken from the
    // registry's HEAD answer): a pull of it from scratch runs.
    d.docker(&["rmi", &a, &b]).ok("docker rmi of both names");
    assert!(d.image_ids().is_empty(), "images left: {:?}", d.image_ids());
    d.docker(&["pull", &b])
        .ok("docker pull of the mounted push");
    let out = d.docker(&["run", "--rm", &b, "echo", "ok"]);
    assert_eq!(out.ok("run the image"), "ok\n");
}

impl Registry {
    /// The files holding the registry's blobs (layers, configs and manifests).
    fn stored_blobs(&self) -> Vec<PathBuf> {
        let mut blobs = Vec::new();
        let mut dirs = vec![self.dir.path().join("data")];
        while let Some(dir) = dirs.pop() {
            for e in fs::read_dir(&dir).expect("read registry storage").flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.file_name().is_some_and(|n| n == "data")
                    && p.to_string_lossy().contains("/blobs/")
                {
                    blobs.push(p);
                }
            }
        }
        blobs
    }

    /// Uploads `data` as a blob of `repo` (a monolithic upload: POST, then PUT with the
    /// digest), with curl; returns its digest.
    fn put_blob(&self, repo: &str, data: &[u8]) -> String {
        let digest = imagetar::digest(data);
        let base = format!("http://{}", self.addr);
        let out = Command::new("curl")
            .args(["-sf", "-D", "-", "-o", "/dev/null", "-X", "POST"])
            .arg(format!("{base}/v2/{repo}/blobs/uploads/"))
            .output()
            .expect("run curl");
        let headers = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "upload start failed: {headers}");
        let location = headers
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("location")
                    .then(|| v.trim().to_string())
            })
            .expect("a Location header");
        let url = match location.starts_with('/') {
            true => format!("{base}{location}"),
            false => location,
        };
        let sep = if url.contains('?') { '&' } else { '?' };
        let out = cmd::run(
            {
                let mut c = Command::new("curl");
                c.args(["-sf", "-X", "PUT", "--data-binary", "@-"])
                    .args(["-H", "Content-Type: application/octet-stream"])
                    .arg(format!("{url}{sep}digest={digest}"));
                c
            },
            Some(data),
            CMD_TIMEOUT,
        );
        out.ok("blob upload");
        digest
    }

    /// Pushes an image of one gzipped layer `tar` and `config`, tagged `repo:tag`.
    fn put_image(&self, repo: &str, tag: &str, tar: &[u8], config: &[u8]) {
        let gz = imagetar::compress(tar, imagetar::Compression::Gzip);
        let layer = self.put_blob(repo, &gz);
        let cfg = self.put_blob(repo, config);
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                       "size": config.len(), "digest": cfg},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                        "size": gz.len(), "digest": layer}],
        });
        let media_type = "application/vnd.docker.distribution.manifest.v2+json";
        self.put_manifest(repo, tag, media_type, &manifest);
    }

    /// Uploads `manifest` (of `media_type`) as `repo:reference`; returns its digest.
    fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        manifest: &serde_json::Value,
    ) -> String {
        let body = serde_json::to_vec(manifest).expect("manifest json");
        let mut c = Command::new("curl");
        c.args(["-sf", "-X", "PUT", "--data-binary", "@-"])
            .args(["-H", &format!("Content-Type: {media_type}")])
            .arg(format!(
                "http://{}/v2/{repo}/manifests/{reference}",
                self.addr
            ));
        cmd::run(c, Some(&body), CMD_TIMEOUT).ok("manifest upload");
        imagetar::digest(&body)
    }
}

/// An OCI index of two platforms pulls the daemon's own (with a gzip and a zstd layer), and
/// names the image by the index's digest, as Docker does.
#[test]
fn an_oci_index_pulls_the_hosts_platform() {
    let r = Registry::start();
    let d = TestDaemon::start();
    let busybox = fs::read(crate::harness::busybox_tar()).expect("busybox tar");
    let oci = "application/vnd.oci.image";
    let mut manifests = Vec::new();
    // The host image's layers: short blob digest and blob size.
    let mut host_layers: Vec<(String, u64)> = Vec::new();
    for arch in [imagetar::host_arch(), "riscv64"] {
        let marker = imagetar::LayerTar::new()
            .file("arch", arch.as_bytes())
            .finish();
        let base = imagetar::compress(&busybox, imagetar::Compression::Gzip);
        let top = imagetar::compress(&marker, imagetar::Compression::Zstd);
        let diff_ids = [imagetar::digest(&busybox), imagetar::digest(&marker)];
        let config = String::from_utf8(imagetar::config(&diff_ids, &["cat", "/arch"]))
            .expect("config is JSON")
            .replace(imagetar::host_arch(), arch)
            .into_bytes();
        let layer = |blob: &[u8], kind: &str| {
            serde_json::json!({"mediaType": format!("{oci}.layer.v1.tar+{kind}"),
                               "size": blob.len(), "digest": r.put_blob("multi", blob)})
        };
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": format!("{oci}.manifest.v1+json"),
            "config": {"mediaType": format!("{oci}.config.v1+json"), "size": config.len(),
                       "digest": r.put_blob("multi", &config)},
            "layers": [layer(&base, "gzip"), layer(&top, "zstd")],
        });
        if arch == imagetar::host_arch() {
            for blob in [&base, &top] {
                let short = imagetar::sha256_hex(blob)[..12].to_string();
                host_layers.push((short, blob.len() as u64));
            }
        }
        let body = serde_json::to_vec(&manifest).expect("manifest json");
        let (size, digest) = (body.len(), imagetar::digest(&body));
        let media_type = format!("{oci}.manifest.v1+json");
        r.put_manifest("multi", &digest, &media_type, &manifest);
        manifests.push(
            serde_json::json!({"mediaType": media_type, "size": size, "digest": digest,
                                          "platform": {"os": "linux", "architecture": arch}}),
        );
    }
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": format!("{oci}.index.v1+json"),
        "manifests": manifests,
    });
    let index_digest = r.put_manifest("multi", "1", &format!("{oci}.index.v1+json"), &index);

    let name = r.name("multi:1");
    let out = d.docker(&["pull", &name]).ok("docker pull of an index");
    assert!(out.contains(&format!("Digest: {index_digest}")), "{out}");
    let out = d.docker(&["run", "--rm", &name]);
    assert_eq!(out.ok("run the pulled image"), imagetar::host_arch());
    let digests = d.docker(&["image", "inspect", "-f", "{{json .RepoDigests}}", &name]);
    let want = format!("[\"{}@{index_digest}\"]\n", r.name("multi"));
    assert_eq!(digests.ok("inspect RepoDigests"), want);

    // Pulled again from nothing, over the API: each layer's extraction is reported with a bar
    // (the first layer unpacks as it downloads, the second from its downloaded blob), the last
    // report at the blob's whole size, before its `Pull complete`.
    d.docker(&["rmi", &name, "busybox"]).ok("docker rmi");
    let path = format!("/images/create?fromImage={}&tag=1", r.name("multi"));
    let pull = d.http("POST", &path, None);
    assert_eq!(pull.status, 200, "{}", pull.text());
    let lines = pull.json_lines();
    for (id, size) in &host_layers {
        let of_layer: Vec<&serde_json::Value> = lines.iter().filter(|l| l["id"] == *id).collect();
        let extracting: Vec<&&serde_json::Value> = of_layer
            .iter()
            .filter(|l| l["status"] == "Extracting")
            .collect();
        let last = extracting
            .last()
            .unwrap_or_else(|| panic!("no Extracting for {id}: {lines:?}"));
        assert_eq!(last["progressDetail"]["current"], *size, "{last}");
        assert_eq!(last["progressDetail"]["total"], *size, "{last}");
        assert_eq!(
            of_layer.last().map(|l| &l["status"]),
            Some(&"Pull complete".into())
        );
    }
}

/// An image whose config names another diff id than its layer's content (the blob itself
/// matches its digest) fails the pull, naming both, and keeps nothing: whether the layer was
/// never seen (unpacked once the config is there) or was pulled before and removed since (then
/// unpacked while the config downloads, and checked after). An honest image pulls.
#[test]
fn a_config_with_the_wrong_diff_id_fails_the_pull() {
    let r = Registry::start();
    let d = TestDaemon::start();
    let before = d.snapshot();
    let tar = imagetar::LayerTar::new()
        .dir("bin")
        .file("bin/hello", b"#!/bin/sh\necho hello\n")
        .finish();
    let wrong = imagetar::digest(b"something else");
    let diff_id = imagetar::digest(&tar);
    for (repo, d_id) in [("liar", &wrong), ("honest", &diff_id)] {
        let config = imagetar::config(std::slice::from_ref(d_id), &["true"]);
        r.put_image(repo, "1", &tar, &config);
    }
    let pull_liar = || {
        let out = d.docker(&["pull", &r.name("liar:1")]);
        assert_ne!(out.code(), 0, "pull succeeded:\n{}", out.out());
        let all = format!("{}{}", out.out(), out.err());
        assert!(
            all.contains("does not match") && all.contains(&wrong),
            "pull output: {all}"
        );
        assert_eq!(d.snapshot(), before, "the failed pull left state behind");
    };
    pull_liar();

    d.docker(&["pull", &r.name("honest:1")])
        .ok("pull of the honest image");
    let added: Vec<String> = d
        .layer_records()
        .difference(&before.records)
        .cloned()
        .collect();
    assert_eq!(added, std::slice::from_ref(&diff_id));
    d.docker(&["rmi", &r.name("honest:1")]).ok("rmi");
    assert_eq!(
        d.layer_records(),
        before.records,
        "the layer went with its image"
    );
    pull_liar();
}

/// `docker login` against a registry that wants a password: the daemon checks the credentials
/// (`POST /auth`), the CLI stores them and sends them with each push and pull
/// (`X-Registry-Auth`); without them the registry refuses.
#[test]
fn login_then_push_and_pull_with_credentials() {
    let r = Registry::start_with_password();
    let d = TestDaemon::start();
    let login = |password: &str| {
        d.docker_stdin(
            &["login", &r.addr, "-u", "u", "--password-stdin"],
            format!("{password}\n").as_bytes(),
        )
    };
    let out = login("wrong");
    assert_eq!(out.code(), 1, "{}", out.out());
    let refused = format!(
        "Error response from daemon: login attempt to http://{}/v2/ failed with status: 401 Unauthorized",
        r.addr
    );
    assert_eq!(out.err().trim_end(), refused);

    let name = r.name("private/bb:1");
    d.docker(&["tag", "busybox", &name]).ok("docker tag");
    let out = d.docker(&["push", &name]);
    assert_eq!(out.code(), 1, "push without login: {}", out.out());
    assert!(out.err().contains("unauthorized"), "{}", out.err());

    let out = login("s3cret");
    assert!(out.ok("docker login").contains("Login Succeeded"));
    let digest = push_busybox(&d, &name);
    let out = d
        .docker(&["pull", &name])
        .ok("docker pull with credentials");
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    let out = d.docker(&["run", "--rm", &name, "echo", "ok"]);
    assert_eq!(out.ok("run the pulled image"), "ok\n");

    d.docker(&["logout", &r.addr]).ok("docker logout");
    d.docker(&["rmi", &name]).ok("docker rmi");
    let out = d.docker(&["pull", &name]);
    assert_eq!(out.code(), 1, "pull after logout: {}", out.out());
    let denied = "Error response from daemon: pull access denied for {}, repository does not exist or may require 'docker login': unauthorized: authentication required";
    assert_eq!(
        out.err().trim_end(),
        denied.replace("{}", &r.name("private/bb"))
    );
}

/// `rdocker login` keeps the credentials where the docker CLI does (and reads them back for
/// its own push and pull); `rdocker logout` forgets them.
#[test]
fn rdocker_login_push_pull_logout() {
    let r = Registry::start_with_password();
    let d = TestDaemon::start();
    let login = |password: &str| {
        d.rdocker_stdin(
            &["login", "-u", "u", "--password-stdin", &r.addr],
            format!("{password}\n").as_bytes(),
        )
    };
    let out = login("wrong");
    assert_eq!(out.code(), 1, "{}", out.out());
    assert!(
        out.err().contains("failed with status: 401 Unauthorized"),
        "{}",
        out.err()
    );
    let config = d.docker_config.join("config.json");
    assert!(!config.exists(), "refused credentials were stored");

    assert_eq!(login("s3cret").ok("rdocker login"), "Login Succeeded\n");
    let stored: serde_json::Value =
        serde_json::from_slice(&fs::read(&config).expect("config.json")).expect("JSON");
    // base64("u:s3cret"), as the docker CLI stores it.
    assert_eq!(stored["auths"][r.addr.as_str()]["auth"], "dTpzM2NyZXQ=");
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(&config)
        .expect("stat config")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let name = r.name("mine/bb:1");
    d.rdocker(&["tag", "busybox", &name]).ok("rdocker tag");
    let out = d
        .rdocker(&["push", &name])
        .ok("rdocker push with credentials");
    assert!(
        out.contains("Pushed") || out.contains("Mounted from"),
        "{out}"
    );
    d.rdocker(&["rmi", &name]).ok("rdocker rmi");
    // The docker CLI finds what rdocker stored.
    let out = d
        .docker(&["pull", &name])
        .ok("docker pull with rdocker's credentials");
    assert!(out.contains("Status: "), "{out}");

    let out = d.rdocker(&["logout", &r.addr]).ok("rdocker logout");
    assert_eq!(out, format!("Removing login credentials for {}\n", r.addr));
    let out = d.rdocker(&["logout", &r.addr]).ok("rdocker logout again");
    assert_eq!(out, format!("Not logged in to {}\n", r.addr));
    d.rdocker(&["rmi", &name]).ok("rdocker rmi");
    let out = d.rdocker(&["pull", &name]);
    assert_eq!(out.code(), 1, "pull after logout: {}", out.out());
}
