//! Building layer tars for the suite with the `tar` crate, hostile ones included.

use tar::{EntryType, Header};

/// Builds an in-memory layer tar entry by entry.
pub(super) struct Tar(tar::Builder<Vec<u8>>);

/// Owner and mode of an entry.
#[derive(Clone, Copy)]
pub(super) struct Own {
    pub(super) uid: u64,
    pub(super) gid: u64,
    pub(super) mode: u32,
}

pub(super) const ROOT_644: Own = Own {
    uid: 0,
    gid: 0,
    mode: 0o644,
};
pub(super) const ROOT_755: Own = Own {
    uid: 0,
    gid: 0,
    mode: 0o755,
};

fn header(kind: EntryType, own: Own, size: u64) -> Header {
    let mut h = Header::new_ustar();
    h.set_entry_type(kind);
    h.set_uid(own.uid);
    h.set_gid(own.gid);
    h.set_mode(own.mode);
    h.set_size(size);
    h.set_mtime(1_600_000_000);
    h
}

impl Tar {
    pub(super) fn new() -> Self {
        Tar(tar::Builder::new(Vec::new()))
    }

    fn add(&mut self, mut h: Header, path: &str, data: &[u8]) -> &mut Self {
        self.0
            .append_data(&mut h, path, data)
            .expect("append tar entry");
        self
    }

    pub(super) fn dir(&mut self, path: &str) -> &mut Self {
        self.add(header(EntryType::Directory, ROOT_755, 0), path, b"")
    }

    pub(super) fn dir_mtime(&mut self, path: &str, mtime: u64) -> &mut Self {
        let mut h = header(EntryType::Directory, ROOT_755, 0);
        h.set_mtime(mtime);
        self.add(h, path, b"")
    }

    pub(super) fn file(&mut self, path: &str, data: &[u8]) -> &mut Self {
        self.file_own(path, data, ROOT_644)
    }

    pub(super) fn file_own(&mut self, path: &str, data: &[u8], own: Own) -> &mut Self {
        self.add(
            header(EntryType::Regular, own, data.len() as u64),
            path,
            data,
        )
    }

    /// A file with PAX `SCHILY.xattr.<name>` records, as Docker writes xattrs.
    pub(super) fn file_xattr(
        &mut self,
        path: &str,
        data: &[u8],
        name: &str,
        value: &[u8],
    ) -> &mut Self {
        let key = format!("SCHILY.xattr.{name}");
        self.0
            .append_pax_extensions([(key.as_str(), value)])
            .expect("append pax header");
        self.file(path, data)
    }

    pub(super) fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        let mut h = header(EntryType::Symlink, ROOT_755, 0);
        h.set_link_name(target).expect("symlink target fits");
        self.add(h, path, b"")
    }

    pub(super) fn hardlink(&mut self, path: &str, target: &str) -> &mut Self {
        let mut h = header(EntryType::Link, ROOT_644, 0);
        h.set_link_name(target).expect("link target fits");
        self.add(h, path, b"")
    }

    pub(super) fn fifo(&mut self, path: &str) -> &mut Self {
        self.add(header(EntryType::Fifo, ROOT_644, 0), path, b"")
    }

    /// A directory with this owner and mode.
    pub(super) fn dir_own(&mut self, path: &str, own: Own) -> &mut Self {
        self.add(header(EntryType::Directory, own, 0), path, b"")
    }

    pub(super) fn char_dev(&mut self, path: &str, major: u32, minor: u32) -> &mut Self {
        let mut h = header(EntryType::Char, ROOT_644, 0);
        h.set_device_major(major).expect("ustar header");
        h.set_device_minor(minor).expect("ustar header");
        self.add(h, path, b"")
    }

    /// An entry whose name and link name are written verbatim, bypassing the builder's
    /// checks (which refuse `..` and absolute names, as a hostile tar would not).
    pub(super) fn raw(
        &mut self,
        kind: EntryType,
        name: &str,
        link: &str,
        data: &[u8],
    ) -> &mut Self {
        let mut h = header(kind, ROOT_644, data.len() as u64);
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_cksum();
        self.0.append(&h, data).expect("append raw tar entry");
        self
    }

    pub(super) fn bytes(&mut self) -> Vec<u8> {
        let b = std::mem::replace(&mut self.0, tar::Builder::new(Vec::new()));
        b.into_inner().expect("finish tar")
    }
}
