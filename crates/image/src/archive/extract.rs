//! Unpacks an archive into the work dir, refusing anything that could land outside it.
//!
//! Entry names are cleaned lexically (no `..`, nothing absolute). Symlinks and hard links are
//! never created on disk: they are recorded as aliases whose target must stay inside the archive
//! (old `docker save` writes a layer shared by two images once and links the other
//! `<id>/layer.tar` to it), and no entry may be written beneath one. So every file this module
//! creates is a regular file or directory under the work dir, and every path the manifests name
//! is resolved through the alias table rather than through the filesystem.

use super::invalid;
use crate::error::IoContext;
use crate::{BackgroundSha256, Digest, Error, HashingReader, Result};
use std::collections::{HashMap, HashSet};
use std::fs::{self, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

/// Links resolving through more aliases than this are treated as loops.
const MAX_LINK_HOPS: usize = 40;
/// JSON documents (manifests, indexes, configs) larger than this are refused, not slurped.
const MAX_JSON_BYTES: u64 = 64 << 20;

/// What [`extract`] wrote: regular files and aliases, by path relative to the work dir.
pub(super) struct Extracted {
    root: PathBuf,
    files: HashSet<PathBuf>,
    links: HashMap<PathBuf, PathBuf>,
    dirs: HashSet<PathBuf>,
}

/// Unpacks `tar` into `root` (created if missing). Files named `blobs/sha256/<hex>` are hashed
/// on the way and must match their name, so a blob found later is known to be what it claims.
pub(super) fn extract(tar: impl Read, root: &Path) -> Result<Extracted> {
    fs::create_dir_all(root).at(root)?;
    let mut ex = Extracted {
        root: root.to_path_buf(),
        files: HashSet::new(),
        links: HashMap::new(),
        dirs: HashSet::new(),
    };
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries().map_err(Error::ArchiveRead)? {
        let mut entry = entry.map_err(Error::ArchiveRead)?;
        let raw = entry.path().map_err(Error::ArchiveRead)?.into_owned();
        let rel = clean(&raw).map_err(|why| invalid(format!("entry {} {why}", raw.display())))?;
        if rel.as_os_str().is_empty() {
            continue; // "./"
        }
        ex.check_not_beneath_link(&rel)?;
        use tar::EntryType as T;
        match entry.header().entry_type() {
            T::Regular | T::Continuous => {
                let size = entry.size();
                ex.write_file(&rel, &mut entry, size)?
            }
            T::Directory => ex.ensure_dir(&rel)?,
            T::Symlink | T::Link => {
                let hard = entry.header().entry_type() == T::Link;
                let target = entry
                    .link_name()
                    .map_err(Error::ArchiveRead)?
                    .ok_or_else(|| invalid(format!("link {} has no target", rel.display())))?;
                let resolved = link_target(&rel, &target, hard).ok_or_else(|| {
                    invalid(format!(
                        "link {} points outside the archive ({})",
                        rel.display(),
                        target.display()
                    ))
                })?;
                ex.files.remove(&rel);
                ex.links.insert(rel, resolved);
            }
            T::XGlobalHeader => {}
            other => {
                return Err(invalid(format!(
                    "entry {} has unsupported type {other:?}",
                    rel.display()
                )))
            }
        }
    }
    Ok(ex)
}

impl Extracted {
    /// The absolute path of a file found by [`Self::lookup`].
    pub(super) fn abs(&self, rel: &Path) -> PathBuf {
        self.root.join(rel)
    }

    /// Whether a regular file (possibly through aliases) exists at `name`.
    pub(super) fn exists(&self, name: &str) -> bool {
        clean(Path::new(name))
            .ok()
            .and_then(|p| self.resolve(&p))
            .is_some()
    }

    /// Resolves a path named by `doc` (e.g. `manifest.json`) to an extracted regular file.
    pub(super) fn lookup(&self, name: &str, doc: &str) -> Result<PathBuf> {
        let rel = clean(Path::new(name))
            .map_err(|why| invalid(format!("{doc} references {name:?}, which {why}")))?;
        self.resolve(&rel)
            .ok_or_else(|| invalid(format!("{doc} references missing file {name}")))
    }

    /// Reads a JSON document found by [`Self::lookup`].
    pub(super) fn read_small(&self, rel: &Path) -> Result<Vec<u8>> {
        let p = self.abs(rel);
        let mut buf = Vec::new();
        fs::File::open(&p)
            .and_then(|f| f.take(MAX_JSON_BYTES + 1).read_to_end(&mut buf))
            .at(&p)?;
        if buf.len() as u64 > MAX_JSON_BYTES {
            return Err(invalid(format!(
                "{} is larger than {MAX_JSON_BYTES} bytes",
                rel.display()
            )));
        }
        Ok(buf)
    }

    /// Checks that the file at `rel` has digest `claimed`. Free for `blobs/sha256/<hex>` files,
    /// hashed during extraction; a blob reached through an alias is hashed now.
    pub(super) fn verify(&self, rel: &Path, claimed: &Digest) -> Result<()> {
        if blob_digest(rel).as_ref() == Some(claimed) {
            return Ok(());
        }
        let p = self.abs(rel);
        let mut r = HashingReader::new(fs::File::open(&p).at(&p)?);
        io::copy(&mut r, &mut io::sink()).at(&p)?;
        if r.digest() != *claimed {
            return Err(invalid(format!(
                "{} does not match its digest {claimed} (its content is {})",
                rel.display(),
                r.digest()
            )));
        }
        Ok(())
    }

    /// Follows aliases on every prefix of `rel` until it names an extracted regular file.
    fn resolve(&self, rel: &Path) -> Option<PathBuf> {
        let mut cur = rel.to_path_buf();
        for _ in 0..MAX_LINK_HOPS {
            if self.files.contains(&cur) {
                return Some(cur);
            }
            let comps: Vec<Component> = cur.components().collect();
            let mut prefix = PathBuf::new();
            let mut next = None;
            for (i, c) in comps.iter().enumerate() {
                prefix.push(c);
                if let Some(target) = self.links.get(&prefix) {
                    next = Some(comps[i + 1..].iter().fold(target.clone(), |p, c| p.join(c)));
                    break;
                }
            }
            cur = next?;
        }
        None
    }

    fn check_not_beneath_link(&self, rel: &Path) -> Result<()> {
        for dir in rel.ancestors().skip(1) {
            if self.links.contains_key(dir) {
                return Err(invalid(format!(
                    "entry {} would be written through link {}",
                    rel.display(),
                    dir.display()
                )));
            }
        }
        Ok(())
    }

    /// Creates `rel` and its parents as real directories; anything else in the way is an error.
    fn ensure_dir(&mut self, rel: &Path) -> Result<()> {
        let mut prefix = PathBuf::new();
        for c in rel.components() {
            prefix.push(c);
            if self.dirs.contains(&prefix) {
                continue;
            }
            let abs = self.root.join(&prefix);
            match fs::symlink_metadata(&abs) {
                Ok(m) if m.file_type().is_dir() => {}
                Ok(_) => {
                    return Err(invalid(format!(
                        "entry {} needs {} to be a directory",
                        rel.display(),
                        prefix.display()
                    )))
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir(&abs).at(&abs)?,
                Err(e) => {
                    return Err(Error::Io {
                        path: abs,
                        source: e,
                    })
                }
            }
            self.dirs.insert(prefix.clone());
        }
        Ok(())
    }

    fn write_file(&mut self, rel: &Path, data: &mut impl Read, size: u64) -> Result<()> {
        if let Some(parent) = rel.parent() {
            self.ensure_dir(parent)?;
        }
        let abs = self.root.join(rel);
        // O_NOFOLLOW: even a symlink planted in the work dir by someone else is not followed.
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(&abs)
            .at(&abs)?;
        if let Some(claimed) = blob_digest(rel) {
            // A big blob (a layer) is hashed on a thread of its own while it is written.
            let actual = if size >= BACKGROUND_HASH_MIN {
                let mut hasher = BackgroundSha256::new().map_err(Error::ArchiveRead)?;
                copy(data, &mut f, &abs, |chunk| hasher.update(chunk))?;
                hasher.finish()
            } else {
                let mut hashed = HashingReader::new(data);
                copy(&mut hashed, &mut f, &abs, |_| {})?;
                hashed.digest()
            };
            if actual != claimed {
                return Err(invalid(format!(
                    "{} does not match its digest (its content is {actual})",
                    rel.display()
                )));
            }
        } else {
            copy(data, &mut f, &abs, |_| {})?;
        }
        self.links.remove(rel);
        self.files.insert(rel.to_path_buf());
        Ok(())
    }
}

/// Blobs this big or bigger are hashed on a thread of their own.
const BACKGROUND_HASH_MIN: u64 = 256 << 10;

/// Copies, telling a broken archive stream (read side) from a full disk (write side); `seen`
/// gets every chunk.
fn copy(
    r: &mut impl Read,
    w: &mut fs::File,
    path: &Path,
    mut seen: impl FnMut(&[u8]),
) -> Result<()> {
    use std::io::Write;
    let mut buf = vec![0; 64 << 10];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::ArchiveRead(e)),
        };
        seen(&buf[..n]);
        w.write_all(&buf[..n]).at(path)?;
    }
}

