//! The same lifecycle through our own client, `rdocker`, and its exit-code conventions
//! (docker's: the command's code, 125 when rdocker itself fails, 126/127 when the command can't run).

use crate::cmd::{self, poll, OutputExt, CMD_TIMEOUT};
use crate::harness::{
    assert_full_id, busybox_tar, unique, workspace_bin, TestDaemon, STATE_TIMEOUT,
};

#[test]
fn rdocker_run_and_exit_codes() {
    let d = TestDaemon::start();
    assert_eq!(
        d.rdocker(&["run", "--rm", "busybox", "echo", "hi"])
            .ok("rdocker run"),
        "hi\n"
    );
    d.rdocker(&["run", "--rm", "busybox", "sh", "-c", "exit 3"])
        .expect_code(3, "exit 3");

    let out = d.rdocker(&["run", "--rm", "busybox", "no-such-binary"]);
    out.expect_code(127, "missing executable");
    assert!(
        out.err().contains("executable file not found"),
        "stderr: {}",
        out.err()
    );

    // Like docker: a missing image is pulled first; with no registry reachable that fails (125).
    let out = d.rdocker(&["run", "--rm", "no-such-image-xyz", "true"]);
    out.expect_code(125, "unknown image");
    assert!(
        out.err()
            .contains("Unable to find image 'no-such-image-xyz:latest' locally"),
        "stderr: {}",
        out.err()
    );

    let out = d.rdocker(&["run", "--rm", "--name", "x", "busybox", "true"]);
    out.expect_code(125, "invalid name");

    let out = d.rdocker(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2",
    ]);
    assert_eq!(out.ok("stdout/stderr"), "out\n");
    assert_eq!(out.err_output(), "err\n");
}

#[test]
fn rdocker_stdin_and_tty() {
    let d = TestDaemon::start();
    let out = d.rdocker_stdin(&["run", "-i", "--rm", "busybox", "cat"], b"x\n");
    assert_eq!(out.ok("rdocker run -i cat"), "x\n");
    let out = d.rdocker(&["run", "-t", "--rm", "busybox", "tty"]);
    assert_eq!(out.ok("rdocker run -t tty"), "/dev/pts/0\r\n");
}

#[test]
fn rdocker_detached_lifecycle() {
    let d = TestDaemon::start();
    let name = unique("rd");
    let out = d.rdocker(&[
        "run",
        "-d",
        "--name",
        &name,
        "-e",
        "GREETING=hello",
        "busybox",
        "sh",
        "-c",
        "echo $GREETING; exec sleep 1000",
    ]);
    let id = out.ok("rdocker run -d").trim().to_string();
    assert_full_id(&id);

    let ps = d.rdocker(&["ps"]).ok("rdocker ps");
    assert!(
        ps.contains(&id[..12]) && ps.contains(&name),
        "rdocker ps:\n{ps}"
    );
    assert_eq!(
        d.rdocker(&["ps", "-q"]).ok("rdocker ps -q").trim(),
        &id[..12]
    );
    assert_eq!(
        d.rdocker(&["ps", "-q", "--no-trunc"])
            .ok("ps -q --no-trunc")
            .trim(),
        id
    );

    poll("rdocker logs to show the output", STATE_TIMEOUT, || {
        let out = d.rdocker(&["logs", &name]);
        (out.code() == 0 && out.out() == "hello\n").then_some(())
    });

    let inspect = d.rdocker(&["inspect", &name]).ok("rdocker inspect");
    let v: serde_json::Value = serde_json::from_str(&inspect).expect("inspect prints JSON");
    assert_eq!(v[0]["Id"], id.as_str(), "{inspect}");
    assert_eq!(v[0]["State"]["Running"], true);

    assert_eq!(
        d.rdocker(&["stop", "-t", "1", &name])
            .ok("rdocker stop")
            .trim(),
        name
    );
    let ps = d.rdocker(&["ps", "-a"]).ok("rdocker ps -a");
    let line = ps
        .lines()
        .find(|l| l.contains(&name))
        .unwrap_or_else(|| panic!("{name} not in ps -a:\n{ps}"));
    assert!(line.contains("Exited (137)"), "{line}");
    assert!(!d.rdocker(&["ps"]).ok("rdocker ps").contains(&name));

    assert_eq!(d.rdocker(&["wait", &name]).ok("rdocker wait").trim(), "137");
    d.rdocker(&["start", &name]).ok("rdocker start");
    d.rdocker(&["kill", "-s", "KILL", &name]).ok("rdocker kill");
    d.rdocker(&["restart", "-t", "1", &name])
        .ok("rdocker restart");
    assert_eq!(d.inspect(&name)["State"]["Running"], true);

    let out = d.rdocker(&["rm", &name]);
    assert_ne!(out.code(), 0, "rdocker rm of a running container succeeded");
    assert_eq!(
        d.rdocker(&["rm", "-f", &name]).ok("rdocker rm -f").trim(),
        name
    );
    assert_eq!(
        d.http("GET", &format!("/containers/{id}/json"), None)
            .status,
        404
    );
}

