//! Images (list, import, rmi) and the daemon-wide `version` / `info`.

use sha2::{Digest, Sha256};

use crate::cmd::{poll, OutputExt};
use crate::harness::{busybox_tar, host_cgroup_version, unique, TestDaemon, STATE_TIMEOUT};

fn repo_tags(d: &TestDaemon) -> Vec<String> {
    let out = d.docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    out.ok("docker images")
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn images_lists_busybox() {
    let d = TestDaemon::start();
    let out = d.docker(&["images"]).ok("docker images");
    let line = out
        .lines()
        .find(|l| l.starts_with("busybox "))
        .unwrap_or_else(|| panic!("busybox not in docker images:\n{out}"));
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cols[1], "latest", "{line}");
    assert!(
        cols[2].len() == 12 && cols[2].bytes().all(|b| b.is_ascii_hexdigit()),
        "IMAGE ID column: {line}"
    );

    let list = d.http("GET", "/images/json", None).json();
    let img = list
        .as_array()
        .expect("array")
        .iter()
        .find(|i| i["RepoTags"] == serde_json::json!(["busybox:latest"]))
        .unwrap_or_else(|| panic!("busybox:latest not in {list}"))
        .clone();
    assert!(
        img["Id"]
            .as_str()
            .is_some_and(|s| s.starts_with("sha256:") && s.len() == 71),
        "Id: {}",
        img["Id"]
    );
    assert!(
        img["Size"].as_i64().is_some_and(|s| s > 1_000_000),
        "Size: {}",
        img["Size"]
    );
}

#[test]
fn import_is_content_addressed() {
    let d = TestDaemon::start();
    let tar = busybox_tar();
    let repo = unique("imp");
    let tar_str = tar.to_str().expect("utf-8 path");
    let out = d.docker(&["import", tar_str, &format!("{repo}:v1")]);
    let id = out.ok("docker import").trim().to_string();
    assert!(
        id.starts_with("sha256:") && id.len() == 71,
        "docker import printed {id:?}"
    );
    assert!(repo_tags(&d).contains(&format!("{repo}:v1")));

    // The layer's diff_id is the sha256 of the uncompressed tar; busybox:latest (imported from
    // the same file by the harness) shares it.
    let bytes = std::fs::read(&tar).expect("read tar");
    let diff_id = format!("sha256:{}", hex(&Sha256::digest(&bytes)));
    for name in [format!("{repo}:v1"), "busybox:latest".to_string()] {
        let r = d.http("GET", &format!("/images/{name}/json"), None);
        assert_eq!(r.status, 200, "image inspect {name}: {}", r.text());
        let j = r.json();
        assert_eq!(
            j["RootFS"]["Layers"],
            serde_json::json!([diff_id]),
            "{name}: {}",
            j["RootFS"]
        );
        assert_eq!(j["RootFS"]["Type"], "layers");
    }

    let out = d.docker(&["run", "--rm", &format!("{repo}:v1"), "echo", "ok"]);
    assert_eq!(out.ok("run the imported image"), "ok\n");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn rmi_conflicts_while_used_and_force_untags() {
    let d = TestDaemon::start();
    let name = unique("user");
    d.create(&["--name", &name, "busybox", "true"]);

    let out = d.docker(&["rmi", "busybox"]);
    assert_ne!(
        out.code(),
        0,
        "rmi of an image used by a container succeeded"
    );
    assert!(
        out.err()
            .contains("conflict: unable to remove repository reference"),
        "stderr: {}",
        out.err()
    );
    let r = d.http("DELETE", "/images/busybox", None);
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(
        r.message()
            .contains("conflict: unable to remove repository reference"),
        "{}",
        r.text()
    );
    assert!(repo_tags(&d).contains(&"busybox:latest".to_string()));

    d.docker(&["rmi", "-f", "busybox"]).ok("docker rmi -f");
    assert!(
        !repo_tags(&d).iter().any(|t| t.starts_with("busybox:")),
        "busybox still tagged after rmi -f"
    );
    // The container keeps working on its (now untagged) image.
    let out = d.docker(&["start", "-a", &name]);
    out.expect_code(0, "start a container whose image was untagged");
}

#[test]
fn rmi_unused_image_deletes_it() {
    let d = TestDaemon::start();
    let repo = unique("gone");
    d.import(&busybox_tar(), &repo, "latest");
    assert!(repo_tags(&d).contains(&format!("{repo}:latest")));
    let out = d.docker(&["rmi", &repo]).ok("docker rmi");
    assert!(
        out.contains(&format!("Untagged: {repo}:latest")),
        "rmi output: {out}"
    );
    assert!(!repo_tags(&d).contains(&format!("{repo}:latest")));
    let r = d.http("GET", &format!("/images/{repo}/json"), None);
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(r.message(), format!("No such image: {repo}:latest"));
}

#[test]
fn version_reports_server_api() {
    let d = TestDaemon::start();
    let out = d.docker(&["version"]).ok("docker version");
    assert!(
        out.contains("Server:"),
        "docker version shows no server:\n{out}"
    );
    let api = d
        .docker(&["version", "--format", "{{.Server.APIVersion}}"])
        .ok("version --format");
    let (major, minor) = api.trim().split_once('.').expect("API version like 1.41");
    assert_eq!(major, "1");
    let minor: u32 = minor.parse().expect("numeric minor version");
    assert!((41..=50).contains(&minor), "server API version {api}");

    let r = d.http("GET", "/version", None);
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["ApiVersion"], api.trim());
    assert_eq!(v["Os"], "linux");
    for key in ["Version", "Arch", "MinAPIVersion", "KernelVersion"] {
        assert!(
            v[key].as_str().is_some_and(|s| !s.is_empty()),
            "/version {key}: {v}"
        );
    }
}

