//! Daemon restarts: state is on disk, containers outlive the daemon (their shims own them), and
//! what happened while the daemon was down is picked up when it comes back.

use std::path::Path;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::cmd::{poll, OutputExt};
use crate::harness::{unique, TestDaemon, STATE_TIMEOUT};

fn state_line(d: &TestDaemon, name: &str) -> String {
    let out = d.docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("name={name}"),
        "--format",
        "{{.Names}}|{{.State}}|{{.Status}}",
    ]);
    out.ok("docker ps -a")
        .lines()
        .find(|l| l.split('|').next() == Some(name))
        .map(without_age)
        .unwrap_or_else(|| panic!("{name} missing from docker ps -a"))
}

/// `Exited (5) 4 seconds ago` → `Exited (5)`: the age moves on while the daemon restarts.
fn without_age(line: &str) -> String {
    match line.find(") ") {
        Some(i) if line.ends_with(" ago") => line[..=i].to_string(),
        _ => line.to_string(),
    }
}

fn alive(pid: i64) -> bool {
    // Signal 0 probes; a zombie would still "exist", so check the state too.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rfind(')')
        .map(|i| stat[i + 1..].trim_start().chars().next());
    kill(Pid::from_raw(pid as i32), None).is_ok() && !matches!(state, Some(Some('Z' | 'X')) | None)
}

#[test]
fn daemon_restart_keeps_containers_and_images() {
    let mut d = TestDaemon::start();
    let (created, exited) = (unique("keep-created"), unique("keep-exited"));
    let created_id = d.create(&["--name", &created, "-l", "k=v", "busybox", "echo", "later"]);
    d.docker(&[
        "run",
        "--name",
        &exited,
        "busybox",
        "sh",
        "-c",
        "echo bye; exit 5",
    ])
    .expect_code(5, "run exit 5");
    let before = (state_line(&d, &created), state_line(&d, &exited));
    assert!(
        before.0.starts_with(&format!("{created}|created|")),
        "{}",
        before.0
    );
    assert!(
        before.1.starts_with(&format!("{exited}|exited|Exited (5)")),
        "{}",
        before.1
    );
    let exited_before = d.inspect(&exited);

    d.restart();

    assert_eq!((state_line(&d, &created), state_line(&d, &exited)), before);
    let exited_after = d.inspect(&exited);
    for key in ["Status", "ExitCode", "StartedAt", "FinishedAt"] {
        assert_eq!(
            exited_after["State"][key], exited_before["State"][key],
            "State.{key} changed over the restart"
        );
    }
    assert_eq!(exited_after["Config"], exited_before["Config"]);
    assert_eq!(
        d.docker(&["logs", &exited]).ok("logs after restart"),
        "bye\n"
    );
    assert_eq!(d.inspect(&created)["Config"]["Labels"]["k"], "v");
    let images = d
        .docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .ok("images");
    assert!(
        images.lines().any(|l| l == "busybox:latest"),
        "images after restart:\n{images}"
    );

    // Restored containers are fully usable.
    assert_eq!(
        d.docker(&["start", "-a", &created_id])
            .ok("start restored container"),
        "later\n"
    );
    d.docker(&["rm", &exited]).ok("rm restored container");
    // The name of a removed container is free again; the other name is still taken.
    d.create(&["--name", &exited, "busybox", "true"]);
    let dup = d.docker(&["create", "--name", &created, "busybox", "true"]);
    assert_ne!(dup.code(), 0, "a restored container's name was reusable");
}

#[test]
fn running_container_survives_daemon_restart() {
    let mut d = TestDaemon::start();
    let name = unique("survivor");
    d.run_detached(&[
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "echo up; exec sleep 1000",
    ]);
    let pid = d.inspect(&name)["State"]["Pid"].as_i64().expect("Pid");

    d.stop();
    assert!(alive(pid), "container process {pid} died with the daemon");
    d.start_again();

    let j = d.inspect(&name);
    assert_eq!(j["State"]["Status"], "running", "{}", j["State"]);
    assert_eq!(j["State"]["Pid"], pid);
    let line = state_line(&d, &name);
    assert!(line.starts_with(&format!("{name}|running|Up")), "{line}");
    assert_eq!(d.docker(&["logs", &name]).ok("logs after restart"), "up\n");

    // The daemon controls it again: stop reaches it and the exit is recorded.
    d.docker(&["stop", "-t", "1", &name])
        .ok("stop after restart");
    let j = d.inspect(&name);
    assert_eq!(j["State"]["Status"], "exited");
    assert_eq!(j["State"]["ExitCode"], 137);
    assert!(!alive(pid), "process {pid} still alive after stop");
}

