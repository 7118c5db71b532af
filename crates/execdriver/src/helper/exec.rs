//! The last steps of the container init, inside the new root: user lookup, environment,
//! `PATH` resolution and `execve`, with errors worded as runc (Go's `exec.LookPath`) words them.

use std::convert::Infallible;
use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nix::errno::Errno;

use super::StartFailure;
use crate::error::Result;
use crate::spec::FailKind;
use crate::user::{self, ExecUser};

/// Docker's default `PATH`, used for the lookup when the container's env has none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Reads a file of the container's `/etc` if it is a regular file (a FIFO there would block).
fn read_etc(path: &str) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    meta.is_file()
        .then(|| std::fs::read_to_string(path).ok())
        .flatten()
}

/// Resolves the spec's user in the (already pivoted-to) container root.
pub(super) fn resolve_user(spec_user: &str) -> Result<ExecUser> {
    user::resolve(
        spec_user,
        read_etc("/etc/passwd").as_deref(),
        read_etc("/etc/group").as_deref(),
    )
}

/// The environment, with `HOME` added from passwd when missing (as runc does).
pub(super) fn env_with_home(env: &[String], home: &str) -> Vec<String> {
    let mut out = env.to_vec();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        out.push(format!("HOME={home}"));
    }
    out
}

/// errno text as Go prints it: lower-case, e.g. `no such file or directory`.
pub(super) fn go_errno(e: Errno) -> String {
    let d = e.desc();
    let mut c = d.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => d.to_string(),
    }
}

fn errno_kind(e: Errno) -> FailKind {
    match e {
        Errno::ENOENT => FailKind::NotFound,
        Errno::EACCES | Errno::EPERM => FailKind::PermissionDenied,
        _ => FailKind::Other,
    }
}

fn fail(kind: FailKind, message: String) -> StartFailure {
    StartFailure { kind, message }
}

/// Go's `findExecutable`: a regular (non-directory) file with any execute bit.
fn find_executable(path: &Path) -> std::result::Result<(), Errno> {
    let meta = std::fs::metadata(path)
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    if meta.is_dir() {
        return Err(Errno::EISDIR);
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(Errno::EACCES);
    }
    Ok(())
}

/// Resolves `name` like Go's `exec.LookPath` with the container's `PATH`.
pub(super) fn lookup(name: &str, env: &[String]) -> std::result::Result<String, StartFailure> {
    if name.contains('/') {
        return match find_executable(Path::new(name)) {
            Ok(()) => Ok(name.to_string()),
            Err(Errno::ENOENT) => Err(fail(
                FailKind::NotFound,
                format!("exec: {name:?}: stat {name}: no such file or directory"),
            )),
            Err(e) => Err(fail(
                errno_kind(e),
                format!("exec: {name:?}: {}", go_errno(e)),
            )),
        };
    }
    let path = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = format!("{dir}/{name}");
        if find_executable(Path::new(&candidate)).is_ok() {
            return Ok(candidate);
        }
    }
    Err(fail(
        FailKind::NotFound,
        format!("exec: {name:?}: executable file not found in $PATH"),
    ))
}

fn cstrings(v: &[String]) -> std::result::Result<Vec<CString>, StartFailure> {
    v.iter()
        .map(|s| CString::new(s.as_str()))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| {
            fail(
                FailKind::Other,
                "argument or environment contains a NUL byte".into(),
            )
        })
}

/// `execve`s; returns only on failure.
pub(super) fn execve(
    path: &str,
    args: &[String],
    env: &[String],
) -> std::result::Result<Infallible, StartFailure> {
    let cpath =
        CString::new(path).map_err(|_| fail(FailKind::Other, "path contains a NUL byte".into()))?;
    let e = match nix::unistd::execve(&cpath, &cstrings(args)?, &cstrings(env)?) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    Err(fail(errno_kind(e), format!("exec {path}: {}", go_errno(e))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_words_errors_like_runc() {
        let env = vec!["PATH=/nonexistent:/bin".to_string()];
        let e = lookup("nosuch-xyz", &env).unwrap_err();
        assert_eq!(e.kind, FailKind::NotFound);
        assert_eq!(
            e.message,
            "exec: \"nosuch-xyz\": executable file not found in $PATH"
        );
        let e = lookup("/etc/passwd", &env).unwrap_err();
        assert_eq!(e.kind, FailKind::PermissionDenied);
        assert_eq!(e.message, "exec: \"/etc/passwd\": permission denied");
        let e = lookup("/nosuch", &env).unwrap_err();
        assert_eq!(e.kind, FailKind::NotFound);
        assert_eq!(
            e.message,
            "exec: \"/nosuch\": stat /nosuch: no such file or directory"
        );
        assert_eq!(lookup("sh", &env).unwrap(), "/bin/sh");
    }

    #[test]
    fn home_is_added_only_when_missing() {
        let env = vec!["A=1".to_string()];
        assert_eq!(env_with_home(&env, "/root"), vec!["A=1", "HOME=/root"]);
        let env = vec!["HOME=/x".to_string()];
        assert_eq!(env_with_home(&env, "/root"), vec!["HOME=/x"]);
    }
}
