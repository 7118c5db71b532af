//! The container's mount table, built in its new mount namespace before `pivot_root`:
//! `/proc`, `/sys` (read-only) with the cgroup filesystems, a tmpfs `/dev` with the usual
//! nodes, devpts, shm and mqueue, then the user's bind mounts.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};

use crate::cgroups::CgroupMount;
use crate::error::{Error, Result};
use crate::spec::{BindMount, ContainerSpec};

const DEFAULT_SHM_SIZE: u64 = 64 << 20;

/// Character devices every container gets: name, major, minor.
const DEVICES: &[(&str, u64, u64)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

const DEV_LINKS: &[(&str, &str)] = &[
    ("ptmx", "pts/ptmx"),
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
];

fn no_ex() -> MsFlags {
    MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC
}

fn mount_fs(
    source: &Path,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<()> {
    mount(Some(source), target, fstype, flags, data).map_err(|e| Error::Mount {
        what: source.display().to_string(),
        target: target.to_path_buf(),
        source: e,
    })
}

fn remount(target: &Path, flags: MsFlags, data: Option<&str>) -> Result<()> {
    mount(
        None::<&str>,
        target,
        None::<&str>,
        MsFlags::MS_REMOUNT | flags,
        data,
    )
    .map_err(|e| Error::Mount {
        what: "remount".into(),
        target: target.to_path_buf(),
        source: e,
    })
}

fn ensure_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create mount point", dir, e))
}

fn symlink(target: &str, link: &Path) -> Result<()> {
    match std::os::unix::fs::symlink(target, link) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            Err(Error::io("create symlink", link, e))
        }
        _ => Ok(()),
    }
}

/// `root` joined with `path`, resolving symlinks as if `root` were `/`, so that a symlink in
/// the image can't point a mount outside the rootfs (what runc's securejoin does).
pub(super) fn secure_join(root: &Path, path: &str) -> PathBuf {
    let split = |s: &str| -> VecDeque<String> {
        s.split('/')
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect()
    };
    let mut resolved = PathBuf::new();
    let mut pending = split(path);
    let mut links = 0;
    while let Some(c) = pending.pop_front() {
        match c.as_str() {
            "." => continue,
            ".." => {
                resolved.pop();
                continue;
            }
            _ => {}
        }
        let candidate = root.join(&resolved).join(&c);
        let is_link =
            std::fs::symlink_metadata(&candidate).is_ok_and(|m| m.file_type().is_symlink());
        match std::fs::read_link(&candidate) {
            Ok(target) if is_link && links < 255 => {
                links += 1;
                let t = target.to_string_lossy();
                if t.starts_with('/') {
                    resolved = PathBuf::new();
                }
                let mut next = split(&t);
                next.extend(pending.drain(..));
                pending = next;
            }
            _ => resolved.push(&c),
        }
    }
    root.join(resolved)
}

/// Builds the part of the mount table under `spec.rootfs` that does not depend on the
/// container's cgroup: everything but `/sys/fs/cgroup` and the bind mounts. [`finish`] follows.
pub(super) fn prepare(spec: &ContainerSpec) -> Result<()> {
    // Nothing we mount may propagate back to the host.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| Error::Mount {
        what: "rprivate".into(),
        target: "/".into(),
        source: e,
    })?;
    let root = spec.rootfs.as_path();
    // pivot_root needs a mount point; a vfs rootfs is a plain directory.
    mount_fs(root, root, None, MsFlags::MS_BIND | MsFlags::MS_REC, None)?;

    let proc = secure_join(root, "/proc");
    ensure_dir(&proc)?;
    mount_fs(Path::new("proc"), &proc, Some("proc"), no_ex(), None)?;

    let sys = secure_join(root, "/sys");
    ensure_dir(&sys)?;
    mount_fs(
        Path::new("sysfs"),
        &sys,
        Some("sysfs"),
        no_ex() | MsFlags::MS_RDONLY,
        None,
    )?;
    setup_dev(root, spec)
}

/// Mounts the container's cgroups (it must sit in them, in its own cgroup namespace) and the
/// bind mounts, and pivots into the root.
pub(super) fn finish(spec: &ContainerSpec, cgroups: &[CgroupMount]) -> Result<()> {
    let root = spec.rootfs.as_path();
    let sys = secure_join(root, "/sys");
    mount_cgroups(&sys.join("fs/cgroup"), cgroups)?;
    for m in &spec.mounts {
        bind_mount(root, m)?;
    }
    pivot(root)
}

