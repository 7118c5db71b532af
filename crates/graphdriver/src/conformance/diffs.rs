//! `changes` and `diff`: edits made through a container layer's rootfs are listed the same way
//! by every driver, and the layer's diff tar, applied on a fresh layer over the same parent,
//! rebuilds the same union.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use super::tars::{Own, Tar};
use super::{ino, lstat, names, new_id, user_xattrs_supported, Fixture};
use crate::{GraphDriver, LayerId};

type Make<'a> = &'a dyn Fn(&Path) -> Box<dyn GraphDriver>;

fn base_tar(with_xattr: bool) -> Vec<u8> {
    let mut t = Tar::new();
    t.dir("bin")
        .file_own(
            "bin/tool",
            b"#!/bin/sh\n",
            Own {
                uid: 1000,
                gid: 1000,
                mode: 0o4755,
            },
        )
        .dir("dev")
        .char_dev("dev/null2", 1, 3)
        .dir("etc")
        .file("etc/hostname", b"base\n")
        .file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n")
        .file("etc/remove-me", b"gone soon")
        .fifo("fifo")
        .symlink("link", "etc/hostname")
        .dir("olddir")
        .file("olddir/a", b"a")
        .dir("olddir/sub")
        .file("olddir/sub/b", b"b")
        .dir("opq")
        .file("opq/keep", b"old keep")
        .file("opq/old", b"old")
        .dir("opq/sub")
        .file("opq/sub/f", b"f");
    if with_xattr {
        t.file_xattr("xattr-file", b"xa", "user.foo", b"bar");
    }
    t.bytes()
}

const BASE_PATHS: &[&str] = &[
    "/bin",
    "/bin/tool",
    "/dev",
    "/dev/null2",
    "/etc",
    "/etc/hostname",
    "/etc/passwd",
    "/etc/remove-me",
    "/fifo",
    "/link",
    "/olddir",
    "/olddir/a",
    "/olddir/sub",
    "/olddir/sub/b",
    "/opq",
    "/opq/keep",
    "/opq/old",
    "/opq/sub",
    "/opq/sub/f",
];

/// What a container typically does, through the union mount.
fn edit(m: &Path, with_xattr: bool) {
    let io = |what: &str, r: std::io::Result<()>| r.unwrap_or_else(|e| panic!("{what}: {e}"));
    io("add file", std::fs::write(m.join("new.txt"), b"new"));
    io(
        "modify",
        std::fs::write(m.join("etc/hostname"), b"container\n"),
    );
    io("delete file", std::fs::remove_file(m.join("etc/remove-me")));
    io("delete dir", std::fs::remove_dir_all(m.join("olddir")));
    io(
        "symlink",
        std::os::unix::fs::symlink("etc/hostname", m.join("sym")),
    );
    let perms = std::fs::Permissions::from_mode(0o700);
    io("chmod", std::fs::set_permissions(m.join("bin/tool"), perms));
    io(
        "hardlink",
        std::fs::hard_link(m.join("etc/hostname"), m.join("etc/hn-link")),
    );
    io(
        "chown",
        std::os::unix::fs::lchown(m.join("etc/passwd"), Some(1000), Some(1000)),
    );
    // Re-creating a removed directory: an opaque directory on overlay2.
    io("rm -rf opq", std::fs::remove_dir_all(m.join("opq")));
    io("mkdir opq", std::fs::create_dir(m.join("opq")));
    io(
        "rewrite keep",
        std::fs::write(m.join("opq/keep"), b"new keep"),
    );
    io("add in opq", std::fs::write(m.join("opq/new"), b"n"));
    io("mkdir -p", std::fs::create_dir_all(m.join("newdir/sub")));
    io("add deep", std::fs::write(m.join("newdir/sub/f"), b"deep"));
    // Created and deleted again: /dev's mtime changes, but nothing else does.
    io("scratch", std::fs::write(m.join("dev/scratch"), b"s"));
    io("rm scratch", std::fs::remove_file(m.join("dev/scratch")));
    if with_xattr {
        io(
            "setxattr",
            xattr::set(m.join("xattr-file"), "user.foo", b"baz"),
        );
    }
}

const EDITED: &[&str] = &[
    "C /bin",
    "C /bin/tool",
    "C /etc",
    "A /etc/hn-link",
    "C /etc/hostname",
    "C /etc/passwd",
    "D /etc/remove-me",
    "A /new.txt",
    "A /newdir",
    "A /newdir/sub",
    "A /newdir/sub/f",
    "D /olddir",
    "C /opq",
    "C /opq/keep",
    "A /opq/new",
    "D /opq/old",
    "D /opq/sub",
    "A /sym",
];

fn changes(d: &dyn GraphDriver, id: &LayerId) -> Vec<String> {
    let list = d.changes(id).expect("changes");
    list.iter().map(ToString::to_string).collect()
}

/// A new layer on `parent` made of `id`'s diff tar.
fn replay(fx: &Fixture, id: &LayerId, parent: Option<&LayerId>) -> LayerId {
    let copy = new_id();
    fx.driver
        .create(&copy, parent)
        .expect("create replay layer");
    let mut tar = fx.driver.diff(id).expect("diff");
    fx.driver
        .apply_diff(&copy, &mut *tar)
        .expect("apply the diff tar");
    copy
}

/// Mounts both layers and asserts their unions are equal.
fn assert_same_union(d: &dyn GraphDriver, a: &LayerId, b: &LayerId) {
    let (ma, mb) = (d.get(a).expect("get"), d.get(b).expect("get"));
    assert_same_tree(&ma, &mb);
    d.put(a).expect("put");
    d.put(b).expect("put");
}

