//! `docker inspect` document shape and `docker ps` listing/filters.

use std::collections::BTreeSet;

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

use crate::cleanup::in_cgroup;
use crate::cmd::OutputExt;
use crate::harness::{unique, TestDaemon};

const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn time(v: &Value, what: &str) -> DateTime<FixedOffset> {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {v}"));
    DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("{what} {s:?} is not RFC 3339: {e}"))
}

fn docker_inspect(d: &TestDaemon, name: &str) -> Value {
    let out = d.docker(&["inspect", name]).ok("docker inspect");
    let v: Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("inspect output is not JSON ({e}): {out}"));
    let arr = v.as_array().expect("docker inspect prints an array");
    assert_eq!(arr.len(), 1, "{out}");
    arr[0].clone()
}

#[test]
fn inspect_shape_through_the_lifecycle() {
    let d = TestDaemon::start();
    let name = unique("shape");
    let id = d.create(&[
        "--name", &name, "-m", "64m", "-l", "a=b", "busybox", "sleep", "1000",
    ]);

    let j = docker_inspect(&d, &name);
    assert_eq!(j["Id"], id.as_str());
    assert_eq!(j["Name"], format!("/{name}"));
    time(&j["Created"], "Created");
    assert_eq!(j["Path"], "sleep");
    assert_eq!(j["Args"], serde_json::json!(["1000"]));
    assert!(
        j["Image"]
            .as_str()
            .is_some_and(|s| s.starts_with("sha256:")),
        "Image: {}",
        j["Image"]
    );
    let s = &j["State"];
    assert_eq!(s["Status"], "created");
    for flag in ["Running", "Paused", "Restarting", "OOMKilled", "Dead"] {
        assert_eq!(s[flag], false, "State.{flag} of a created container: {s}");
    }
    assert_eq!(s["Pid"], 0);
    assert_eq!(s["ExitCode"], 0);
    assert_eq!(s["StartedAt"], ZERO_TIME);
    assert_eq!(s["FinishedAt"], ZERO_TIME);
    assert_eq!(j["Config"]["Cmd"], serde_json::json!(["sleep", "1000"]));
    assert_eq!(j["Config"]["Image"], "busybox");
    assert_eq!(j["Config"]["Labels"]["a"], "b");
    assert_eq!(j["Config"]["Hostname"], &id[..12]);
    assert_eq!(j["HostConfig"]["Memory"], 67108864);
    // The daemon's default log driver, filled in as dockerd does (SDKs read it back).
    assert_eq!(j["HostConfig"]["LogConfig"]["Type"], "json-file");
    assert_eq!(j["GraphDriver"]["Name"], d.driver.as_str());
    assert!(
        j["Mounts"].is_array(),
        "Mounts must be an array: {}",
        j["Mounts"]
    );
    // The CLI's own template engine reads the same document.
    let out = d.docker(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.HostConfig.Memory}}",
        &name,
    ]);
    assert_eq!(out.ok("inspect -f").trim(), "created 67108864");

    d.docker(&["start", &name]).ok("docker start");
    let j = docker_inspect(&d, &name);
    let s = &j["State"];
    assert_eq!(s["Status"], "running");
    assert_eq!(s["Running"], true);
    let pid = s["Pid"].as_i64().expect("State.Pid");
    assert!(pid > 0, "Pid of a running container: {pid}");
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "State.Pid {pid} is not a live host process"
    );
    assert!(
        in_cgroup(pid as i32, &d.cgroup_parent),
        "process {pid} is not under --cgroup-parent {}:\n{}",
        d.cgroup_parent,
        std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default()
    );
    let started = time(&s["StartedAt"], "StartedAt");
    assert!(
        started >= time(&j["Created"], "Created"),
        "StartedAt before Created"
    );
    assert_eq!(s["FinishedAt"], ZERO_TIME);

    d.docker(&["kill", &name]).ok("docker kill");
    let j = d.wait_status(&name, "exited");
    let s = &j["State"];
    assert_eq!(s["Running"], false);
    assert_eq!(s["Pid"], 0);
    assert_eq!(s["ExitCode"], 137);
    assert_eq!(s["OOMKilled"], false);
    assert!(
        time(&s["FinishedAt"], "FinishedAt") >= started,
        "FinishedAt before StartedAt"
    );
    assert_eq!(
        time(&s["StartedAt"], "StartedAt"),
        started,
        "StartedAt changed on exit"
    );
}

