//! Small filesystem helpers shared by the drivers and the tar unpacker. None of them follow
//! a symlink in the last path component.

use std::collections::HashSet;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

use nix::sys::stat::{Mode, SFlag};
use nix::sys::time::TimeSpec;

use crate::{Error, Result, Usage};

/// Creates one directory with `mode` (before the umask).
pub(crate) fn create_dir(path: &Path, mode: u32) -> Result<()> {
    std::fs::DirBuilder::new()
        .mode(mode)
        .create(path)
        .map_err(|e| Error::io("create directory", path, e))
}

/// Starts writing `len` bytes of `file` from `offset` to disk without waiting (and without
/// keeping them cached once written): the layer is flushed as a whole when the image that uses
/// it is committed, and by then most of its data is already on disk instead of being written
/// all at once. `POSIX_FADV_DONTNEED` starts writeback of dirty pages; failure is harmless.
pub(crate) fn start_writeback(file: &std::fs::File, offset: u64, len: u64) {
    use nix::fcntl::{posix_fadvise, PosixFadviseAdvice};
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    let _ = posix_fadvise(file, offset, len, PosixFadviseAdvice::POSIX_FADV_DONTNEED);
}

/// Asks the filesystem to place each new subdirectory of `dir` in a block group of its own,
/// as it does for top-level directories (ext2/3/4's `FS_TOPDIR_FL`, `chattr +T`). Without it
/// every layer's inodes come from the group of the layers just removed, and ext4 without a
/// journal skips each inode freed in the last minutes one by one on every allocation: after a
/// few image removals, unpacking a layer of a few hundred files costs tens of milliseconds
/// more. Only a placement hint: filesystems without the flag refuse it, which is fine.
pub(crate) fn spread_subdirs(dir: &Path) {
    use rustix::fs::{ioctl_getflags, ioctl_setflags, IFlags};
    let set = || -> std::io::Result<()> {
        let f = std::fs::File::open(dir)?;
        let flags = ioctl_getflags(&f)?;
        if !flags.contains(IFlags::TOPDIR) {
            ioctl_setflags(&f, flags | IFlags::TOPDIR)?;
        }
        Ok(())
    };
    if let Err(e) = set() {
        tracing::debug!(dir = %dir.display(), error = %e, "subdirectories are not spread");
    }
}

/// Replaces the file at `path` with `data`: written to a temporary file next to it, synced,
/// then renamed over it, so that a crash leaves the old or the new content, never a part.
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
    let tmp = std::path::PathBuf::from(tmp);
    let written = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(data).and_then(|()| f.sync_all()))
        .map_err(|e| Error::io("write", &tmp, e))
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| Error::io("rename", &tmp, e)));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Removes whatever is at `path` (a directory recursively); absent is fine.
pub(crate) fn remove_all(path: &Path) -> Result<()> {
    let res = match std::fs::symlink_metadata(path) {
        Ok(md) if md.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) => Err(e),
    };
    match res {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io("remove", path, e)),
        _ => Ok(()),
    }
}

/// `lchown(2)`: numeric owner, not following a symlink.
pub(crate) fn lchown(path: &Path, uid: u32, gid: u32) -> Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).map_err(|e| Error::io("chown", path, e))
}

/// `chmod(2)` with all 12 mode bits. Call it after [`lchown`], which clears setuid/setgid,
/// and never on a symlink (chmod follows it).
pub(crate) fn chmod(path: &Path, mode: u32) -> Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o7777))
        .map_err(|e| Error::io("chmod", path, e))
}

/// Sets access and modification times without following a symlink.
pub(crate) fn set_times(path: &Path, atime: TimeSpec, mtime: TimeSpec) -> Result<()> {
    nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        path,
        &atime,
        &mtime,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .map_err(|e| Error::nix("set times of", path, e))
}

/// `mknod(2)` for character/block devices, fifos and sockets.
pub(crate) fn mknod(path: &Path, kind: SFlag, perm: u32, dev: u64) -> Result<()> {
    nix::sys::stat::mknod(path, kind, Mode::from_bits_truncate(perm & 0o7777), dev)
        .map_err(|e| Error::nix("mknod", path, e))
}

/// Sets an extended attribute on `path` itself (not a symlink's target).
pub(crate) fn set_xattr(path: &Path, name: &str, value: &[u8]) -> Result<()> {
    xattr::set(path, name, value).map_err(|e| Error::io("set extended attribute on", path, e))
}

/// Sets an xattr that came from a tar or a copied file. As Docker does, a filesystem that
/// does not support it (or does not let us set it) only costs a warning: many backing
/// filesystems lack `user.*` or `security.*` attributes.
pub(crate) fn set_xattr_lenient(path: &Path, name: &str, value: &[u8]) -> Result<()> {
    match xattr::set(path, name, value) {
        Err(e) if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EPERM)) => {
            tracing::warn!(path = %path.display(), xattr = name, error = %e, "xattr not preserved");
            Ok(())
        }
        res => res.map_err(|e| Error::io("set extended attribute on", path, e)),
    }
}

/// Bytes (apparent size of everything but directories) and inodes below `dir`, each inode
/// counted once, as Docker's `directory.Usage` does. `dir` itself is not counted.
pub(crate) fn usage(dir: &Path) -> Result<Usage> {
    let mut seen = HashSet::new();
    let mut usage = Usage::default();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| Error::io("read directory", &d, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("read directory", &d, e))?;
            let path = entry.path();
            let md = std::fs::symlink_metadata(&path).map_err(|e| Error::io("stat", &path, e))?;
            if md.is_dir() {
                stack.push(path);
            }
            if seen.insert((md.dev(), md.ino())) {
                usage.inodes += 1;
                if !md.is_dir() {
                    usage.size += md.len();
                }
            }
        }
    }
    Ok(usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_counts_hardlinks_once_and_skips_dirs() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::create_dir(d.join("sub")).unwrap();
        std::fs::write(d.join("sub/a"), vec![0u8; 1000]).unwrap();
        std::fs::hard_link(d.join("sub/a"), d.join("b")).unwrap();
        std::fs::write(d.join("c"), b"xyz").unwrap();
        std::os::unix::fs::symlink("c", d.join("s")).unwrap();
        let u = usage(d).unwrap();
        assert_eq!(u.size, 1000 + 3 + 1);
        assert_eq!(u.inodes, 4); // sub, a(=b), c, s
    }

    #[test]
    fn remove_all_handles_missing_files_and_dirs() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        remove_all(&d.join("missing")).unwrap();
        std::fs::create_dir_all(d.join("x/y")).unwrap();
        std::os::unix::fs::symlink("/etc", d.join("l")).unwrap();
        remove_all(&d.join("x")).unwrap();
        remove_all(&d.join("l")).unwrap();
        assert!(std::fs::read_dir(d).unwrap().next().is_none());
        assert!(Path::new("/etc").is_dir());
    }
}