#[test]
fn rdocker_create_start_attach_and_images() {
    let d = TestDaemon::start();
    let name = unique("rdc");
    let id = d
        .rdocker(&["create", "--name", &name, "-w", "/tmp", "busybox", "pwd"])
        .ok("rdocker create");
    assert_full_id(id.trim());
    assert_eq!(
        d.rdocker(&["start", "-a", &name]).ok("rdocker start -a"),
        "/tmp\n"
    );

    let repo = unique("rimp");
    let tar = busybox_tar();
    let out = d.rdocker(&[
        "import",
        tar.to_str().expect("utf-8"),
        &format!("{repo}:v2"),
    ]);
    assert!(
        out.ok("rdocker import").trim().starts_with("sha256:"),
        "{}",
        out.out()
    );
    let images = d.rdocker(&["images"]).ok("rdocker images");
    assert!(
        images
            .lines()
            .any(|l| l.starts_with(&format!("{repo} ")) && l.contains("v2")),
        "{images}"
    );
    assert!(
        images.lines().any(|l| l.starts_with("busybox ")),
        "{images}"
    );
    assert_eq!(
        d.rdocker(&["run", "--rm", &format!("{repo}:v2"), "echo", "ok"])
            .ok("run imported"),
        "ok\n"
    );
    d.rdocker(&["rmi", &format!("{repo}:v2")]).ok("rdocker rmi");
    assert!(!d.rdocker(&["images"]).ok("rdocker images").contains(&repo));

    let version = d.rdocker(&["version"]).ok("rdocker version");
    assert!(
        version.contains("Server") && version.to_lowercase().contains("api version"),
        "rdocker version:\n{version}"
    );
    let info = d.rdocker(&["info"]).ok("rdocker info");
    assert!(
        info.contains("overlay2") && info.contains("Containers: 1"),
        "rdocker info:\n{info}"
    );
}

#[test]
fn rdocker_reads_host_from_environment() {
    let d = TestDaemon::start();
    for var in ["RDOCKER_HOST", "DOCKER_HOST"] {
        let mut c = std::process::Command::new(workspace_bin("rdocker"));
        c.args(["run", "--rm", "busybox", "echo", var])
            .env_remove("RDOCKER_HOST")
            .env_remove("DOCKER_HOST")
            .env(var, d.host());
        let out = cmd::run(c, None, CMD_TIMEOUT);
        assert_eq!(out.ok(var).trim(), var);
    }
    // No daemon at the given socket: rdocker fails with 125 (or 1) and says why.
    let mut c = std::process::Command::new(workspace_bin("rdocker"));
    c.args(["-H", "unix:///nonexistent/rdocker.sock", "ps"]);
    let out = cmd::run(c, None, CMD_TIMEOUT);
    assert_ne!(out.code(), 0);
    assert!(
        out.err().contains("/nonexistent/rdocker.sock"),
        "stderr: {}",
        out.err()
    );
}
