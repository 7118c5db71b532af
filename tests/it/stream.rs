//! The wire details the docker CLI depends on: `_ping` headers, version prefixes, the hijacked
//! attach stream (101 + stdcopy frames) and a wait whose head arrives before the container starts.

use serde_json::json;

use crate::harness::TestDaemon;
use crate::http::{self, demux, stream_text, Conn};

fn create(d: &TestDaemon, body: serde_json::Value) -> String {
    let r = d.http("POST", "/v1.41/containers/create", Some(&body.to_string()));
    assert_eq!(r.status, 201, "create: {}", r.text());
    r.json()["Id"].as_str().expect("Id").to_string()
}

fn start(d: &TestDaemon, id: &str) {
    let r = d.http("POST", &format!("/v1.41/containers/{id}/start"), None);
    assert_eq!(r.status, 204, "start: {}", r.text());
}

#[test]
fn ping_with_and_without_version_prefix() {
    let d = TestDaemon::start();
    for (method, path) in [
        ("GET", "/_ping"),
        ("GET", "/v1.41/_ping"),
        ("HEAD", "/_ping"),
        ("HEAD", "/v1.41/_ping"),
    ] {
        let r = d.http(method, path, None);
        assert_eq!(r.status, 200, "{method} {path}");
        if method == "GET" {
            assert_eq!(r.text(), "OK", "{method} {path}");
        }
        let api = r
            .header("Api-Version")
            .unwrap_or_else(|| panic!("{method} {path}: no Api-Version header: {:?}", r.headers));
        assert!(
            api.starts_with("1.") && api[2..].parse::<u32>().is_ok_and(|m| m >= 41),
            "Api-Version {api}"
        );
        assert_eq!(
            r.header("Ostype"),
            Some("linux"),
            "{method} {path}: {:?}",
            r.headers
        );
        assert!(
            r.header("Server").is_some_and(|s| !s.is_empty()),
            "{method} {path}: no Server header"
        );
    }
    // Other endpoints take the prefix too.
    for path in [
        "/containers/json",
        "/v1.41/containers/json",
        "/v1.24/containers/json",
    ] {
        let r = d.http("GET", path, None);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert!(r.json().is_array(), "{path}");
    }
}

#[test]
fn attach_upgrades_and_streams_stdcopy_frames() {
    let d = TestDaemon::start();
    let id = create(
        &d,
        json!({"Image": "busybox", "Cmd": ["echo", "hi"], "AttachStdout": true, "AttachStderr": true}),
    );
    let mut conn = Conn::connect(&d.sock).expect("connect");
    conn.send(
        "POST",
        &format!("/v1.41/containers/{id}/attach?stderr=1&stdout=1&stream=1"),
        &[
            ("Connection", "Upgrade"),
            ("Upgrade", "tcp"),
            ("Content-Type", "text/plain"),
        ],
        b"",
    )
    .expect("send attach");
    let head = conn.read_head().expect("attach head");
    assert_eq!(head.status, 101, "attach: {head:?}");
    assert_eq!(head.header("Upgrade"), Some("tcp"), "{head:?}");
    assert_eq!(
        head.header("Content-Type"),
        Some("application/vnd.docker.raw-stream"),
        "{head:?}"
    );
    // The CLI half-closes when it has no stdin: that must not end the stream.
    conn.close_write().expect("half-close");
    start(&d, &id);
    let raw = conn.read_to_end().expect("read attach stream");
    assert_eq!(
        raw, b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n",
        "raw stream: {raw:?}"
    );
}

#[test]
fn attach_stdin_and_stderr() {
    let d = TestDaemon::start();
    let id = create(
        &d,
        json!({
            "Image": "busybox", "Cmd": ["sh", "-c", "cat; echo done >&2"],
            "AttachStdin": true, "AttachStdout": true, "AttachStderr": true,
            "OpenStdin": true, "StdinOnce": true
        }),
    );
    let mut conn = Conn::connect(&d.sock).expect("connect");
    conn.send(
        "POST",
        &format!("/v1.41/containers/{id}/attach?stderr=1&stdin=1&stdout=1&stream=1"),
        &[("Connection", "Upgrade"), ("Upgrade", "tcp")],
        b"",
    )
    .expect("send attach");
    assert_eq!(conn.read_head().expect("attach head").status, 101);
    // As the CLI does: stdin goes in before start, then EOF.
    conn.write_raw(b"stdin-data\n").expect("write stdin");
    conn.close_write().expect("half-close");
    start(&d, &id);
    let frames = demux(&conn.read_to_end().expect("read attach stream"));
    assert_eq!(
        stream_text(&frames, 1),
        "stdin-data\n",
        "frames: {frames:?}"
    );
    assert_eq!(stream_text(&frames, 2), "done\n", "frames: {frames:?}");
    assert_eq!(d.wait_status(&id, "exited")["State"]["ExitCode"], 0);
}

#[test]
fn wait_head_arrives_before_start() {
    let d = TestDaemon::start();
    let id = create(
        &d,
        json!({"Image": "busybox", "Cmd": ["sh", "-c", "exit 0"]}),
    );
    let mut wait = Conn::connect(&d.sock).expect("connect");
    wait.send(
        "POST",
        &format!("/v1.41/containers/{id}/wait?condition=next-exit"),
        &[],
        b"",
    )
    .expect("send wait");
    // The CLI sends start only after this head; a daemon that holds it back deadlocks `docker run`.
    let head = wait.read_head().expect("wait head before start");
    assert_eq!(head.status, 200, "{head:?}");
    start(&d, &id);
    let body = wait.read_body("POST", &head).expect("wait body");
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_else(|e| {
        panic!(
            "wait body is not JSON ({e}): {:?}",
            String::from_utf8_lossy(&body)
        )
    });
    assert_eq!(v, json!({"StatusCode": 0, "Error": null}));

    // Non-zero exit code, and the default condition (not-running) on an exited container.
    let id = create(
        &d,
        json!({"Image": "busybox", "Cmd": ["sh", "-c", "exit 9"]}),
    );
    start(&d, &id);
    d.wait_status(&id, "exited");
    let r = d.http("POST", &format!("/containers/{id}/wait"), None);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["StatusCode"], 9);
}

#[test]
fn logs_stream_is_stdcopy_framed() {
    let d = TestDaemon::start();
    let id = create(
        &d,
        json!({"Image": "busybox", "Cmd": ["sh", "-c", "echo out; echo err >&2"]}),
    );
    start(&d, &id);
    d.wait_status(&id, "exited");
    let r = d.http(
        "GET",
        &format!("/v1.41/containers/{id}/logs?stdout=1&stderr=1"),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let frames = demux(&r.body);
    assert_eq!(stream_text(&frames, 1), "out\n");
    assert_eq!(stream_text(&frames, 2), "err\n");
    let r = d.http("GET", &format!("/containers/{id}/logs?stdout=1"), None);
    assert_eq!(
        stream_text(&demux(&r.body), 2),
        "",
        "stderr sent though not requested"
    );

    // A Tty container's log is raw bytes.
    let id = create(
        &d,
        json!({"Image": "busybox", "Cmd": ["echo", "raw"], "Tty": true}),
    );
    start(&d, &id);
    d.wait_status(&id, "exited");
    let r = http::request(
        &d.sock,
        "GET",
        &format!("/containers/{id}/logs?stdout=1&stderr=1"),
        None,
    )
    .expect("logs");
    assert_eq!(r.text(), "raw\r\n");
}
