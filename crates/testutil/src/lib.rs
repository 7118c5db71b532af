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

/// CPU ticks (user + system, `/proc/<pid>/stat` fields 14 and 15) process `pid` has used: a
/// frozen process's stand still, a running busy loop's grow.
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/<pid>/stat");
    // After the command, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')').expect("stat has (comm)") + 2..];
    rest.split(' ')
        .skip(11)
        .take(2)
        .map(|v| v.parse::<u64>().expect("utime and stime are numbers"))
        .sum()
}
