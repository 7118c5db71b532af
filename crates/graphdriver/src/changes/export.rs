//! Writing a layer's changes as an uncompressed tar, in the format `apply_diff` reads: numeric
//! owners, modes, mtimes (seconds, as Docker writes them), xattrs as PAX `SCHILY.xattr.*`
//! records, hard links within the tar, and aufs whiteouts (`.wh.<name>`, `.wh..wh..opq`).

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::Metadata;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};

use super::overlay::check_native;
use super::{is_opaque, is_whiteout, lstat, read_dir_sorted, xattrs, Found};
use crate::{ChangeKind, Error, Result};

const WHITEOUT_PREFIX: &str = ".wh.";
const WHITEOUT_OPAQUE: &str = ".wh..wh..opq";
const XATTR_PREFIX: &str = "SCHILY.xattr.";

/// overlay2's diff: the layer's `diff` directory as it is, with its 0/0 character devices
/// turned into `.wh.<name>` and its opaque directories marked by `.wh..wh..opq` (moby's
/// `overlayWhiteoutConverter`).
pub(crate) fn overlay_tar(upper: &Path, out: &mut dyn Write) -> Result<()> {
    let mut tar = TarOut::new(out);
    tar.overlay_dir(Path::new(""), upper)?;
    tar.finish(upper)
}

/// vfs's diff: the entries named by `changes` (sorted, so directories come before their
/// entries), read from the layer's tree `root`; deletions become `.wh.<name>` (moby's
/// `ExportChanges`).
pub(crate) fn vfs_tar(root: &Path, changes: &[Found], out: &mut dyn Write) -> Result<()> {
    let mut tar = TarOut::new(out);
    for change in changes {
        match change.kind {
            ChangeKind::Deleted => tar.whiteout(&change.rel, None)?,
            ChangeKind::Added | ChangeKind::Modified => {
                let path = root.join(&change.rel);
                let md = lstat(&path)?;
                tar.entry(&path, &change.rel, &md)?;
            }
        }
    }
    tar.finish(root)
}

struct TarOut<'a> {
    builder: tar::Builder<&'a mut dyn Write>,
    /// Inodes with several links already in the tar → their name there.
    links: HashMap<(u64, u64), PathBuf>,
}

fn header(kind: EntryType, md: Option<&Metadata>, mode_mask: u32) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(0);
    let (mode, uid, gid, mtime) = md.map_or((0, 0, 0, 0), |md| {
        (md.mode(), md.uid(), md.gid(), md.mtime())
    });
    h.set_mode(mode & mode_mask);
    h.set_uid(u64::from(uid));
    h.set_gid(u64::from(gid));
    // Before 1970 is written as 1970: the ustar/GNU field is unsigned.
    h.set_mtime(u64::try_from(mtime).unwrap_or(0));
    h
}

impl<'a> TarOut<'a> {
    fn new(out: &'a mut dyn Write) -> Self {
        TarOut {
            builder: tar::Builder::new(out),
            links: HashMap::new(),
        }
    }

    fn finish(self, root: &Path) -> Result<()> {
        self.builder
            .into_inner()
            .map_err(|e| Error::io("write layer tar of", root, e))?
            .flush()
            .map_err(|e| Error::io("write layer tar of", root, e))
    }

    fn overlay_dir(&mut self, rel: &Path, dir: &Path) -> Result<()> {
        for name in read_dir_sorted(dir)? {
            let path = dir.join(&name);
            let child = rel.join(&name);
            let md = lstat(&path)?;
            check_native(&path, &md)?;
            if is_whiteout(&md) {
                self.whiteout(&child, Some(&md))?;
                continue;
            }
            self.entry(&path, &child, &md)?;
            if md.is_dir() {
                if is_opaque(&path)? {
                    self.opaque(&child, &path, &md)?;
                }
                self.overlay_dir(&child, &path)?;
            }
        }
        Ok(())
    }

