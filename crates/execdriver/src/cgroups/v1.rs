//! cgroup v1: one hierarchy per controller (or per set of comounted controllers), found in
//! `/proc/self/mountinfo`.

use std::collections::HashSet;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use super::{
    keyed_value, mkdir_all, read_file, rmdir_retry, write_file, CgroupManager, CgroupMount, Limits,
};
use crate::error::{Error, Result};
use crate::spec::Resources;

/// Controllers a container joins; those with limits plus the ones Docker also uses.
const JOINED: &[&str] = &[
    "memory", "cpu", "cpuacct", "cpuset", "pids", "devices", "freezer", "blkio",
];

/// One mounted v1 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// Where it is mounted, e.g. `/sys/fs/cgroup/cpu,cpuacct`.
    pub mount: PathBuf,
    /// Its controllers, e.g. `["cpu", "cpuacct"]`.
    pub controllers: Vec<String>,
}

/// Manages `<rel>` in every v1 hierarchy that has a [`JOINED`] controller.
#[derive(Debug)]
pub struct V1Manager {
    hierarchies: Vec<Hierarchy>,
    rel: PathBuf,
}

/// Hierarchies read ahead of time by [`prepare`], for the next [`V1Manager::new`].
static PREPARED: Mutex<Option<Vec<Hierarchy>>> = Mutex::new(None);

/// Reads this process's hierarchies now, for the next [`V1Manager::new`] here or in a fork of
/// this process. The zygote calls it between forks, so that a shim starts with them read.
pub(crate) fn prepare() {
    if let Ok(h) = read_hierarchies() {
        *PREPARED.lock().unwrap_or_else(PoisonError::into_inner) = Some(h);
    }
}

/// The mounted hierarchies with a [`JOINED`] controller, from this process's mount namespace.
fn read_hierarchies() -> Result<Vec<Hierarchy>> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| Error::io("read", "/proc/self/mountinfo", e))?;
    let cgroups = std::fs::read_to_string("/proc/cgroups")
        .map_err(|e| Error::io("read", "/proc/cgroups", e))?;
    let subsystems: HashSet<String> = cgroups
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    Ok(parse_hierarchies(&mountinfo, &subsystems)
        .into_iter()
        .filter(|h| h.controllers.iter().any(|c| JOINED.contains(&c.as_str())))
        .collect())
}

impl V1Manager {
    /// Finds the hierarchies of this process's mount namespace (those [`prepare`]d, once).
    pub fn new(rel: &Path) -> Result<Self> {
        let prepared = PREPARED
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let hierarchies = match prepared {
            Some(h) => h,
            None => read_hierarchies()?,
        };
        if hierarchies.is_empty() {
            return Err(Error::NoCgroups);
        }
        Ok(V1Manager {
            hierarchies,
            rel: rel.to_path_buf(),
        })
    }

    /// The group's directory in the hierarchy holding `controller`.
    fn dir(&self, controller: &str) -> Option<PathBuf> {
        self.hierarchies
            .iter()
            .find(|h| h.controllers.iter().any(|c| c == controller))
            .map(|h| h.mount.join(&self.rel))
    }

    /// Writes `value` to `file` of the group in `controller`'s hierarchy.
    fn write(&self, controller: &str, file: &str, value: &str) -> Result<()> {
        let dir = self.dir(controller).unwrap_or_else(|| {
            Path::new(super::CGROUP_ROOT)
                .join(controller)
                .join(&self.rel)
        });
        write_file(&dir.join(file), value)
    }

    /// New cpuset groups start with empty `cpus`/`mems` and refuse tasks: copy them down from
    /// the parent at every level.
    fn init_cpuset(&self, mount: &Path) -> Result<()> {
        let mut dir = mount.to_path_buf();
        for comp in self.rel.components() {
            let parent = dir.clone();
            dir.push(comp);
            for file in ["cpuset.cpus", "cpuset.mems"] {
                if read_file(&dir.join(file))?.is_empty() {
                    write_file(&dir.join(file), &read_file(&parent.join(file))?)?;
                }
            }
        }
        Ok(())
    }
}

impl CgroupManager for V1Manager {
    fn create(&self) -> Result<()> {
        for h in &self.hierarchies {
            mkdir_all(&h.mount.join(&self.rel))?;
            if h.controllers.iter().any(|c| c == "cpuset") {
                self.init_cpuset(&h.mount)?;
            }
        }
        Ok(())
    }

