//! Root tests of the cgroup v2 freezer on the real kernel interface: the unified hierarchy at
//! /sys/fs/cgroup (a v2 host) or /sys/fs/cgroup/unified (a hybrid v1 host like the CI's).

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use execdriver::cgroups::{CgroupManager, V2Manager};

/// Where cgroup2 is mounted here.
fn unified_root() -> PathBuf {
    let is_cgroup2 = |p: &Path| {
        nix::sys::statfs::statfs(p)
            .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
    };
    ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .map(PathBuf::from)
        .into_iter()
        .find(|p| is_cgroup2(p))
        .expect("no cgroup2 hierarchy mounted at /sys/fs/cgroup or /sys/fs/cgroup/unified")
}

/// Kills the busy loop and removes its groups, also when the test fails.
struct Cleanup(Child, PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::write(self.1.join("fz/cgroup.freeze"), "0");
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir(self.1.join("fz"));
        let _ = std::fs::remove_dir(&self.1);
    }
}

#[test]
fn v2_freezes_and_thaws_a_busy_group() {
    testutil::require_root();
    let root = unified_root();
    let parent = format!("rdocker-freezer-test-{}", std::process::id());
    let m = V2Manager::new(&root, &Path::new(&parent).join("fz"));
    m.create().unwrap();
    let child = Command::new("sh")
        .args(["-c", "while :; do :; done"])
        .spawn()
        .unwrap();
    let pid = child.id();
    let _cleanup = Cleanup(child, root.join(&parent));
    m.add_task(pid as i32).unwrap();
    let advances = |within: Duration| {
        let (t0, start) = (testutil::cpu_ticks(pid), Instant::now());
        while start.elapsed() < within {
            if testutil::cpu_ticks(pid) > t0 {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    };
    assert!(advances(Duration::from_secs(10)), "the busy loop never ran");
    m.set_frozen(true).unwrap();
    assert!(!advances(Duration::from_millis(300)), "a frozen group ran");
    m.set_frozen(false).unwrap();
    assert!(
        advances(Duration::from_secs(10)),
        "a thawed group did not run again"
    );
}
