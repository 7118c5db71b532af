//! The overlay2 driver, with Docker's on-disk layout:
//!
//! ```text
//! <root>/<id>/diff/     the layer's own files (overlay upperdir when it is the top layer)
//! <root>/<id>/link      26-char short name; <root>/l/<short> -> ../<id>/diff
//! <root>/<id>/lower     (layers with a parent) l/<short> of every ancestor, nearest first
//! <root>/<id>/work/     (layers with a parent) overlay workdir
//! <root>/<id>/merged/   (layers with a parent) mount point of the union
//! ```
//! The short links keep the mount option string, which must fit in one page, short.

mod support;

use std::io::Read;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};

use crate::archive::{self, Whiteouts};
use crate::refcount::RefCounts;
use crate::{changes, fsutil, mountinfo};
use crate::{Change, Error, GraphDriver, LayerId, Result, Usage};

const DRIVER: &str = "overlay2";
const LINK_DIR: &str = "l";
/// Where read-write layers are made before they are renamed into the root.
const STAGING_DIR: &str = "staging";
const SHORT_LEN: usize = 26;

/// Layers as overlayfs mounts: each layer's `diff` is an overlay layer, and `get` mounts a
/// layer with a parent at its `merged` directory.
#[derive(Debug)]
pub struct Overlay2Driver {
    root: PathBuf,
    refs: RefCounts,
    support: support::Support,
}

impl Overlay2Driver {
    /// Opens (creating if needed) the driver's home `root`, e.g. `/var/lib/rdocker/overlay2`.
    /// Fails with [`Error::NotSupported`] or [`Error::Mount`] when overlay2 cannot work there.
    pub fn new(root: &Path) -> Result<Self> {
        let root = prepare_root(root)?;
        fsutil::spread_subdirs(&root);
        let support = support::check(&root)?;
        let links = root.join(LINK_DIR);
        if !links.is_dir() {
            fsutil::create_dir(&links, 0o700)?;
        }
        // Read-write layers are made here, then renamed into the root (see `create_rw`); what
        // an interrupted create left is dropped.
        let staging = root.join(STAGING_DIR);
        if staging.is_dir() {
            fsutil::remove_all(&staging)?;
        }
        fsutil::create_dir(&staging, 0o700)?;
        Ok(Overlay2Driver {
            root,
            refs: RefCounts::default(),
            support,
        })
    }

    /// Whether overlay2 works under `root`: the kernel has overlay and a test mount in a
    /// scratch directory under `root` succeeds. Creates `root` if missing.
    pub fn supported(root: &Path) -> bool {
        match prepare_root(root).and_then(|r| support::check(&r)) {
            Ok(_) => true,
            Err(error) => {
                tracing::info!(root = %root.display(), %error, "overlay2 not supported");
                false
            }
        }
    }

    fn dir(&self, id: &LayerId) -> PathBuf {
        self.root.join(id.as_str())
    }

    /// Makes layer `id` in `build`: its own dir, or a staging dir renamed there once complete.
    /// On failure nothing of it is left.
    fn make(&self, id: &LayerId, parent: Option<&LayerId>, build: PathBuf) -> Result<()> {
        let dir = self.dir(id);
        if dir.exists() {
            return Err(Error::AlreadyExists(id.clone()));
        }
        if let Some(p) = parent {
            self.existing_dir(p)?;
        }
        fsutil::create_dir(&build, 0o700)?;
        let result = self.create_in(id, &build, parent).and_then(|()| {
            if build == dir {
                return Ok(());
            }
            std::fs::rename(&build, &dir).map_err(|e| Error::io("rename", &build, e))
        });
        if result.is_err() {
            if let Ok(short) = std::fs::read_to_string(build.join("link")) {
                let _ = fsutil::remove_all(&self.root.join(LINK_DIR).join(short.trim()));
            }
            let _ = fsutil::remove_all(&build);
        }
        result
    }

    fn existing_dir(&self, id: &LayerId) -> Result<PathBuf> {
        let dir = self.dir(id);
        if dir.is_dir() {
            Ok(dir)
        } else {
            Err(Error::NotFound(id.clone()))
        }
    }

