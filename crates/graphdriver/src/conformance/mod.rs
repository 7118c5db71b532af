//! One behaviour suite for every [`GraphDriver`] implementation (containerd's
//! `SnapshotterSuite`). It needs root, and overlayfs for the overlay2 driver.
//!
//! ```no_run
//! # use graphdriver::{conformance, GraphDriver, VfsDriver};
//! conformance::run(&|root| Box::new(VfsDriver::new(root).expect("vfs")) as Box<dyn GraphDriver>);
//! ```
//! Every case gets a fresh root under `/var/tmp`, removed afterwards, with mounts undone
//! even when an assertion fails. Assertions panic, as in any test.

mod cases;
mod diffs;
mod tars;
mod union;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::{mountinfo, GraphDriver, LayerId};

/// Runs every case against drivers built by `make(root)`. Panics on the first failure.
pub fn run(make: &dyn Fn(&Path) -> Box<dyn GraphDriver>) {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the graphdriver conformance suite needs root (mounts, chown, mknod)"
    );
    union::layers_stack_into_a_union(make);
    cases::lifecycle_and_refcounts(make);
    cases::hostile_tars_are_rejected(make);
    cases::owners_are_exact(make);
    cases::rw_layers_work_like_others(make);
    cases::opaque_keeps_entries_of_the_same_tar(make);
    cases::usage_counts_bytes(make);
    cases::stale_mounts_are_tolerated(make);
    cases::missing_layers_and_duplicates(make);
    diffs::changes_and_diff_round_trip(make);
    diffs::changes_see_lower_whiteouts(make);
}

/// A driver on a fresh temporary root; dropping it unmounts and deletes everything.
struct Fixture {
    root: PathBuf,
    driver: Box<dyn GraphDriver>,
}

impl Fixture {
    fn new(make: &dyn Fn(&Path) -> Box<dyn GraphDriver>, case: &str) -> Self {
        let root = PathBuf::from(format!(
            "/var/tmp/gd-conformance-{case}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir(&root).expect("create the case's temporary root");
        let driver = make(&root);
        Fixture { root, driver }
    }

    /// Creates a layer and unpacks `tar` into it.
    fn layer(&self, parent: Option<&LayerId>, tar: Option<&[u8]>) -> LayerId {
        let id = new_id();
        self.driver.create(&id, parent).expect("create layer");
        if let Some(mut tar) = tar {
            self.driver
                .apply_diff(&id, &mut tar)
                .expect("apply layer tar");
        }
        id
    }

    /// Mount points at or below the root.
    fn mounts(&self) -> Vec<PathBuf> {
        mounts_under(&self.root)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Err(e) = self.driver.cleanup() {
            eprintln!(
                "conformance: cleanup of {} failed: {e}",
                self.root.display()
            );
        }
        for m in mounts_under(&self.root) {
            let _ = nix::mount::umount2(&m, nix::mount::MntFlags::MNT_DETACH);
        }
        if let Err(e) = std::fs::remove_dir_all(&self.root) {
            eprintln!("conformance: cannot remove {}: {e}", self.root.display());
        }
    }
}

fn mounts_under(root: &Path) -> Vec<PathBuf> {
    let canonical = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    mountinfo::mountpoints_under(&canonical).expect("read /proc/self/mountinfo")
}

/// A random layer id.
fn new_id() -> LayerId {
    let hex = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    hex.parse().expect("64 hex digits are a layer id")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn lstat(path: &Path) -> std::fs::Metadata {
    std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("lstat {}: {e}", path.display()))
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()))
        .map(|e| {
            e.expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    v.sort();
    v
}

fn ino(path: &Path) -> u64 {
    lstat(path).ino()
}

/// Whether the filesystem under `dir` takes `user.*` xattrs.
fn user_xattrs_supported(dir: &Path) -> bool {
    let probe = dir.join(format!("xattr-probe-{}", uuid::Uuid::new_v4().simple()));
    std::fs::write(&probe, b"").expect("write xattr probe");
    let ok = xattr::set(&probe, "user.probe", b"1").is_ok();
    std::fs::remove_file(&probe).expect("remove xattr probe");
    ok
}