/// `blobs/sha256/<hex>` → the digest its name claims.
pub(super) fn blob_digest(rel: &Path) -> Option<Digest> {
    let mut c = rel.components();
    match (c.next(), c.next(), c.next(), c.next()) {
        (
            Some(Component::Normal(b)),
            Some(Component::Normal(alg)),
            Some(Component::Normal(hex)),
            None,
        ) if b == "blobs" && alg == "sha256" => Digest::from_hex(hex.to_str()?).ok(),
        _ => None,
    }
}

/// `raw` without `.` components; `Err` says why it may not be used.
fn clean(raw: &Path) -> std::result::Result<PathBuf, &'static str> {
    let mut out = PathBuf::new();
    for c in raw.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => return Err("contains '..'"),
            Component::RootDir | Component::Prefix(_) => return Err("is an absolute path"),
        }
    }
    Ok(out)
}

/// Where a link at `rel` points, relative to the archive root; `None` if outside it. A symlink
/// target is relative to the link's directory, a hard link's to the archive root.
fn link_target(rel: &Path, target: &Path, hard: bool) -> Option<PathBuf> {
    let mut out: Vec<&std::ffi::OsStr> = Vec::new();
    if !hard {
        let parent = rel.parent().unwrap_or(Path::new(""));
        out.extend(parent.components().map(|c| c.as_os_str()));
    }
    for c in target.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!out.is_empty()).then(|| out.iter().collect())
}
