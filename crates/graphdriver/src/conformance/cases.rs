//! The remaining cases: reference counts and removal, hostile tars, opaque directories,
//! usage, a crashed daemon's mounts, and errors for missing or duplicate layers.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use tar::EntryType;

use super::tars::{Own, Tar, ROOT_644, ROOT_755};
use super::{names, new_id, read, Fixture};
use crate::{Error, GraphDriver};

type Make<'a> = &'a dyn Fn(&Path) -> Box<dyn GraphDriver>;

pub(super) fn lifecycle_and_refcounts(make: Make<'_>) {
    let fx = Fixture::new(make, "lifecycle");
    let d = &*fx.driver;
    let base = fx.layer(None, Some(&Tar::new().file("f", b"f").bytes()));
    let top = fx.layer(Some(&base), None);
    for id in [&base, &top] {
        let p1 = d.get(id).expect("first get");
        let p2 = d.get(id).expect("second get");
        assert_eq!(p1, p2, "a second get returns the same rootfs");
        assert_eq!(read(&p1.join("f")), "f");
        d.put(id).expect("first put");
        assert!(p1.join("f").exists(), "still mounted after one of two puts");
        match d.remove(id) {
            Err(Error::InUse { id: got, mounts }) => assert_eq!((&got, mounts), (id, 1)),
            other => panic!("remove while mounted: expected InUse, got {other:?}"),
        }
        d.put(id).expect("second put");
    }
    assert!(fx.mounts().is_empty(), "put unmounts: {:?}", fx.mounts());
    let top_diff = d.diff_dir(&top).expect("diff dir");
    d.remove(&top).expect("remove after put");
    d.remove(&base).expect("remove base");
    assert!(!top_diff.exists() && !d.exists(&top) && !d.exists(&base));
    assert!(fx.mounts().is_empty());
    // Only driver bookkeeping may remain: empty dirs, and no dangling `l/` style links.
    for entry in std::fs::read_dir(&fx.root).expect("read root") {
        let path = entry.expect("root entry").path();
        assert!(path.is_dir(), "unexpected {} left in root", path.display());
        for inner in std::fs::read_dir(&path).expect("read driver dir") {
            let inner = inner.expect("entry").path();
            let name = inner.file_name().map(|n| n.to_string_lossy().into_owned());
            assert!(
                !name.is_some_and(|n| n.contains(base.as_str()) || n.contains(top.as_str())),
                "removed layer left {}",
                inner.display()
            );
            assert!(inner.exists(), "dangling link {}", inner.display());
        }
    }
}

pub(super) fn hostile_tars_are_rejected(make: Make<'_>) {
    let fx = Fixture::new(make, "hostile");
    let d = &*fx.driver;
    let evil = format!("rdocker-gd-evil-{}", uuid::Uuid::new_v4().simple());
    let passwd_links = std::fs::metadata("/etc/passwd")
        .expect("stat /etc/passwd")
        .nlink();
    let hostile: Vec<(&str, Vec<u8>)> = vec![
        (
            "dotdot",
            Tar::new()
                .raw(EntryType::Regular, &format!("../{evil}"), "", b"x")
                .bytes(),
        ),
        (
            "deep dotdot",
            Tar::new()
                .raw(EntryType::Regular, &format!("a/../../{evil}"), "", b"x")
                .bytes(),
        ),
        (
            "symlink escape",
            Tar::new()
                .symlink("x", "/etc")
                .raw(EntryType::Regular, &format!("x/{evil}"), "", b"x")
                .bytes(),
        ),
        (
            "relative symlink escape",
            Tar::new()
                .symlink("y", "../../../../../../../../etc")
                .raw(EntryType::Directory, &format!("y/{evil}/"), "", b"")
                .bytes(),
        ),
        (
            "symlink over a directory already written",
            Tar::new()
                .raw(EntryType::Directory, "x/", "", b"")
                .raw(EntryType::Regular, "x/ok", "", b"ok")
                .symlink("x", "/etc")
                .raw(EntryType::Regular, &format!("x/{evil}"), "", b"x")
                .bytes(),
        ),
        (
            "hardlink to /etc/passwd",
            Tar::new()
                .raw(EntryType::Link, "pw", "/etc/passwd", b"")
                .bytes(),
        ),
        (
            "hardlink up",
            Tar::new()
                .raw(EntryType::Link, "pw", "../../../../../../etc/passwd", b"")
                .bytes(),
        ),
        (
            "hardlink through symlink",
            Tar::new()
                .symlink("e", "/etc")
                .raw(EntryType::Link, "pw", "e/passwd", b"")
                .bytes(),
        ),
    ];
    for (what, tar) in hostile {
        let id = fx.layer(None, None);
        let diff = d.diff_dir(&id).expect("diff dir");
        match d.apply_diff(&id, &mut &tar[..]) {
            Err(Error::UnsafePath { .. }) => {}
            other => panic!("{what}: expected UnsafePath, got {other:?}"),
        }
        assert!(
            !Path::new("/etc").join(&evil).exists(),
            "{what}: wrote into /etc"
        );
        assert!(
            !diff.join("..").join(&evil).exists(),
            "{what}: wrote next to the layer"
        );
        assert!(
            !fx.root.join(&evil).exists(),
            "{what}: wrote into the driver root"
        );
        d.remove(&id).expect("remove rejected layer");
    }
    let now = std::fs::metadata("/etc/passwd")
        .expect("stat /etc/passwd")
        .nlink();
    assert_eq!(now, passwd_links, "/etc/passwd gained a hard link");

    // Harmless look-alikes are accepted and stay inside the layer.
    let id = fx.layer(None, None);
    let tar = Tar::new()
        .raw(EntryType::Regular, &format!("/etc/{evil}"), "", b"abs")
        .symlink("z", &format!("/etc/{evil}-z"))
        .file("z", b"replaced the symlink")
        .file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n")
        .raw(EntryType::Link, "pw", "/etc/passwd", b"")
        .bytes();
    d.apply_diff(&id, &mut &tar[..])
        .expect("absolute names are layer-relative");
    let diff = d.diff_dir(&id).expect("diff dir");
    assert_eq!(read(&diff.join("etc").join(&evil)), "abs");
    assert_eq!(read(&diff.join("z")), "replaced the symlink");
    assert!(
        !Path::new("/etc").join(format!("{evil}-z")).exists(),
        "wrote through a symlink"
    );
    assert!(!Path::new("/etc").join(&evil).exists());
    assert_eq!(
        diff.join("pw").metadata().expect("pw").ino(),
        diff.join("etc/passwd").metadata().expect("passwd").ino()
    );
}

