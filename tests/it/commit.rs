//! A container's changes as an image, with the docker CLI: diff, commit, history, export,
//! save/load round trip, tag/rmi output, `ps -s`, `system df` and `image prune`.

use std::collections::BTreeSet;
use std::fs;

use crate::cmd::OutputExt;
use crate::harness::{unique, TestDaemon};
use crate::imagetar::{chain_ids, config, docker_archive, Layer};

/// `docker run --name <name> busybox sh -c 'echo hi > /f; rm /bin/vi'`; returns the name.
fn changed_container(d: &TestDaemon) -> String {
    container_that_ran(d, "echo hi > /f; rm /bin/vi")
}

/// `docker run --name <name> busybox sh -c SCRIPT` (must succeed); returns the name.
pub(crate) fn container_that_ran(d: &TestDaemon, script: &str) -> String {
    let name = unique("changed");
    let out = d.docker(&["run", "--name", &name, "busybox", "sh", "-c", script]);
    out.ok("docker run that changes the rootfs");
    name
}

/// `docker commit ARGS…`; returns the image id it prints.
pub(crate) fn commit(d: &TestDaemon, args: &[&str]) -> String {
    let mut all = vec!["commit"];
    all.extend_from_slice(args);
    let id = d.docker(&all).ok("docker commit").trim().to_string();
    assert!(
        id.starts_with("sha256:") && id.len() == 71,
        "docker commit printed {id:?}"
    );
    id
}

pub(crate) fn inspect_image(d: &TestDaemon, format: &str, name: &str) -> String {
    let out = d.docker(&["image", "inspect", "-f", format, name]);
    out.ok("docker image inspect").trim_end().to_string()
}

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

#[test]
fn diff_commit_history_export() {
    let d = TestDaemon::start();
    let c = changed_container(&d);

    let diff = d.docker(&["diff", &c]).ok("docker diff");
    let got: BTreeSet<&str> = diff.lines().collect();
    assert_eq!(
        got,
        BTreeSet::from(["A /f", "D /bin/vi", "C /bin"]),
        "{diff}"
    );

    let id = commit(
        &d,
        &[
            "-c",
            r#"CMD ["cat","/f"]"#,
            "-m",
            "msg",
            "-a",
            "me",
            &c,
            "img:v1",
        ],
    );
    let out = d.docker(&["run", "--rm", "img:v1"]);
    assert_eq!(out.ok("run the committed image"), "hi\n");
    let out = d.docker(&[
        "run",
        "--rm",
        "img:v1",
        "sh",
        "-c",
        "test -e /bin/vi; echo $?; ls /bin/ls",
    ]);
    assert_eq!(out.ok("/bin/vi in the image"), "1\n/bin/ls\n");

    assert_eq!(
        inspect_image(
            &d,
            "{{.Id}}|{{.Author}}|{{.Comment}}|{{json .Config.Cmd}}",
            "img:v1"
        ),
        format!("{id}|me|msg|[\"cat\",\"/f\"]")
    );
    assert_eq!(
        inspect_image(&d, "{{len .RootFS.Layers}}", "img:v1"),
        "2",
        "busybox's layer and the container's"
    );

    let fmt = "{{.ID}}|{{.Comment}}|{{.CreatedBy}}";
    let hist = d
        .docker(&["history", "--no-trunc", "--format", fmt, "img:v1"])
        .ok("docker history");
    let rows = lines(&hist);
    assert_eq!(rows.len(), 2, "{hist}");
    assert_eq!(rows[0], format!("{id}|msg|sh -c echo hi > /f; rm /bin/vi"));
    // The older step is busybox's: img:v1 was committed from a container of it.
    let busybox = inspect_image(&d, "{{.Id}}", "busybox");
    assert!(rows[1].starts_with(&format!("{busybox}|")), "{hist}");
    let table = d.docker(&["history", "img:v1"]).ok("docker history");
    assert_eq!(table.lines().count(), 3, "header and 2 rows:\n{table}");
    assert!(
        table.lines().nth(1).is_some_and(|l| l.ends_with("msg")),
        "{table}"
    );

    let export = d.docker(&["export", &c]);
    export.expect_code(0, "docker export");
    let mut archive = tar::Archive::new(&export.stdout[..]);
    let names: BTreeSet<String> = archive
        .entries()
        .expect("export is a tar")
        .map(|e| {
            let path = e
                .expect("tar entry")
                .path()
                .expect("entry path")
                .into_owned();
            let s = path.to_string_lossy().into_owned();
            s.trim_start_matches("./").trim_end_matches('/').to_string()
        })
        .collect();
    assert!(
        names.contains("f") && names.contains("bin/sh"),
        "export lacks f or bin/sh"
    );
    assert!(!names.contains("bin/vi"), "export still has bin/vi");

    let size = d
        .docker(&[
            "ps",
            "-a",
            "-s",
            "--filter",
            &format!("name={c}"),
            "--format",
            "{{.Size}}",
        ])
        .ok("docker ps -s");
    assert!(
        size.starts_with("3B (virtual ") && size.trim_end().ends_with("MB)"),
        "ps -s size of a container that wrote 3 bytes: {size:?}"
    );

    let df = d.docker(&["system", "df"]).ok("docker system df");
    let row = |t: &str| -> Vec<String> {
        let line = df.lines().find(|l| l.starts_with(t));
        let line = line.unwrap_or_else(|| panic!("no {t} row in docker system df:\n{df}"));
        line.split_whitespace().map(str::to_string).collect()
    };
    assert_eq!(
        row("Images")[1..3],
        ["2", "1"],
        "TOTAL, ACTIVE of images:\n{df}"
    );
    assert_eq!(
        row("Containers")[1..4],
        ["1", "0", "3B"],
        "containers:\n{df}"
    );
}