    /// The `lower` file's content, or `None` for a layer without a parent.
    fn lower(&self, id: &LayerId) -> Result<Option<String>> {
        let path = self.dir(id).join("lower");
        match std::fs::read_to_string(&path) {
            Ok(s) => Ok(Some(s.trim().to_owned())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read", path, e)),
        }
    }

    /// The diff directories of the layer's ancestors, nearest first (via their `l/` links).
    fn lower_dirs(&self, id: &LayerId) -> Result<Vec<PathBuf>> {
        let lower = self.lower(id)?.unwrap_or_default();
        let dirs: Vec<PathBuf> = lower
            .split(':')
            .filter(|l| !l.is_empty())
            .map(|l| self.root.join(l))
            .collect();
        if let Some(missing) = dirs.iter().find(|d| !d.is_dir()) {
            tracing::warn!(layer_id = %id, lower = %missing.display(), "lower layer missing");
            return Err(Error::Corrupt {
                id: id.clone(),
                reason: "a lower layer of the lower file is missing",
            });
        }
        Ok(dirs)
    }

    fn link(&self, id: &LayerId) -> Result<String> {
        let path = self.dir(id).join("link");
        let link = std::fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))?;
        let link = link.trim();
        if link.len() == SHORT_LEN && link.bytes().all(|b| b.is_ascii_alphanumeric()) {
            Ok(link.to_owned())
        } else {
            Err(Error::Corrupt {
                id: id.clone(),
                reason: "the link file is not a short id",
            })
        }
    }

    fn create_in(&self, id: &LayerId, dir: &Path, parent: Option<&LayerId>) -> Result<()> {
        fsutil::create_dir(&dir.join("diff"), 0o755)?;
        let short = self.make_link(id)?;
        let link_file = dir.join("link");
        std::fs::write(&link_file, &short).map_err(|e| Error::io("write", &link_file, e))?;
        let Some(parent) = parent else {
            return Ok(());
        };
        let mut lower = format!("{LINK_DIR}/{}", self.link(parent)?);
        if let Some(grand) = self.lower(parent)? {
            lower.push(':');
            lower.push_str(&grand);
        }
        let lower_file = dir.join("lower");
        std::fs::write(&lower_file, lower).map_err(|e| Error::io("write", &lower_file, e))?;
        fsutil::create_dir(&dir.join("work"), 0o700)?;
        fsutil::create_dir(&dir.join("merged"), 0o700)
    }

    /// Creates `l/<short> -> ../<id>/diff` under a fresh random short name.
    fn make_link(&self, id: &LayerId) -> Result<String> {
        let target = Path::new("..").join(id.as_str()).join("diff");
        loop {
            let short = short_id();
            let path = self.root.join(LINK_DIR).join(&short);
            match std::os::unix::fs::symlink(&target, &path) {
                Ok(()) => return Ok(short),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io("create symlink", path, e)),
            }
        }
    }

    fn mount(&self, id: &LayerId, lower: &str) -> Result<PathBuf> {
        let dir = self.dir(id);
        let merged = dir.join("merged");
        if mountinfo::is_mountpoint(&merged)? {
            // Left by a daemon that crashed: its lower list may be stale, so start afresh.
            tracing::info!(layer_id = %id, "replacing stale overlay mount");
            unmount(&merged)?;
        }
        let lowers: Vec<String> = lower
            .split(':')
            .map(|l| self.root.join(l).display().to_string())
            .collect();
        let data = format!(
            "lowerdir={},upperdir={},workdir={}",
            lowers.join(":"),
            dir.join("diff").display(),
            dir.join("work").display()
        );
        let max = page_size() - 1;
        if data.len() > max {
            return Err(Error::MountOptionsTooLong {
                id: id.clone(),
                len: data.len(),
                max,
            });
        }
        nix::mount::mount(
            Some("overlay"),
            &merged,
            Some("overlay"),
            MsFlags::empty(),
            Some(data.as_str()),
        )
        .map_err(|source| Error::Mount {
            path: merged.clone(),
            source,
        })?;
        tracing::debug!(layer_id = %id, "overlay mounted");
        Ok(merged)
    }

    /// Unmounts `merged` of `id` if something is mounted there.
    fn unmount_if_mounted(&self, id: &LayerId) -> Result<()> {
        let merged = self.dir(id).join("merged");
        if mountinfo::is_mountpoint(&merged)? {
            unmount(&merged)?;
        }
        Ok(())
    }
}

