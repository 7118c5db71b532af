//! cgroup v2: one unified hierarchy; controllers are enabled top-down via
//! `cgroup.subtree_control`.

use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::{
    keyed_value, mkdir_all, read_file, rmdir_retry, write_file, CgroupManager, CgroupMount, Limits,
};
use crate::error::{Error, Result};
use crate::spec::Resources;

/// Controllers enabled for containers (when the kernel offers them).
const WANTED: &[&str] = &["cpu", "cpuset", "io", "memory", "pids"];

/// Manages `<root>/<rel>`.
#[derive(Debug)]
pub struct V2Manager {
    root: PathBuf,
    rel: PathBuf,
}

/// Docker's conversion of v1 `cpu.shares` (2..262144) to v2 `cpu.weight` (1..10000).
pub fn shares_to_weight(shares: i64) -> i64 {
    1 + ((shares.clamp(2, 262_144) - 2) * 9999) / 262_142
}

impl V2Manager {
    /// A manager for `<root>/<rel>`.
    pub fn new(root: &Path, rel: &Path) -> Self {
        V2Manager {
            root: root.to_path_buf(),
            rel: rel.to_path_buf(),
        }
    }

    fn dir(&self) -> PathBuf {
        self.root.join(&self.rel)
    }

    fn write(&self, file: &str, value: &str) -> Result<()> {
        write_file(&self.dir().join(file), value)
    }
}

impl CgroupManager for V2Manager {
    fn create(&self) -> Result<()> {
        let available = read_file(&self.root.join("cgroup.controllers"))?;
        let enable: Vec<String> = available
            .split_whitespace()
            .filter(|c| WANTED.contains(c))
            .map(|c| format!("+{c}"))
            .collect();
        let enable = enable.join(" ");
        // Enable the controllers in the root and in every ancestor of the group, so the
        // group gets their interface files.
        let mut dir = self.root.clone();
        for comp in self.rel.components() {
            if !enable.is_empty() {
                let current = read_file(&dir.join("cgroup.subtree_control")).unwrap_or_default();
                let missing = enable
                    .split(' ')
                    .any(|c| !current.split_whitespace().any(|x| x == &c[1..]));
                if missing {
                    write_file(&dir.join("cgroup.subtree_control"), &enable)?;
                }
            }
            dir.push(comp);
            mkdir_all(&dir)?;
        }
        Ok(())
    }

    fn apply(&self, resources: &Resources) -> Result<()> {
        let l = Limits::from_resources(resources)?;
        if let Some(m) = l.memory {
            self.write("memory.max", &m.to_string())?;
            if let Some(swap) = l.memory_swap {
                let file = self.dir().join("memory.swap.max");
                if file.exists() {
                    let v = if swap < 0 {
                        "max".to_string()
                    } else {
                        (swap - m).to_string()
                    };
                    write_file(&file, &v)?;
                }
            }
        }
        if l.cpu_quota.is_some() || l.cpu_period.is_some() {
            let quota = l.cpu_quota.map_or("max".to_string(), |q| q.to_string());
            let period = l.cpu_period.unwrap_or(100_000);
            self.write("cpu.max", &format!("{quota} {period}"))?;
        }
        if let Some(s) = l.cpu_shares {
            self.write("cpu.weight", &shares_to_weight(s).to_string())?;
        }
        if let Some(c) = &l.cpuset_cpus {
            self.write("cpuset.cpus", c)?;
        }
        if let Some(m) = &l.cpuset_mems {
            self.write("cpuset.mems", m)?;
        }
        if let Some(p) = l.pids {
            self.write("pids.max", &p.to_string())?;
        }
        Ok(())
    }

    fn add_task(&self, pid: i32) -> Result<()> {
        self.write("cgroup.procs", &pid.to_string())
    }

    fn join_self(&self) -> Result<()> {
        self.write("cgroup.procs", "0")
    }

