//! What changed in a layer relative to its parent (`docker diff`) and the layer tar of those
//! changes (`docker commit`, `docker save`).
//!
//! Both drivers answer the same question, by the rule documented on
//! [`GraphDriver::changes`](crate::GraphDriver::changes): how does the union of the layer and
//! its ancestors differ from the union of its ancestors alone?
//!
//! overlay2 ([`overlay`]) walks only the layer's own `diff` directory and looks each entry up
//! in the lower layers as overlayfs would, never reading the unchanged bulk of the image. vfs
//! ([`tree`]) compares the layer's full tree with its parent's. The tar ([`export`]) is the
//! overlay2 diff directory as it is, or for vfs the listed changes, streamed from a thread
//! ([`stream`]).

mod export;
mod overlay;
mod stream;
mod tree;

use std::ffi::OsString;
use std::fmt;
use std::fs::Metadata;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

pub(crate) use export::{overlay_tar, vfs_tar};
pub(crate) use overlay::changes as overlay_changes;
pub(crate) use stream::spawn as stream_tar;
pub(crate) use tree::changes as tree_changes;

/// One changed path of a layer, as `docker diff` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Change {
    /// Absolute path inside the container, e.g. `/etc/passwd` (non-UTF-8 bytes replaced).
    pub path: String,
    /// What happened to it.
    pub kind: ChangeKind,
}

/// The kind of a [`Change`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    /// The path exists in both, with different metadata or content (`C`).
    Modified,
    /// The path is new in the layer (`A`).
    Added,
    /// The path was removed by the layer (`D`).
    Deleted,
}

impl ChangeKind {
    /// Docker's numbering in `GET /containers/{id}/changes`: 0, 1, 2.
    pub fn as_docker(&self) -> u8 {
        match self {
            ChangeKind::Modified => 0,
            ChangeKind::Added => 1,
            ChangeKind::Deleted => 2,
        }
    }

    /// The letter `docker diff` prints.
    pub fn letter(&self) -> char {
        match self {
            ChangeKind::Modified => 'C',
            ChangeKind::Added => 'A',
            ChangeKind::Deleted => 'D',
        }
    }
}

impl fmt::Display for Change {
    /// `C /etc`, as `docker diff` prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.letter(), self.path)
    }
}

/// A change with its path relative to the layer root, kept as bytes so that the tar export
/// finds files whose names are not UTF-8.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub(crate) rel: PathBuf,
    pub(crate) kind: ChangeKind,
}

/// Sorts by the absolute path as a string (Docker's order): a directory precedes its entries.
pub(crate) fn sorted(mut found: Vec<Found>) -> Vec<Found> {
    found.sort_by(|a, b| {
        a.rel
            .as_os_str()
            .as_bytes()
            .cmp(b.rel.as_os_str().as_bytes())
    });
    found
}

/// The public form of sorted changes.
pub(crate) fn public(found: &[Found]) -> Vec<Change> {
    found
        .iter()
        .map(|f| Change {
            path: format!("/{}", f.rel.to_string_lossy()),
            kind: f.kind,
        })
        .collect()
}

/// overlayfs' own xattrs (opaque, origin, impure...): bookkeeping, never layer content.
const OVERLAY_XATTR_PREFIX: &[u8] = b"trusted.overlay.";

pub(crate) fn lstat(path: &Path) -> Result<Metadata> {
    std::fs::symlink_metadata(path).map_err(|e| Error::io("stat", path, e))
}

/// `lstat`, with `None` for a missing path.
pub(crate) fn lstat_opt(path: &Path) -> Result<Option<Metadata>> {
    match std::fs::symlink_metadata(path) {
        Ok(md) => Ok(Some(md)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("stat", path, e)),
    }
}

/// The names in `dir`, sorted by bytes so that walks and tars are deterministic.
pub(crate) fn read_dir_sorted(dir: &Path) -> Result<Vec<OsString>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("read directory", dir, e))?;
    let mut names = entries
        .map(|e| e.map(|e| e.file_name()))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| Error::io("read directory", dir, e))?;
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(names)
}

/// An overlayfs whiteout: a character device 0/0.
pub(crate) fn is_whiteout(md: &Metadata) -> bool {
    md.file_type().is_char_device() && md.rdev() == 0
}

