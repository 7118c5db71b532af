//! The crate's error type.

use std::path::PathBuf;

use crate::LayerId;

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a graph driver can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The string is not a layer id (64 lowercase hex digits, optionally `-init`).
    #[error("invalid layer id {0:?}")]
    InvalidId(String),
    /// No layer with this id exists.
    #[error("layer {0} not found")]
    NotFound(LayerId),
    /// A layer with this id exists already.
    #[error("layer {0} already exists")]
    AlreadyExists(LayerId),
    /// The layer is mounted (`get` without its `put`).
    #[error("layer {id} is in use ({mounts} mounts)")]
    InUse {
        /// The layer.
        id: LayerId,
        /// Outstanding `get`s.
        mounts: u32,
    },
    /// The driver cannot work on this host or backing filesystem.
    #[error("{driver} is not supported on {root}: {reason}")]
    NotSupported {
        /// The driver's name.
        driver: &'static str,
        /// The driver's home directory.
        root: PathBuf,
        /// What is missing.
        reason: &'static str,
    },
    /// A filesystem operation failed.
    #[error("cannot {op} {path}")]
    Io {
        /// What was being done, e.g. "create directory".
        op: &'static str,
        /// The file it was done to.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Mounting the union filesystem failed.
    #[error("failed to mount overlay at {path}")]
    Mount {
        /// The mount point.
        path: PathBuf,
        /// The cause.
        #[source]
        source: nix::Error,
    },
    /// Unmounting failed.
    #[error("failed to unmount {path}")]
    Unmount {
        /// The mount point.
        path: PathBuf,
        /// The cause.
        #[source]
        source: nix::Error,
    },
    /// The overlay mount options do not fit in one page (too many lower layers).
    #[error("mount options for layer {id} are {len} bytes, over the {max}-byte page limit")]
    MountOptionsTooLong {
        /// The layer being mounted.
        id: LayerId,
        /// Length of the option string.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The layer's metadata (`link`, `lower`) is missing or malformed.
    #[error("layer {id} is corrupt: {reason}")]
    Corrupt {
        /// The layer.
        id: LayerId,
        /// What is wrong.
        reason: &'static str,
    },
    /// Reading the layer tar failed (truncated or not a tar).
    #[error("cannot read layer tar for {layer}")]
    ReadTar {
        /// The directory being unpacked into.
        layer: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A tar entry would write outside the layer (or through a symlink); the tar is rejected.
    #[error("refusing to unpack {entry:?}: {reason}")]
    UnsafePath {
        /// The entry's name as found in the tar.
        entry: PathBuf,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The overlay2 layer uses an overlayfs feature (`redirect_dir`, `metacopy`) that its
    /// diff directory alone cannot describe, so `changes`/`diff` cannot walk it.
    #[error("cannot diff {path}: it carries the overlay xattr {xattr}")]
    NotNativeDiff {
        /// The entry carrying the xattr.
        path: PathBuf,
        /// The xattr's name.
        xattr: &'static str,
    },
    /// A tar entry of a type that cannot be unpacked.
    #[error("unsupported tar entry type {kind:?} for {entry:?}")]
    UnsupportedEntry {
        /// The entry's name as found in the tar.
        entry: PathBuf,
        /// The tar type flag.
        kind: char,
    },
}

impl Error {
    /// An [`Error::Io`] for `op` on `path`.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// An [`Error::Io`] from a `nix` call.
    pub(crate) fn nix(op: &'static str, path: impl Into<PathBuf>, source: nix::Error) -> Self {
        Error::io(op, path, std::io::Error::from(source))
    }
}