    /// Forking straight into the group takes only the read side of the threadgroup lock
    /// (a migration takes the write side and waits for an RCU grace period).
    fn clone_into_fd(&self) -> Result<Option<OwnedFd>> {
        let dir = self.dir();
        let f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY)
            .open(&dir)
            .map_err(|e| Error::io("open cgroup", &dir, e))?;
        Ok(Some(f.into()))
    }

    fn oom_kill_count(&self) -> u64 {
        keyed_value(&self.dir().join("memory.events"), "oom_kill")
    }

    fn set_frozen(&self, frozen: bool) -> Result<()> {
        let events = self.dir().join("cgroup.events");
        super::change_freezer_state(
            &events,
            frozen,
            || self.write("cgroup.freeze", if frozen { "1" } else { "0" }),
            || Ok(keyed_value(&events, "frozen") == u64::from(frozen)),
        )
    }

    fn remove(&self) -> Result<()> {
        rmdir_retry(&self.dir())
    }

    fn paths(&self) -> Vec<PathBuf> {
        vec![self.dir()]
    }

    fn container_mounts(&self) -> Vec<CgroupMount> {
        vec![CgroupMount {
            fstype: "cgroup2",
            subdir: String::new(),
            data: String::new(),
            links: vec![],
        }]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_conversion_matches_docker() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
    }

    #[test]
    fn freezing_writes_cgroup_freeze_and_waits_for_cgroup_events() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("p/c");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cgroup.freeze"), "0").unwrap();
        // The kernel reports the state in cgroup.events; this fake one is already there.
        std::fs::write(dir.join("cgroup.events"), "populated 1\nfrozen 1\n").unwrap();
        let m = V2Manager::new(root.path(), Path::new("p/c"));
        m.set_frozen(true).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("cgroup.freeze")).unwrap(),
            "1"
        );
        std::fs::write(dir.join("cgroup.events"), "populated 1\nfrozen 0\n").unwrap();
        m.set_frozen(false).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("cgroup.freeze")).unwrap(),
            "0"
        );
    }

    #[test]
    fn writes_limits_into_a_fake_hierarchy() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("cgroup.controllers"), "cpu memory pids\n").unwrap();
        std::fs::write(root.path().join("cgroup.subtree_control"), "").unwrap();
        let m = V2Manager::new(root.path(), Path::new("p/c"));
        // A fake has no kernel to create interface files: pre-create the parent and the files.
        std::fs::create_dir_all(root.path().join("p/c")).unwrap();
        std::fs::write(root.path().join("p/cgroup.subtree_control"), "").unwrap();
        for f in [
            "memory.max",
            "memory.swap.max",
            "cpu.max",
            "cpu.weight",
            "pids.max",
        ] {
            std::fs::write(root.path().join("p/c").join(f), "").unwrap();
        }
        m.create().unwrap();
        let r = Resources {
            memory: 100,
            nano_cpus: 500_000_000,
            cpu_shares: 1024,
            pids_limit: 7,
            ..Default::default()
        };
        m.apply(&r).unwrap();
        let read = |f: &str| std::fs::read_to_string(root.path().join("p/c").join(f)).unwrap();
        assert_eq!(read("memory.max"), "100");
        assert_eq!(read("memory.swap.max"), "100");
        assert_eq!(read("cpu.max"), "50000 100000");
        assert_eq!(read("cpu.weight"), "39");
        assert_eq!(read("pids.max"), "7");
        let sc = std::fs::read_to_string(root.path().join("cgroup.subtree_control")).unwrap();
        assert_eq!(sc, "+cpu +memory +pids");
        // A missing interface file is an error naming the file, never silently skipped.
        let r = Resources {
            cpuset_cpus: "0".into(),
            ..Default::default()
        };
        let e = m.apply(&r).unwrap_err();
        assert!(e.to_string().contains("cpuset.cpus"), "{e}");
    }
}
