//! Test helpers shared by the crates' tests (dev-dependency only).

/// Fails the calling test loudly unless it runs as root: rdocker's real tests need namespaces,
/// mounts and cgroups, and a silent pass without them would prove nothing.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root (namespaces, mounts, cgroups); run it as root, e.g. `sudo make test`"
    );
}

/// A fresh temporary directory on the same filesystem as the default data root's parent (`/var/tmp`),
/// so that overlayfs works (tmpfs upper dirs lack some features on older kernels).
pub fn temp_root(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/var/tmp")
        .expect("create temp dir in /var/tmp")
}