#[test]
fn save_rmi_load_round_trip() {
    let d = TestDaemon::start();
    let c = changed_container(&d);
    let id = commit(&d, &["-m", "round trip", &c, "img:v1"]);
    let layers = inspect_image(&d, "{{json .RootFS.Layers}}", "img:v1");

    let file = d.root.join("img.tar");
    d.docker(&["save", "-o", file.to_str().unwrap(), "img:v1"])
        .ok("docker save");
    let out = d.docker(&["rmi", "img:v1"]).ok("docker rmi");
    let rows = lines(&out);
    assert_eq!(
        rows[..2],
        ["Untagged: img:v1", &format!("Deleted: {id}")],
        "{out}"
    );
    assert!(!d.image_ids().contains(&id), "image still listed after rmi");

    let archive = fs::read(&file).expect("read saved archive");
    let out = d
        .docker_stdin(&["load"], &archive)
        .ok("docker load from stdin");
    assert_eq!(out, "Loaded image: img:v1\n");
    assert_eq!(inspect_image(&d, "{{.Id}}", "img:v1"), id, "same image id");
    assert_eq!(
        inspect_image(&d, "{{json .RootFS.Layers}}", "img:v1"),
        layers
    );
    assert_eq!(inspect_image(&d, "{{.Comment}}", "img:v1"), "round trip");
    let out = d.docker(&["run", "--rm", "img:v1", "cat", "/f"]);
    assert_eq!(out.ok("run the reloaded image"), "hi\n");
}

