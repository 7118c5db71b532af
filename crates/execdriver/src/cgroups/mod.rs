//! cgroups, in youki's shape: a [`CgroupManager`] trait, [`V1Manager`] (one hierarchy per
//! controller, possibly comounted like `cpu,cpuacct`) and [`V2Manager`] (the unified hierarchy),
//! [`AnyCgroupManager`] to hold either, and [`detect`] to pick one at runtime.
//!
//! A container's group is `<cgroup_parent>/<id>` below the root of each hierarchy, the cgroupfs
//! layout Docker uses without systemd.

mod v1;

pub(crate) use v1::prepare as prepare_v1;
mod v2;

use std::io::ErrorKind;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use v1::V1Manager;
pub use v2::V2Manager;

use crate::error::{Error, Result};
use crate::spec::Resources;

/// Where cgroup filesystems are mounted.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The cgroup version in use on this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    /// One hierarchy per controller (or set of comounted controllers).
    V1,
    /// The unified hierarchy.
    V2,
}

impl std::fmt::Display for CgroupVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CgroupVersion::V1 => "1",
            CgroupVersion::V2 => "2",
        })
    }
}

/// Detects the cgroup version from the filesystem type of `/sys/fs/cgroup`: cgroup2 there means
/// a pure v2 host; anything else (a tmpfs holding per-controller mounts) means v1 or hybrid,
/// where the controllers live in v1 hierarchies.
pub fn detect() -> Result<CgroupVersion> {
    let st = nix::sys::statfs::statfs(CGROUP_ROOT)
        .map_err(|e| Error::io("statfs", CGROUP_ROOT, e.into()))?;
    if st.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC {
        Ok(CgroupVersion::V2)
    } else {
        Ok(CgroupVersion::V1)
    }
}

/// A cgroup filesystem to mount read-only inside the container, below `/sys/fs/cgroup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMount {
    /// `cgroup` or `cgroup2`.
    pub fstype: &'static str,
    /// Directory below `/sys/fs/cgroup` (empty: `/sys/fs/cgroup` itself).
    pub subdir: String,
    /// Mount data (the v1 controller list, e.g. `cpu,cpuacct`).
    pub data: String,
    /// Extra names (symlinks to `subdir`) for comounted controllers.
    pub links: Vec<String>,
}

/// Lifecycle of one container's cgroup: create → apply → add_task → (run) → remove.
pub trait CgroupManager {
    /// Creates the group (and its parents) in every hierarchy.
    fn create(&self) -> Result<()>;
    /// Writes the limits; any limit that can't be written is an error.
    fn apply(&self, resources: &Resources) -> Result<()>;
    /// Moves process `pid` into the group.
    fn add_task(&self, pid: i32) -> Result<()>;
    /// Moves the calling single-threaded process into the group, cheaply where possible.
    fn join_self(&self) -> Result<()>;
    /// A directory fd for `clone3(CLONE_INTO_CGROUP)` (v2 only), so a child is born inside.
    fn clone_into_fd(&self) -> Result<Option<OwnedFd>>;
    /// How many times the OOM killer killed a task of the group.
    fn oom_kill_count(&self) -> u64;
    /// Freezes every task of the group (`true`) or thaws them; returns once the kernel reports
    /// the whole group in that state.
    fn set_frozen(&self, frozen: bool) -> Result<()>;
    /// Removes the group from every hierarchy, retrying briefly while it is busy. Idempotent.
    fn remove(&self) -> Result<()>;
    /// The group's directories.
    fn paths(&self) -> Vec<PathBuf>;
    /// The cgroup filesystems to mount inside the container.
    fn container_mounts(&self) -> Vec<CgroupMount>;
}

/// Either manager, picked by [`detect`].
#[derive(Debug)]
pub enum AnyCgroupManager {
    /// cgroup v1.
    V1(V1Manager),
    /// cgroup v2.
    V2(V2Manager),
}

