//! What the daemon asks for: the container spec written to `<bundle>/spec.json`, and what the
//! shim reports back (`ExitInfo`, `FailKind`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// File name of the spec inside the bundle directory.
pub const SPEC_FILE: &str = "spec.json";
/// File name of the exit report inside the bundle directory.
pub const EXIT_FILE: &str = "exit.json";
/// File name of the shim's own log (its stderr) inside the bundle directory.
pub const SHIM_LOG_FILE: &str = "shim.log";

/// Everything needed to start one container process.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(default)]
pub struct ContainerSpec {
    /// Container id; names the cgroup (`<cgroup_parent>/<id>`).
    pub id: String,
    /// Per-container runtime directory: `spec.json`, `exit.json`, `shim.log`.
    pub bundle: PathBuf,
    /// The already-mounted root filesystem (overlay `merged` dir or a plain directory).
    pub rootfs: PathBuf,
    /// Command and arguments; `args[0]` is looked up in the container's `PATH`.
    pub args: Vec<String>,
    /// `KEY=value` environment of the process.
    pub env: Vec<String>,
    /// Working directory inside the container (created if missing); empty means `/`.
    pub cwd: String,
    /// `""`, `uid`, `uid:gid`, `name` or `name:group`, resolved in the container's `/etc`.
    pub user: String,
    /// UTS hostname; empty leaves the (new, copied) one.
    pub hostname: String,
    /// UTS NIS domain name; empty leaves it.
    pub domainname: String,
    /// Allocate a pseudo-terminal for the process (`docker run -t`).
    pub tty: bool,
    /// Keep stdin open (`docker run -i`); otherwise stdin is `/dev/null`.
    pub open_stdin: bool,
    /// Initial console size `(rows, cols)` with a tty.
    pub console_size: Option<(u16, u16)>,
    /// Network namespace mode.
    pub network: NetworkMode,
    /// Bind mounts, applied after the system mounts.
    pub mounts: Vec<BindMount>,
    /// cgroup limits (HostConfig semantics: 0 = unset).
    pub resources: Resources,
    /// Size of `/dev/shm` in bytes; 0 means 64 MiB.
    pub shm_size: u64,
    /// Parent cgroup, relative to each hierarchy's root, e.g. `rdocker`.
    pub cgroup_parent: String,
    /// Docker json-file log of the container's output; empty disables logging.
    pub log_path: PathBuf,
    /// The container is removed once it exits and never started again (`--rm`): its shim
    /// reports the exit first and removes the cgroup after (the removal removes it too). For
    /// any other container the cgroup is gone before the exit is reported, so that a
    /// restart cannot meet the old shim still removing it.
    pub auto_remove: bool,
}

/// How the container's network namespace is set up.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, Default, PartialEq, Eq)]
pub enum NetworkMode {
    /// A new network namespace with only `lo` (up).
    #[default]
    None,
    /// The host's network namespace.
    Host,
}

/// A host path bind-mounted into the container.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct BindMount {
    /// Host file or directory.
    pub source: PathBuf,
    /// Absolute path inside the container.
    pub destination: String,
    /// Remount read-only.
    pub readonly: bool,
}

/// cgroup limits, in Docker's HostConfig units; 0 (or empty) means unset.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
#[serde(default)]
pub struct Resources {
    /// Memory limit in bytes.
    pub memory: i64,
    /// Memory + swap limit in bytes; 0 with `memory` set means 2×memory, -1 unlimited.
    pub memory_swap: i64,
    /// CPU quota in units of 1e-9 CPUs.
    pub nano_cpus: i64,
    /// Relative CPU weight (v1 `cpu.shares`, 2..262144).
    pub cpu_shares: i64,
    /// CFS quota in microseconds per period.
    pub cpu_quota: i64,
    /// CFS period in microseconds.
    pub cpu_period: i64,
    /// Maximum number of tasks; > 0 to limit.
    pub pids_limit: i64,
    /// CPUs allowed, e.g. `0-1`.
    pub cpuset_cpus: String,
    /// Memory nodes allowed, e.g. `0`.
    pub cpuset_mems: String,
}

/// Why a start failed, as Docker needs it to pick the exit code.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum FailKind {
    /// The executable does not exist (Docker: exit code 127).
    NotFound,
    /// The executable can't be invoked (Docker: exit code 126).
    PermissionDenied,
    /// Any other start failure (invalid user, mount, cgroup limit, ...).
    Other,
}

/// How the container's first process ended; written to `<bundle>/exit.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExitInfo {
    /// Exit status, or 128 + signal number.
    pub exit_code: i32,
    /// The cgroup's OOM killer killed a process of the container.
    pub oom_killed: bool,
    /// RFC 3339 UTC timestamp with nanoseconds.
    pub finished_at: String,
}

/// Reads `<bundle>/exit.json`, if the shim wrote one.
pub fn read_exit(bundle: &Path) -> Option<ExitInfo> {
    let data = std::fs::read(bundle.join(EXIT_FILE)).ok()?;
    serde_json::from_slice(&data).ok()
}

/// Writes `data` to `path` atomically with respect to process crashes: a temp file in the same
/// directory, then a rename. No fsync: the bundle is runtime state under the exec root (a tmpfs
/// on most systems) and means nothing after a power loss, so paying for durability on the
/// container start path buys nothing.
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let io = |op, source| Error::Io {
        op,
        path: tmp.clone(),
        source,
    };
    let mut f = std::fs::File::create(&tmp).map_err(|e| io("create", e))?;
    f.write_all(data).map_err(|e| io("write", e))?;
    std::fs::rename(&tmp, path).map_err(|e| io("rename", e))
}