impl GraphDriver for Overlay2Driver {
    fn name(&self) -> &'static str {
        DRIVER
    }

    fn create(&self, id: &LayerId, parent: Option<&LayerId>) -> Result<()> {
        self.make(id, parent, self.dir(id))
    }

    /// Made in `staging/` (whose subdirectories are placed near it) and renamed into the root,
    /// whose subdirectories are spread over the filesystem (good for image layers, which get
    /// many files; about half a millisecond per layer dir made there).
    fn create_rw(&self, id: &LayerId, parent: Option<&LayerId>) -> Result<()> {
        self.make(id, parent, self.root.join(STAGING_DIR).join(id.as_str()))
    }

    fn get(&self, id: &LayerId) -> Result<PathBuf> {
        let mut refs = self.refs.lock();
        let dir = self.existing_dir(id)?;
        let count = refs.get(id).copied().unwrap_or(0);
        let path = match self.lower(id)? {
            None => dir.join("diff"),
            Some(_) if count > 0 => dir.join("merged"),
            Some(lower) => self.mount(id, &lower)?,
        };
        refs.insert(id.clone(), count + 1);
        Ok(path)
    }

    fn put(&self, id: &LayerId) -> Result<()> {
        let mut refs = self.refs.lock();
        self.existing_dir(id)?;
        match refs.get(id).copied().unwrap_or(0) {
            n if n > 1 => {
                refs.insert(id.clone(), n - 1);
                Ok(())
            }
            n => {
                // n == 0: not mounted by us, but maybe by a daemon that crashed.
                if self.lower(id)?.is_some() {
                    self.unmount_if_mounted(id)?;
                }
                if n == 1 {
                    refs.remove(id);
                }
                Ok(())
            }
        }
    }

    fn remove(&self, id: &LayerId) -> Result<()> {
        let refs = self.refs.lock();
        if let Some(&mounts) = refs.get(id) {
            return Err(Error::InUse {
                id: id.clone(),
                mounts,
            });
        }
        let dir = self.existing_dir(id)?;
        self.unmount_if_mounted(id)?;
        match self.link(id) {
            Ok(short) => fsutil::remove_all(&self.root.join(LINK_DIR).join(short))?,
            Err(error) => tracing::warn!(layer_id = %id, %error, "no short link to remove"),
        }
        fsutil::remove_all(&dir)
    }

    fn exists(&self, id: &LayerId) -> bool {
        self.dir(id).is_dir()
    }

    fn diff_dir(&self, id: &LayerId) -> Result<PathBuf> {
        Ok(self.existing_dir(id)?.join("diff"))
    }

    fn apply_diff(&self, id: &LayerId, tar: &mut dyn Read) -> Result<u64> {
        archive::apply(&self.diff_dir(id)?, tar, Whiteouts::Overlay)
    }

    fn changes(&self, id: &LayerId) -> Result<Vec<Change>> {
        let upper = self.diff_dir(id)?;
        let found = changes::overlay_changes(&upper, &self.lower_dirs(id)?)?;
        Ok(changes::public(&found))
    }

    fn diff(&self, id: &LayerId) -> Result<Box<dyn Read + Send>> {
        let upper = self.diff_dir(id)?;
        changes::stream_tar(&upper.clone(), move |out| changes::overlay_tar(&upper, out))
    }

    fn usage(&self, id: &LayerId) -> Result<Usage> {
        fsutil::usage(&self.diff_dir(id)?)
    }

    fn status(&self) -> Vec<(&'static str, String)> {
        vec![
            ("Backing Filesystem", self.support.backing_fs.to_owned()),
            ("Supports d_type", self.support.d_type.to_string()),
            ("Using metacopy", "false".to_owned()),
            ("Native Overlay Diff", "true".to_owned()),
        ]
    }

    fn cleanup(&self) -> Result<()> {
        let mut refs = self.refs.lock();
        refs.clear();
        // Every `<root>/*/merged` mount is ours: our own and those of a daemon that crashed.
        // Other mounts under root (root itself may be a dedicated disk) are left alone.
        let mut first_error = None;
        let ours = mountinfo::mountpoints_under(&self.root)?
            .into_iter()
            .filter(|m| {
                m.ends_with("merged") && m.parent().and_then(Path::parent) == Some(&self.root)
            });
        for mount in ours {
            if let Err(e) = unmount(&mount) {
                tracing::warn!(path = %mount.display(), error = %e, "unmount at cleanup failed");
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Creates `root` if needed and returns its canonical path (mountinfo shows canonical paths).
fn prepare_root(root: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(root).map_err(|e| Error::io("create directory", root, e))?;
    std::fs::canonicalize(root).map_err(|e| Error::io("resolve", root, e))
}

/// Lazy unmount, as Docker's overlay2 `Put` does: a process still using the rootfs (e.g. a
/// lingering `exec`) keeps it alive instead of failing the unmount.
fn unmount(path: &Path) -> Result<()> {
    match nix::mount::umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => Ok(()),
        Err(source) => Err(Error::Unmount {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn page_size() -> usize {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(4096)
}

/// A random 26-character id in base32 (`A-Z2-7`), like Docker's `generateID`.
fn short_id() -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let bytes = *uuid::Uuid::new_v4().as_bytes();
    let bits = u128::from_be_bytes(bytes);
    (0..SHORT_LEN)
        .map(|i| {
            // 26 * 5 = 130 bits: the last digit takes the low 3 bits, padded with zeros.
            let shift = 128i32 - 5 * (i as i32 + 1);
            let v = if shift >= 0 {
                bits >> shift
            } else {
                bits << -shift
            };
            char::from(ALPHABET[(v & 0x1f) as usize])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_are_26_base32_chars_and_differ() {
        let a = short_id();
        let b = short_id();
        assert_eq!(a.len(), SHORT_LEN);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_uppercase() || (b'2'..=b'7').contains(&c)));
        assert_ne!(a, b);
    }
}
