//! Images committed from images, as Docker tracks them: `Parent`, `docker history` through the
//! parents, the "dependent child images" conflict, intermediate images (`images -a`), and
//! deletes and prunes that take untagged parents along. Plus the image list's filters and
//! shared sizes.

use std::collections::BTreeSet;

use crate::cmd::OutputExt;
use crate::commit::{commit, container_that_ran, inspect_image};
use crate::harness::TestDaemon;
use crate::imagetar::chain_ids;

/// The ids `docker images ARGS… -q --no-trunc` prints.
fn listed(d: &TestDaemon, args: &[&str]) -> BTreeSet<String> {
    let mut all = vec!["images", "-q", "--no-trunc"];
    all.extend_from_slice(args);
    let out = d.docker(&all).ok("docker images");
    out.lines().map(str::to_string).collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// busybox → img:1 → img:2, each committed from a container of the one before.
fn two_generations(d: &TestDaemon) -> (String, String, String) {
    let busybox = inspect_image(d, "{{.Id}}", "busybox");
    let c1 = container_that_ran(d, "echo one > /one");
    let img1 = commit(d, &[&c1, "img:1"]);
    let c2 = d.create(&["img:1", "sh", "-c", "echo two > /two"]);
    d.docker(&["start", "-a", &c2]).ok("docker start -a");
    let img2 = commit(d, &[&c2, "img:2"]);
    d.docker(&["rm", &c1, &c2]).ok("docker rm");
    (busybox, img1, img2)
}

#[test]
fn committed_images_keep_their_parents() {
    let mut d = TestDaemon::start();
    let (busybox, img1, img2) = two_generations(&d);
    assert_eq!(inspect_image(&d, "{{.Parent}}", "img:2"), img1);
    assert_eq!(inspect_image(&d, "{{.Parent}}", "img:1"), busybox);
    assert_eq!(inspect_image(&d, "{{.Parent}}", "busybox"), "");

    // History names each step's image, following the parents.
    let history = d.docker(&["history", "--no-trunc", "--format", "{{.ID}}", "img:2"]);
    let history = history.ok("docker history");
    let ids: Vec<&str> = history.lines().collect();
    assert_eq!(ids, [&img2, &img1, &busybox], "{history}");

    for force in [false, true] {
        let args: &[&str] = if force { &["rmi", "-f"] } else { &["rmi"] };
        let out = d.docker(&[args, &[busybox.as_str()]].concat());
        assert_eq!(out.code(), 1, "rmi of a parent by id: {}", out.out());
        let short = &busybox["sha256:".len()..][..12];
        assert_eq!(
            out.err(),
            format!("Error response from daemon: conflict: unable to delete {short} (cannot be forced) - image has dependent child images\n")
        );
    }
    assert_eq!(
        inspect_image(&d, "{{.RepoTags}}", "busybox"),
        "[busybox:latest]"
    );

    // Untagging a parent leaves it as an intermediate image: listed only with -a, not dangling.
    assert_eq!(
        d.docker(&["rmi", "img:1"]).ok("docker rmi img:1"),
        "Untagged: img:1\n"
    );
    assert!(!listed(&d, &[]).contains(&img1));
    assert!(listed(&d, &["-a"]).contains(&img1));
    assert!(listed(&d, &["-f", "dangling=true"]).is_empty());
    assert!(d
        .docker(&["image", "prune", "-f"])
        .ok("prune")
        .contains("Total reclaimed space: 0B"));
    assert!(
        listed(&d, &["-a"]).contains(&img1),
        "prune took an intermediate image"
    );

    d.restart();
    assert_eq!(
        inspect_image(&d, "{{.Parent}}", "img:2"),
        img1,
        "after a restart"
    );

    // Deleting the child takes the untagged parent along; busybox keeps its name and layer.
    let layers: Vec<String> =
        serde_json::from_str(&inspect_image(&d, "{{json .RootFS.Layers}}", "img:2")).unwrap();
    let chains = chain_ids(&layers);
    let out = d.docker(&["rmi", "img:2"]).ok("docker rmi img:2");
    let want = format!(
        "Untagged: img:2\nDeleted: {img2}\nDeleted: {}\nDeleted: {img1}\nDeleted: {}\n",
        chains[2], chains[1]
    );
    assert_eq!(out, want);
    assert_eq!(listed(&d, &["-a"]), set(&[&busybox]));
    assert_eq!(d.layer_records(), set(&[&chains[0]]));
}

#[test]
fn prune_takes_untagged_parents_of_dangling_images() {
    let d = TestDaemon::start();
    let c1 = container_that_ran(&d, "echo one > /one");
    let a = commit(&d, &[&c1]);
    let c2 = d.create(&[&a, "sh", "-c", "echo two > /two"]);
    d.docker(&["start", "-a", &c2]).ok("docker start -a");
    let b = commit(&d, &[&c2]);
    d.docker(&["rm", &c1, &c2]).ok("docker rm");
    // a has a child: intermediate; b is the dangling one.
    assert_eq!(listed(&d, &["-f", "dangling=true"]), set(&[&b]));

    let r = d.http("POST", "/images/prune", None);
    assert_eq!(r.status, 200, "{}", r.text());
    let deleted: Vec<String> = r.json()["ImagesDeleted"]
        .as_array()
        .expect("ImagesDeleted list")
        .iter()
        .filter_map(|i| i["Deleted"].as_str().map(str::to_string))
        .filter(|id| *id == a || *id == b)
        .collect();
    assert_eq!(deleted, [b.clone(), a.clone()], "{}", r.text());
    assert_eq!(r.json()["SpaceReclaimed"], 8, "two layers of 4 bytes");
    let busybox = inspect_image(&d, "{{.Id}}", "busybox");
    assert_eq!(listed(&d, &["-a"]), set(&[&busybox]));
}

#[test]
fn image_list_filters_and_shared_sizes() {
    let d = TestDaemon::start();
    let busybox = inspect_image(&d, "{{.Id}}", "busybox");
    let c = container_that_ran(&d, "echo hello > /f");
    // In the same second as nothing else: before/since compare the full creation time.
    let child = commit(&d, &["-c", "LABEL a=b", &c, "child:1"]);
    d.docker(&["tag", "child:1", "other/child:9"])
        .ok("docker tag");
    let tags = |args: &[&str]| {
        let mut all = vec!["images", "--format", "{{.Repository}}:{{.Tag}}"];
        all.extend_from_slice(args);
        let out = d.docker(&all).ok("docker images --filter");
        out.lines().map(str::to_string).collect::<BTreeSet<_>>()
    };
    let both = set(&["child:1", "other/child:9"]);
    assert_eq!(tags(&["--filter", "since=busybox"]), both);
    assert_eq!(
        tags(&["--filter", "before=child:1"]),
        set(&["busybox:latest"])
    );
    assert_eq!(tags(&["--filter", "reference=chi*"]), set(&["child:1"]));
    assert_eq!(
        tags(&["--filter", "reference=*/chi*"]),
        set(&["other/child:9"])
    );
    assert_eq!(tags(&["--filter", "label=a=b"]), both);
    assert_eq!(tags(&["--filter", "label=a"]), both);
    assert!(tags(&["--filter", "label=a=c"]).is_empty());
    let out = d.docker(&["images", "--filter", "dangling=maybe"]);
    assert_eq!(out.code(), 1);
    assert!(
        out.err().contains("invalid filter 'dangling=maybe'"),
        "{}",
        out.err()
    );

    // Docker leaves Containers and SharedSize at -1 unless asked (shared-size, system df).
    let list = |query: &str| {
        let r = d.http("GET", &format!("/images/json{query}"), None);
        assert_eq!(r.status, 200, "{}", r.text());
        r.json().as_array().expect("image list").clone()
    };
    let size = |img: &serde_json::Value| img["Size"].as_i64().expect("Size");
    let plain = list("");
    assert_eq!(plain.len(), 2);
    for img in &plain {
        assert_eq!(
            (&img["Containers"], &img["SharedSize"]),
            (&(-1).into(), &(-1).into()),
            "{img}"
        );
    }
    let by_id = |l: &[serde_json::Value], id: &str| {
        l.iter()
            .find(|i| i["Id"] == id)
            .cloned()
            .expect("listed image")
    };
    assert_eq!(by_id(&plain, &child)["ParentId"], busybox.as_str());
    let shared = list("?shared-size=1");
    let base = size(&by_id(&shared, &busybox));
    assert_eq!(by_id(&shared, &busybox)["SharedSize"], base);
    assert_eq!(by_id(&shared, &child)["SharedSize"], base);
    assert_eq!(size(&by_id(&shared, &child)), base + 6, "busybox and /f");

    // system df -v: what each image shares and owns, and its containers (c uses busybox).
    let df = d.docker(&["system", "df", "-v", "--format", "{{json .Images}}"]);
    let images: Vec<serde_json::Value> =
        serde_json::from_str(&df.ok("docker system df -v")).unwrap();
    let row = |repo: &str| {
        images
            .iter()
            .find(|i| i["Repository"] == repo)
            .cloned()
            .unwrap_or_else(|| panic!("no {repo} in {images:?}"))
    };
    assert_eq!(row("child")["UniqueSize"], "6B", "{images:?}");
    assert_eq!(row("busybox")["UniqueSize"], "0B", "{images:?}");
    assert_eq!(row("busybox")["Containers"], "1", "{images:?}");
    assert_eq!(row("child")["Containers"], "0", "{images:?}");
}
