//! `container prune` and `image prune` keep what their `until` and `label` filters spare, and
//! refuse filters they do not know (ignoring one would delete too much).

use std::collections::BTreeSet;

use crate::cmd::OutputExt;
use crate::harness::TestDaemon;

fn containers(d: &TestDaemon) -> BTreeSet<String> {
    let out = d.docker(&["ps", "-a", "--format", "{{.Names}}"]);
    out.ok("docker ps -a").lines().map(str::to_string).collect()
}

fn images(d: &TestDaemon) -> BTreeSet<String> {
    let out = d.docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    out.ok("docker images")
        .lines()
        .map(str::to_string)
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn prunes_spare_what_their_filters_spare() {
    let d = TestDaemon::start();
    for (name, label) in [("kept", "keep=1"), ("plain", "other=1")] {
        d.docker(&["run", "--name", name, "-l", label, "busybox", "true"])
            .ok("docker run");
    }
    let prune = |args: &[&str]| {
        let mut all = vec!["container", "prune", "-f"];
        all.extend_from_slice(args);
        d.docker(&all).ok("docker container prune");
    };
    prune(&["--filter", "until=1h"]); // both were created since
    assert_eq!(containers(&d), set(&["kept", "plain"]));
    prune(&["--filter", "label=nosuch"]);
    assert_eq!(containers(&d), set(&["kept", "plain"]));
    prune(&["--filter", "label!=keep"]);
    assert_eq!(containers(&d), set(&["kept"]));
    let out = d.docker(&["container", "prune", "-f", "--filter", "foo=1"]);
    assert_eq!(out.code(), 1);
    assert!(out.err().contains("invalid filter 'foo'"), "{}", out.err());
    assert_eq!(containers(&d), set(&["kept"]));

    d.docker(&["commit", "-c", "LABEL x=y", "kept", "labelled:1"])
        .ok("commit");
    d.docker(&["commit", "kept", "plain:1"]).ok("commit");
    prune(&[]);
    assert!(containers(&d).is_empty());
    let prune = |args: &[&str]| {
        let mut all = vec!["image", "prune", "-a", "-f"];
        all.extend_from_slice(args);
        d.docker(&all).ok("docker image prune -a");
    };
    let everything = set(&["busybox:latest", "labelled:1", "plain:1"]);
    prune(&["--filter", "label=none"]);
    assert_eq!(images(&d), everything);
    prune(&["--filter", "until=1h"]);
    assert_eq!(images(&d), everything);
    prune(&["--filter", "label=x=y"]);
    assert_eq!(images(&d), set(&["busybox:latest", "plain:1"]));
    prune(&[
        "--filter",
        "label!=nosuch",
        "--filter",
        "until=2000-01-01T00:00:00Z",
    ]);
    assert_eq!(images(&d), set(&["busybox:latest", "plain:1"]));
    let out = d.docker(&["image", "prune", "-f", "--filter", "foo=bar"]);
    assert_eq!(out.code(), 1);
    assert!(out.err().contains("invalid filter 'foo'"), "{}", out.err());
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    prune(&["--filter", &format!("until={later}")]);
    assert!(images(&d).is_empty(), "{:?}", images(&d));
}