    /// One entry for the file at `src`, named `rel` in the tar.
    fn entry(&mut self, src: &Path, rel: &Path, md: &Metadata) -> Result<()> {
        let werr = |e| Error::io("write layer tar entry for", src, e);
        let ft = md.file_type();
        if ft.is_socket() {
            // Tar has no socket type; Docker skips them too.
            tracing::debug!(path = %src.display(), "socket left out of layer tar");
            return Ok(());
        }
        if !ft.is_dir() && md.nlink() > 1 {
            let key = (md.dev(), md.ino());
            if let Some(first) = self.links.get(&key) {
                let mut h = header(EntryType::Link, Some(md), 0o7777);
                return self.builder.append_link(&mut h, rel, first).map_err(werr);
            }
            self.links.insert(key, rel.to_path_buf());
        }
        self.pax_xattrs(src)?;
        let written = if ft.is_dir() {
            let mut h = header(EntryType::Directory, Some(md), 0o7777);
            self.builder.append_data(&mut h, rel, io::empty())
        } else if ft.is_file() {
            let mut h = header(EntryType::Regular, Some(md), 0o7777);
            let size = md.len();
            h.set_size(size);
            let file = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(src)
                .map_err(|e| Error::io("open", src, e))?;
            // Exactly `size` bytes even if a running container changes the file meanwhile.
            let data = file.take(size).chain(io::repeat(0)).take(size);
            self.builder.append_data(&mut h, rel, data)
        } else if ft.is_symlink() {
            let target = std::fs::read_link(src).map_err(|e| Error::io("read symlink", src, e))?;
            let mut h = header(EntryType::Symlink, Some(md), 0o7777);
            self.builder.append_link(&mut h, rel, target)
        } else {
            let kind = if ft.is_char_device() {
                EntryType::Char
            } else if ft.is_block_device() {
                EntryType::Block
            } else {
                EntryType::Fifo
            };
            let mut h = header(kind, Some(md), 0o7777);
            if kind != EntryType::Fifo {
                let dev = |n: u64| u32::try_from(n).expect("Linux device numbers fit in 32 bits");
                h.set_device_major(dev(nix::sys::stat::major(md.rdev())))
                    .map_err(werr)?;
                h.set_device_minor(dev(nix::sys::stat::minor(md.rdev())))
                    .map_err(werr)?;
            }
            self.builder.append_data(&mut h, rel, io::empty())
        };
        written.map_err(werr)
    }

    /// The PAX record set for the next entry: its xattrs but overlayfs' own.
    fn pax_xattrs(&mut self, src: &Path) -> Result<()> {
        let mut records = Vec::new();
        for (name, value) in xattrs(src)? {
            match name.to_str() {
                Some(name) => records.push((format!("{XATTR_PREFIX}{name}"), value)),
                None => tracing::warn!(path = %src.display(), "non-UTF-8 xattr name left out"),
            }
        }
        self.builder
            .append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
            .map_err(|e| Error::io("write layer tar entry for", src, e))
    }

    /// `.wh.<name>` for the deleted `rel`; owner, mode and mtime from the overlay whiteout if
    /// there is one (as moby does), else zero.
    fn whiteout(&mut self, rel: &Path, from: Option<&Metadata>) -> Result<()> {
        let name = rel.file_name().unwrap_or_default();
        let mut base = OsString::from(WHITEOUT_PREFIX);
        base.push(name);
        let path = rel.parent().unwrap_or(Path::new("")).join(base);
        let mut h = header(EntryType::Regular, from, 0o777);
        self.builder
            .append_data(&mut h, &path, io::empty())
            .map_err(|e| Error::io("write layer tar entry for", rel, e))
    }

    /// `<rel>/.wh..wh..opq`, taking the directory's owner, permissions and mtime.
    fn opaque(&mut self, rel: &Path, src: &Path, md: &Metadata) -> Result<()> {
        let mut h = header(EntryType::Regular, Some(md), 0o777);
        self.builder
            .append_data(&mut h, rel.join(WHITEOUT_OPAQUE), io::empty())
            .map_err(|e| Error::io("write layer tar entry for", src, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(tar: &[u8]) -> Vec<(String, EntryType, Vec<u8>)> {
        let mut archive = tar::Archive::new(tar);
        let mut out = Vec::new();
        for e in archive.entries().expect("entries") {
            let mut e = e.expect("entry");
            let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            let kind = e.header().entry_type();
            let link = e
                .link_name_bytes()
                .map(|l| l.into_owned())
                .unwrap_or_default();
            let mut data = Vec::new();
            e.read_to_end(&mut data).expect("read entry");
            out.push((name, kind, if link.is_empty() { data } else { link }));
        }
        out
    }

    #[test]
    fn vfs_tar_writes_entries_links_and_whiteouts() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path();
        let long = "x".repeat(150);
        std::fs::create_dir(root.join("d")).expect("mkdir");
        std::fs::write(root.join("d/f"), b"hello").expect("write");
        std::fs::hard_link(root.join("d/f"), root.join(&long)).expect("link");
        std::os::unix::fs::symlink("d/f", root.join("s")).expect("symlink");
        let found = |rel: &str, kind| Found {
            rel: PathBuf::from(rel),
            kind,
        };
        let changes = [
            found("d", ChangeKind::Modified),
            found("d/f", ChangeKind::Added),
            found("d/gone", ChangeKind::Deleted),
            found("s", ChangeKind::Added),
            found(&long, ChangeKind::Added),
        ];
        let mut out = Vec::new();
        vfs_tar(root, &changes, &mut out).expect("tar");
        let got = entries(&out);
        let want = [
            ("d".to_owned(), EntryType::Directory, b"".to_vec()),
            ("d/f".to_owned(), EntryType::Regular, b"hello".to_vec()),
            ("d/.wh.gone".to_owned(), EntryType::Regular, b"".to_vec()),
            ("s".to_owned(), EntryType::Symlink, b"d/f".to_vec()),
            (long.clone(), EntryType::Link, b"d/f".to_vec()),
        ];
        assert_eq!(got, want);
    }
}