#[test]
fn info_counts_and_drivers() {
    let d = TestDaemon::start();
    d.run_detached(&["--name", &unique("inforun"), "busybox", "sleep", "1000"]);
    d.create(&["--name", &unique("infocreated"), "busybox", "true"]);

    let fmt = "{{.Containers}}|{{.ContainersRunning}}|{{.ContainersStopped}}|{{.Images}}|{{.Driver}}|{{.CgroupVersion}}|{{.OSType}}";
    let out = d
        .docker(&["info", "--format", fmt])
        .ok("docker info --format");
    let want = format!("2|1|1|1|{}|{}|linux", d.driver, host_cgroup_version());
    assert_eq!(out.trim(), want);

    let out = d.docker(&["info"]).ok("docker info");
    for line in [
        "Containers: 2".to_string(),
        format!("Storage Driver: {}", d.driver),
        format!("Cgroup Version: {}", host_cgroup_version()),
    ] {
        assert!(out.contains(&line), "docker info lacks {line:?}:\n{out}");
    }
}

/// The containers of an image share one init layer (the placeholders for /etc/hosts and the
/// like), which goes with the image: removing containers keeps it, removing the image frees it.
#[test]
fn containers_of_an_image_share_its_init_layer() {
    let d = TestDaemon::start();
    // An image with a top layer of its own (imported busybox shares the harness's).
    let repo = unique("shared-init");
    let base = unique("shared-init-base");
    d.docker(&[
        "run",
        "--name",
        &base,
        "busybox",
        "sh",
        "-c",
        "echo x >/own",
    ])
    .ok("run base");
    d.docker(&["commit", &base, &repo]).ok("commit");
    d.docker(&["rm", &base]).ok("rm base");
    let layers = if d.driver == "vfs" {
        "vfs/dir"
    } else {
        "overlay2"
    };
    let before = d.data_entries(layers);
    let a = d.create(&[&repo, "true"]);
    let b = d.create(&[&repo, "true"]);
    let made: Vec<String> = d
        .data_entries(layers)
        .difference(&before)
        .cloned()
        .collect();
    let inits: Vec<&String> = made.iter().filter(|n| n.ends_with("-init")).collect();
    // Two read-write layers and one init layer (overlay2 also keeps its `l` links dir).
    assert_eq!(inits.len(), 1, "new layer dirs: {made:?}");
    if d.driver == "overlay2" {
        let lower = |id: &str| {
            d.inspect(id)["GraphDriver"]["Data"]["LowerDir"]
                .as_str()
                .expect("LowerDir")
                .split(':')
                .next()
                .expect("a first lower dir")
                .to_string()
        };
        assert_eq!(lower(&a), lower(&b));
        assert!(lower(&a).contains(inits[0].as_str()), "{}", lower(&a));
    }
    // Both containers see the placeholders and the files mounted over them.
    let out = d.docker(&["start", "-a", &a]).ok("start a");
    assert_eq!(out, "");
    let out = d
        .docker(&[
            "run",
            "--rm",
            &repo,
            "sh",
            "-c",
            "test -f /.dockerenv && cat /etc/hostname",
        ])
        .ok("run");
    assert_eq!(out.trim().len(), 12, "hostname: {out}");

    d.docker(&["rm", &a, &b]).ok("rm");
    poll("the read-write layers to go", STATE_TIMEOUT, || {
        let left: Vec<String> = d
            .data_entries(layers)
            .difference(&before)
            .cloned()
            .collect();
        (left.iter().all(|n| n.ends_with("-init"))).then_some(())
    });
    assert!(
        d.data_entries(layers).contains(inits[0].as_str()),
        "init layer kept for the image"
    );
    d.docker(&["rmi", &repo]).ok("rmi");
    poll("the init layer to go with the image", STATE_TIMEOUT, || {
        (!d.data_entries(layers).contains(inits[0].as_str())).then_some(())
    });
}

/// `docker import -c … -m …` of a gzipped rootfs: the changes become the image's config, the
/// message its comment and history entry.
#[test]
fn import_applies_changes_and_message() {
    let d = TestDaemon::start();
    let tar = std::fs::read(busybox_tar()).expect("read tar");
    let gz = crate::imagetar::compress(&tar, crate::imagetar::Compression::Gzip);
    let file = d.root.join("rootfs.tar.gz");
    std::fs::write(&file, gz).expect("write gzipped rootfs");
    let out = d.docker(&[
        "import",
        "-c",
        "ENV GREETING=hello",
        "-c",
        r#"CMD ["sh", "-c", "echo $GREETING from $(pwd)"]"#,
        "-c",
        "WORKDIR /tmp",
        "-c",
        "LABEL origin=import",
        "-m",
        "from a tarball",
        file.to_str().expect("utf-8 path"),
        "imported:1",
    ]);
    out.ok("docker import with changes");
    let out = d.docker(&["run", "--rm", "imported:1"]);
    assert_eq!(out.ok("run the imported image"), "hello from /tmp\n");
    let out = d.docker(&[
        "image",
        "inspect",
        "-f",
        "{{.Comment}}|{{.Config.Labels.origin}}|{{.Config.WorkingDir}}",
        "imported:1",
    ]);
    assert_eq!(out.ok("inspect"), "from a tarball|import|/tmp\n");
    let out = d.docker(&["history", "--format", "{{.Comment}}", "imported:1"]);
    assert_eq!(out.ok("history"), "from a tarball\n");
    let out = d.docker(&[
        "import",
        "-c",
        "BOGUS x",
        file.to_str().expect("utf-8"),
        "bad:1",
    ]);
    assert_eq!(out.code(), 1);
    assert!(out.err().contains("BOGUS"), "{}", out.err());
}