/// Owners come from the tar exactly, also where the kernel would pick another group (in a
/// setgid directory) and where nothing needs changing (root-owned entries).
pub(super) fn owners_are_exact(make: Make<'_>) {
    let fx = Fixture::new(make, "owners");
    let d = &*fx.driver;
    let shared = Own {
        uid: 0,
        gid: 50,
        mode: 0o2775,
    };
    let user = Own {
        uid: 1000,
        gid: 1000,
        mode: 0o600,
    };
    let tar = Tar::new()
        .dir_own("g/", shared)
        .file_own("g/root", b"r", ROOT_644)
        .dir_own("g/sub/", ROOT_755)
        .file_own("g/sub/f", b"f", ROOT_644)
        .file_own("g/new/deep", b"d", ROOT_644)
        .file_own("u", b"u", user)
        .bytes();
    let id = fx.layer(None, Some(&tar));
    let diff = d.diff_dir(&id).expect("diff dir");
    let owner = |p: &str| {
        let md = std::fs::symlink_metadata(diff.join(p)).expect("stat");
        (md.uid(), md.gid(), md.mode() & 0o7777)
    };
    assert_eq!(owner("g"), (0, 50, 0o2775));
    assert_eq!(owner("g/root"), (0, 0, 0o644));
    assert_eq!(owner("g/sub"), (0, 0, 0o755));
    assert_eq!(owner("g/sub/f"), (0, 0, 0o644));
    // A directory the tar did not list is made 0755 and, inside a setgid one, keeps the
    // kernel's group; the tar's file in it gets the tar's owner.
    assert_eq!(owner("g/new/deep"), (0, 0, 0o644));
    assert_eq!(owner("u"), (1000, 1000, 0o600));
    d.remove(&id).expect("remove");
}

pub(super) fn opaque_keeps_entries_of_the_same_tar(make: Make<'_>) {
    let fx = Fixture::new(make, "opaque");
    let d = &*fx.driver;
    let base = Tar::new()
        .dir("d")
        .file("d/old1", b"1")
        .dir("d/sub")
        .file("d/sub/old2", b"2")
        .file("d/keep", b"old keep")
        .bytes();
    let a = fx.layer(None, Some(&base));
    // Entries of `d` both before and after the opaque marker belong to the new layer.
    let child = Tar::new()
        .dir("d")
        .file("d/keep", b"new keep")
        .file("d/sub/new", b"n")
        .file("d/.wh..wh..opq", b"")
        .file("d/after", b"a")
        .file("d/not.wh..wh..opq", b"plain file")
        .bytes();
    let b = fx.layer(Some(&a), Some(&child));
    let c = fx.layer(Some(&b), None);
    let m = d.get(&c).expect("get");
    assert_eq!(
        names(&m.join("d")),
        ["after", "keep", "not.wh..wh..opq", "sub"]
    );
    assert_eq!(names(&m.join("d/sub")), ["new"]);
    assert_eq!(read(&m.join("d/keep")), "new keep");
    assert_eq!(read(&m.join("d/not.wh..wh..opq")), "plain file");
    let a_diff = d.diff_dir(&a).expect("diff dir");
    assert_eq!(
        names(&a_diff.join("d")),
        ["keep", "old1", "sub"],
        "base untouched"
    );
    d.put(&c).expect("put");
}

