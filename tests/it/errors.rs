//! Bad requests over raw HTTP: Docker's status codes and `{"message": ...}` texts, and the daemon
//! keeps serving afterwards.

use crate::harness::{unique, TestDaemon};
use crate::http::Response;

/// Asserts an error status and message, then that the daemon still answers `_ping`.
fn expect_error(d: &TestDaemon, r: &Response, status: u16, message: &str) {
    assert_eq!(r.status, status, "body: {}", r.text());
    assert!(
        r.header("Content-Type")
            .is_some_and(|c| c.starts_with("application/json")),
        "error Content-Type: {:?}",
        r.header("Content-Type")
    );
    assert_eq!(r.message(), message);
    assert_alive(d);
}

fn assert_alive(d: &TestDaemon) {
    let ping = d.http("GET", "/_ping", None);
    assert_eq!(
        (ping.status, ping.text().as_str()),
        (200, "OK"),
        "daemon unhealthy after a bad request"
    );
}

fn create(d: &TestDaemon, query: &str, body: &str) -> Response {
    d.http(
        "POST",
        &format!("/v1.41/containers/create{query}"),
        Some(body),
    )
}

#[test]
fn malformed_create_body_is_400() {
    let d = TestDaemon::start();
    for body in ["{not json", "[1,2]", r#"{"Image": 5}"#] {
        let r = create(&d, "", body);
        assert_eq!(r.status, 400, "body {body:?} → {}", r.text());
        assert!(!r.message().is_empty());
        assert_alive(&d);
    }
}

#[test]
fn unknown_image_and_container_are_404() {
    let d = TestDaemon::start();
    let r = create(&d, "", r#"{"Image":"nosuch"}"#);
    expect_error(&d, &r, 404, "No such image: nosuch:latest");

    for (method, path) in [
        ("GET", "/containers/nope/json"),
        ("POST", "/containers/nope/start"),
        ("POST", "/containers/nope/stop"),
        ("POST", "/containers/nope/kill"),
        ("POST", "/containers/nope/wait"),
        ("GET", "/containers/nope/logs?stdout=1"),
        ("DELETE", "/containers/nope"),
    ] {
        let r = d.http(method, path, None);
        expect_error(&d, &r, 404, "No such container: nope");
    }
    let r = d.http("GET", "/images/nosuch:latest/json", None);
    expect_error(&d, &r, 404, "No such image: nosuch:latest");
}

#[test]
fn invalid_and_duplicate_names() {
    let d = TestDaemon::start();
    let r = create(&d, "?name=x", r#"{"Image":"busybox","Cmd":["true"]}"#);
    expect_error(
        &d,
        &r,
        400,
        "Invalid container name (x), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
    );
    let r = create(&d, "?name=-bad", r#"{"Image":"busybox","Cmd":["true"]}"#);
    expect_error(
        &d,
        &r,
        400,
        "Invalid container name (-bad), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
    );

    let name = unique("n1");
    let r = create(
        &d,
        &format!("?name={name}"),
        r#"{"Image":"busybox","Cmd":["true"]}"#,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["Id"].as_str().expect("Id").to_string();
    assert!(r.json()["Warnings"].is_array(), "Warnings: {}", r.text());
    let r = create(
        &d,
        &format!("?name={name}"),
        r#"{"Image":"busybox","Cmd":["true"]}"#,
    );
    expect_error(
        &d,
        &r,
        409,
        &format!(
            "Conflict. The container name \"/{name}\" is already in use by container \"{id}\". \
             You have to remove (or rename) that container to be able to reuse that name."
        ),
    );
    // A failed create leaves nothing behind.
    let list = d.http("GET", "/containers/json?all=1", None).json();
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
}

#[test]
fn start_running_is_304_and_remove_running_is_409() {
    let d = TestDaemon::start();
    let id = d.run_detached(&["busybox", "sleep", "1000"]);

    let r = d.http("POST", &format!("/containers/{id}/start"), None);
    assert_eq!(r.status, 304, "{}", r.text());
    assert!(r.body.is_empty(), "304 with a body: {}", r.text());
    assert_alive(&d);

    let r = d.http("DELETE", &format!("/containers/{id}"), None);
    expect_error(
        &d,
        &r,
        409,
        &format!(
            "You cannot remove a running container {id}. Stop the container before attempting removal or force remove"
        ),
    );
    assert_eq!(d.inspect(&id)["State"]["Running"], true);

    let r = d.http("POST", &format!("/containers/{id}/kill?signal=BOGUS"), None);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.message().contains("Invalid signal: BOGUS"),
        "{}",
        r.text()
    );
    assert_alive(&d);
    assert_eq!(
        d.inspect(&id)["State"]["Running"],
        true,
        "a bogus signal killed the container"
    );

    let r = d.http("DELETE", &format!("/containers/{id}?force=1"), None);
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(
        d.http("GET", &format!("/containers/{id}/json"), None)
            .status,
        404
    );
}

#[test]
fn stop_of_stopped_is_304_and_prefixes_resolve() {
    let d = TestDaemon::start();
    let name = unique("stopped");
    d.docker(&["create", "--name", &name, "busybox", "true"]);
    let r = d.http("POST", &format!("/containers/{name}/stop"), None);
    assert_eq!(r.status, 304, "stop of a created container: {}", r.text());
    assert_alive(&d);

    // A unique id prefix names the container, as in docker.
    let id = d.inspect(&name)["Id"].as_str().expect("Id").to_string();
    let r = d.http("GET", &format!("/containers/{}/json", &id[..8]), None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["Id"], id.as_str());
}
