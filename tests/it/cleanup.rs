//! What a test daemon leaves behind when it dies or is killed mid-test: container processes and
//! shims, mounts under its data root, cgroups under its unique parent. Best effort: a problem is
//! reported on stderr, never a panic (this runs in `Drop`, possibly while a test is unwinding).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const CLEANUP_TIMEOUT: Duration = Duration::from_secs(15);

/// SIGKILLs every live process whose command line mentions `root` (the shims: `rdockerd init …`
/// with the exec root in their arguments) or that sits in a cgroup below `cgroup_parent`
/// (the container processes), until none is left.
pub fn kill_leftovers(root: &Path, cgroup_parent: &str) {
    let deadline = Instant::now() + CLEANUP_TIMEOUT;
    loop {
        let pids = leftover_pids(root, cgroup_parent);
        if pids.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            eprintln!("cleanup: processes still alive after SIGKILL: {pids:?}");
            return;
        }
        for pid in pids {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Live (non-zombie) processes that belong to the daemon under `root` / `cgroup_parent`.
pub fn leftover_pids(root: &Path, cgroup_parent: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let root = root.to_string_lossy().into_owned();
    let mut pids = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return pids;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == me || is_zombie(pid) {
            continue;
        }
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        if cmdline.contains(&root) || in_cgroup(pid, cgroup_parent) {
            pids.push(pid);
        }
    }
    pids
}

fn is_zombie(pid: i32) -> bool {
    // /proc/<pid>/stat: "pid (comm) S ..." where comm may contain spaces and parentheses.
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    match stat.rfind(')') {
        Some(i) => stat[i + 1..].trim_start().starts_with(['Z', 'X']),
        None => true, // gone
    }
}

/// Whether any of the process's cgroup paths has `parent` as a path component.
pub fn in_cgroup(pid: i32, parent: &str) -> bool {
    let cgroups = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    cgroups.lines().any(|line| {
        line.splitn(3, ':')
            .nth(2)
            .is_some_and(|path| path.split('/').any(|c| c == parent))
    })
}

/// One line of /proc/self/mountinfo, the fields we need.
pub struct MountInfo {
    pub mount_point: PathBuf,
    pub fs_type: String,
}

pub fn mountinfo() -> Vec<MountInfo> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let sep = fields.iter().position(|f| *f == "-")?;
            Some(MountInfo {
                mount_point: PathBuf::from(unescape(fields.get(4)?)),
                fs_type: fields.get(sep + 1)?.to_string(),
            })
        })
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Mount points at or below `root`, deepest first.
pub fn mounts_under(root: &Path) -> Vec<PathBuf> {
    let mut mps: Vec<PathBuf> = mountinfo()
        .into_iter()
        .map(|m| m.mount_point)
        .filter(|mp| mp.starts_with(root))
        .collect();
    mps.sort_by_key(|mp| std::cmp::Reverse(mp.components().count()));
    mps.dedup();
    mps
}

/// Lazily unmounts everything at or below `root`. Returns false if something is still mounted
/// (then the directory must not be deleted: it could reach into a bind-mounted host path).
pub fn unmount_all(root: &Path) -> bool {
    for _ in 0..10 {
        let mps = mounts_under(root);
        if mps.is_empty() {
            return true;
        }
        for mp in mps {
            if let Err(e) = nix::mount::umount2(&mp, nix::mount::MntFlags::MNT_DETACH) {
                eprintln!("cleanup: umount {}: {e}", mp.display());
            }
        }
    }
    let left = mounts_under(root);
    if !left.is_empty() {
        eprintln!("cleanup: still mounted under {}: {left:?}", root.display());
    }
    left.is_empty()
}

/// Removes the cgroup directories named `parent` (and everything below) in every cgroup v1
/// hierarchy and in the v2 tree, both at the hierarchy root and below our own cgroup.
pub fn remove_cgroups(parent: &str) {
    let own: Vec<String> = fs::read_to_string("/proc/self/cgroup")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.splitn(3, ':').nth(2).map(str::to_string))
        .collect();
    let mut candidates = Vec::new();
    for m in mountinfo() {
        if m.fs_type != "cgroup" && m.fs_type != "cgroup2" {
            continue;
        }
        candidates.push(m.mount_point.join(parent));
        for path in &own {
            candidates.push(
                m.mount_point
                    .join(path.trim_start_matches('/'))
                    .join(parent),
            );
        }
    }
    candidates.sort();
    candidates.dedup();
    for dir in candidates.into_iter().filter(|d| d.is_dir()) {
        let deadline = Instant::now() + CLEANUP_TIMEOUT;
        // rmdir fails with EBUSY while killed tasks are still leaving the group.
        while remove_cgroup_tree(&dir).is_err() {
            if Instant::now() > deadline {
                eprintln!("cleanup: cannot remove cgroup {}", dir.display());
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// cgroup directories contain only control files, which cannot be deleted: rmdir bottom-up.
fn remove_cgroup_tree(dir: &Path) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)?.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_cgroup_tree(&entry.path())?;
        }
    }
    match fs::remove_dir(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
