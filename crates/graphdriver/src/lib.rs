//! Layer storage for rdocker: the graph drivers that hold image and container layers on disk
//! and present a stack of them as one root filesystem.
//!
//! This crate owns everything under `<data-root>/<driver>/`: the layer directories, the
//! union mounts of them ([`Overlay2Driver`]) or full copies ([`VfsDriver`]), and unpacking
//! layer tars with their whiteouts ([`GraphDriver::apply_diff`]). It knows nothing about
//! images, digests or containers: the image store and the daemon's services decide which
//! layers exist and call this crate by [`LayerId`].
//!
//! It must not depend on the `api` crate, on the daemon, or on any other driver crate.
//! It uses no `unsafe`: the syscalls it needs (mount, mknod, utimensat, xattrs) come from
//! `nix` and `xattr`.
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod archive;
pub mod conformance;
mod copy;
mod error;
mod fsutil;
mod id;
mod mountinfo;
mod overlay2;
mod refcount;
mod vfs;

use std::io::Read;
use std::path::PathBuf;

pub use error::{Error, Result};
pub use id::LayerId;
pub use overlay2::Overlay2Driver;
pub use vfs::VfsDriver;

/// Space used by one layer's own files (not its ancestors').
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Apparent size in bytes of the non-directory entries, each inode counted once.
    pub size: u64,
    /// Number of distinct inodes below the layer's directory.
    pub inodes: u64,
}

/// A storage driver for layers.
///
/// Vocabulary: a *layer* is a directory of files identified by a [`LayerId`], with an
/// optional *parent*. Its *diff dir* holds the layer's own files; its *rootfs* (from
/// [`get`](Self::get)) is the union of the layer and all its ancestors.
///
/// Lifecycle: image layer: `create(id, parent)` → `apply_diff` (read-only once it has a
/// child). Container layer: `create(id, parent)` → `get` … `put` → `remove`. Every `get` is
/// paired with one `put`; mounts are reference counted in memory, and a layer with a
/// non-zero count cannot be removed. Stale mounts left by a crashed daemon are replaced on
/// the first `get` and removed by `put`, `remove` and `cleanup`.
pub trait GraphDriver: Send + Sync {
    /// The driver's name as Docker reports it: `"overlay2"` or `"vfs"`.
    fn name(&self) -> &'static str;
    /// Creates an empty layer on top of `parent` (an image layer or a container layer alike).
    fn create(&self, id: &LayerId, parent: Option<&LayerId>) -> Result<()>;
    /// Mounts the layer (reference counted) and returns the path of its root filesystem.
    fn get(&self, id: &LayerId) -> Result<PathBuf>;
    /// Releases one [`get`](Self::get); unmounts when the count reaches zero.
    fn put(&self, id: &LayerId) -> Result<()>;
    /// Deletes the layer; [`Error::InUse`] while it is mounted.
    fn remove(&self, id: &LayerId) -> Result<()>;
    /// Whether the layer exists on disk.
    fn exists(&self, id: &LayerId) -> bool;
    /// The directory holding this layer's own files (the daemon writes the init layer here).
    fn diff_dir(&self, id: &LayerId) -> Result<PathBuf>;
    /// Unpacks an uncompressed layer tar, whiteouts included, into the layer; returns the
    /// sum of the regular files' sizes. On error the layer is left half-written: the caller
    /// removes it.
    fn apply_diff(&self, id: &LayerId, tar: &mut dyn Read) -> Result<u64>;
    /// Bytes and inodes of the layer's own files (hard links counted once).
    fn usage(&self, id: &LayerId) -> Result<Usage>;
    /// Key/value pairs for `GET /info`'s `DriverStatus`.
    fn status(&self) -> Vec<(&'static str, String)>;
    /// Unmounts everything this driver mounted (daemon shutdown).
    fn cleanup(&self) -> Result<()>;
}
