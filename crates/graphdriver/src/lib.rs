//! Layer storage for rdocker: the graph drivers that hold image and container layers on disk
//! and present a stack of them as one root filesystem.
//!
//! This crate owns everything under `<data-root>/<driver>/`: the layer directories, the
//! union mounts of them ([`Overlay2Driver`]) or full copies ([`VfsDriver`]), unpacking
//! layer tars with their whiteouts ([`GraphDriver::apply_diff`]), and listing and packing
//! what a layer changed ([`GraphDriver::changes`], [`GraphDriver::diff`]). It knows nothing about
//! images, digests or containers: the image store and the daemon's services decide which
//! layers exist and call this crate by [`LayerId`].
//!
//! It must not depend on the `api` crate, on the daemon, or on any other driver crate.
//! It uses no `unsafe`: the syscalls it needs (mount, mknod, utimensat, xattrs) come from
//! `nix` and `xattr`.
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod archive;
mod changes;
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

pub use changes::{Change, ChangeKind};
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
    /// Creates an empty read-write layer for a container: like [`create`](Self::create), but
    /// for a layer that starts nearly empty, so the driver may place it where it is cheapest
    /// to make.
    fn create_rw(&self, id: &LayerId, parent: Option<&LayerId>) -> Result<()> {
        self.create(id, parent)
    }
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
    /// bytes it wrote (regular files' sizes and symlinks' target lengths, which is what Docker's
    /// overlay2 reports as a layer's size). On error the layer is left half-written: the caller
    /// removes it.
    fn apply_diff(&self, id: &LayerId, tar: &mut dyn Read) -> Result<u64>;
    /// What changed in layer `id` relative to its parent (for `docker diff`), sorted by path.
    ///
    /// Both drivers compare the union of the layer and its ancestors with the union of the
    /// ancestors alone, by the rule of Docker's `ChangesDirs` (moby `pkg/archive/changes.go`):
    /// - a path only in the layer's union is Added; so is every entry below an added directory
    ///   (a layer without a parent is all Added);
    /// - a path only in the parent's union is Deleted; a deleted directory is one entry;
    /// - a path in both is Modified when its type, permission bits, owner, device number,
    ///   symlink target or xattrs differ, or for a non-directory its size or mtime (content is
    ///   not read). A directory's own mtime is ignored, but a directory with any change below
    ///   it is Modified: `touch /tmp/x` gives `C /tmp`, `A /tmp/x`. `/` is never listed;
    /// - an opaque directory (overlay2, after e.g. `rm -rf /d && mkdir /d`) follows: `/d` is
    ///   Modified, each entry of the parent's `/d` that the layer lacks is Deleted, its own
    ///   entries are Added (Modified if the parent had that name). vfs reports the same.
    ///
    /// One difference remains: an overlay2 file copied up into the layer is Modified even if
    /// only linked (`ln /lower-file /x` lists `/lower-file`), where vfs compares stat fields.
    fn changes(&self, id: &LayerId) -> Result<Vec<Change>>;
    /// An uncompressed tar of layer `id`'s changes relative to its parent (for `docker
    /// commit`/save): added and modified files/dirs/symlinks/hardlinks/devices with ownership,
    /// mode, mtime and xattrs; deletions as aufs whiteouts `.wh.<name>`; a directory whose
    /// lower contents were hidden as `.wh..wh..opq`. [`apply_diff`](Self::apply_diff) of it
    /// onto a layer with the same parent gives the same union.
    ///
    /// The tar is produced on a thread while it is read (a few chunks are buffered); an error
    /// after the start comes out of `read`. Read it to the end or drop it: a reader kept
    /// unread holds the thread.
    fn diff(&self, id: &LayerId) -> Result<Box<dyn Read + Send>>;
    /// Bytes and inodes of the layer's own files (hard links counted once).
    fn usage(&self, id: &LayerId) -> Result<Usage>;
    /// Key/value pairs for `GET /info`'s `DriverStatus`.
    fn status(&self) -> Vec<(&'static str, String)>;
    /// Unmounts everything this driver mounted (daemon shutdown).
    fn cleanup(&self) -> Result<()>;
}
