//! Fixtures for the root tests: a busybox rootfs, specs with unique cgroup parents, and a
//! runner that collects a container's events until it exits.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use execdriver::cgroups::{AnyCgroupManager, CgroupManager};
use execdriver::proto::{encode_control, Control, Event, EventDecoder, STDERR, STDOUT};
use execdriver::{ContainerSpec, ExecConfig, ExecDriver, ExitInfo, LinuxExecDriver, Started};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A temp dir with a busybox rootfs.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub rootfs: PathBuf,
    pub driver: LinuxExecDriver,
    /// (cgroup_parent, id) of every spec handed out, for cleanup even after a failed assert.
    groups: Mutex<Vec<(String, String)>>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let groups = self.groups.lock().map(|g| g.clone()).unwrap_or_default();
        for (parent, id) in groups {
            let Ok(m) = AnyCgroupManager::new(self.driver.cgroup_version(), &parent, &id) else {
                continue;
            };
            let unified = PathBuf::from("/sys/fs/cgroup/unified")
                .join(&parent)
                .join(&id);
            for p in m.paths().into_iter().chain([unified]) {
                let _ = std::fs::remove_dir(&p);
                let _ = std::fs::remove_dir(p.parent().unwrap());
            }
        }
    }
}

/// What a container did.
#[derive(Debug)]
pub struct Outcome {
    pub stdout: String,
    pub stderr: String,
    pub exit: ExitInfo,
    /// From `start()` returning to `Exited`.
    pub elapsed: Duration,
}

fn busybox() -> PathBuf {
    let p = PathBuf::from("/bin/busybox");
    if !p.exists() {
        let ok = std::process::Command::new("apt-get")
            .args(["install", "-y", "busybox-static"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(
            ok && p.exists(),
            "busybox is needed: apt-get install -y busybox-static"
        );
    }
    p
}

impl Fixture {
    pub fn new() -> Self {
        testutil::require_root();
        let dir = testutil::temp_root("ed-");
        let rootfs = dir.path().join("rootfs");
        for d in ["bin", "etc", "tmp", "root", "home/user"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        std::fs::copy(busybox(), rootfs.join("bin/busybox")).unwrap();
        let list = std::process::Command::new(busybox())
            .arg("--list")
            .output()
            .unwrap();
        for applet in String::from_utf8(list.stdout).unwrap().lines() {
            if applet != "busybox" {
                std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
            }
        }
        std::fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        )
        .unwrap();
        std::fs::write(
            rootfs.join("etc/group"),
            "root:x:0:\ntty:x:5:\nuser:x:1000:\nnogroup:x:65534:\n",
        )
        .unwrap();
        let driver = LinuxExecDriver::new(ExecConfig {
            helper: PathBuf::from(env!("CARGO_BIN_EXE_rdocker-exec-helper")),
            helper_args: vec![],
            zygote_args: Some(vec!["zygote".into()]),
        })
        .unwrap();
        Fixture {
            dir,
            rootfs,
            driver,
            groups: Mutex::new(Vec::new()),
        }
    }

    /// A spec for `args` with a unique id, cgroup parent, bundle and log.
    pub fn spec(&self, args: &[&str]) -> ContainerSpec {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let id = format!("c{n}");
        let parent = format!("rdocker-test-{}-{n}", std::process::id());
        self.groups
            .lock()
            .unwrap()
            .push((parent.clone(), id.clone()));
        ContainerSpec {
            id: id.clone(),
            bundle: self.dir.path().join("bundles").join(&id),
            rootfs: self.rootfs.clone(),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: vec!["PATH=/usr/sbin:/usr/bin:/sbin:/bin".into()],
            cgroup_parent: parent,
            log_path: self.dir.path().join("logs").join(format!("{id}-json.log")),
            ..Default::default()
        }
    }

    pub fn cgroup_paths(&self, spec: &ContainerSpec) -> Vec<PathBuf> {
        AnyCgroupManager::new(self.driver.cgroup_version(), &spec.cgroup_parent, &spec.id)
            .unwrap()
            .paths()
    }

    /// Asserts the container's cgroup is gone and removes the (test-only) parent group.
    pub fn assert_cgroup_gone(&self, spec: &ContainerSpec) {
        for p in self.cgroup_paths(spec) {
            assert!(!p.exists(), "cgroup {} left behind", p.display());
            let _ = std::fs::remove_dir(p.parent().unwrap());
        }
    }

    /// Starts `spec`, sends `controls`, collects events until `Exited`, checks cleanup.
    pub fn run(&self, spec: &ContainerSpec, controls: &[Control]) -> Outcome {
        let started = self
            .driver
            .start(spec)
            .unwrap_or_else(|e| panic!("start failed: {e}"));
        self.finish(spec, started, controls)
    }

    pub fn finish(&self, spec: &ContainerSpec, mut st: Started, controls: &[Control]) -> Outcome {
        let t0 = Instant::now();
        for c in controls {
            st.control.write_all(&encode_control(c)).unwrap();
        }
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        let mut dec = EventDecoder::new();
        let mut buf = [0u8; 8192];
        let exit = 'outer: loop {
            let n = st.events.read(&mut buf).unwrap();
            assert!(n > 0, "event pipe closed before Exited");
            dec.feed(&buf[..n]);
            while let Some(ev) = dec.next_event().unwrap() {
                match ev {
                    Event::Output {
                        stream: STDOUT,
                        data,
                    } => stdout.extend(data),
                    Event::Output {
                        stream: STDERR,
                        data,
                    } => stderr.extend(data),
                    Event::Exited(info) => break 'outer info,
                    other => panic!(
                        "unexpected event {other:?} (shim {}, spec {})",
                        st.shim.id(),
                        spec.id
                    ),
                }
            }
        };
        let elapsed = t0.elapsed();
        // Forked by the zygote, the shim is not our child: its status is not ours to see.
        if let Some(status) = st.shim.wait().unwrap() {
            assert!(status.success(), "shim exited with {status}");
        }
        assert_eq!(execdriver::read_exit(&spec.bundle).as_ref(), Some(&exit));
        self.assert_cgroup_gone(spec);
        Outcome {
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            exit,
            elapsed,
        }
    }

    /// The json-file log as (log, stream) pairs.
    pub fn log_lines(&self, spec: &ContainerSpec) -> Vec<(String, String)> {
        let text = std::fs::read_to_string(&spec.log_path).unwrap();
        text.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    v["log"].as_str().unwrap().to_string(),
                    v["stream"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }
}