impl AnyCgroupManager {
    /// A manager for `<parent>/<id>` in the hierarchies of `version`.
    pub fn new(version: CgroupVersion, parent: &str, id: &str) -> Result<Self> {
        let rel = relative_path(parent, id)?;
        Ok(match version {
            CgroupVersion::V1 => AnyCgroupManager::V1(V1Manager::new(&rel)?),
            CgroupVersion::V2 => AnyCgroupManager::V2(V2Manager::new(Path::new(CGROUP_ROOT), &rel)),
        })
    }

    /// Which hierarchy this manages.
    pub fn version(&self) -> CgroupVersion {
        match self {
            AnyCgroupManager::V1(_) => CgroupVersion::V1,
            AnyCgroupManager::V2(_) => CgroupVersion::V2,
        }
    }

    fn inner(&self) -> &dyn CgroupManager {
        match self {
            AnyCgroupManager::V1(m) => m,
            AnyCgroupManager::V2(m) => m,
        }
    }
}

impl CgroupManager for AnyCgroupManager {
    fn create(&self) -> Result<()> {
        self.inner().create()
    }
    fn apply(&self, resources: &Resources) -> Result<()> {
        self.inner().apply(resources)
    }
    fn add_task(&self, pid: i32) -> Result<()> {
        self.inner().add_task(pid)
    }
    fn join_self(&self) -> Result<()> {
        self.inner().join_self()
    }
    fn clone_into_fd(&self) -> Result<Option<OwnedFd>> {
        self.inner().clone_into_fd()
    }
    fn oom_kill_count(&self) -> u64 {
        self.inner().oom_kill_count()
    }
    fn set_frozen(&self, frozen: bool) -> Result<()> {
        self.inner().set_frozen(frozen)
    }
    fn remove(&self) -> Result<()> {
        self.inner().remove()
    }
    fn paths(&self) -> Vec<PathBuf> {
        self.inner().paths()
    }
    fn container_mounts(&self) -> Vec<CgroupMount> {
        self.inner().container_mounts()
    }
}

/// `<parent>/<id>` as a relative path, refusing anything that could leave the hierarchy.
pub fn relative_path(parent: &str, id: &str) -> Result<PathBuf> {
    let bad = |c: &str| c == "." || c == "..";
    let invalid = || Error::InvalidCgroupPath {
        path: format!("{parent}/{id}"),
    };
    if id.is_empty() || id.contains('/') || bad(id) {
        return Err(invalid());
    }
    let mut rel = PathBuf::new();
    for c in parent.split('/').filter(|c| !c.is_empty()) {
        if bad(c) {
            return Err(invalid());
        }
        rel.push(c);
    }
    rel.push(id);
    Ok(rel)
}

/// Limits in version-neutral form, validated (HostConfig semantics).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Limits {
    pub memory: Option<i64>,
    /// Memory + swap; -1 = unlimited.
    pub memory_swap: Option<i64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<i64>,
    pub cpu_shares: Option<i64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub pids: Option<i64>,
}

impl Limits {
    pub(crate) fn from_resources(r: &Resources) -> Result<Self> {
        let invalid = |reason| Err(Error::InvalidResources { reason });
        let mut l = Limits::default();
        if r.memory > 0 {
            l.memory = Some(r.memory);
            l.memory_swap = match r.memory_swap {
                0 => Some(2 * r.memory),
                -1 => Some(-1),
                s if s >= r.memory => Some(s),
                _ => return invalid("memory_swap must be at least memory"),
            };
        } else if r.memory_swap > 0 {
            return invalid("memory_swap needs memory to be set");
        }
        if r.nano_cpus > 0 {
            if r.cpu_quota > 0 || r.cpu_period > 0 {
                return invalid("nano_cpus conflicts with cpu_period and cpu_quota");
            }
            l.cpu_period = Some(100_000);
            l.cpu_quota = Some(r.nano_cpus * 100_000 / 1_000_000_000);
        }
        if r.cpu_quota > 0 {
            l.cpu_quota = Some(r.cpu_quota);
        }
        if r.cpu_period > 0 {
            l.cpu_period = Some(r.cpu_period);
        }
        l.cpu_shares = (r.cpu_shares > 0).then_some(r.cpu_shares);
        l.cpuset_cpus = (!r.cpuset_cpus.is_empty()).then(|| r.cpuset_cpus.clone());
        l.cpuset_mems = (!r.cpuset_mems.is_empty()).then(|| r.cpuset_mems.clone());
        l.pids = (r.pids_limit > 0).then_some(r.pids_limit);
        Ok(l)
    }
}