/// A committed layer keeps its tar split from its file contents (`layer.tar-split`, not a
/// second copy of them); save reassembles it from the layer's files, and refuses to once a
/// file no longer matches.
#[test]
fn committed_layers_keep_a_split_tar() {
    let d = TestDaemon::start();
    let name = container_that_ran(&d, "dd if=/dev/zero of=/big bs=1024 count=512 2>/dev/null");
    commit(&d, &[&name, "big:v1"]);
    let layers = inspect_image(&d, "{{json .RootFS.Layers}}", "big:v1");
    let diff_ids: Vec<String> = serde_json::from_str(&layers).unwrap();
    let top = &chain_ids(&diff_ids)[diff_ids.len() - 1];
    let record = d
        .data_root
        .join(format!("image/{}/layerdb/sha256", d.driver))
        .join(top.trim_start_matches("sha256:"));
    assert!(!record.join("layer.tar").exists(), "whole tar kept");
    let split = fs::metadata(record.join("layer.tar-split")).expect("split tar kept");
    assert!(split.len() < 8192, "split tar is {} bytes", split.len());

    let file = d.root.join("big.tar");
    d.docker(&["save", "-o", file.to_str().unwrap(), "big:v1"])
        .ok("docker save of the committed image");
    d.docker(&["rmi", "big:v1"]).ok("docker rmi");
    d.docker_stdin(&["load"], &fs::read(&file).unwrap())
        .ok("docker load of the saved image");
    assert_eq!(
        inspect_image(&d, "{{json .RootFS.Layers}}", "big:v1"),
        layers,
        "same diff ids after the round trip"
    );

    // Corrupt the layer's file behind the daemon's back: save fails, naming it.
    let cache_id = fs::read_to_string(record.join("cache-id")).unwrap();
    let layer_dir = match d.driver.as_str() {
        "vfs" => d.data_root.join("vfs/dir").join(cache_id.trim()),
        _ => d
            .data_root
            .join("overlay2")
            .join(cache_id.trim())
            .join("diff"),
    };
    let big = layer_dir.join("big");
    let mut data = fs::read(&big).unwrap();
    data[1000] = b'x';
    fs::write(&big, &data).unwrap();
    let out = d.docker(&["save", "-o", file.to_str().unwrap(), "big:v1"]);
    assert_ne!(out.code(), 0, "save of a changed layer succeeded");
}

#[test]
fn tag_then_rmi_untags_before_deleting() {
    let d = TestDaemon::start();
    let c = changed_container(&d);
    let id = commit(&d, &[&c, "img:v1"]);
    d.docker(&["tag", "img:v1", "img:v2"]).ok("docker tag");
    d.docker(&["tag", "img:v1", "other/name"])
        .ok("docker tag to another repo");
    assert_eq!(inspect_image(&d, "{{.Id}}", "img:v2"), id);
    assert_eq!(inspect_image(&d, "{{.Id}}", "other/name:latest"), id);
    let tags = inspect_image(&d, "{{json .RepoTags}}", &id);
    let tags: BTreeSet<String> = serde_json::from_str(&tags).expect("RepoTags");
    let want = ["img:v1", "img:v2", "other/name:latest"].map(String::from);
    assert_eq!(tags, BTreeSet::from(want));

    let out = d
        .docker(&["rmi", "img:v2", "other/name"])
        .ok("docker rmi of two names");
    assert_eq!(out, "Untagged: img:v2\nUntagged: other/name:latest\n");
    assert_eq!(inspect_image(&d, "{{.Id}}", "img:v1"), id);

    // By id with one name left: untag it, then delete.
    let out = d.docker(&["rmi", &id]).ok("docker rmi by id");
    let rows = lines(&out);
    assert_eq!(
        rows[..2],
        ["Untagged: img:v1", &format!("Deleted: {id}")],
        "{out}"
    );
}

#[test]
fn rmi_lists_the_layers_it_released() {
    let d = TestDaemon::start();
    let c = changed_container(&d);
    let id = commit(&d, &[&c, "img:v1"]);
    let layers: Vec<String> =
        serde_json::from_str(&inspect_image(&d, "{{json .RootFS.Layers}}", "img:v1")).unwrap();
    let top = chain_ids(&layers)[1].clone();
    assert!(d.layer_records().contains(&top));

    let out = d.docker(&["rmi", "img:v1"]).ok("docker rmi");
    assert!(
        !d.layer_records().contains(&top),
        "committed layer still stored"
    );
    // Docker (daemon/images/image_delete.go) lists one {"Deleted": <chain id>} per released layer
    // after the image id.
    let want = format!("Untagged: img:v1\nDeleted: {id}\nDeleted: {top}\n");
    assert_eq!(out, want, "busybox's layer stays (busybox:latest uses it)");
}

