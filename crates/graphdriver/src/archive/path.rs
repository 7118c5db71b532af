//! Turning tar entry names into paths that stay inside the layer.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Component, Path, PathBuf};

use crate::{Error, Result};

/// A tar name as a path (names are bytes; Linux paths too).
pub(super) fn from_bytes(bytes: &[u8]) -> PathBuf {
    PathBuf::from(OsString::from_vec(bytes.to_vec()))
}

/// The entry name relative to the layer root: a leading `/` and `.` components are dropped
/// (as GNU tar and Docker do), `..` anywhere is refused. The root itself is the empty path.
pub(super) fn normalize(entry: &Path, name: &Path, what: &'static str) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in name.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(part) => out.push(part),
            Component::ParentDir | Component::Prefix(_) => {
                return Err(Error::UnsafePath {
                    entry: entry.to_path_buf(),
                    reason: what,
                })
            }
        }
    }
    Ok(out)
}

/// What is at `path` when walking a tar entry's parents.
pub(super) enum Parent {
    /// A real directory.
    Dir,
    /// Nothing.
    Missing,
}

/// Classifies one parent component; a symlink or a non-directory is refused, because
/// writing through it could leave the layer (`x -> /etc`, then `x/passwd`).
pub(super) fn check_parent(entry: &Path, path: &Path) -> Result<Parent> {
    match std::fs::symlink_metadata(path) {
        Ok(md) if md.is_dir() => Ok(Parent::Dir),
        Ok(md) if md.file_type().is_symlink() => Err(Error::UnsafePath {
            entry: entry.to_path_buf(),
            reason: "a parent directory is a symlink",
        }),
        Ok(_) => Err(Error::UnsafePath {
            entry: entry.to_path_buf(),
            reason: "a parent is not a directory",
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Parent::Missing),
        Err(e) => Err(Error::io("stat", path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> Result<PathBuf> {
        normalize(Path::new(s), Path::new(s), "test")
    }

    #[test]
    fn strips_root_and_dots() {
        assert_eq!(norm("/etc/passwd").unwrap(), Path::new("etc/passwd"));
        assert_eq!(norm("./a//b/./c/").unwrap(), Path::new("a/b/c"));
        assert_eq!(norm("./").unwrap(), Path::new(""));
        assert_eq!(norm("/").unwrap(), Path::new(""));
        assert_eq!(norm("...").unwrap(), Path::new("..."));
    }

    #[test]
    fn refuses_parent_components() {
        for bad in ["..", "../evil", "a/../../evil", "/../etc", "a/.."] {
            assert!(
                matches!(norm(bad), Err(Error::UnsafePath { .. })),
                "{bad} should be refused"
            );
        }
    }
}
