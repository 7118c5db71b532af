//! overlay2's changes: walk the layer's own `diff` directory and look every entry up in the
//! lower layers the way overlayfs merges them (a whiteout or a non-directory ends the lookup,
//! an opaque directory is the last one merged).

use std::collections::{BTreeSet, HashSet};
use std::ffi::{OsStr, OsString};
use std::fs::Metadata;
use std::path::{Path, PathBuf};

use super::{differs, is_opaque, is_whiteout, lstat, lstat_opt, read_dir_sorted, sorted, Found};
use crate::{ChangeKind, Error, Result};

/// Changes of the layer whose diff directory is `upper`, over `lowers` (the diff directories
/// of its ancestors, nearest first), sorted by path.
pub(crate) fn changes(upper: &Path, lowers: &[PathBuf]) -> Result<Vec<Found>> {
    let mut out = Vec::new();
    // The root is never opaque for overlayfs, in any layer: all lowers merge there.
    walk(Path::new(""), upper, lowers, false, &mut out)?;
    Ok(sorted(out))
}

/// Compares the upper directory `dir` (at `rel`) with the lower directories merged at the same
/// path; returns whether anything below `dir` changed.
fn walk(
    rel: &Path,
    dir: &Path,
    lowers: &[PathBuf],
    opaque: bool,
    out: &mut Vec<Found>,
) -> Result<bool> {
    let before = out.len();
    let mut kept = HashSet::new();
    for name in read_dir_sorted(dir)? {
        let path = dir.join(&name);
        let child = rel.join(&name);
        let md = lstat(&path)?;
        check_native(&path, &md)?;
        if is_whiteout(&md) {
            // In an opaque directory the lower entries are gone anyway (counted below).
            if !opaque && lookup(lowers, &name)?.is_some() {
                push(out, child, ChangeKind::Deleted);
            }
            continue;
        }
        kept.insert(name.clone());
        match lookup(lowers, &name)? {
            None => {
                push(out, child.clone(), ChangeKind::Added);
                if md.is_dir() {
                    added(&child, &path, out)?;
                }
            }
            Some((old, old_md)) if md.is_dir() && old_md.is_dir() => {
                let below = descend(lowers, &name)?;
                let inner = walk(&child, &path, &below, is_opaque(&path)?, out)?;
                if inner || differs(&old, &old_md, &path, &md)? {
                    push(out, child, ChangeKind::Modified);
                }
            }
            Some(_) => {
                // A non-directory here was copied up or replaced; a directory replacing a
                // lower non-directory hides nothing below it.
                push(out, child.clone(), ChangeKind::Modified);
                if md.is_dir() {
                    added(&child, &path, out)?;
                }
            }
        }
    }
    if opaque {
        for name in lower_names(lowers)? {
            if !kept.contains(&name) {
                push(out, rel.join(name), ChangeKind::Deleted);
            }
        }
    }
    Ok(out.len() > before)
}

fn push(out: &mut Vec<Found>, rel: PathBuf, kind: ChangeKind) {
    out.push(Found { rel, kind });
}

/// Everything below a new directory is new; its whiteouts hide nothing.
fn added(rel: &Path, dir: &Path, out: &mut Vec<Found>) -> Result<()> {
    for name in read_dir_sorted(dir)? {
        let path = dir.join(&name);
        let md = lstat(&path)?;
        check_native(&path, &md)?;
        if is_whiteout(&md) {
            continue;
        }
        push(out, rel.join(&name), ChangeKind::Added);
        if md.is_dir() {
            added(&rel.join(&name), &path, out)?;
        }
    }
    Ok(())
}

/// What the parent's union has at `name` in a directory merged from `lowers`.
fn lookup(lowers: &[PathBuf], name: &OsStr) -> Result<Option<(PathBuf, Metadata)>> {
    for dir in lowers {
        let path = dir.join(name);
        if let Some(md) = lstat_opt(&path)? {
            return Ok((!is_whiteout(&md)).then_some((path, md)));
        }
    }
    Ok(None)
}

/// The lower directories merged at `name`, itself a directory in the parent's union.
fn descend(lowers: &[PathBuf], name: &OsStr) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for dir in lowers {
        let path = dir.join(name);
        match lstat_opt(&path)? {
            None => continue,
            Some(md) if md.is_dir() => {
                let opaque = is_opaque(&path)?;
                out.push(path);
                if opaque {
                    break;
                }
            }
            Some(_) => break,
        }
    }
    Ok(out)
}

/// The names a directory merged from `lowers` shows.
fn lower_names(lowers: &[PathBuf]) -> Result<BTreeSet<OsString>> {
    let mut seen = HashSet::new();
    let mut shown = BTreeSet::new();
    for dir in lowers {
        for name in read_dir_sorted(dir)? {
            if seen.insert(name.clone()) && !is_whiteout(&lstat(&dir.join(&name))?) {
                shown.insert(name);
            }
        }
    }
    Ok(shown)
}

/// Refuses entries that only make sense with overlayfs features this walk cannot follow:
/// a renamed directory (`redirect_dir`) or a metadata-only copy-up (`metacopy`). Docker
/// falls back to a naive diff then; rdocker mounts without them (the kernel default).
pub(super) fn check_native(path: &Path, md: &Metadata) -> Result<()> {
    let name = if md.is_dir() {
        "trusted.overlay.redirect"
    } else if md.is_file() {
        "trusted.overlay.metacopy"
    } else {
        return Ok(());
    };
    match xattr::get(path, name) {
        Ok(None) => Ok(()),
        Ok(Some(_)) => Err(Error::NotNativeDiff {
            path: path.to_path_buf(),
            xattr: name,
        }),
        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => Ok(()),
        Err(e) => Err(Error::io("read extended attribute of", path, e)),
    }
}
