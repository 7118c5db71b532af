//! A faithful recursive copy for the vfs driver: modes (setuid included), numeric owners,
//! times, symlinks, hard links within the tree, device nodes, fifos and xattrs.

use std::collections::HashMap;
use std::fs::Metadata;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use nix::sys::stat::SFlag;
use nix::sys::time::TimeSpec;

use crate::fsutil;
use crate::{Error, Result};

/// Inodes with more than one link already copied: (dev, ino) → their copy.
type Links = HashMap<(u64, u64), PathBuf>;

/// Copies the directory `src` to `dst`, which must not exist.
pub(crate) fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    let md = std::fs::symlink_metadata(src).map_err(|e| Error::io("stat", src, e))?;
    copy_dir(src, dst, &md, &mut Links::new())
}

fn copy_dir(src: &Path, dst: &Path, md: &Metadata, links: &mut Links) -> Result<()> {
    fsutil::create_dir(dst, 0o700)?;
    let entries = std::fs::read_dir(src).map_err(|e| Error::io("read directory", src, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("read directory", src, e))?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let md = std::fs::symlink_metadata(&from).map_err(|e| Error::io("stat", &from, e))?;
        if md.is_dir() {
            copy_dir(&from, &to, &md, links)?;
        } else {
            copy_non_dir(&from, &to, &md, links)?;
        }
    }
    // Last, so that creating the children does not change the copied mtime.
    copy_metadata(src, dst, md)
}

fn copy_non_dir(src: &Path, dst: &Path, md: &Metadata, links: &mut Links) -> Result<()> {
    let key = (md.dev(), md.ino());
    if md.nlink() > 1 {
        if let Some(first) = links.get(&key) {
            return std::fs::hard_link(first, dst).map_err(|e| Error::io("hard link", dst, e));
        }
    }
    let ft = md.file_type();
    if ft.is_file() {
        std::fs::copy(src, dst).map_err(|e| Error::io("copy", src, e))?;
    } else if ft.is_symlink() {
        let target = std::fs::read_link(src).map_err(|e| Error::io("read symlink", src, e))?;
        std::os::unix::fs::symlink(&target, dst)
            .map_err(|e| Error::io("create symlink", dst, e))?;
    } else {
        let kind = if ft.is_char_device() {
            SFlag::S_IFCHR
        } else if ft.is_block_device() {
            SFlag::S_IFBLK
        } else if ft.is_fifo() {
            SFlag::S_IFIFO
        } else {
            SFlag::S_IFSOCK
        };
        fsutil::mknod(dst, kind, md.mode(), md.rdev())?;
    }
    if md.nlink() > 1 {
        links.insert(key, dst.to_path_buf());
    }
    copy_metadata(src, dst, md)
}

/// Owner, then mode (chown clears setuid), xattrs, then times.
fn copy_metadata(src: &Path, dst: &Path, md: &Metadata) -> Result<()> {
    fsutil::lchown(dst, md.uid(), md.gid())?;
    if !md.file_type().is_symlink() {
        fsutil::chmod(dst, md.mode())?;
    }
    let names = xattr::list(src).map_err(|e| Error::io("list extended attributes of", src, e))?;
    for name in names {
        let value =
            xattr::get(src, &name).map_err(|e| Error::io("read extended attribute of", src, e))?;
        if let (Some(value), Some(name)) = (value, name.to_str()) {
            fsutil::set_xattr_lenient(dst, name, &value)?;
        }
    }
    fsutil::set_times(
        dst,
        TimeSpec::new(md.atime(), md.atime_nsec()),
        TimeSpec::new(md.mtime(), md.mtime_nsec()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_links_symlinks_and_times() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        std::fs::create_dir_all(src.join("d")).unwrap();
        std::fs::write(src.join("d/f"), b"hello").unwrap();
        std::fs::hard_link(src.join("d/f"), src.join("g")).unwrap();
        std::os::unix::fs::symlink("d/f", src.join("s")).unwrap();
        fsutil::chmod(&src.join("d/f"), 0o640).unwrap();
        let t = TimeSpec::new(1_000_000, 5);
        fsutil::set_times(&src.join("d"), t, t).unwrap();
        let dst = tmp.path().join("dst");
        copy_tree(&src, &dst).unwrap();
        let f = std::fs::metadata(dst.join("d/f")).unwrap();
        let g = std::fs::metadata(dst.join("g")).unwrap();
        assert_eq!(f.ino(), g.ino());
        assert_eq!(f.mode() & 0o7777, 0o640);
        assert_eq!(std::fs::read_link(dst.join("s")).unwrap(), Path::new("d/f"));
        assert_eq!(std::fs::read(dst.join("s")).unwrap(), b"hello");
        let d = std::fs::metadata(dst.join("d")).unwrap();
        assert_eq!((d.mtime(), d.mtime_nsec()), (1_000_000, 5));
    }
}
