//! Resource limits (cgroups) and filesystem isolation (copy-on-write) on both storage drivers.

use std::io::Read;
use std::path::PathBuf;

use crate::cmd::OutputExt;
use crate::harness::{host_cgroup_version, unique, TestDaemon};

/// The host directory of controller `ctrl` (v1) or of the unified tree (v2) for process `pid`.
fn host_cgroup_dir(pid: i64, ctrl: &str) -> PathBuf {
    let text =
        std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("read /proc/pid/cgroup");
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (
            parts.next(),
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        );
        let hit = if host_cgroup_version() == 2 {
            ctrls.is_empty()
        } else {
            ctrls.split(',').any(|c| c == ctrl)
        };
        if hit {
            let base = if host_cgroup_version() == 2 {
                "/sys/fs/cgroup".to_string()
            } else {
                format!("/sys/fs/cgroup/{ctrl}")
            };
            return PathBuf::from(base).join(path.trim_start_matches('/'));
        }
    }
    panic!("no {ctrl} cgroup for {pid}:\n{text}");
}

fn read_trim(path: PathBuf) -> String {
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .trim()
        .to_string()
}

#[test]
fn memory_limit_is_visible_inside() {
    let d = TestDaemon::start();
    let file = if host_cgroup_version() == 2 {
        "/sys/fs/cgroup/memory.max"
    } else {
        "/sys/fs/cgroup/memory/memory.limit_in_bytes"
    };
    let out = d.docker(&["run", "--rm", "-m", "64m", "busybox", "cat", file]);
    assert_eq!(out.ok("read the memory limit inside").trim(), "67108864");
}

#[test]
fn limits_are_set_on_the_host_cgroup() {
    let d = TestDaemon::start();
    let name = unique("limits");
    d.run_detached(&[
        "--name",
        &name,
        "-m",
        "32m",
        "--cpus",
        "0.5",
        "--pids-limit",
        "20",
        "busybox",
        "sleep",
        "1000",
    ]);
    let pid = d.inspect(&name)["State"]["Pid"].as_i64().expect("Pid");
    let id = d.inspect(&name)["Id"].as_str().expect("Id").to_string();
    let mem = host_cgroup_dir(pid, "memory");
    assert!(
        mem.components()
            .any(|c| c.as_os_str() == d.cgroup_parent.as_str())
            && mem.ends_with(&id),
        "cgroup {} is not <parent {}>/<id>",
        mem.display(),
        d.cgroup_parent
    );
    if host_cgroup_version() == 2 {
        assert_eq!(read_trim(mem.join("memory.max")), "33554432");
        assert_eq!(read_trim(mem.join("cpu.max")), "50000 100000");
        assert_eq!(read_trim(mem.join("pids.max")), "20");
    } else {
        assert_eq!(read_trim(mem.join("memory.limit_in_bytes")), "33554432");
        let cpu = host_cgroup_dir(pid, "cpu");
        assert_eq!(read_trim(cpu.join("cpu.cfs_quota_us")), "50000");
        assert_eq!(read_trim(cpu.join("cpu.cfs_period_us")), "100000");
        assert_eq!(
            read_trim(host_cgroup_dir(pid, "pids").join("pids.max")),
            "20"
        );
    }
    // The pids limit bites inside: a fork bomb cannot exceed it (the shell reports the failure).
    let out = d.docker(&[
        "run",
        "--rm",
        "--pids-limit",
        "5",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6 7 8; do sleep 1000 & done; echo all-started",
    ]);
    assert!(
        out.code() != 0 && !out.out().contains("all-started"),
        "8 background processes started under --pids-limit 5: {out:?}"
    );

    // The cgroup is removed with the container.
    d.docker(&["rm", "-f", &name]).ok("docker rm -f");
    assert!(!mem.exists(), "cgroup {} left after rm -f", mem.display());
}

#[test]
fn oom_kill_is_reported() {
    let d = TestDaemon::start();
    let name = unique("oom");
    // `tail` buffers a "line" of /dev/zero without end until the memory limit kills it.
    let out = d.docker(&[
        "run",
        "--name",
        &name,
        "-m",
        "32m",
        "busybox",
        "tail",
        "/dev/zero",
    ]);
    out.expect_code(137, "tail /dev/zero under -m 32m");
    let out = d.docker(&[
        "inspect",
        "-f",
        "{{.State.OOMKilled}} {{.State.ExitCode}}",
        &name,
    ]);
    assert_eq!(out.ok("inspect OOMKilled").trim(), "true 137");
}

