//! vfs's changes: two full trees compared entry by entry, as Docker's `ChangesDirs` does
//! (but walking both at once rather than holding them in memory).

use std::collections::HashSet;
use std::path::Path;

use super::{differs, lstat, read_dir_sorted, sorted, Found};
use crate::{ChangeKind, Result};

/// Changes from the tree `old` (the parent's, `None` for a layer without one) to `new`,
/// sorted by path.
pub(crate) fn changes(old: Option<&Path>, new: &Path) -> Result<Vec<Found>> {
    let mut out = Vec::new();
    compare(Path::new(""), old, new, &mut out)?;
    Ok(sorted(out))
}

/// Compares the directory `new` (at `rel`) with `old`, the parent's directory at the same
/// path if it has one there.
fn compare(rel: &Path, old: Option<&Path>, new: &Path, out: &mut Vec<Found>) -> Result<()> {
    let mut gone: HashSet<_> = match old {
        Some(old) => read_dir_sorted(old)?.into_iter().collect(),
        None => HashSet::new(),
    };
    for name in read_dir_sorted(new)? {
        let path = new.join(&name);
        let child = rel.join(&name);
        let md = lstat(&path)?;
        let was = match old {
            Some(old) if gone.remove(&name) => {
                let old_path = old.join(&name);
                let old_md = lstat(&old_path)?;
                Some((old_path, old_md))
            }
            _ => None,
        };
        let Some((old_path, old_md)) = was else {
            out.push(Found {
                rel: child.clone(),
                kind: ChangeKind::Added,
            });
            if md.is_dir() {
                compare(&child, None, &path, out)?;
            }
            continue;
        };
        let changed = differs(&old_path, &old_md, &path, &md)?;
        let before = out.len();
        if md.is_dir() {
            // A directory replacing a non-directory: everything in it is new.
            let old_dir = old_md.is_dir().then_some(old_path.as_path());
            compare(&child, old_dir, &path, out)?;
        }
        if changed || out.len() > before {
            out.push(Found {
                rel: child,
                kind: ChangeKind::Modified,
            });
        }
    }
    // A deleted directory is one entry; so is a directory replaced by a non-directory.
    out.extend(gone.into_iter().map(|name| Found {
        rel: rel.join(name),
        kind: ChangeKind::Deleted,
    }));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changes::public;

    fn list(old: Option<&Path>, new: &Path) -> Vec<String> {
        public(&changes(old, new).expect("changes"))
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn compares_two_trees_like_changes_dirs() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (old, new) = (tmp.path().join("old"), tmp.path().join("new"));
        std::fs::create_dir_all(old.join("etc")).expect("mkdir");
        std::fs::create_dir_all(old.join("gone/deep")).expect("mkdir");
        std::fs::write(old.join("etc/keep"), b"k").expect("write");
        std::fs::write(old.join("etc/edit"), b"1").expect("write");
        std::fs::write(old.join("file-then-dir"), b"f").expect("write");
        crate::copy::copy_tree(&old, &new).expect("copy");
        assert!(list(Some(&old), &new).is_empty(), "a copy has no changes");
        std::fs::write(new.join("etc/edit"), b"22").expect("write");
        std::fs::remove_dir_all(new.join("gone")).expect("rm");
        std::fs::remove_file(new.join("file-then-dir")).expect("rm");
        std::fs::create_dir_all(new.join("file-then-dir/x")).expect("mkdir");
        std::fs::create_dir_all(new.join("new/sub")).expect("mkdir");
        let want = [
            "C /etc",
            "C /etc/edit",
            "C /file-then-dir",
            "A /file-then-dir/x",
            "D /gone",
            "A /new",
            "A /new/sub",
        ];
        assert_eq!(list(Some(&old), &new), want);
        assert_eq!(list(None, &old).len(), 6, "a base layer is all Added");
    }
}
