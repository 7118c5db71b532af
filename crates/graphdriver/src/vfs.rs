//! The vfs driver: every layer is a full copy of its parent. Slow and large, but it works
//! on any filesystem; Docker's fallback where overlayfs is unavailable.
//!
//! ```text
//! <root>/dir/<id>/   the layer's complete root filesystem
//! ```

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::archive::{self, Whiteouts};
use crate::refcount::RefCounts;
use crate::{copy, fsutil};
use crate::{Error, GraphDriver, LayerId, Result, Usage};

/// Layers as plain directories; `create` with a parent copies the parent in full.
#[derive(Debug)]
pub struct VfsDriver {
    dirs: PathBuf,
    refs: RefCounts,
}

impl VfsDriver {
    /// Opens (creating if needed) the driver's home `root`, e.g. `/var/lib/rdocker/vfs`.
    pub fn new(root: &Path) -> Result<Self> {
        let dirs = root.join("dir");
        std::fs::create_dir_all(&dirs).map_err(|e| Error::io("create directory", &dirs, e))?;
        let dirs = std::fs::canonicalize(&dirs).map_err(|e| Error::io("resolve", &dirs, e))?;
        Ok(VfsDriver {
            dirs,
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
        let result = match parent {
            None => fsutil::create_dir(&dir, 0o755),
            Some(p) => {
                let src = self.existing_dir(p)?;
                copy::copy_tree(&src, &dir)
            }
        };
        if result.is_err() {
            let _ = fsutil::remove_all(&dir);
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
        fsutil::remove_all(&self.existing_dir(id)?)
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
