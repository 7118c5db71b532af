//! The conformance suite for both drivers (needs root; overlay2 also needs overlayfs).

use graphdriver::{conformance, GraphDriver, Overlay2Driver, VfsDriver};

#[test]
fn overlay2_conforms() {
    testutil::require_root();
    let probe = testutil::temp_root("gd-probe-");
    assert!(
        Overlay2Driver::supported(probe.path()),
        "overlay2 must be supported on /var/tmp for this test"
    );
    conformance::run(&|root| {
        Box::new(Overlay2Driver::new(root).expect("open overlay2 driver")) as Box<dyn GraphDriver>
    });
}

#[test]
fn overlay2_status_and_layout() {
    testutil::require_root();
    let tmp = testutil::temp_root("gd-");
    let d = Overlay2Driver::new(tmp.path()).expect("open overlay2 driver");
    let status = d.status();
    assert_eq!(d.name(), "overlay2");
    assert!(
        status.contains(&("Supports d_type", "true".to_owned())),
        "{status:?}"
    );
    let backing = status
        .iter()
        .find(|(k, _)| *k == "Backing Filesystem")
        .expect("backing fs");
    assert_ne!(backing.1, "<unknown>", "{status:?}");
    let parent: graphdriver::LayerId = "a".repeat(64).parse().expect("id");
    let child: graphdriver::LayerId = "b".repeat(64).parse().expect("id");
    let grandchild: graphdriver::LayerId = "c".repeat(64).parse().expect("id");
    d.create(&parent, None).expect("create");
    d.create(&child, Some(&parent)).expect("create child");
    d.create(&grandchild, Some(&child))
        .expect("create grandchild");
    let root = tmp.path();
    let link = |id: &graphdriver::LayerId| {
        std::fs::read_to_string(root.join(id.as_str()).join("link")).expect("read link file")
    };
    for id in [&parent, &child, &grandchild] {
        let short = link(id);
        assert_eq!(short.len(), 26);
        let target = std::fs::read_link(root.join("l").join(&short)).expect("l/ symlink");
        assert_eq!(
            target,
            std::path::Path::new("..").join(id.as_str()).join("diff")
        );
        assert!(root.join(id.as_str()).join("diff").is_dir());
    }
    assert!(!root.join(parent.as_str()).join("lower").exists());
    let lower =
        std::fs::read_to_string(root.join(grandchild.as_str()).join("lower")).expect("lower");
    assert_eq!(lower, format!("l/{}:l/{}", link(&child), link(&parent)));
    assert!(root.join(grandchild.as_str()).join("work").is_dir());
    assert_eq!(
        d.get(&parent).expect("get base"),
        root.join(parent.as_str()).join("diff")
    );
    d.put(&parent).expect("put");
    for id in [&grandchild, &child, &parent] {
        d.remove(id).expect("remove");
    }
    assert_eq!(
        std::fs::read_dir(root.join("l")).expect("l/").count(),
        0,
        "l/ links removed"
    );
    d.cleanup().expect("cleanup");
}

#[test]
fn vfs_conforms() {
    testutil::require_root();
    conformance::run(&|root| {
        Box::new(VfsDriver::new(root).expect("open vfs driver")) as Box<dyn GraphDriver>
    });
}