/// A file written or deleted in one container is private to it: a new container of the same
/// image sees the image's files, and the container's own changes survive stop/start.
fn copy_on_write(driver: &str) {
    let d = TestDaemon::start_with(driver);
    let w = unique("writer");
    let out = d.docker(&["run", "--name", &w, "busybox", "sh", "-c",
        "echo data > /etc/newfile && echo changed >> /etc/passwd && rm /bin/ls && mkdir -p /tmp/x && echo y > /tmp/x/y"]);
    out.expect_code(0, "write in the container");

    // The writer's own view persists across a restart of the same container.
    let out = d.docker(&["start", "-a", &w]);
    out.expect_code(
        1,
        "rerun in the same container: rm /bin/ls fails the second time",
    );
    let check = d.docker(&["run", "--name", &unique("reader"), "busybox", "sh", "-c",
        "test ! -e /etc/newfile && ! grep -q changed /etc/passwd && test -x /bin/ls && test ! -e /tmp/x && echo clean"]);
    assert_eq!(
        check.ok("a new container sees the pristine image").trim(),
        "clean"
    );
}

/// `docker export` flattens one container: its own changes, never another container's.
fn export(driver: &str) {
    let d = TestDaemon::start_with(driver);
    let w = unique("writer");
    let out = d.docker(&[
        "run",
        "--name",
        &w,
        "busybox",
        "sh",
        "-c",
        "echo data > /etc/newfile && rm /bin/ls && mkdir -p /tmp/x && echo y > /tmp/x/y",
    ]);
    out.expect_code(0, "write in the container");

    // The image is unchanged: a new container's export has none of the writes.
    let fresh = d.create(&["busybox", "true"]);
    let names = export_names(&d, &fresh);
    assert!(
        names.contains("bin/ls") && names.contains("etc/passwd"),
        "export of a fresh container lacks the image files"
    );
    assert!(
        !names.contains("etc/newfile") && !names.contains("tmp/x/y"),
        "the image has the writer's files"
    );

    // The writer's export has its changes, and not the file it deleted.
    let names = export_names(&d, &w);
    assert!(
        names.contains("etc/newfile") && names.contains("tmp/x/y"),
        "export of the writer lacks its files"
    );
    assert!(
        !names.contains("bin/ls"),
        "export of the writer still has the deleted /bin/ls"
    );
}

/// Entry names of `docker export` (without a leading "./" or "/").
fn export_names(d: &TestDaemon, container: &str) -> std::collections::BTreeSet<String> {
    let out = d.docker(&["export", container]);
    out.expect_code(0, "docker export");
    let mut names = std::collections::BTreeSet::new();
    let mut archive = tar::Archive::new(std::io::Cursor::new(out.stdout));
    for entry in archive.entries().expect("export is a tar") {
        let mut entry = entry.expect("tar entry");
        let path = entry
            .path()
            .expect("entry path")
            .to_string_lossy()
            .into_owned();
        let path = path
            .trim_start_matches("./")
            .trim_start_matches('/')
            .trim_end_matches('/')
            .to_string();
        let mut sink = Vec::new();
        entry.read_to_end(&mut sink).expect("entry data");
        names.insert(path);
    }
    names
}

#[test]
fn copy_on_write_overlay2() {
    copy_on_write("overlay2");
}

#[test]
fn copy_on_write_vfs() {
    copy_on_write("vfs");
}

#[test]
fn export_overlay2() {
    export("overlay2");
}

#[test]
fn export_vfs() {
    export("vfs");
}

#[test]
fn vfs_driver_runs_and_reports_itself() {
    let d = TestDaemon::start_with("vfs");
    assert_eq!(
        d.docker(&["run", "--rm", "busybox", "echo", "hi"])
            .ok("run on vfs"),
        "hi\n"
    );
    let out = d
        .docker(&["info", "--format", "{{.Driver}}"])
        .ok("docker info");
    assert_eq!(out.trim(), "vfs");
    let id = d.create(&["busybox", "true"]);
    assert_eq!(d.inspect(&id)["GraphDriver"]["Name"], "vfs");
}
