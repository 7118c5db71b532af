//! Unpacking a layer tar into a layer directory (`apply_diff` of both drivers).
//!
//! Nothing may be written outside the layer: names are made relative and `..` is refused,
//! every parent component must be a real directory (never a symlink), existing entries are
//! removed rather than written through, and hard link targets must be files of the layer.
//! Whiteouts are aufs-style in the tar (`.wh.<name>`, `.wh..wh..opq`) and become either
//! overlayfs whiteouts or deletions, depending on the driver.

mod meta;
mod path;

use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::sys::stat::SFlag;
use nix::sys::time::TimeSpec;
use tar::EntryType;

use crate::fsutil;
use crate::{Error, Result};

use self::meta::Meta;
use self::path::Parent;

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const WHITEOUT_META_PREFIX: &[u8] = b".wh..wh.";
const WHITEOUT_OPAQUE: &[u8] = b".wh..wh..opq";
/// File data is handed to the disk in chunks this big while a layer is unpacked.
const WRITEBACK_CHUNK: u64 = 1 << 20;

/// How the tar's whiteouts are represented in the layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Whiteouts {
    /// overlayfs: `.wh.<name>` becomes a 0/0 char device `<name>`, `.wh..wh..opq` the
    /// `trusted.overlay.opaque=y` xattr on its directory.
    Overlay,
    /// A full copy of the parent (vfs): `.wh.<name>` deletes `<name>`; `.wh..wh..opq`
    /// deletes everything in its directory that this tar did not write.
    Delete,
}

/// Unpacks `tar` into `root`; returns the bytes written: regular files' contents and symlinks'
/// targets (what [`crate::GraphDriver::usage`] then counts for a new layer).
pub(crate) fn apply(root: &Path, tar: &mut dyn Read, whiteouts: Whiteouts) -> Result<u64> {
    // The root: empty when the layer was just made (then nothing in it needs a look before
    // being written); its setgid bit decides the group of what is made in it.
    let root_md = std::fs::symlink_metadata(root).map_err(|e| Error::io("stat", root, e))?;
    let root_empty = std::fs::read_dir(root)
        .map_err(|e| Error::io("read directory", root, e))?
        .next()
        .is_none();
    let mut unpacker = Unpacker {
        root,
        whiteouts,
        touched: HashSet::new(),
        dir_times: Vec::new(),
        size: 0,
        dirs: HashMap::from([(
            PathBuf::new(),
            KnownDir {
                fresh: root_empty,
                setgid: root_md.mode() & libc::S_ISGID != 0,
            },
        )]),
        made: HashSet::new(),
        owner: (
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        ),
    };
    let read_err = |source| Error::ReadTar {
        layer: root.to_path_buf(),
        source,
    };
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries().map_err(read_err)? {
        let mut entry = entry.map_err(read_err)?;
        unpacker.unpack(&mut entry)?;
    }
    unpacker.finish()
}

struct Unpacker<'a> {
    root: &'a Path,
    whiteouts: Whiteouts,
    /// Paths (relative) this tar wrote, kept for `.wh..wh..opq` in [`Whiteouts::Delete`]
    /// mode, where they must survive while what the parent layer had is deleted.
    touched: HashSet<PathBuf>,
    /// Directory times, set at the end: writing a child changes its directory's mtime.
    dir_times: Vec<(PathBuf, TimeSpec, TimeSpec)>,
    size: u64,
    /// Directories (relative) known to be real directories of the layer, checked or made by
    /// this unpacking: each is looked at once, not once per entry below it.
    dirs: HashMap<PathBuf, KnownDir>,
    /// Entries (relative) this unpacking made. In a fresh directory nothing else exists.
    made: HashSet<PathBuf>,
    /// Our uid and gid: the owner of what we make, outside setgid directories.
    owner: (u32, u32),
}

/// What the unpacking knows about one of the layer's directories.
#[derive(Debug, Clone, Copy)]
struct KnownDir {
    /// Made by this unpacking (or the layer's empty root): it holds only entries in `made`.
    fresh: bool,
    /// What is made in it takes its group.
    setgid: bool,
}

/// Not known: looked at, and owners always set.
const UNKNOWN_DIR: KnownDir = KnownDir {
    fresh: false,
    setgid: true,
};