/// Writes `value` to an existing cgroup control file (never creates it).
pub(crate) fn write_file(path: &Path, value: &str) -> Result<()> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut f| f.write_all(value.as_bytes()))
        .map_err(|source| Error::CgroupWrite {
            path: path.to_path_buf(),
            value: value.to_string(),
            source,
        })
}

/// Reads a control file, trimmed.
pub(crate) fn read_file(path: &Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| Error::io("read", path, e))
}

/// The value of `key` in a flat-keyed file such as `memory.events` or `memory.oom_control`.
pub(crate) fn keyed_value(path: &Path, key: &str) -> u64 {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
}

/// How long freezing or thawing a group may take.
const FREEZE_TIMEOUT: Duration = Duration::from_secs(10);

/// Asks for a freezer state with `request` until `reached` says the kernel is there (a task in
/// an uninterruptible sleep keeps a group FREEZING for a while; asking again moves it on, as
/// runc does). `path` and `frozen` name the state in the timeout error.
pub(crate) fn change_freezer_state(
    path: &Path,
    frozen: bool,
    mut request: impl FnMut() -> Result<()>,
    mut reached: impl FnMut() -> Result<bool>,
) -> Result<()> {
    let deadline = Instant::now() + FREEZE_TIMEOUT;
    let mut pause = Duration::from_micros(100);
    loop {
        request()?;
        if reached()? {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::FreezeTimeout {
                path: path.to_path_buf(),
                state: if frozen { "frozen" } else { "thawed" },
            });
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(10));
    }
}

/// Creates `dir` (and missing parents), mapping the error to the path.
pub(crate) fn mkdir_all(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create cgroup", dir, e))
}

/// Removes an (empty of children) cgroup directory. A group whose last task just exited can
/// stay busy for a moment, so EBUSY is retried for up to a second.
pub(crate) fn rmdir_retry(dir: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut pause = Duration::from_micros(200);
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                return Err(Error::CgroupBusy {
                    path: dir.to_path_buf(),
                })
            }
            Err(e) => return Err(Error::io("remove cgroup", dir, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative_path("/rdocker/", "abc").unwrap(),
            PathBuf::from("rdocker/abc")
        );
        assert_eq!(relative_path("", "abc").unwrap(), PathBuf::from("abc"));
        assert!(relative_path("../x", "abc").is_err());
        assert!(relative_path("x", "..").is_err());
        assert!(relative_path("x", "a/b").is_err());
    }

    #[test]
    fn limits_follow_hostconfig() {
        let r = Resources {
            memory: 64 << 20,
            nano_cpus: 1_500_000_000,
            pids_limit: 10,
            ..Default::default()
        };
        let l = Limits::from_resources(&r).unwrap();
        assert_eq!(l.memory_swap, Some(128 << 20));
        assert_eq!((l.cpu_quota, l.cpu_period), (Some(150_000), Some(100_000)));
        assert_eq!(l.pids, Some(10));
        let r = Resources {
            memory_swap: 1 << 30,
            ..Default::default()
        };
        assert!(Limits::from_resources(&r).is_err());
        let r = Resources {
            memory: 1 << 20,
            memory_swap: -1,
            ..Default::default()
        };
        assert_eq!(Limits::from_resources(&r).unwrap().memory_swap, Some(-1));
    }
}