#[test]
fn image_prune_removes_dangling_images() {
    let d = TestDaemon::start();
    let c = changed_container(&d);
    commit(&d, &[&c, "img:v1"]);
    let dangling = commit(&d, &["-c", "CMD [\"true\"]", &c]);
    let list = |filter: &str| {
        let out = d.docker(&["images", "-q", "--no-trunc", "--filter", filter]);
        out.ok("docker images --filter")
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(list("dangling=true"), std::slice::from_ref(&dangling));

    let out = d
        .docker(&["image", "prune", "-f"])
        .ok("docker image prune -f");
    assert!(out.contains(&format!("deleted: {dangling}")), "{out}");
    assert!(out.contains("Total reclaimed space: "), "{out}");
    assert!(
        list("dangling=true").is_empty(),
        "dangling image left after prune"
    );
    assert_eq!(inspect_image(&d, "{{len .RepoTags}}", "img:v1"), "1");
    let out = d.docker(&["run", "--rm", "img:v1", "cat", "/f"]);
    assert_eq!(out.ok("run the tagged image after prune"), "hi\n");
}

#[test]
fn image_prune_counts_only_released_layers() {
    let d = TestDaemon::start();
    // A dangling image (loaded without a name) made only of busybox's layer, which
    // busybox:latest keeps: pruning it frees no layer.
    let base = Layer::plain(fs::read(crate::harness::busybox_tar()).unwrap());
    let cfg = config(&[base.diff_id()], &["true"]);
    let archive = docker_archive(&[], &[base], &cfg);
    let out = d
        .docker_stdin(&["load"], &archive)
        .ok("docker load of an unnamed image");
    let id = crate::imagetar::digest(&cfg);
    assert_eq!(out, format!("Loaded image ID: {id}\n"));
    let records = d.layer_records();

    let r = d.http("POST", "/images/prune", None);
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!(
        j["ImagesDeleted"],
        serde_json::json!([{"Deleted": id}]),
        "{j}"
    );
    assert_eq!(d.layer_records(), records, "no layer was released");
    // Docker sums the sizes of the layers actually released (daemon/images/image_prune.go),
    // here none: busybox still uses the only layer.
    assert_eq!(j["SpaceReclaimed"], 0, "{j}");
}

/// Docker pauses a running container while committing it (unless `--pause=false`) and lets it
/// run on afterwards.
#[test]
fn commit_of_a_running_container_leaves_it_running() {
    let d = TestDaemon::start();
    let id = d.run_detached(&[
        "busybox",
        "sh",
        "-c",
        "echo ready > /ready; while :; do :; done",
    ]);
    let pid = d.inspect(&id)["State"]["Pid"].as_u64().expect("Pid") as u32;
    let runs_on = || {
        let t0 = testutil::cpu_ticks(pid);
        crate::cmd::poll(
            "the container to use CPU",
            std::time::Duration::from_secs(10),
            || (testutil::cpu_ticks(pid) > t0).then_some(()),
        )
    };
    runs_on();
    for pause in ["--pause=true", "--pause=false"] {
        let img = commit(&d, &[pause, &id]);
        let out = d.docker(&["run", "--rm", &img, "cat", "/ready"]);
        assert_eq!(out.ok("run the committed image"), "ready\n", "{pause}");
        assert_eq!(d.inspect(&id)["State"]["Status"], "running", "{pause}");
        runs_on();
    }
    d.docker(&["rm", "-f", &id]).ok("docker rm -f");
}