impl Unpacker<'_> {
    fn read_err(&self, source: io::Error) -> Error {
        Error::ReadTar {
            layer: self.root.to_path_buf(),
            source,
        }
    }

    fn unpack<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<()> {
        let name = path::from_bytes(&entry.path_bytes());
        let rel = path::normalize(&name, &name, "the name contains `..`")?;
        let kind = entry.header().entry_type();
        if kind == EntryType::XGlobalHeader {
            return Ok(());
        }
        if let Some(base) = rel.file_name().map(|b| b.as_bytes().to_vec()) {
            if base == WHITEOUT_OPAQUE {
                return self.opaque(&name, &rel);
            }
            if base.starts_with(WHITEOUT_META_PREFIX) {
                // aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs): not layer content.
                tracing::debug!(entry = %name.display(), "aufs metadata entry skipped");
                return Ok(());
            }
            if let Some(target) = base.strip_prefix(WHITEOUT_PREFIX) {
                let meta = Meta::read(entry).map_err(|e| self.read_err(e))?;
                return self.whiteout(&name, &rel, target, &meta);
            }
        }
        let meta = Meta::read(entry).map_err(|e| self.read_err(e))?;
        if rel.as_os_str().is_empty() {
            return self.root_entry(&name, kind, &meta);
        }
        let path = self.prepare_parents(&name, &rel)?;
        let parent = self.known_parent(&rel);
        let dir_exists = self.clear(&rel, &path, parent, kind == EntryType::Directory)?;
        match kind {
            EntryType::Directory if dir_exists => {}
            EntryType::Directory => fsutil::create_dir(&path, 0o700)?,
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                self.size += self.write_file(&path, entry)?;
            }
            EntryType::Symlink => {
                let target = path::from_bytes(&self.link_target(&name, entry)?);
                std::os::unix::fs::symlink(&target, &path)
                    .map_err(|e| Error::io("create symlink", &path, e))?;
                // A symlink's size is its target's length, as `du --apparent-size` and Docker's
                // overlay2 (which sizes a layer by walking it) count it.
                self.size += target.as_os_str().len() as u64;
            }
            EntryType::Link => {
                let target = self.link_target(&name, entry)?;
                self.hard_link(&name, &target, &path)?;
                self.made.insert(rel.clone());
                self.touch(rel);
                return Ok(()); // the target already carries the metadata
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                self.make_node(&path, kind, entry, &meta)?;
            }
            other => {
                return Err(Error::UnsupportedEntry {
                    entry: name,
                    kind: char::from(other.as_byte()),
                })
            }
        }
        // Made just now by us: owned by us, or by our uid and the directory's group.
        let owner = (!dir_exists && !parent.setgid).then_some(self.owner);
        self.made.insert(rel.clone());
        if kind == EntryType::Directory {
            let known = KnownDir {
                fresh: !dir_exists,
                setgid: meta.mode & libc::S_ISGID != 0,
            };
            self.dirs.insert(rel.clone(), known);
        }
        self.touch(rel);
        meta.apply(&path, kind == EntryType::Symlink, owner)?;
        if kind == EntryType::Directory {
            self.dir_times.push((path, meta.atime, meta.mtime));
            Ok(())
        } else {
            fsutil::set_times(&path, meta.atime, meta.mtime)
        }
    }

    fn finish(self) -> Result<u64> {
        for (dir, atime, mtime) in self.dir_times.iter().rev() {
            match fsutil::set_times(dir, *atime, *mtime) {
                // Deleted later in the stream (a whiteout or a replacing entry).
                Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
                other => other?,
            }
        }
        Ok(self.size)
    }

    fn touch(&mut self, rel: PathBuf) {
        if self.whiteouts == Whiteouts::Delete {
            self.touched.insert(rel);
        }
    }

    /// `./` in the tar: the layer root keeps existing, but takes the entry's metadata.
    fn root_entry(&mut self, name: &Path, kind: EntryType, meta: &Meta) -> Result<()> {
        if kind != EntryType::Directory {
            return Err(Error::UnsafePath {
                entry: name.to_path_buf(),
                reason: "the layer root can only be a directory",
            });
        }
        meta.apply(self.root, false, None)?;
        if let Some(root) = self.dirs.get_mut(Path::new("")) {
            root.setgid = meta.mode & libc::S_ISGID != 0;
        }
        self.dir_times
            .push((self.root.to_path_buf(), meta.atime, meta.mtime));
        Ok(())
    }

    /// Makes sure every parent of `rel` is a real directory inside the layer, creating
    /// missing ones (0755, as Docker does); returns the absolute path of `rel`. A directory
    /// already checked or made is not looked at again; one below a fresh directory that this
    /// unpacking did not make cannot exist, and is made without a look.
    fn prepare_parents(&mut self, name: &Path, rel: &Path) -> Result<PathBuf> {
        let mut cur_rel = PathBuf::new();
        if let Some(parent) = rel.parent() {
            for part in parent.components() {
                let above = self.dirs.get(&cur_rel).copied().unwrap_or(UNKNOWN_DIR);
                cur_rel.push(part);
                if !self.dirs.contains_key(&cur_rel) {
                    let cur = self.root.join(&cur_rel);
                    let missing = if above.fresh && !self.made.contains(&cur_rel) {
                        true
                    } else {
                        matches!(path::check_parent(name, &cur)?, Parent::Missing)
                    };
                    let known = if missing {
                        fsutil::create_dir(&cur, 0o755)?;
                        self.made.insert(cur_rel.clone());
                        // A new directory in a setgid one is setgid too.
                        KnownDir {
                            fresh: true,
                            setgid: above.setgid,
                        }
                    } else {
                        UNKNOWN_DIR
                    };
                    self.dirs.insert(cur_rel.clone(), known);
                }
                self.touch(cur_rel.clone());
            }
        }
        Ok(self.root.join(rel))
    }

    /// What is known of the directory holding `rel`.
    fn known_parent(&self, rel: &Path) -> KnownDir {
        let parent = rel.parent().unwrap_or(Path::new(""));
        self.dirs.get(parent).copied().unwrap_or(UNKNOWN_DIR)
    }

    /// Removes what is at `path` unless both it and the new entry are directories (then the
    /// two merge, as in Docker). Returns whether a directory was kept.
    fn clear(
        &mut self,
        rel: &Path,
        path: &Path,
        parent: KnownDir,
        new_is_dir: bool,
    ) -> Result<bool> {
        if parent.fresh && !self.made.contains(rel) {
            return Ok(false);
        }
        match std::fs::symlink_metadata(path) {
            Ok(md) if md.is_dir() && new_is_dir => Ok(true),
            Ok(_) => {
                self.forget_below(rel);
                fsutil::remove_all(path).map(|()| false)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io("stat", path, e)),
        }
    }

    /// `rel` and everything below it are going away.
    fn forget_below(&mut self, rel: &Path) {
        self.dirs.retain(|p, _| !p.starts_with(rel));
        self.made.retain(|p| !p.starts_with(rel));
    }

    /// After a whiteout or an opaque marker, what this unpacking knew may be stale: start over
    /// (layers with whiteouts are small).
    fn forget_all(&mut self) {
        self.dirs.clear();
        self.made.clear();
    }

    fn write_file<R: Read>(&self, path: &Path, entry: &mut tar::Entry<'_, R>) -> Result<u64> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
            .map_err(|e| Error::io("create", path, e))?;
        let mut buf = vec![0u8; 64 * 1024];
        let (mut written, mut flushed) = (0u64, 0u64);
        loop {
            let n = match entry.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.read_err(e)),
            };
            file.write_all(&buf[..n])
                .map_err(|e| Error::io("write", path, e))?;
            written += n as u64;
            if written - flushed >= WRITEBACK_CHUNK {
                fsutil::start_writeback(&file, flushed, written - flushed);
                flushed = written;
            }
        }
        if written > flushed {
            fsutil::start_writeback(&file, flushed, written - flushed);
        }
        Ok(written)
    }

    fn link_target<R: Read>(&self, name: &Path, entry: &tar::Entry<'_, R>) -> Result<Vec<u8>> {
        match entry.link_name_bytes() {
            Some(target) if !target.is_empty() => Ok(target.into_owned()),
            _ => Err(Error::UnsafePath {
                entry: name.to_path_buf(),
                reason: "a link entry without a target",
            }),
        }
    }

    /// A hard link whose target must be a non-directory of this layer, reached without
    /// symlinks. An absolute target is relative to the layer root, like entry names.
    fn hard_link(&self, name: &Path, target: &[u8], path: &Path) -> Result<()> {
        const OUTSIDE: &str = "the hard link target is not a file in this layer";
        let refuse = || Error::UnsafePath {
            entry: name.to_path_buf(),
            reason: OUTSIDE,
        };
        let rel = path::normalize(name, &path::from_bytes(target), OUTSIDE)?;
        if rel.as_os_str().is_empty() {
            return Err(refuse());
        }
        let mut cur = self.root.to_path_buf();
        for part in rel.parent().into_iter().flat_map(Path::components) {
            cur.push(part);
            if let Parent::Missing = path::check_parent(name, &cur)? {
                return Err(refuse());
            }
        }
        let source = self.root.join(&rel);
        match std::fs::symlink_metadata(&source) {
            Ok(md) if !md.is_dir() => {}
            Ok(_) => return Err(refuse()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(refuse()),
            Err(e) => return Err(Error::io("stat", &source, e)),
        }
        // linkat(2) without AT_SYMLINK_FOLLOW: a symlink target is linked, not followed.
        std::fs::hard_link(&source, path).map_err(|e| Error::io("hard link", path, e))
    }

    fn make_node<R: Read>(
        &self,
        path: &Path,
        kind: EntryType,
        entry: &tar::Entry<'_, R>,
        meta: &Meta,
    ) -> Result<()> {
        let (sflag, dev) = match kind {
            EntryType::Char | EntryType::Block => {
                let header = entry.header();
                let major = header.device_major().map_err(|e| self.read_err(e))?;
                let minor = header.device_minor().map_err(|e| self.read_err(e))?;
                let dev = nix::sys::stat::makedev(
                    u64::from(major.unwrap_or(0)),
                    u64::from(minor.unwrap_or(0)),
                );
                let sflag = if kind == EntryType::Char {
                    SFlag::S_IFCHR
                } else {
                    SFlag::S_IFBLK
                };
                (sflag, dev)
            }
            // A fifo's device fields are often left blank.
            _ => (SFlag::S_IFIFO, 0),
        };
        fsutil::mknod(path, sflag, meta.mode, dev)
    }

    /// `.wh.<target>`: the file `<target>` of the layers below is deleted.
    fn whiteout(&mut self, name: &Path, rel: &Path, target: &[u8], meta: &Meta) -> Result<()> {
        self.forget_all();
        if target.is_empty() || target == b"." || target == b".." {
            return Err(Error::UnsafePath {
                entry: name.to_path_buf(),
                reason: "a whiteout without a valid name",
            });
        }
        let dir = self.prepare_parents(name, rel)?;
        let dir = dir.parent().unwrap_or(self.root);
        let victim = dir.join(path::from_bytes(target));
        fsutil::remove_all(&victim)?;
        if self.whiteouts == Whiteouts::Overlay {
            // https://docs.kernel.org/filesystems/overlayfs.html#whiteouts-and-opaque-directories
            fsutil::mknod(&victim, SFlag::S_IFCHR, 0, 0)?;
            fsutil::lchown(&victim, meta.uid, meta.gid)?;
        }
        Ok(())
    }

    /// `.wh..wh..opq` in D: nothing of D from the layers below is visible.
    fn opaque(&mut self, name: &Path, rel: &Path) -> Result<()> {
        self.forget_all();
        let path = self.prepare_parents(name, rel)?;
        let dir = path.parent().unwrap_or(self.root).to_path_buf();
        match self.whiteouts {
            Whiteouts::Overlay => fsutil::set_xattr(&dir, "trusted.overlay.opaque", b"y"),
            Whiteouts::Delete => {
                let dir_rel = rel.parent().unwrap_or(Path::new("")).to_path_buf();
                self.prune(&dir_rel)
            }
        }
    }

    /// Deletes everything below `dir_rel` that this tar did not write (Docker's
    /// `unpackedPaths` walk in `UnpackLayer`).
    fn prune(&self, dir_rel: &Path) -> Result<()> {
        let dir = self.root.join(dir_rel);
        let entries = std::fs::read_dir(&dir).map_err(|e| Error::io("read directory", &dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("read directory", &dir, e))?;
            let rel = dir_rel.join(entry.file_name());
            if !self.touched.contains(&rel) {
                fsutil::remove_all(&entry.path())?;
            } else if entry.file_type().is_ok_and(|t| t.is_dir()) {
                self.prune(&rel)?;
            }
        }
        Ok(())
    }
}
