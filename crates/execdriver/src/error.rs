//! The crate's error type.

use std::path::PathBuf;

use crate::spec::FailKind;

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the exec driver and its shim.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The container's process could not be started; `message` is worded as runc words it
    /// (e.g. `exec: "nosuch": executable file not found in $PATH`).
    #[error("{message}")]
    Start {
        /// What kind of failure (Docker maps it to an exit code).
        kind: FailKind,
        /// Human-readable cause, already complete.
        message: String,
    },
    /// The shim exited without reporting success or failure.
    #[error(
        "shim of container {id} exited ({status}) before reporting the start; shim.log: {log_tail}"
    )]
    ShimDied {
        /// Container id.
        id: String,
        /// How the shim ended.
        status: String,
        /// Last lines of `<bundle>/shim.log`.
        log_tail: String,
    },
    /// The shim executable could not be spawned.
    #[error("failed to spawn exec helper {helper}")]
    SpawnHelper {
        /// Helper executable.
        helper: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The zygote could not fork a shim (or is gone).
    #[error("container monitor zygote: {0}")]
    Zygote(String),
    /// Reading the shim's event pipe failed.
    #[error("failed to read the events of container {id} from its shim")]
    ReadEvents {
        /// Container id.
        id: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A filesystem operation failed.
    #[error("failed to {op} {path}")]
    Io {
        /// What was being done (`open`, `write`, `rmdir`, ...).
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// `spec.json` could not be parsed or written.
    #[error("invalid container spec {path}")]
    Spec {
        /// The spec file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: serde_json::Error,
    },
    /// A cgroup limit could not be applied.
    #[error("failed to write {value:?} to {path}")]
    CgroupWrite {
        /// The cgroup control file.
        path: PathBuf,
        /// The value written.
        value: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A cgroup still had tasks after retrying its removal.
    #[error("cgroup {path} is still busy")]
    CgroupBusy {
        /// The cgroup directory.
        path: PathBuf,
    },
    /// A cgroup's tasks did not all freeze (or thaw) in time.
    #[error("cgroup {path} did not become {state}")]
    FreezeTimeout {
        /// The control file watched.
        path: PathBuf,
        /// `frozen` or `thawed`.
        state: &'static str,
    },
    /// The freezer controller is not mounted, so processes cannot be paused.
    #[error("no freezer cgroup hierarchy: containers cannot be paused")]
    NoFreezer,
    /// No usable cgroup hierarchy is mounted.
    #[error("no cgroup hierarchy found under /sys/fs/cgroup")]
    NoCgroups,
    /// The cgroup parent or id would escape the hierarchy.
    #[error("invalid cgroup path {path:?}")]
    InvalidCgroupPath {
        /// The offending relative path.
        path: String,
    },
    /// The resource settings contradict each other.
    #[error("invalid resources: {reason}")]
    InvalidResources {
        /// Which rule was broken.
        reason: &'static str,
    },
    /// The user could not be found in the container's `/etc/passwd`.
    #[error("unable to find user {name}: no matching entries in passwd file")]
    UserNotFound {
        /// The user name.
        name: String,
    },
    /// The group could not be found in the container's `/etc/group`.
    #[error("unable to find group {name}: no matching entries in group file")]
    GroupNotFound {
        /// The group name.
        name: String,
    },
    /// A mount in the container's root filesystem failed.
    #[error("failed to mount {what} on {target}")]
    Mount {
        /// Source or filesystem type.
        what: String,
        /// Mount point.
        target: PathBuf,
        /// Cause.
        #[source]
        source: nix::Error,
    },
    /// A system call failed.
    #[error("{call} failed")]
    Syscall {
        /// The call (and its argument when useful).
        call: &'static str,
        /// Cause.
        #[source]
        source: nix::Error,
    },
    /// Sending a signal failed.
    #[error("failed to send signal {signal} to process {pid}")]
    Kill {
        /// Target pid.
        pid: i32,
        /// Signal number.
        signal: i32,
        /// Cause.
        #[source]
        source: nix::Error,
    },
    /// A frame with an unknown kind byte.
    #[error("unknown frame kind {kind}")]
    UnknownFrame {
        /// The kind byte.
        kind: u8,
    },
    /// A frame longer than the protocol allows.
    #[error("frame of {len} bytes exceeds the limit")]
    FrameTooLarge {
        /// Announced length.
        len: u32,
    },
    /// A frame whose payload doesn't match its kind.
    #[error("malformed frame of kind {kind}")]
    BadFrame {
        /// The kind byte.
        kind: u8,
    },
    /// A frame whose JSON payload doesn't parse.
    #[error("malformed frame of kind {kind}")]
    BadFrameJson {
        /// The kind byte.
        kind: u8,
        /// Cause.
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    /// Wraps an io error with the operation and path.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// Wraps a failed system call.
    pub(crate) fn sys(call: &'static str, source: nix::Error) -> Self {
        Error::Syscall { call, source }
    }
}

/// Formats an error and all its sources as `outer: inner: innermost` (how Docker shows them).
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        out.push_str(": ");
        out.push_str(&e.to_string());
        cur = e.source();
    }
    out
}