/// Same names, types, permission bits, owners, contents, symlink targets, device numbers,
/// `user.*` xattrs and (for non-directories) mtime seconds. Not atimes, not directory mtimes
/// (a file created and deleted again changes its directory's mtime without being a change).
fn assert_same_tree(a: &Path, b: &Path) {
    assert_eq!(
        names(a),
        names(b),
        "entries of {} and {}",
        a.display(),
        b.display()
    );
    for name in names(a) {
        let (pa, pb) = (a.join(&name), b.join(&name));
        let (ma, mb) = (lstat(&pa), lstat(&pb));
        let what = pa.display();
        assert_eq!(ma.file_type(), mb.file_type(), "type of {what}");
        assert_eq!(
            (ma.uid(), ma.gid()),
            (mb.uid(), mb.gid()),
            "owner of {what}"
        );
        let ft = ma.file_type();
        if ft.is_symlink() {
            let target = |p: &Path| std::fs::read_link(p).expect("readlink");
            assert_eq!(target(&pa), target(&pb), "target of {what}");
        } else {
            assert_eq!(ma.mode() & 0o7777, mb.mode() & 0o7777, "mode of {what}");
        }
        if ft.is_char_device() || ft.is_block_device() {
            assert_eq!(ma.rdev(), mb.rdev(), "device of {what}");
        }
        if !ft.is_dir() {
            assert_eq!(ma.mtime(), mb.mtime(), "mtime of {what}");
        }
        if ft.is_file() {
            let read = |p: &Path| std::fs::read(p).expect("read");
            assert!(read(&pa) == read(&pb), "content of {what}");
        }
        let user_xattrs = |p: &Path| {
            let mut v: Vec<_> = xattr::list(p)
                .expect("listxattr")
                .filter(|n| n.to_string_lossy().starts_with("user."))
                .map(|n| (xattr::get(p, &n).expect("getxattr"), n))
                .collect();
            v.sort();
            v
        };
        assert_eq!(user_xattrs(&pa), user_xattrs(&pb), "xattrs of {what}");
        if ft.is_dir() {
            assert_same_tree(&pa, &pb);
        }
    }
}

pub(super) fn changes_and_diff_round_trip(make: Make<'_>) {
    let fx = Fixture::new(make, "diff");
    let d = &*fx.driver;
    let with_xattr = user_xattrs_supported(&fx.root);
    let a = fx.layer(None, Some(&base_tar(with_xattr)));

    let mut want: Vec<String> = BASE_PATHS.iter().map(|p| format!("A {p}")).collect();
    if with_xattr {
        want.push("A /xattr-file".to_owned());
    }
    assert_eq!(changes(d, &a), want, "a layer without parent is all Added");
    let a2 = replay(&fx, &a, None);
    assert_same_union(d, &a, &a2);

    let c = fx.layer(Some(&a), None);
    let m = d.get(&c).expect("get container layer");
    edit(&m, with_xattr);
    let mut want: Vec<&str> = EDITED.to_vec();
    if with_xattr {
        want.push("C /xattr-file");
    }
    assert_eq!(changes(d, &c), want, "{} changes", d.name());

    let c2 = replay(&fx, &c, Some(&a));
    let m2 = d.get(&c2).expect("get replayed layer");
    assert_same_tree(&m, &m2);
    assert_eq!(
        ino(&m2.join("etc/hn-link")),
        ino(&m2.join("etc/hostname")),
        "a hard link in the diff stays one"
    );
    d.put(&c2).expect("put");
    d.put(&c).expect("put");
    assert_eq!(
        changes(d, &c2),
        want,
        "the replayed layer has the same changes"
    );
}

pub(super) fn changes_see_lower_whiteouts(make: Make<'_>) {
    let fx = Fixture::new(make, "diff-lower");
    let d = &*fx.driver;
    let a = fx.layer(None, Some(&base_tar(false)));
    let child = Tar::new()
        .dir("etc")
        .file("etc/.wh.remove-me", b"")
        .file("etc/hostname", b"child\n")
        .file(".wh.olddir", b"")
        .dir("opq")
        .file("opq/.wh..wh..opq", b"")
        .file("opq/new", b"n")
        .file("newfile", b"n")
        .bytes();
    let b = fx.layer(Some(&a), Some(&child));
    let want = [
        "C /etc",
        "C /etc/hostname",
        "D /etc/remove-me",
        "A /newfile",
        "D /olddir",
        "C /opq",
        "D /opq/keep",
        "A /opq/new",
        "D /opq/old",
        "D /opq/sub",
    ];
    assert_eq!(changes(d, &b), want, "an image layer's whiteouts");
    let b2 = replay(&fx, &b, Some(&a));
    assert_same_union(d, &b, &b2);

    // Names deleted or hidden below are new again when re-created.
    let c = fx.layer(Some(&b), None);
    let m = d.get(&c).expect("get");
    std::fs::write(m.join("etc/remove-me"), b"again").expect("write");
    std::fs::write(m.join("opq/old"), b"again").expect("write");
    std::fs::remove_file(m.join("opq/new")).expect("rm");
    std::fs::create_dir(m.join("olddir")).expect("mkdir");
    assert_eq!(names(&m.join("opq")), ["old"]);
    d.put(&c).expect("put");
    let want = [
        "C /etc",
        "A /etc/remove-me",
        "A /olddir",
        "C /opq",
        "D /opq/new",
        "A /opq/old",
    ];
    assert_eq!(changes(d, &c), want, "changes over whiteouts");
    let c2 = replay(&fx, &c, Some(&b));
    assert_same_union(d, &c, &c2);
}