/// The container's own cgroups, read-only; with the cgroup namespace they show its own group
/// as the root.
fn mount_cgroups(base: &Path, cgroups: &[CgroupMount]) -> Result<()> {
    let ro = no_ex() | MsFlags::MS_RDONLY;
    if let [m] = cgroups {
        if m.fstype == "cgroup2" {
            return mount_fs(Path::new("cgroup2"), base, Some("cgroup2"), ro, None);
        }
    }
    mount_fs(
        Path::new("tmpfs"),
        base,
        Some("tmpfs"),
        no_ex(),
        Some("mode=755"),
    )?;
    for m in cgroups {
        let dir = base.join(&m.subdir);
        ensure_dir(&dir)?;
        mount_fs(Path::new("cgroup"), &dir, Some(m.fstype), ro, Some(&m.data))?;
        for link in &m.links {
            symlink(&m.subdir, &base.join(link))?;
        }
    }
    remount(base, ro, Some("mode=755"))
}

fn setup_dev(root: &Path, spec: &ContainerSpec) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dev = secure_join(root, "/dev");
    ensure_dir(&dev)?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME;
    mount_fs(
        Path::new("tmpfs"),
        &dev,
        Some("tmpfs"),
        flags,
        Some("mode=755,size=65536k"),
    )?;
    for (name, major, minor) in DEVICES {
        let path = dev.join(name);
        mknod(
            &path,
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(0o666),
            makedev(*major, *minor),
        )
        .map_err(|e| Error::io("mknod", &path, e.into()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666))
            .map_err(|e| Error::io("chmod", &path, e))?;
    }
    for (name, target) in DEV_LINKS {
        symlink(target, &dev.join(name))?;
    }
    let pts = dev.join("pts");
    ensure_dir(&pts)?;
    mount_fs(
        Path::new("devpts"),
        &pts,
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620,gid=5"),
    )?;
    let shm = dev.join("shm");
    ensure_dir(&shm)?;
    let size = if spec.shm_size == 0 {
        DEFAULT_SHM_SIZE
    } else {
        spec.shm_size
    };
    mount_fs(
        Path::new("shm"),
        &shm,
        Some("tmpfs"),
        no_ex(),
        Some(&format!("mode=1777,size={size}")),
    )?;
    let mqueue = dev.join("mqueue");
    ensure_dir(&mqueue)?;
    mount_fs(Path::new("mqueue"), &mqueue, Some("mqueue"), no_ex(), None)?;
    if spec.tty {
        // Mount point for the console, bound to the pty slave once it exists.
        let console = dev.join("console");
        std::fs::File::create(&console).map_err(|e| Error::io("create", &console, e))?;
    }
    Ok(())
}

fn bind_mount(root: &Path, m: &BindMount) -> Result<()> {
    let meta = std::fs::metadata(&m.source)
        .map_err(|e| Error::io("stat bind mount source", &m.source, e))?;
    let target = secure_join(root, &m.destination);
    if meta.is_dir() {
        ensure_dir(&target)?;
    } else {
        if let Some(parent) = target.parent() {
            ensure_dir(parent)?;
        }
        if std::fs::symlink_metadata(&target).is_err() {
            std::fs::File::create(&target)
                .map_err(|e| Error::io("create mount point", &target, e))?;
        }
    }
    mount_fs(
        &m.source,
        &target,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )?;
    if m.readonly {
        remount(&target, MsFlags::MS_BIND | MsFlags::MS_RDONLY, None)?;
    }
    Ok(())
}

/// `pivot_root(".", ".")` then detach the old root stacked on top (runc's trick: no
/// temporary directory needed in the rootfs).
fn pivot(root: &Path) -> Result<()> {
    nix::unistd::chdir(root).map_err(|e| Error::io("chdir", root, e.into()))?;
    nix::unistd::pivot_root(".", ".").map_err(|e| Error::sys("pivot_root", e))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| Error::sys("umount2(old root)", e))?;
    nix::unistd::chdir("/").map_err(|e| Error::io("chdir", "/", e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secure_join_stays_inside_root() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../..", root.join("a/b/up")).unwrap();
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        assert_eq!(secure_join(root, "/a/b/c"), root.join("a/b/c"));
        assert_eq!(secure_join(root, "/abs/passwd"), root.join("etc/passwd"));
        assert_eq!(secure_join(root, "a/b/up/x"), root.join("x"));
        assert_eq!(secure_join(root, "/../../x"), root.join("x"));
        assert_eq!(secure_join(root, "/loop"), root.join("loop"));
    }
}
