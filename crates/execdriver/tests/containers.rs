//! Root tests: real containers from a busybox rootfs, through the shim binary.

mod common;

use std::time::{Duration, Instant};

use common::Fixture;
use execdriver::proto::Control;
use execdriver::{BindMount, CgroupVersion, Error, ExecDriver, FailKind, NetworkMode};

#[test]
fn output_goes_to_events_and_json_log() {
    let f = Fixture::new();
    let spec = f.spec(&["sh", "-c", "echo out; echo err >&2; printf partial"]);
    let o = f.run(&spec, &[]);
    assert_eq!(o.exit.exit_code, 0);
    assert!(!o.exit.oom_killed);
    assert_eq!(o.stdout, "out\npartial");
    assert_eq!(o.stderr, "err\n");
    let mut lines = f.log_lines(&spec);
    lines.sort();
    assert_eq!(
        lines,
        vec![
            ("err\n".to_string(), "stderr".to_string()),
            ("out\n".to_string(), "stdout".to_string()),
            ("partial".to_string(), "stdout".to_string()),
        ]
    );
}

#[test]
fn exit_code_and_pid_one() {
    let f = Fixture::new();
    let o = f.run(&f.spec(&["sh", "-c", "exit 3"]), &[]);
    assert_eq!(o.exit.exit_code, 3);
    let o = f.run(
        &f.spec(&["sh", "-c", "echo $$; cat /proc/1/cmdline; exit 0"]),
        &[],
    );
    assert_eq!(
        o.stdout,
        "1\nsh\0-c\0echo $$; cat /proc/1/cmdline; exit 0\0"
    );
}

#[test]
fn only_stdio_is_inherited() {
    let f = Fixture::new();
    // fd 3 is ls's own directory handle.
    let o = f.run(&f.spec(&["ls", "/proc/self/fd"]), &[]);
    assert_eq!(o.stdout, "0\n1\n2\n3\n");
    // The shim ignores SIGPIPE; the container's process must not inherit that.
    let mut spec = f.spec(&["grep", "-E", "Sig(Ign|Blk)", "/proc/self/status"]);
    spec.tty = true;
    spec.open_stdin = true;
    let o = f.run(&spec, &[]);
    assert_eq!(
        o.stdout,
        "SigBlk:\t0000000000000000\r\nSigIgn:\t0000000000000000\r\n"
    );
    let mut spec = f.spec(&["ls", "/proc/self/fd"]);
    spec.tty = true;
    let o = f.run(&spec, &[]);
    assert_eq!(o.stdout, "0  1  2  3\r\n");
}

#[test]
fn hostname_and_isolated_network() {
    let f = Fixture::new();
    let mut spec = f.spec(&["sh", "-c", "hostname; ls /sys/class/net; ip link show lo"]);
    spec.hostname = "ctr-host".into();
    let o = f.run(&spec, &[]);
    let mut lines = o.stdout.lines();
    assert_eq!(lines.next(), Some("ctr-host"));
    assert_eq!(lines.next(), Some("lo"));
    let ip = lines.next().unwrap_or_default();
    assert!(ip.contains("lo: <LOOPBACK,UP"), "{}", o.stdout);
}

/// The zygote keeps a fresh namespace in reserve: each container still gets its own, never the
/// host's or a previous container's.
#[test]
fn every_container_gets_a_new_network_namespace() {
    let f = Fixture::new();
    let host = std::fs::read_link("/proc/self/ns/net").unwrap();
    let mut seen = vec![host.to_string_lossy().into_owned()];
    for _ in 0..3 {
        let o = f.run(&f.spec(&["readlink", "/proc/self/ns/net"]), &[]);
        let ns = o.stdout.trim().to_string();
        assert!(ns.starts_with("net:["), "{}", o.stdout);
        assert!(!seen.contains(&ns), "{ns} reused (seen {seen:?})");
        seen.push(ns);
    }
}

/// The zygote lets the namespaces of exited containers go (in batches, or once idle): it
/// keeps only the host's and the one in reserve.
#[test]
fn exited_containers_namespaces_are_let_go() {
    let f = Fixture::new();
    for _ in 0..3 {
        f.run(&f.spec(&["true"]), &[]);
    }
    let zygote = f
        .driver
        .zygote_pid()
        .expect("the fixture's driver has a zygote");
    let net_fds = || {
        std::fs::read_dir(format!("/proc/{zygote}/fd"))
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.unwrap().path()).ok())
            .filter(|l| l.to_string_lossy().starts_with("net:["))
            .count()
    };
    assert!(net_fds() >= 2, "the zygote holds {} netns", net_fds());
    let deadline = Instant::now() + Duration::from_secs(5);
    while net_fds() > 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(net_fds(), 2, "host and reserve netns only");
}

