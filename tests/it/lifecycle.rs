//! Container lifecycle through the docker CLI: run -d, ps, logs, stop, kill, wait, restart, rm.

use crate::cmd::{self, poll, OutputExt};
use crate::harness::{unique, TestDaemon, STATE_TIMEOUT};

/// The `docker ps` line of this container, formatted as "name|state|status".
fn ps_line(d: &TestDaemon, all: bool, name: &str) -> Option<String> {
    let filter = format!("name={name}");
    let mut args = vec![
        "ps",
        "--filter",
        &filter,
        "--format",
        "{{.Names}}|{{.State}}|{{.Status}}",
    ];
    if all {
        args.insert(1, "-a");
    }
    let out = d.docker(&args).ok("docker ps");
    // The name filter matches substrings; keep the exact name only.
    out.lines()
        .find(|l| l.split('|').next() == Some(name))
        .map(str::to_string)
}

#[test]
fn detached_run_ps_logs_stop_rm() {
    let d = TestDaemon::start();
    let name = unique("web");
    let id = d.run_detached(&[
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "echo started; exec sleep 1000",
    ]);
    assert_eq!(d.inspect(&id)["State"]["Running"], true);

    let line = ps_line(&d, false, &name).expect("running container in docker ps");
    assert!(
        line.starts_with(&format!("{name}|running|Up")),
        "ps: {line}"
    );
    let ps = d.docker(&["ps"]).ok("docker ps");
    assert!(
        ps.contains(&id[..12]) && ps.contains(&name),
        "docker ps:\n{ps}"
    );

    poll("'started' in docker logs", STATE_TIMEOUT, || {
        let out = d.docker(&["logs", &name]);
        (out.code() == 0 && out.out() == "started\n").then_some(())
    });

    let out = d.docker(&["stop", "-t", "1", &name]);
    assert_eq!(out.ok("docker stop").trim(), name);
    // stop answers only once the container has stopped.
    let j = d.inspect(&name);
    assert_eq!(j["State"]["Running"], false, "after stop: {}", j["State"]);
    assert_eq!(j["State"]["Status"], "exited");
    assert!(
        ps_line(&d, false, &name).is_none(),
        "stopped container in `docker ps`"
    );
    let line = ps_line(&d, true, &name).expect("stopped container in docker ps -a");
    assert!(
        line.starts_with(&format!("{name}|exited|Exited (")),
        "ps -a: {line}"
    );

    // Logs survive the stop.
    assert_eq!(
        d.docker(&["logs", &name]).ok("logs after stop"),
        "started\n"
    );

    let out = d.docker(&["rm", &name]);
    assert_eq!(out.ok("docker rm").trim(), name);
    assert!(
        ps_line(&d, true, &name).is_none(),
        "removed container in ps -a"
    );
}

#[test]
fn stop_sends_sigterm_first() {
    let d = TestDaemon::start();
    let name = unique("term");
    // A PID 1 with a TERM handler exits with its own code; no SIGKILL needed.
    d.run_detached(&[
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "trap 'exit 42' TERM; while true; do sleep 0.1; done",
    ]);
    d.docker(&["stop", "-t", "30", &name]).ok("docker stop");
    assert_eq!(d.inspect(&name)["State"]["ExitCode"], 42);

    // PID 1 ignores SIGTERM without a handler: after the timeout it is killed (137).
    let name = unique("noterm");
    d.run_detached(&["--name", &name, "busybox", "sleep", "1000"]);
    d.docker(&["stop", "-t", "1", &name]).ok("docker stop");
    assert_eq!(d.inspect(&name)["State"]["ExitCode"], 137);
}

#[test]
fn logs_tail_timestamps_follow_and_streams() {
    let d = TestDaemon::start();
    let name = unique("logs");
    d.run_detached(&[
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "echo a; echo b; echo c",
    ]);
    d.wait_status(&name, "exited");
    assert_eq!(d.docker(&["logs", &name]).ok("logs"), "a\nb\nc\n");
    assert_eq!(
        d.docker(&["logs", "--tail", "2", &name])
            .ok("logs --tail 2"),
        "b\nc\n"
    );
    assert_eq!(
        d.docker(&["logs", "--tail", "0", &name])
            .ok("logs --tail 0"),
        ""
    );

    let out = d.docker(&["logs", "-t", &name]).ok("logs -t");
    for line in out.lines() {
        let (ts, text) = line.split_once(' ').expect("timestamp then text");
        chrono::DateTime::parse_from_rfc3339(ts)
            .unwrap_or_else(|e| panic!("bad timestamp {ts:?} in {line:?}: {e}"));
        assert!(["a", "b", "c"].contains(&text), "line {line:?}");
    }

    // stderr is kept apart from stdout.
    let name2 = unique("stderr");
    d.run_detached(&[
        "--name",
        &name2,
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2",
    ]);
    d.wait_status(&name2, "exited");
    let out = d.docker(&["logs", &name2]);
    assert_eq!(out.ok("logs"), "out\n");
    assert_eq!(out.err(), "err\n");

    // -f follows until the container exits.
    let name = unique("follow");
    d.run_detached(&[
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "echo one; sleep 1; echo two",
    ]);
    let out = d.docker(&["logs", "-f", &name]);
    assert_eq!(out.ok("logs -f"), "one\ntwo\n");
}

