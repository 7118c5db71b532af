//! `docker run` against rdockerd: output, exit codes, stdin, tty and the run-time flags.

use crate::cmd::OutputExt;
use crate::harness::{unique, TestDaemon};

#[test]
fn run_echo_prints_hi() {
    let d = TestDaemon::start();
    let out = d.docker(&["run", "--rm", "busybox", "echo", "hi"]);
    assert_eq!(out.ok("docker run echo hi"), "hi\n");
}

#[test]
fn run_exit_code_is_propagated() {
    let d = TestDaemon::start();
    let out = d.docker(&["run", "--rm", "busybox", "sh", "-c", "exit 3"]);
    out.expect_code(3, "docker run sh -c 'exit 3'");
}

#[test]
fn run_separates_stdout_and_stderr() {
    let d = TestDaemon::start();
    let out = d.docker(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2",
    ]);
    out.expect_code(0, "run with stderr output");
    assert_eq!(out.out(), "out\n");
    assert_eq!(out.err_output(), "err\n");
}

#[test]
fn run_interactive_pipes_stdin() {
    let d = TestDaemon::start();
    let out = d.docker_stdin(&["run", "-i", "--rm", "busybox", "cat"], b"x\n");
    assert_eq!(out.ok("echo x | docker run -i cat"), "x\n");

    // EOF on stdin must reach the process: `wc -l` only prints after it.
    let out = d.docker_stdin(&["run", "-i", "--rm", "busybox", "wc", "-l"], b"a\nb\nc\n");
    assert_eq!(out.ok("docker run -i wc -l").trim(), "3");
}

#[test]
fn run_tty_gives_a_pty() {
    let d = TestDaemon::start();
    // -t without -i is allowed without a terminal on our side; the stream is raw (no stdcopy
    // headers) and the pty turns "\n" into "\r\n".
    let out = d.docker(&["run", "-t", "--rm", "busybox", "tty"]);
    assert_eq!(out.ok("docker run -t tty"), "/dev/pts/0\r\n");
}

#[test]
fn run_command_is_pid_1() {
    let d = TestDaemon::start();
    let out = d.docker(&["run", "--rm", "busybox", "sh", "-c", "echo $$"]);
    assert_eq!(out.ok("echo $$").trim(), "1");
    // The new PID namespace shows only the container's processes.
    let out = d.docker(&["run", "--rm", "busybox", "sh", "-c", "ls -d /proc/[0-9]*"]);
    let pids = out.ok("list /proc");
    assert!(
        pids.lines().count() <= 3,
        "PID namespace shows host processes:\n{pids}"
    );
}

#[test]
fn run_hostname_defaults_to_short_id() {
    let d = TestDaemon::start();
    let id = d.create(&["busybox", "hostname"]);
    let out = d.docker(&["start", "-a", &id]);
    assert_eq!(out.ok("docker start -a").trim(), &id[..12]);

    let out = d.docker(&["run", "--rm", "-h", "myhost", "busybox", "hostname"]);
    assert_eq!(out.ok("run -h myhost").trim(), "myhost");
}

#[test]
fn run_network_none_has_only_lo() {
    let d = TestDaemon::start();
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "ls",
        "/sys/class/net",
    ]);
    assert_eq!(
        out.ok("ls /sys/class/net")
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["lo"]
    );

    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "ip",
        "-o",
        "link",
    ]);
    let links = out.ok("ip -o link");
    let names: Vec<&str> = links
        .lines()
        .filter_map(|l| l.split(':').nth(1).map(str::trim))
        .collect();
    assert_eq!(names, ["lo"], "ip -o link:\n{links}");
}

#[test]
fn run_network_host_sees_host_interfaces() {
    let d = TestDaemon::start();
    let mut host: Vec<String> = std::fs::read_dir("/sys/class/net")
        .expect("read host /sys/class/net")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    host.sort();
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        "host",
        "busybox",
        "ls",
        "/sys/class/net",
    ]);
    let mut seen: Vec<String> = out
        .ok("ls /sys/class/net")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    seen.sort();
    assert_eq!(
        seen, host,
        "--network host must share the host's interfaces"
    );
}