pub(super) fn usage_counts_bytes(make: Make<'_>) {
    let fx = Fixture::new(make, "usage");
    let d = &*fx.driver;
    let big = vec![7u8; 10_000];
    let tar = Tar::new()
        .dir("d")
        .file("d/big", &big)
        .hardlink("big-link", "d/big")
        .file("small", b"12345")
        .symlink("link", "d/big")
        .bytes();
    let a = fx.layer(None, None);
    assert_eq!(d.usage(&a).expect("usage of empty layer").size, 0);
    assert_eq!(d.apply_diff(&a, &mut &tar[..]).expect("apply"), 10_010);
    let u = d.usage(&a).expect("usage");
    assert_eq!(
        u.size, 10_010,
        "hard links counted once, directories not at all, symlinks by their target's length"
    );
    assert_eq!(u.inodes, 4, "d, big (= big-link), small, link");
    let c = fx.layer(Some(&a), None);
    let before = d.usage(&c).expect("usage of container layer").size;
    let m = d.get(&c).expect("get");
    std::fs::write(m.join("new"), vec![1u8; 123]).expect("write");
    assert_eq!(d.usage(&c).expect("usage after write").size, before + 123);
    d.put(&c).expect("put");
}

pub(super) fn stale_mounts_are_tolerated(make: Make<'_>) {
    let fx = Fixture::new(make, "stale");
    let a = fx.layer(None, Some(&Tar::new().file("f", b"f").bytes()));
    let c1 = fx.layer(Some(&a), None);
    let c2 = fx.layer(Some(&a), None);
    fx.driver.get(&c1).expect("get c1");
    fx.driver.get(&c2).expect("get c2");
    // A new driver on the same root, as after a daemon crash: no counts, mounts still there.
    let restarted = make(&fx.root);
    let p = restarted.get(&c1).expect("get over a stale mount");
    assert_eq!(read(&p.join("f")), "f");
    restarted.put(&c1).expect("put");
    restarted.remove(&c1).expect("remove after put");
    restarted.remove(&c2).expect("remove with a stale mount");
    restarted.remove(&a).expect("remove base");
    assert!(
        fx.mounts().is_empty(),
        "stale mounts left: {:?}",
        fx.mounts()
    );
}

pub(super) fn missing_layers_and_duplicates(make: Make<'_>) {
    let fx = Fixture::new(make, "errors");
    let d = &*fx.driver;
    let missing = new_id();
    assert!(!d.exists(&missing));
    let not_found = |r: Result<(), Error>, what: &str| match r {
        Err(Error::NotFound(id)) => assert_eq!(id, missing, "{what}"),
        other => panic!("{what}: expected NotFound, got {other:?}"),
    };
    not_found(d.get(&missing).map(drop), "get");
    not_found(d.put(&missing), "put");
    not_found(d.remove(&missing), "remove");
    not_found(d.diff_dir(&missing).map(drop), "diff_dir");
    not_found(d.usage(&missing).map(drop), "usage");
    not_found(d.changes(&missing).map(drop), "changes");
    not_found(d.diff(&missing).map(drop), "diff");
    not_found(
        d.apply_diff(&missing, &mut &b""[..]).map(drop),
        "apply_diff",
    );
    not_found(
        d.create(&new_id(), Some(&missing)),
        "create on a missing parent",
    );
    let a = fx.layer(None, None);
    assert!(matches!(d.create(&a, None), Err(Error::AlreadyExists(ref id)) if *id == a));
    let init: crate::LayerId = format!("{a}-init").parse().expect("init id");
    d.create(&init, Some(&a)).expect("create -init layer");
    assert!(d.exists(&init));
    assert!(matches!(
        d.apply_diff(&a, &mut &b"definitely not a tar archive, far too short"[..]),
        Err(Error::ReadTar { .. })
    ));
    assert!(d.name() == "overlay2" || d.name() == "vfs");
    let _ = d.status();
}

/// A read-write layer made with `create_rw` behaves like any other: it sees its parent, takes
/// writes, lists them as changes, and goes away without a trace.
pub(super) fn rw_layers_work_like_others(make: Make<'_>) {
    let fx = Fixture::new(make, "rw");
    let d = &*fx.driver;
    let base = fx.layer(None, Some(&Tar::new().file("f", b"f").bytes()));
    let rw = new_id();
    d.create_rw(&rw, Some(&base)).expect("create_rw");
    assert!(d.exists(&rw));
    match d.create_rw(&rw, Some(&base)) {
        Err(Error::AlreadyExists(_)) => {}
        other => panic!("second create_rw: expected AlreadyExists, got {other:?}"),
    }
    let root = d.get(&rw).expect("mount rw layer");
    assert_eq!(read(&root.join("f")), "f");
    std::fs::write(root.join("new"), b"n").expect("write in rw layer");
    d.put(&rw).expect("put");
    let changes = d.changes(&rw).expect("changes");
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0].path, "/new");
    d.remove(&rw).expect("remove rw");
    d.remove(&base).expect("remove base");
    assert!(!d.exists(&rw) && fx.mounts().is_empty());
    let names = |dir: &Path| -> Vec<String> {
        std::fs::read_dir(dir)
            .map(|r| {
                r.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    for entry in names(&fx.root) {
        let inner = names(&fx.root.join(&entry));
        assert!(
            !inner.iter().any(|n| n.contains(rw.as_str())),
            "removed rw layer left {entry}/{inner:?}"
        );
    }
}