#[test]
fn exit_while_daemon_down_is_recorded() {
    let mut d = TestDaemon::start();
    let name = unique("orphan");
    d.run_detached(&["--name", &name, "busybox", "sleep", "1000"]);
    let pid = d.inspect(&name)["State"]["Pid"].as_i64().expect("Pid");

    d.stop();
    assert!(alive(pid), "container process {pid} died with the daemon");
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).expect("kill the container process");
    poll("the container process to die", STATE_TIMEOUT, || {
        (!alive(pid)).then_some(())
    });
    d.start_again();

    let j = d.wait_status(&name, "exited");
    assert_eq!(j["State"]["Running"], false);
    assert_eq!(j["State"]["Pid"], 0);
    // The shim saw the SIGKILL and recorded it.
    assert_eq!(j["State"]["ExitCode"], 137, "{}", j["State"]);
    let line = state_line(&d, &name);
    assert!(
        line.starts_with(&format!("{name}|exited|Exited (137)")),
        "{line}"
    );
    // And the container can be started again.
    d.docker(&["start", &name]).ok("start after restore");
    assert_eq!(d.inspect(&name)["State"]["Running"], true);
}

#[test]
fn sigterm_stops_the_daemon_cleanly_and_it_restarts_fast() {
    let mut d = TestDaemon::start();
    let pid = d.pid();
    d.stop();
    assert!(!Path::new(&format!("/proc/{pid}")).exists() || !alive(pid as i64));
    // The socket can be bound again (a stale socket file must not block the next start).
    d.start_again();
    assert_eq!(
        d.docker(&["run", "--rm", "busybox", "echo", "again"])
            .ok("run after restart"),
        "again\n"
    );
}

/// As dockerd does, a restarted daemon removes `--rm` containers that are not running: one
/// never started, and one whose process ended while the daemon was down.
#[test]
fn auto_remove_containers_are_removed_at_restore() {
    let mut d = TestDaemon::start();
    let created = unique("rm-created");
    let id_created = d.create(&["--rm", "--name", &created, "busybox", "true"]);
    let ran = unique("rm-ran");
    let id_ran = d.run_detached(&["--rm", "--name", &ran, "busybox", "sleep", "1000"]);
    let pid = d.inspect(&ran)["State"]["Pid"].as_i64().expect("Pid");

    d.stop();
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).expect("kill the container process");
    poll("the container process to die", STATE_TIMEOUT, || {
        (!alive(pid)).then_some(())
    });
    d.start_again();

    for (name, id) in [(&created, &id_created), (&ran, &id_ran)] {
        let out = d.docker(&["inspect", name]);
        assert_ne!(out.code(), 0, "{name} is still there after the restart");
        // Its record, layers and files go too (in the background).
        poll("the container's files to go", STATE_TIMEOUT, || {
            (!d.data_entries("containers").contains(id.as_str())).then_some(())
        });
    }
    poll("the layer records to go", STATE_TIMEOUT, || {
        d.data_entries(&format!("image/{}/layerdb/mounts", d.driver))
            .is_empty()
            .then_some(())
    });
}

/// A `--rm` container's record is written without fsync; one torn by a crash (here: cut to
/// nothing) is recognised at restore by its host config and collected with the container's
/// layers. Another container's unreadable record is kept and reported.
#[test]
fn a_torn_auto_remove_record_is_collected_at_restore() {
    let mut d = TestDaemon::start();
    let torn = unique("rm-torn");
    let id_torn = d.create(&["--rm", "--name", &torn, "busybox", "true"]);
    let kept = unique("kept-torn");
    let id_kept = d.create(&["--name", &kept, "busybox", "true"]);
    d.stop();
    for id in [&id_torn, &id_kept] {
        let record = d
            .data_root
            .join("containers")
            .join(id)
            .join("config.v2.json");
        std::fs::write(&record, b"").expect("truncate the record");
    }
    d.start_again();

    poll(
        "the torn --rm container's files to go",
        STATE_TIMEOUT,
        || (!d.data_entries("containers").contains(id_torn.as_str())).then_some(()),
    );
    poll("its layer record to go", STATE_TIMEOUT, || {
        let mounts = d.data_entries(&format!("image/{}/layerdb/mounts", d.driver));
        (!mounts.contains(id_torn.as_str())).then_some(())
    });
    assert!(
        d.data_entries("containers").contains(id_kept.as_str()),
        "the other unreadable record was not kept"
    );
}