/// A zygote that died is replaced on the next start.
#[test]
fn a_dead_zygote_is_replaced() {
    let f = Fixture::new();
    let first = f
        .driver
        .zygote_pid()
        .expect("the fixture's driver has a zygote");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(first), nix::sys::signal::SIGKILL).unwrap();
    // Dead (a zombie: it is our child) before the next start; a zygote dying in the middle of
    // a request fails that one start.
    let zombie = || {
        std::fs::read_to_string(format!("/proc/{first}/stat")).is_ok_and(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        })
    };
    while !zombie() {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let o = f.run(&f.spec(&["echo", "after"]), &[]);
    assert_eq!(o.stdout, "after\n");
    let second = f.driver.zygote_pid().expect("a new zygote");
    assert_ne!(first, second);
    // The old one was reaped, not left a zombie.
    assert!(!std::path::Path::new(&format!("/proc/{first}")).exists());
}

/// Children of `pid` (from `/proc/*/stat`).
fn children_of(pid: i32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|s| {
                s.rsplit(')')
                    .next()
                    .and_then(|r| r.split_whitespace().nth(1))
                    .is_some_and(|ppid| ppid == pid.to_string())
            })
        })
        .collect()
}

fn wait_gone(pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        assert!(Instant::now() < deadline, "process {pid} still there");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The zygote forks each shim ahead of its request: one spare waits while no container runs.
/// A spare that died is replaced by a shim forked on the spot; a zygote that goes takes its
/// spare with it.
#[test]
fn a_spare_shim_waits_and_goes_with_its_zygote() {
    let f = Fixture::new();
    f.run(&f.spec(&["true"]), &[]);
    let zygote = f.driver.zygote_pid().expect("a zygote");
    let spare = || {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let kids = children_of(zygote);
            if kids.len() == 1 {
                return kids[0];
            }
            assert!(Instant::now() < deadline, "zygote children: {kids:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let first = spare();
    let kill = |pid: i32| {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL).unwrap()
    };
    kill(first);
    wait_gone(first);
    let o = f.run(&f.spec(&["echo", "without a spare"]), &[]);
    assert_eq!(o.stdout, "without a spare\n");
    let second = spare();
    assert_ne!(first, second);
    assert_eq!(
        f.driver.zygote_pid(),
        Some(zygote),
        "the zygote was not replaced"
    );

    kill(zygote);
    wait_gone(second);
}

/// The zygote readies the next spare at a low priority; containers still run at ours.
#[test]
fn containers_run_at_the_callers_priority() {
    let f = Fixture::new();
    let ours = std::fs::read_to_string("/proc/self/stat").unwrap();
    let nice = |stat: &str| {
        stat.rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .nth(16)
            .map(str::to_owned)
    };
    for _ in 0..3 {
        let o = f.run(&f.spec(&["cat", "/proc/self/stat"]), &[]);
        assert_eq!(nice(&o.stdout), nice(&ours), "{}", o.stdout);
    }
}

#[test]
fn host_network_sees_host_interfaces() {
    let f = Fixture::new();
    let mut spec = f.spec(&["ls", "/sys/class/net"]);
    spec.network = NetworkMode::Host;
    let o = f.run(&spec, &[]);
    let host: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for name in host {
        assert!(o.stdout.contains(&name), "{name} missing in {}", o.stdout);
    }
}

#[test]
fn start_errors_are_worded_like_runc() {
    let f = Fixture::new();
    let cases = [
        (
            vec!["nosuch"],
            "",
            FailKind::NotFound,
            "exec: \"nosuch\": executable file not found in $PATH",
        ),
        (
            vec!["/etc/passwd"],
            "",
            FailKind::PermissionDenied,
            "exec: \"/etc/passwd\": permission denied",
        ),
        (
            vec!["true"],
            "bob",
            FailKind::Other,
            "unable to find user bob: no matching entries in passwd file",
        ),
    ];
    for (args, user, kind, message) in cases {
        let mut spec = f.spec(&args);
        spec.user = user.into();
        match f.driver.start(&spec) {
            Err(Error::Start {
                kind: k,
                message: m,
            }) => {
                assert_eq!((k, m.as_str()), (kind, message));
            }
            other => panic!("expected a start error, got {other:?}"),
        }
        f.assert_cgroup_gone(&spec);
    }
}

#[test]
fn user_and_cwd() {
    let f = Fixture::new();
    let mut spec = f.spec(&["sh", "-c", "id; pwd; echo $HOME"]);
    spec.user = "1000:1000".into();
    spec.cwd = "/home/user/work".into();
    let o = f.run(&spec, &[]);
    assert!(
        o.stdout.starts_with("uid=1000(user) gid=1000(user)"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.ends_with("/home/user/work\n/home/user\n"),
        "{}",
        o.stdout
    );
    let o = f.run(&f.spec(&["sh", "-c", "id -u; echo $HOME"]), &[]);
    assert_eq!(o.stdout, "0\n/root\n");
}

#[test]
fn stdin_is_forwarded_and_closed() {
    let f = Fixture::new();
    let mut spec = f.spec(&["cat"]);
    spec.open_stdin = true;
    let o = f.run(
        &spec,
        &[
            Control::Stdin(b"hello\n".to_vec()),
            Control::Stdin(b"world".to_vec()),
            Control::CloseStdin,
        ],
    );
    assert_eq!(o.stdout, "hello\nworld");
    // Without open_stdin, stdin is /dev/null.
    let o = f.run(&f.spec(&["cat"]), &[]);
    assert_eq!((o.stdout.as_str(), o.exit.exit_code), ("", 0));
}

#[test]
fn tty_is_the_containers_own_pty() {
    let f = Fixture::new();
    let mut spec = f.spec(&[
        "sh",
        "-c",
        "tty; stty size; ls -l /dev/console; echo err >&2",
    ]);
    spec.tty = true;
    spec.console_size = Some((33, 111));
    let o = f.run(&spec, &[]);
    assert!(
        o.stdout.starts_with("/dev/pts/0\r\n33 111\r\n"),
        "{:?}",
        o.stdout
    );
    assert!(o.stdout.ends_with("err\r\n"), "{:?}", o.stdout);
    assert_eq!(o.stderr, "");
    assert!(f.log_lines(&spec).iter().all(|(_, s)| s == "stdout"));
}

#[test]
fn tty_stdin_and_resize() {
    let f = Fixture::new();
    let mut spec = f.spec(&["sh", "-c", "read line; echo got:$line; stty size"]);
    spec.tty = true;
    spec.open_stdin = true;
    let o = f.run(
        &spec,
        &[
            Control::Resize { rows: 50, cols: 60 },
            Control::Stdin(b"abc\n".to_vec()),
        ],
    );
    assert!(o.stdout.contains("got:abc\r\n50 60\r\n"), "{:?}", o.stdout);
}

fn cgroup_file(f: &Fixture, v1: &str, v2: &str) -> String {
    match f.driver.cgroup_version() {
        CgroupVersion::V1 => v1.to_string(),
        CgroupVersion::V2 => v2.to_string(),
    }
}

#[test]
fn memory_limit_is_visible_inside() {
    let f = Fixture::new();
    let file = cgroup_file(
        &f,
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
        "/sys/fs/cgroup/memory.max",
    );
    let mut spec = f.spec(&["cat", &file]);
    spec.resources.memory = 64 << 20;
    let o = f.run(&spec, &[]);
    assert_eq!(o.stdout, "67108864\n");
}

#[test]
fn out_of_memory_is_reported() {
    let f = Fixture::new();
    // busybox tail keeps the (newline-free) input in memory until it is killed.
    let mut spec = f.spec(&["tail", "/dev/zero"]);
    spec.resources.memory = 64 << 20;
    let o = f.run(&spec, &[]);
    assert_eq!(o.exit.exit_code, 137);
    assert!(o.exit.oom_killed);
}

#[test]
fn cpu_and_pids_limits() {
    let f = Fixture::new();
    let files = cgroup_file(
        &f,
        "/sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.shares /sys/fs/cgroup/pids/pids.max",
        "/sys/fs/cgroup/cpu.max /sys/fs/cgroup/cpu.weight /sys/fs/cgroup/pids.max",
    );
    let script = format!("cat {files}; for i in 1 2 3 4 5 6; do sleep 1 & done; wait");
    let mut spec = f.spec(&["sh", "-c", &script]);
    spec.resources.nano_cpus = 500_000_000;
    spec.resources.cpu_shares = 512;
    spec.resources.pids_limit = 4;
    let o = f.run(&spec, &[]);
    let expected = cgroup_file(&f, "50000\n512\n4\n", "50000 100000\n20\n4\n");
    assert_eq!(o.stdout, expected);
    eprintln!("{:?} {:?} {:?}", o.stdout, o.stderr, o.elapsed);
    assert!(o.stderr.contains("can't fork"), "{}", o.stderr);
}

#[test]
fn bad_limit_is_a_start_error() {
    let f = Fixture::new();
    let mut spec = f.spec(&["true"]);
    spec.resources.cpuset_cpus = "999".into();
    match f.driver.start(&spec) {
        Err(Error::Start {
            kind: FailKind::Other,
            message,
        }) => {
            assert!(message.contains("cpuset.cpus"), "{message}");
        }
        other => panic!("expected a start error, got {other:?}"),
    }
    f.assert_cgroup_gone(&spec);
}

#[test]
fn mounts_and_shared_rootfs() {
    let f = Fixture::new();
    let host = f.dir.path().join("vol");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("f"), "from host\n").unwrap();
    let mut spec = f.spec(&[
        "sh",
        "-c",
        "cat /data/f; touch /data/x || echo ro; echo kept > /written; \
         test -c /dev/null && test -L /dev/ptmx && grep -c ' /dev/shm tmpfs' /proc/mounts",
    ]);
    spec.mounts = vec![BindMount {
        source: host.clone(),
        destination: "/data".into(),
        readonly: true,
    }];
    let o = f.run(&spec, &[]);
    assert_eq!(o.stdout, "from host\nro\n1\n");
    assert!(!host.join("x").exists());
    let o = f.run(&f.spec(&["cat", "/written"]), &[]);
    assert_eq!(o.stdout, "kept\n");
}

#[test]
fn kill_delete_and_reattach() {
    let f = Fixture::new();
    let spec = f.spec(&["sleep", "100"]);
    let st = f.driver.start(&spec).unwrap();
    let shim_pid = st.shim.id();
    assert!(execdriver::reattach_shim(shim_pid, &spec.bundle).is_some());
    assert!(execdriver::reattach_shim(shim_pid, &f.dir.path().join("other")).is_none());
    f.driver.kill(st.pid, libc::SIGKILL).unwrap();
    let pid = st.pid;
    let o = f.finish(&spec, st, &[]);
    assert_eq!(o.exit.exit_code, 137);
    assert!(!o.exit.oom_killed);
    f.driver.kill(pid, libc::SIGTERM).unwrap();
    f.driver
        .delete(&spec.id, &spec.cgroup_parent, &spec.bundle)
        .unwrap();
    assert!(!spec.bundle.exists());
    f.driver
        .delete(&spec.id, &spec.cgroup_parent, &spec.bundle)
        .unwrap();
}

#[test]
fn frozen_containers_use_no_cpu_until_thawed() {
    let f = Fixture::new();
    let spec = f.spec(&["sh", "-c", "while :; do :; done"]);
    let st = f.driver.start(&spec).unwrap();
    let advances = |within: Duration| {
        let (t0, start) = (testutil::cpu_ticks(st.pid as u32), Instant::now());
        while start.elapsed() < within {
            if testutil::cpu_ticks(st.pid as u32) > t0 {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    };
    assert!(advances(Duration::from_secs(10)), "the busy loop never ran");
    f.driver
        .set_frozen(&spec.id, &spec.cgroup_parent, true)
        .unwrap();
    // A frozen task is never scheduled: its CPU time stands still.
    assert!(
        !advances(Duration::from_millis(300)),
        "a frozen container ran"
    );
    f.driver
        .set_frozen(&spec.id, &spec.cgroup_parent, true)
        .unwrap(); // frozen already: fine
    f.driver
        .set_frozen(&spec.id, &spec.cgroup_parent, false)
        .unwrap();
    assert!(
        advances(Duration::from_secs(10)),
        "a thawed container did not run again"
    );
    f.driver.kill(st.pid, libc::SIGKILL).unwrap();
    let o = f.finish(&spec, st, &[]);
    assert_eq!(o.exit.exit_code, 137);
}

#[test]
fn true_starts_and_exits_fast() {
    let f = Fixture::new();
    let (mut starts, mut totals) = (Vec::new(), Vec::new());
    for _ in 0..20 {
        let spec = f.spec(&["true"]);
        let t0 = Instant::now();
        let st = f.driver.start(&spec).unwrap();
        let start = t0.elapsed();
        let o = f.finish(&spec, st, &[]);
        assert_eq!(o.exit.exit_code, 0);
        starts.push(start);
        totals.push(start + o.elapsed);
    }
    starts.sort();
    totals.sort();
    let (start, total) = (starts[starts.len() / 2], totals[totals.len() / 2]);
    eprintln!("median of 20 `true` containers: start {start:?}, start→exit {total:?}");
    assert!(total < Duration::from_secs(1));
}

/// cgroup v2 on this v1 host: the shim runs in a mount namespace where the (controller-less)
/// hybrid `unified` hierarchy is bind-mounted over /sys/fs/cgroup, so it detects v2 and takes
/// the v2 path end to end (CLONE_INTO_CGROUP, cgroup2 inside, cleanup).
#[test]
fn cgroup_v2_path_via_unified_hierarchy() {
    let f = Fixture::new();
    let unified = std::path::Path::new("/sys/fs/cgroup/unified");
    if f.driver.cgroup_version() == CgroupVersion::V2 {
        eprintln!("pure cgroup v2 host: the other tests already take the v2 path");
        return;
    }
    let is_cgroup2 = nix::sys::statfs::statfs(unified)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC);
    assert!(
        is_cgroup2,
        "this v1 host has no cgroup2 at {}",
        unified.display()
    );
    let driver = execdriver::LinuxExecDriver::new(execdriver::ExecConfig {
        helper: "/usr/bin/unshare".into(),
        helper_args: vec![
            "-m".into(),
            "sh".into(),
            "-c".into(),
            "mount --bind /sys/fs/cgroup/unified /sys/fs/cgroup && exec \"$0\" \"$@\"".into(),
            env!("CARGO_BIN_EXE_rdocker-exec-helper").into(),
        ],
        zygote_args: None,
    })
    .unwrap();
    // It waits for stdin to close, so its group is there to see after the start.
    let mut spec = f.spec(&[
        "sh",
        "-c",
        "cat >/dev/null; grep ' /sys/fs/cgroup ' /proc/mounts | cut -d' ' -f3,4; exec cat /sys/fs/cgroup/cgroup.procs",
    ]);
    spec.open_stdin = true;
    let group = unified.join(&spec.cgroup_parent).join(&spec.id);
    let st = driver.start(&spec).unwrap();
    assert!(group.exists());
    let o = f.finish(&spec, st, &[Control::CloseStdin]);
    assert!(o.stdout.starts_with("cgroup2 ro,"), "{}", o.stdout);
    assert!(o.stdout.ends_with("\n1\n"), "{}", o.stdout);
    assert!(!group.exists(), "{} left behind", group.display());
    let _ = std::fs::remove_dir(group.parent().unwrap());

    // A limit whose controller is missing is a start error naming the file.
    let mut spec = f.spec(&["true"]);
    spec.resources.memory = 64 << 20;
    match driver.start(&spec) {
        Err(Error::Start {
            kind: FailKind::Other,
            message,
        }) => {
            assert!(message.contains("memory.max"), "{message}");
        }
        other => panic!("expected a start error, got {other:?}"),
    }
    let dir = unified.join(&spec.cgroup_parent);
    assert!(!dir.join(&spec.id).exists());
    let _ = std::fs::remove_dir(dir);
}

#[test]
fn tty_close_stdin_sends_eof() {
    let f = Fixture::new();
    let mut spec = f.spec(&["cat"]);
    spec.tty = true;
    spec.open_stdin = true;
    let o = f.run(
        &spec,
        &[Control::Stdin(b"hi\n".to_vec()), Control::CloseStdin],
    );
    // The tty echoes the input, then cat prints it.
    assert_eq!(o.stdout, "hi\r\nhi\r\n");
    assert_eq!(o.exit.exit_code, 0);
}

#[test]
fn shim_dying_early_is_reported_with_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let driver = execdriver::LinuxExecDriver::new(execdriver::ExecConfig {
        helper: "/bin/sh".into(),
        helper_args: vec!["-c".into(), "echo boom-from-shim >&2; exit 3".into()],
        zygote_args: None,
    })
    .unwrap();
    let spec = execdriver::ContainerSpec {
        id: "early".into(),
        bundle: dir.path().join("bundle"),
        ..Default::default()
    };
    match driver.start(&spec) {
        Err(e @ Error::ShimDied { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("boom-from-shim") && msg.contains("exit status: 3"),
                "{msg}"
            );
        }
        other => panic!("expected ShimDied, got {other:?}"),
    }
}
