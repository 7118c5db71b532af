//! The vfs driver: every layer is a full copy of its parent. Slow and large, but it works
//! on any filesystem; Docker's fallback where overlayfs is unavailable.
//!
//! ```text
//! <root>/dir/<id>/      the layer's complete root filesystem
//! <root>/parent/<id>    (layers with a parent) the parent's id, for `changes` and `diff`
//! ```

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::archive::{self, Whiteouts};
use crate::refcount::RefCounts;
use crate::{changes, copy, fsutil};
use crate::{Change, Error, GraphDriver, LayerId, Result, Usage};

/// Layers as plain directories; `create` with a parent copies the parent in full.
#[derive(Debug)]
pub struct VfsDriver {
    dirs: PathBuf,
    parents: PathBuf,
    refs: RefCounts,
}

impl VfsDriver {
    /// Opens (creating if needed) the driver's home `root`, e.g. `/var/lib/rdocker/vfs`.
    pub fn new(root: &Path) -> Result<Self> {
        let dirs = root.join("dir");
        std::fs::create_dir_all(&dirs).map_err(|e| Error::io("create directory", &dirs, e))?;
        let dirs = std::fs::canonicalize(&dirs).map_err(|e| Error::io("resolve", &dirs, e))?;
        fsutil::spread_subdirs(&dirs);
        let parents = root.join("parent");
        std::fs::create_dir_all(&parents)
            .map_err(|e| Error::io("create directory", &parents, e))?;
        Ok(VfsDriver {
            dirs,
            parents,
            refs: RefCounts::default(),
        })
    }

    fn dir(&self, id: &LayerId) -> PathBuf {
        self.dirs.join(id.as_str())
    }

    fn existing_dir(&self, id: &LayerId) -> Result<PathBuf> {
        let dir = self.dir(id);
        if dir.is_dir() {
            Ok(dir)
        } else {
            Err(Error::NotFound(id.clone()))
        }
    }

    fn parent_file(&self, id: &LayerId) -> PathBuf {
        self.parents.join(id.as_str())
    }

    /// The tree of the layer's parent, `None` for a layer without one. Layers created before
    /// parents were recorded count as having none.
    fn parent_dir(&self, id: &LayerId) -> Result<Option<PathBuf>> {
        let path = self.parent_file(id);
        let parent = match std::fs::read_to_string(&path) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("read", path, e)),
        };
        let parent: LayerId = parent.trim().parse().map_err(|_| Error::Corrupt {
            id: id.clone(),
            reason: "the parent file does not hold a layer id",
        })?;
        self.existing_dir(&parent).map(Some)
    }

    fn create_from(&self, id: &LayerId, dir: &Path, parent: Option<&LayerId>) -> Result<()> {
        let Some(p) = parent else {
            // One left by a removal that crashed would give this layer a parent.
            fsutil::remove_all(&self.parent_file(id))?;
            return fsutil::create_dir(dir, 0o755);
        };
        let src = self.existing_dir(p)?;
        // The parent is recorded first, so that a layer directory never lacks it.
        fsutil::write_atomic(&self.parent_file(id), p.as_str().as_bytes())?;
        copy::copy_tree(&src, dir)
    }
}

impl GraphDriver for VfsDriver {
    fn name(&self) -> &'static str {
        "vfs"
    }

    fn create(&self, id: &LayerId, parent: Option<&LayerId>) -> Result<()> {
        let dir = self.dir(id);
        if dir.exists() {
            return Err(Error::AlreadyExists(id.clone()));
        }
        if let Some(p) = parent {
            self.existing_dir(p)?;
        }
        let result = self.create_from(id, &dir, parent);
        if result.is_err() {
            let _ = fsutil::remove_all(&dir);
            let _ = fsutil::remove_all(&self.parent_file(id));
        }
        result
    }

    fn get(&self, id: &LayerId) -> Result<PathBuf> {
        let mut refs = self.refs.lock();
        let dir = self.existing_dir(id)?;
        *refs.entry(id.clone()).or_insert(0) += 1;
        Ok(dir)
    }

    fn put(&self, id: &LayerId) -> Result<()> {
        let mut refs = self.refs.lock();
        self.existing_dir(id)?;
        match refs.get(id).copied() {
            Some(n) if n > 1 => {
                refs.insert(id.clone(), n - 1);
            }
            Some(_) => {
                refs.remove(id);
            }
            None => tracing::debug!(layer_id = %id, "put without get"),
        }
        Ok(())
    }

    fn remove(&self, id: &LayerId) -> Result<()> {
        let refs = self.refs.lock();
        if let Some(&mounts) = refs.get(id) {
            return Err(Error::InUse {
                id: id.clone(),
                mounts,
            });
        }
        fsutil::remove_all(&self.existing_dir(id)?)?;
        fsutil::remove_all(&self.parent_file(id))
    }

    fn exists(&self, id: &LayerId) -> bool {
        self.dir(id).is_dir()
    }

    fn diff_dir(&self, id: &LayerId) -> Result<PathBuf> {
        self.existing_dir(id)
    }

    fn apply_diff(&self, id: &LayerId, tar: &mut dyn Read) -> Result<u64> {
        archive::apply(&self.existing_dir(id)?, tar, Whiteouts::Delete)
    }

    fn changes(&self, id: &LayerId) -> Result<Vec<Change>> {
        let dir = self.existing_dir(id)?;
        let found = changes::tree_changes(self.parent_dir(id)?.as_deref(), &dir)?;
        Ok(changes::public(&found))
    }

    fn diff(&self, id: &LayerId) -> Result<Box<dyn Read + Send>> {
        let dir = self.existing_dir(id)?;
        // Listed before returning, so that a missing parent is an error of `diff` itself.
        let found = changes::tree_changes(self.parent_dir(id)?.as_deref(), &dir)?;
        changes::stream_tar(&dir.clone(), move |out| changes::vfs_tar(&dir, &found, out))
    }

    fn usage(&self, id: &LayerId) -> Result<Usage> {
        fsutil::usage(&self.existing_dir(id)?)
    }

    fn status(&self) -> Vec<(&'static str, String)> {
        // Docker's vfs reports no driver status either.
        Vec::new()
    }

    fn cleanup(&self) -> Result<()> {
        self.refs.lock().clear();
        Ok(())
    }
}