    fn apply(&self, resources: &Resources) -> Result<()> {
        let l = Limits::from_resources(resources)?;
        // The memory limit goes first: memsw must never be below it.
        if let Some(m) = l.memory {
            self.write("memory", "memory.limit_in_bytes", &m.to_string())?;
        }
        if let (Some(swap), Some(dir)) = (l.memory_swap, self.dir("memory")) {
            let file = dir.join("memory.memsw.limit_in_bytes");
            if file.exists() {
                write_file(&file, &swap.to_string())?;
            }
        }
        if let Some(p) = l.cpu_period {
            self.write("cpu", "cpu.cfs_period_us", &p.to_string())?;
        }
        if let Some(q) = l.cpu_quota {
            self.write("cpu", "cpu.cfs_quota_us", &q.to_string())?;
        }
        if let Some(s) = l.cpu_shares {
            self.write("cpu", "cpu.shares", &s.to_string())?;
        }
        if let Some(c) = &l.cpuset_cpus {
            self.write("cpuset", "cpuset.cpus", c)?;
        }
        if let Some(m) = &l.cpuset_mems {
            self.write("cpuset", "cpuset.mems", m)?;
        }
        if let Some(p) = l.pids {
            self.write("pids", "pids.max", &p.to_string())?;
        }
        Ok(())
    }

    fn add_task(&self, pid: i32) -> Result<()> {
        for dir in self.paths() {
            write_file(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// Writes `0` to `tasks`: migrating only the calling thread skips the kernel's global
    /// threadgroup lock, whose RCU grace period makes a `cgroup.procs` write take ~10 ms.
    fn join_self(&self) -> Result<()> {
        for dir in self.paths() {
            write_file(&dir.join("tasks"), "0")?;
        }
        Ok(())
    }

    fn clone_into_fd(&self) -> Result<Option<OwnedFd>> {
        Ok(None)
    }

    fn oom_kill_count(&self) -> u64 {
        self.dir("memory")
            .map(|d| keyed_value(&d.join("memory.oom_control"), "oom_kill"))
            .unwrap_or(0)
    }

    fn set_frozen(&self, frozen: bool) -> Result<()> {
        let state = self
            .dir("freezer")
            .ok_or(Error::NoFreezer)?
            .join("freezer.state");
        let want = if frozen { "FROZEN" } else { "THAWED" };
        super::change_freezer_state(
            &state,
            frozen,
            || write_file(&state, want),
            || Ok(read_file(&state)? == want),
        )
    }

    fn remove(&self) -> Result<()> {
        let mut first_err = None;
        for dir in self.paths() {
            if let Err(e) = rmdir_retry(&dir) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    fn paths(&self) -> Vec<PathBuf> {
        self.hierarchies
            .iter()
            .map(|h| h.mount.join(&self.rel))
            .collect()
    }

    fn container_mounts(&self) -> Vec<CgroupMount> {
        self.hierarchies
            .iter()
            .filter_map(|h| {
                let subdir = h.mount.file_name()?.to_str()?.to_string();
                let links = h
                    .controllers
                    .iter()
                    .filter(|c| !c.starts_with("name=") && **c != subdir)
                    .cloned()
                    .collect();
                Some(CgroupMount {
                    fstype: "cgroup",
                    subdir,
                    data: h.controllers.join(","),
                    links,
                })
            })
            .collect()
    }
}

/// The v1 hierarchies in `mountinfo`, each once (the first mount point wins), with the
/// controllers from its super options that are real subsystems (plus `name=...`).
pub fn parse_hierarchies(mountinfo: &str, subsystems: &HashSet<String>) -> Vec<Hierarchy> {
    let mut out: Vec<Hierarchy> = Vec::new();
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(sep) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        if fields.get(sep + 1) != Some(&"cgroup") || fields.len() < sep + 4 || fields.len() < 5 {
            continue;
        }
        let controllers: Vec<String> = fields[sep + 3]
            .split(',')
            .filter(|o| subsystems.contains(*o) || o.starts_with("name="))
            .map(str::to_string)
            .collect();
        if controllers.is_empty() || out.iter().any(|h| h.controllers == controllers) {
            continue;
        }
        out.push(Hierarchy {
            mount: PathBuf::from(unescape(fields[4])),
            controllers,
        });
    }
    out
}

/// Undoes mountinfo's octal escapes (`\040` for a space, ...).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match oct {
            Some(d) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_comounted_and_named_hierarchies() {
        let mi = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct\n\
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
36 31 0:32 / /mnt/mem\\040x rw,relatime - cgroup cgroup rw,memory\n\
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd\n\
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
        let subs: HashSet<String> = ["cpu", "cpuacct", "memory"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let h = parse_hierarchies(mi, &subs);
        assert_eq!(h.len(), 3);
        assert_eq!(h[0].mount, PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(h[0].controllers, vec!["cpu", "cpuacct"]);
        assert_eq!(h[1].controllers, vec!["memory"]);
        assert_eq!(h[2].controllers, vec!["name=systemd"]);
        assert_eq!(unescape("/mnt/mem\\040x"), "/mnt/mem x");
        let m = V1Manager {
            hierarchies: h[..1].to_vec(),
            rel: PathBuf::from("p/id"),
        };
        let mounts = m.container_mounts();
        assert_eq!(mounts[0].data, "cpu,cpuacct");
        assert_eq!(mounts[0].links, vec!["cpu", "cpuacct"]);
    }
}
