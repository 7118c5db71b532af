//! Whether overlay2 can work under a given root: kernel support, backing filesystem, d_type,
//! and a real test mount.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};
use nix::sys::statfs::{self, FsType};

use crate::fsutil;
use crate::{Error, Result};

use super::DRIVER;

/// Facts about the backing filesystem, reported by `status()`.
#[derive(Debug, Clone)]
pub(super) struct Support {
    pub(super) backing_fs: &'static str,
    pub(super) d_type: bool,
}

fn not_supported(root: &Path, reason: &'static str) -> Error {
    Error::NotSupported {
        driver: DRIVER,
        root: root.to_path_buf(),
        reason,
    }
}

/// Checks everything overlay2 needs under `root` (which must exist), as Docker's
/// `overlay2.Init` does, and ends with a real test mount.
pub(super) fn check(root: &Path) -> Result<Support> {
    let filesystems = std::fs::read_to_string("/proc/filesystems")
        .map_err(|e| Error::io("read", "/proc/filesystems", e))?;
    if !filesystems
        .lines()
        .any(|l| l.split_whitespace().last() == Some("overlay"))
    {
        return Err(not_supported(root, "overlay is not in /proc/filesystems"));
    }
    // The lowerdir/upperdir option syntax has no escapes for these.
    if root
        .as_os_str()
        .as_bytes()
        .iter()
        .any(|b| matches!(b, b':' | b','))
    {
        return Err(not_supported(root, "the path contains ':' or ','"));
    }
    let backing_fs = backing_fs_name(root)?;
    if backing_fs == "overlayfs" {
        return Err(not_supported(
            root,
            "the backing filesystem is itself overlayfs",
        ));
    }
    let scratch = root.join(format!("check-overlay-{}", uuid::Uuid::new_v4().simple()));
    fsutil::create_dir(&scratch, 0o700)?;
    let result = check_in(root, &scratch);
    let removed = fsutil::remove_all(&scratch);
    let d_type = result?;
    removed?;
    if !d_type {
        // Overlayfs misbehaves without d_type: https://docs.docker.com/storage/storagedriver/overlayfs-driver/
        return Err(not_supported(
            root,
            "the backing filesystem does not support d_type",
        ));
    }
    Ok(Support { backing_fs, d_type })
}

/// Test-mounts a two-lower overlay in `scratch`; returns whether readdir reports d_type.
fn check_in(root: &Path, scratch: &Path) -> Result<bool> {
    let dirs: Vec<PathBuf> = ["lower1", "lower2", "upper", "work", "merged"]
        .iter()
        .map(|d| scratch.join(d))
        .collect();
    for d in &dirs {
        fsutil::create_dir(d, 0o700)?;
    }
    let probe = dirs[0].join("probe");
    std::fs::write(&probe, b"").map_err(|e| Error::io("write", &probe, e))?;
    let d_type = has_d_type(&dirs[0])?;
    let data = format!(
        "lowerdir={}:{},upperdir={},workdir={}",
        dirs[1].display(),
        dirs[0].display(),
        dirs[2].display(),
        dirs[3].display()
    );
    let merged = &dirs[4];
    nix::mount::mount(
        Some("overlay"),
        merged,
        Some("overlay"),
        MsFlags::empty(),
        Some(data.as_str()),
    )
    .map_err(|source| Error::Mount {
        path: merged.clone(),
        source,
    })?;
    let visible = merged.join("probe").exists();
    nix::mount::umount2(merged, MntFlags::MNT_DETACH).map_err(|source| Error::Unmount {
        path: merged.clone(),
        source,
    })?;
    if !visible {
        return Err(not_supported(
            root,
            "a lower file is not visible in a test mount",
        ));
    }
    Ok(d_type)
}

/// Whether `readdir` on `dir` reports file types (it holds exactly one regular file).
fn has_d_type(dir: &Path) -> Result<bool> {
    use nix::fcntl::OFlag;
    let mut d = nix::dir::Dir::open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| Error::nix("open directory", dir, e))?;
    for entry in d.iter() {
        let entry = entry.map_err(|e| Error::nix("read directory", dir, e))?;
        if entry.file_name().to_bytes() == b"probe" {
            return Ok(entry.file_type().is_some());
        }
    }
    Ok(false)
}

/// Docker's name for the filesystem `path` is on (`daemon/graphdriver/driver_linux.go`).
pub(super) fn backing_fs_name(path: &Path) -> Result<&'static str> {
    let st = statfs::statfs(path).map_err(|e| Error::nix("statfs", path, e))?;
    let FsType(magic) = st.filesystem_type();
    #[allow(clippy::unnecessary_cast)] // fs_type_t is i64 on some targets, u32 on others
    let name = match magic as i64 {
        0xEF53 => "extfs",
        0x5846_5342 => "xfs",
        0x9123_683E => "btrfs",
        0x0102_1994 => "tmpfs",
        0x794C_7630 => "overlayfs",
        0x2FC1_2FC1 => "zfs",
        0xF2F5_2010 => "f2fs",
        0x6969 => "nfs",
        0x5265_4973 => "reiserfs",
        0x6573_5546 => "fuse",
        0x0102_1997 => "v9fs",
        _ => "<unknown>",
    };
    Ok(name)
}