/// Whether overlayfs treats the directory as opaque (`trusted.overlay.opaque=y`).
pub(crate) fn is_opaque(dir: &Path) -> Result<bool> {
    match xattr::get(dir, "trusted.overlay.opaque") {
        Ok(v) => Ok(v.as_deref() == Some(b"y")),
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => Ok(false),
        Err(e) => Err(Error::io("read extended attribute of", dir, e)),
    }
}

/// The entry's xattrs but overlayfs' own, sorted by name (not following a symlink).
pub(crate) fn xattrs(path: &Path) -> Result<Vec<(OsString, Vec<u8>)>> {
    let err = |e| Error::io("read extended attributes of", path, e);
    let names = match xattr::list(path) {
        Ok(names) => names,
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => return Ok(Vec::new()),
        Err(e) => return Err(err(e)),
    };
    let mut out = Vec::new();
    for name in names {
        if name.as_bytes().starts_with(OVERLAY_XATTR_PREFIX) {
            continue;
        }
        // Gone in between (ENODATA) is `None`: a concurrent removal, not an error.
        if let Some(value) = xattr::get(path, &name).map_err(err)? {
            out.push((name, value));
        }
    }
    out.sort();
    Ok(out)
}

/// Docker's `statDifferent`, plus symlink targets and xattrs: whether an entry present in both
/// unions changed. A directory's size and mtime are ignored (moby#9874).
pub(crate) fn differs(
    old: &Path,
    old_md: &Metadata,
    new: &Path,
    new_md: &Metadata,
) -> Result<bool> {
    let is_dir = new_md.is_dir();
    let ft = |md: &Metadata| md.mode() & libc::S_IFMT;
    if ft(old_md) != ft(new_md)
        || old_md.mode() & 0o7777 != new_md.mode() & 0o7777
        || (old_md.uid(), old_md.gid()) != (new_md.uid(), new_md.gid())
        || old_md.rdev() != new_md.rdev()
        || (!is_dir
            && ((old_md.mtime(), old_md.mtime_nsec()) != (new_md.mtime(), new_md.mtime_nsec())
                || old_md.len() != new_md.len()))
    {
        return Ok(true);
    }
    if new_md.file_type().is_symlink() {
        let target = |p: &Path| std::fs::read_link(p).map_err(|e| Error::io("read symlink", p, e));
        if target(old)? != target(new)? {
            return Ok(true);
        }
    }
    Ok(xattrs(old)? != xattrs(new)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_numbering_and_letters() {
        let kinds = [ChangeKind::Modified, ChangeKind::Added, ChangeKind::Deleted];
        let nums: Vec<u8> = kinds.iter().map(ChangeKind::as_docker).collect();
        assert_eq!(nums, [0, 1, 2]);
        let c = Change {
            path: "/etc".to_owned(),
            kind: ChangeKind::Modified,
        };
        assert_eq!(c.to_string(), "C /etc");
    }

    #[test]
    fn sorts_parents_before_children_by_string() {
        let f = |p: &str| Found {
            rel: PathBuf::from(p),
            kind: ChangeKind::Added,
        };
        let got = public(&sorted(vec![f("a/b"), f("a-x"), f("a"), f("B")]));
        let paths: Vec<&str> = got.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["/B", "/a", "/a-x", "/a/b"]);
    }

    #[test]
    fn differs_sees_mode_mtime_and_symlink_targets() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (d, copy) = (tmp.path().join("src"), tmp.path().join("dst"));
        let md = |p: &Path| lstat(p).expect("lstat");
        std::fs::create_dir(&d).expect("mkdir");
        std::fs::write(d.join("a"), b"x").expect("write");
        crate::copy::copy_tree(&d, &copy).expect("copy");
        let (a, b) = (d.join("a"), copy.join("a"));
        assert!(!differs(&a, &md(&a), &b, &md(&b)).expect("differs"));
        crate::fsutil::chmod(&b, 0o600).expect("chmod");
        assert!(differs(&a, &md(&a), &b, &md(&b)).expect("differs"));
        std::os::unix::fs::symlink("t1", d.join("s")).expect("symlink");
        std::os::unix::fs::symlink("t2", copy.join("s")).expect("symlink");
        let (s1, s2) = (d.join("s"), copy.join("s"));
        let t = nix::sys::time::TimeSpec::new(1, 0);
        crate::fsutil::set_times(&s1, t, t).expect("times");
        crate::fsutil::set_times(&s2, t, t).expect("times");
        assert!(differs(&s1, &md(&s1), &s2, &md(&s2)).expect("differs"));
    }
}
