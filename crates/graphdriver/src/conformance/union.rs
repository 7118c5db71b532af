//! The central case: an image of two layers (files of every kind, a whiteout, an opaque
//! directory) under a container layer shows the right union, and writes stay on top.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use super::tars::{Own, Tar};
use super::{ino, lstat, names, read, user_xattrs_supported, Fixture};
use crate::GraphDriver;

const TOOL: &[u8] = b"#!/bin/sh\necho tool\n";
const DIR_MTIME: i64 = 1_000_000_000;

fn base_tar(with_xattr: bool) -> (Vec<u8>, u64) {
    let mut t = Tar::new();
    t.dir_mtime("etc", DIR_MTIME as u64)
        .file("etc/hostname", b"base\n")
        .file("etc/remove-me", b"gone soon")
        .dir("opq")
        .file("opq/old", b"old")
        .dir("opq/olddir")
        .file("opq/olddir/f", b"f")
        .dir("bin")
        .file_own(
            "bin/tool",
            TOOL,
            Own {
                uid: 1000,
                gid: 1000,
                mode: 0o4755,
            },
        )
        .hardlink("bin/tool-link", "bin/tool")
        .symlink("link", "etc/hostname")
        .fifo("fifo")
        .char_dev("dev/null2", 1, 3);
    // Regular files, and the symlink by its target's length ("etc/hostname").
    let mut size = (5 + 9 + 3 + 1 + TOOL.len() + 12) as u64;
    if with_xattr {
        t.file_xattr("xattr-file", b"xa", "user.foo", b"bar");
        size += 2;
    }
    (t.bytes(), size)
}

fn child_tar() -> Vec<u8> {
    Tar::new()
        .dir("etc")
        .file("etc/.wh.remove-me", b"")
        .file("etc/hostname", b"child\n")
        .dir("opq")
        .file("opq/.wh..wh..opq", b"")
        .file("opq/new", b"new")
        .file("newfile", b"n")
        .bytes()
}

/// What the base layer's tar must have produced, checked in its diff dir and in the union.
fn check_base_entries(root: &Path, with_xattr: bool) {
    let tool = lstat(&root.join("bin/tool"));
    assert_eq!(tool.mode() & 0o7777, 0o4755, "setuid mode preserved");
    assert_eq!(
        (tool.uid(), tool.gid()),
        (1000, 1000),
        "numeric owner preserved"
    );
    assert_eq!(
        std::fs::read(root.join("bin/tool")).expect("read tool"),
        TOOL
    );
    assert_eq!(
        ino(&root.join("bin/tool")),
        ino(&root.join("bin/tool-link")),
        "a hard link shares its target's inode"
    );
    assert_eq!(
        std::fs::read_link(root.join("link")).expect("readlink"),
        Path::new("etc/hostname")
    );
    assert!(lstat(&root.join("fifo")).file_type().is_fifo());
    let dev = lstat(&root.join("dev/null2"));
    assert!(dev.file_type().is_char_device());
    assert_eq!(
        (
            nix::sys::stat::major(dev.rdev()),
            nix::sys::stat::minor(dev.rdev())
        ),
        (1, 3)
    );
    if with_xattr {
        let v = xattr::get(root.join("xattr-file"), "user.foo").expect("getxattr");
        assert_eq!(
            v.as_deref(),
            Some(&b"bar"[..]),
            "xattr from the tar's PAX record"
        );
    }
}

pub(super) fn layers_stack_into_a_union(make: &dyn Fn(&Path) -> Box<dyn GraphDriver>) {
    let fx = Fixture::new(make, "union");
    let d = &*fx.driver;
    let with_xattr = user_xattrs_supported(&fx.root);
    let (base, base_size) = base_tar(with_xattr);

    let a = fx.layer(None, None);
    let applied = d.apply_diff(&a, &mut &base[..]).expect("apply base tar");
    assert_eq!(
        applied, base_size,
        "apply_diff returns the regular files' and symlinks' bytes"
    );
    let a_diff = d.diff_dir(&a).expect("diff dir of base");
    check_base_entries(&a_diff, with_xattr);
    assert_eq!(read(&a_diff.join("etc/hostname")), "base\n");
    let etc = lstat(&a_diff.join("etc"));
    assert_eq!(
        etc.mtime(),
        DIR_MTIME,
        "directory mtime set after its children"
    );

    let b = fx.layer(Some(&a), Some(&child_tar()));
    let c = fx.layer(Some(&b), None);
    let m = d.get(&c).expect("get container layer");

    assert!(!m.join("etc/remove-me").exists(), "whited-out file is gone");
    assert!(
        lstat(&a_diff.join("etc/remove-me")).is_file(),
        "lower layer untouched"
    );
    assert_eq!(read(&m.join("etc/hostname")), "child\n");
    assert_eq!(
        names(&m.join("opq")),
        ["new"],
        "opaque dir shows only new entries"
    );
    assert_eq!(read(&m.join("newfile")), "n");
    assert_eq!(
        read(&m.join("link")),
        "child\n",
        "symlink resolves in the union"
    );
    check_base_entries(&m, with_xattr);

    // Writes land in the container layer only.
    std::fs::write(m.join("written"), b"w").expect("write in container");
    std::fs::write(m.join("etc/hostname"), b"container\n").expect("modify lower file");
    std::fs::remove_file(m.join("newfile")).expect("delete lower file");
    std::fs::remove_file(m.join("etc/remove-me")).expect_err("whited-out file stays gone");
    let b_diff = d.diff_dir(&b).expect("diff dir of child");
    let c_diff = d.diff_dir(&c).expect("diff dir of container");
    assert_eq!(read(&c_diff.join("written")), "w");
    assert_eq!(read(&c_diff.join("etc/hostname")), "container\n");
    for lower in [&a_diff, &b_diff] {
        assert!(
            !lower.join("written").exists(),
            "write leaked into {}",
            lower.display()
        );
    }
    assert_eq!(read(&a_diff.join("etc/hostname")), "base\n");
    assert_eq!(read(&b_diff.join("etc/hostname")), "child\n");
    assert!(
        b_diff.join("newfile").exists(),
        "delete in container leaked down"
    );

    d.put(&c).expect("put container layer");
    assert!(
        fx.mounts().is_empty(),
        "nothing stays mounted: {:?}",
        fx.mounts()
    );
    for id in [&c, &b, &a] {
        d.remove(id).expect("remove layer");
        assert!(!d.exists(id));
    }
}