#[test]
fn wait_blocks_until_exit_and_prints_code() {
    let d = TestDaemon::start();
    let name = unique("wait");
    d.run_detached(&["--name", &name, "busybox", "sh", "-c", "exit 7"]);
    // Already exited: returns at once with the code.
    assert_eq!(d.docker(&["wait", &name]).ok("docker wait").trim(), "7");

    let name = unique("waitrun");
    d.run_detached(&["--name", &name, "busybox", "sleep", "1000"]);
    let waiter = {
        let cmd = d.docker_command(&["wait", &name]);
        std::thread::spawn(move || cmd::run(cmd, None, cmd::CMD_TIMEOUT))
    };
    // The waiter can only print 137 if it was still waiting when the kill came.
    d.docker(&["kill", &name]).ok("docker kill");
    let out = waiter.join().expect("waiter thread");
    assert_eq!(out.ok("docker wait").trim(), "137");
}

#[test]
fn kill_with_signal() {
    let d = TestDaemon::start();
    let name = unique("kill");
    d.run_detached(&["--name", &name, "busybox", "sleep", "1000"]);
    let out = d.docker(&["kill", "-s", "KILL", &name]);
    assert_eq!(out.ok("docker kill -s KILL").trim(), name);
    let j = d.wait_status(&name, "exited");
    assert_eq!(j["State"]["ExitCode"], 137);

    // A handled signal reaches PID 1.
    let name = unique("usr1");
    d.run_detached(&[
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "trap 'exit 10' USR1; while true; do sleep 0.1; done",
    ]);
    d.docker(&["kill", "-s", "USR1", &name])
        .ok("docker kill -s USR1");
    let j = d.wait_status(&name, "exited");
    assert_eq!(j["State"]["ExitCode"], 10);

    // Killing a container that is not running is an error.
    let out = d.docker(&["kill", &name]);
    assert_ne!(out.code(), 0, "kill of an exited container succeeded");
    assert!(
        out.err().to_lowercase().contains("is not running"),
        "stderr: {}",
        out.err()
    );
}

#[test]
fn restart_runs_a_new_process() {
    let d = TestDaemon::start();
    let name = unique("restart");
    d.run_detached(&["--name", &name, "busybox", "sleep", "1000"]);
    let before = d.inspect(&name);
    let pid1 = before["State"]["Pid"].as_i64().expect("Pid");
    let out = d.docker(&["restart", "-t", "1", &name]);
    assert_eq!(out.ok("docker restart").trim(), name);
    let after = d.inspect(&name);
    assert_eq!(after["State"]["Running"], true);
    let pid2 = after["State"]["Pid"].as_i64().expect("Pid");
    assert!(pid2 > 0 && pid2 != pid1, "Pid before {pid1}, after {pid2}");
    assert_ne!(before["State"]["StartedAt"], after["State"]["StartedAt"]);

    // A stopped container can be restarted, too.
    d.docker(&["stop", "-t", "1", &name]).ok("docker stop");
    d.docker(&["restart", "-t", "1", &name])
        .ok("docker restart of a stopped container");
    assert_eq!(d.inspect(&name)["State"]["Running"], true);
    d.docker(&["rm", "-f", &name]).ok("docker rm -f");
    assert_eq!(
        d.http("GET", &format!("/containers/{name}/json"), None)
            .status,
        404
    );
}

#[test]
fn create_then_start_attached() {
    let d = TestDaemon::start();
    let name = unique("created");
    let id = d.create(&["--name", &name, "busybox", "echo", "hello"]);
    let j = d.inspect(&name);
    assert_eq!(j["Id"], id.as_str());
    assert_eq!(j["State"]["Status"], "created");
    assert_eq!(j["State"]["Pid"], 0);
    let out = d.docker(&["start", "-a", &name]);
    assert_eq!(out.ok("docker start -a"), "hello\n");
    assert_eq!(d.inspect(&name)["State"]["Status"], "exited");
    // Starting again runs the command again (logs accumulate).
    d.docker(&["start", "-a", &name]).ok("second start -a");
    assert_eq!(d.docker(&["logs", &name]).ok("logs"), "hello\nhello\n");
}