#[test]
fn inspect_unknown_object_fails() {
    let d = TestDaemon::start();
    let out = d.docker(&["inspect", "no-such-thing"]);
    assert_ne!(out.code(), 0);
    assert!(
        out.err().contains("No such object: no-such-thing"),
        "stderr: {}",
        out.err()
    );
}

fn names(out: &str) -> BTreeSet<String> {
    out.lines().map(str::to_string).collect()
}

#[test]
fn ps_filters_quiet_and_no_trunc() {
    let d = TestDaemon::start();
    let (exited, running, created) = (unique("psx"), unique("psr"), unique("psc"));
    let exited_id = {
        d.docker(&["run", "--name", &exited, "-l", "a=b", "busybox", "true"])
            .ok("run");
        d.inspect(&exited)["Id"].as_str().expect("Id").to_string()
    };
    let running_id = d.run_detached(&["--name", &running, "-l", "a=c", "busybox", "sleep", "1000"]);
    let created_id = d.create(&["--name", &created, "busybox", "true"]);

    let ps = |args: &[&str]| {
        let mut all = vec!["ps", "--format", "{{.Names}}"];
        all.extend_from_slice(args);
        names(&d.docker(&all).ok("docker ps"))
    };
    let set = |v: &[&String]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();

    assert_eq!(ps(&[]), set(&[&running]), "ps shows running only");
    assert_eq!(ps(&["-a"]), set(&[&exited, &running, &created]));
    assert_eq!(
        ps(&["-a", "--filter", &format!("name={exited}")]),
        set(&[&exited])
    );
    assert_eq!(ps(&["-a", "--filter", "status=exited"]), set(&[&exited]));
    assert_eq!(ps(&["-a", "--filter", "status=running"]), set(&[&running]));
    assert_eq!(ps(&["-a", "--filter", "status=created"]), set(&[&created]));
    assert_eq!(ps(&["-a", "--filter", "label=a=b"]), set(&[&exited]));
    assert_eq!(
        ps(&["-a", "--filter", "label=a"]),
        set(&[&exited, &running])
    );
    assert_eq!(
        ps(&["-a", "--filter", &format!("id={}", &created_id[..12])]),
        set(&[&created])
    );
    assert_eq!(
        ps(&["-a", "--filter", "status=exited", "--filter", "label=a=c"]),
        set(&[])
    );

    let quiet = d.docker(&["ps", "-q"]).ok("ps -q");
    assert_eq!(quiet, format!("{}\n", &running_id[..12]));
    let all_quiet = names(
        &d.docker(&["ps", "-a", "-q", "--no-trunc"])
            .ok("ps -aq --no-trunc"),
    );
    let want: BTreeSet<String> = [&exited_id, &running_id, &created_id]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(all_quiet, want);
}

#[test]
fn ps_list_shape_and_size() {
    let d = TestDaemon::start();
    let name = unique("size");
    d.docker(&[
        "run",
        "--name",
        &name,
        "busybox",
        "dd",
        "if=/dev/zero",
        "of=/big",
        "bs=1024",
        "count=1024",
    ])
    .ok("dd 1 MiB");
    let r = d.http("GET", "/containers/json?all=1&size=1", None);
    assert_eq!(r.status, 200);
    let list = r.json();
    let c = list
        .as_array()
        .expect("array")
        .iter()
        .find(|c| c["Names"] == serde_json::json!([format!("/{name}")]))
        .unwrap_or_else(|| panic!("{name} not in {list}"))
        .clone();
    assert_eq!(c["Image"], "busybox");
    assert!(
        c["ImageID"]
            .as_str()
            .is_some_and(|s| s.starts_with("sha256:")),
        "ImageID: {}",
        c["ImageID"]
    );
    assert_eq!(c["Command"], "dd if=/dev/zero of=/big bs=1024 count=1024");
    assert!(
        c["Created"].as_i64().is_some_and(|t| t > 1_600_000_000),
        "Created: {}",
        c["Created"]
    );
    assert_eq!(c["State"], "exited");
    assert!(
        c["Status"]
            .as_str()
            .is_some_and(|s| s.starts_with("Exited (0)")),
        "Status: {}",
        c["Status"]
    );
    let rw = c["SizeRw"].as_i64().expect("SizeRw with size=1");
    let rootfs = c["SizeRootFs"].as_i64().expect("SizeRootFs with size=1");
    assert!(rw >= 1 << 20, "SizeRw {rw} < 1 MiB");
    assert!(
        rootfs >= rw + 1_000_000,
        "SizeRootFs {rootfs} must add the ~2 MB image to SizeRw {rw}"
    );
}