#[test]
fn run_env_workdir_user_entrypoint() {
    let d = TestDaemon::start();
    let out = d.docker(&[
        "run",
        "--rm",
        "-e",
        "FOO=bar",
        "busybox",
        "sh",
        "-c",
        "echo $FOO",
    ]);
    assert_eq!(out.ok("-e FOO=bar").trim(), "bar");

    let env_file = d.root.join(unique("env"));
    std::fs::write(&env_file, "# comment\nA=1\nB=two words\n").expect("write env file");
    let env_file = env_file.to_str().expect("utf-8 path");
    let out = d.docker(&[
        "run",
        "--rm",
        "--env-file",
        env_file,
        "busybox",
        "sh",
        "-c",
        "echo \"$A/$B\"",
    ]);
    assert_eq!(out.ok("--env-file").trim(), "1/two words");

    let out = d.docker(&["run", "--rm", "-w", "/tmp", "busybox", "pwd"]);
    assert_eq!(out.ok("-w /tmp").trim(), "/tmp");
    // A missing working directory is created, as docker does.
    let out = d.docker(&["run", "--rm", "-w", "/new/dir", "busybox", "pwd"]);
    assert_eq!(out.ok("-w /new/dir").trim(), "/new/dir");

    let out = d.docker(&["run", "--rm", "-u", "1000", "busybox", "id", "-u"]);
    assert_eq!(out.ok("-u 1000").trim(), "1000");
    let out = d.docker(&[
        "run",
        "--rm",
        "-u",
        "app",
        "busybox",
        "sh",
        "-c",
        "id -un; id -u; echo $HOME",
    ]);
    assert_eq!(out.ok("-u app"), "app\n1000\n/home/app\n");
    let out = d.docker(&["run", "--rm", "-u", "nobody:nogroup", "busybox", "id", "-g"]);
    assert_eq!(out.ok("-u nobody:nogroup").trim(), "65534");

    let out = d.docker(&[
        "run",
        "--rm",
        "--entrypoint",
        "echo",
        "busybox",
        "via",
        "entrypoint",
    ]);
    assert_eq!(out.ok("--entrypoint echo").trim(), "via entrypoint");

    let out = d.docker(&["run", "--rm", "busybox", "sh", "-c", "echo $PATH"]);
    assert!(
        out.ok("default PATH").contains("/bin"),
        "default PATH lacks /bin: {}",
        out.out()
    );
}

#[test]
fn run_missing_executable_exits_127() {
    let d = TestDaemon::start();
    let out = d.docker(&["run", "--rm", "busybox", "no-such-binary"]);
    out.expect_code(127, "run of a missing executable");
    assert!(
        out.err().contains("executable file not found"),
        "stderr: {}",
        out.err()
    );
    // With --rm the failed container is removed too (the CLI waits for condition=removed).
    assert_eq!(d.docker(&["ps", "-a", "-q"]).ok("ps -a"), "");

    // A file that is not executable: 126.
    let out = d.docker(&["run", "--rm", "busybox", "/etc/passwd"]);
    out.expect_code(126, "run of a non-executable file");
    assert!(
        out.err().contains("permission denied"),
        "stderr: {}",
        out.err()
    );

    // Without --rm the container stays, exited with the code 127 (not running).
    let name = unique("noexec");
    let out = d.docker(&["run", "--name", &name, "busybox", "no-such-binary"]);
    out.expect_code(127, "run without --rm");
    let j = d.inspect(&name);
    assert_eq!(j["State"]["Running"], false, "{}", j["State"]);
    assert_eq!(j["State"]["ExitCode"], 127, "{}", j["State"]);
    assert!(
        j["State"]["Error"]
            .as_str()
            .is_some_and(|e| e.contains("executable file not found")),
        "State.Error: {}",
        j["State"]
    );
}

#[test]
fn run_rm_removes_the_container() {
    let d = TestDaemon::start();
    let name = unique("rm");
    let out = d.docker(&["run", "--rm", "--name", &name, "busybox", "true"]);
    out.expect_code(0, "run --rm");
    // `docker run --rm` waits with condition=removed: the container is gone when it returns.
    let out = d.docker(&["ps", "-a", "-q", "--filter", &format!("name={name}")]);
    assert_eq!(out.ok("ps -a after --rm"), "");
    let r = d.http("GET", &format!("/containers/{name}/json"), None);
    assert_eq!(r.status, 404, "inspect after --rm: {}", r.text());

    // Also when the process fails.
    let out = d.docker(&[
        "run", "--rm", "--name", &name, "busybox", "sh", "-c", "exit 4",
    ]);
    out.expect_code(4, "run --rm exit 4");
    let r = d.http("GET", &format!("/containers/{name}/json"), None);
    assert_eq!(r.status, 404, "inspect after failed --rm: {}", r.text());
}

#[test]
fn run_labels_and_named_container() {
    let d = TestDaemon::start();
    let name = unique("named");
    let out = d.docker(&[
        "run", "--name", &name, "-l", "a=b", "-l", "team=it", "busybox", "true",
    ]);
    out.expect_code(0, "run --name -l");
    let j = d.inspect(&name);
    assert_eq!(j["Name"], format!("/{name}"));
    assert_eq!(j["Config"]["Labels"]["a"], "b");
    assert_eq!(j["Config"]["Labels"]["team"], "it");
    assert_eq!(j["State"]["Status"], "exited");
    assert_eq!(j["State"]["ExitCode"], 0);
}
