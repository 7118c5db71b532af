//! Where `save` and `export` write the daemon's tar stream: `-o FILE` (through a temporary
//! file in the same directory, renamed into place once complete, as docker's `CopyToFile`
//! does), or stdout when it is not a terminal.

use crate::http::StreamReader;
use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// docker's refusal to write a tar to a terminal.
pub const TERMINAL_REFUSAL: &str =
    "cowardly refusing to save to a terminal. Use the -o flag or redirect";

/// Go's wording of the common system errors (`stat /x: no such file or directory`).
pub fn go_io_error(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file or directory".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        io::ErrorKind::NotADirectory => "not a directory".into(),
        _ => match e.raw_os_error() {
            Some(code) => nix::errno::Errno::from_raw(code).desc().to_lowercase(),
            None => e.to_string(),
        },
    }
}

/// docker's `atomicwriter.validateDestination`: the directory must exist, and an existing
/// path (not followed if a symlink) must be a plain regular file.
pub fn validate_output_path(path: &str) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    if path.is_empty() {
        return Err("file name is empty".into());
    }
    let p = Path::new(path);
    if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
        if dir != Path::new(".") && dir != Path::new("..") {
            match std::fs::metadata(dir) {
                Err(e) => {
                    return Err(format!(
                        "invalid output path: stat {}: {}",
                        dir.display(),
                        go_io_error(&e)
                    ))
                }
                Ok(m) if !m.is_dir() => {
                    return Err(format!(
                        "invalid output path: stat {}: not a directory",
                        dir.display()
                    ))
                }
                Ok(_) => {}
            }
        }
    }
    let meta = match std::fs::symlink_metadata(p) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(format!(
                "failed to stat output path: lstat {path}: {}",
                go_io_error(&e)
            ))
        }
    };
    let t = meta.file_type();
    let mode = meta.permissions().mode();
    let why = if t.is_file() && mode & 0o7000 == 0 {
        return Ok(());
    } else if t.is_dir() {
        "cannot write to a directory"
    } else if t.is_symlink() {
        "cannot write to a symbolic link directly"
    } else if t.is_fifo() {
        "cannot write to a named pipe (FIFO)"
    } else if t.is_socket() {
        "cannot write to a socket"
    } else if t.is_char_device() {
        "cannot write to a character device file"
    } else if t.is_block_device() {
        "cannot write to a block device file"
    } else if mode & 0o4000 != 0 {
        "cannot write to a setuid file"
    } else if mode & 0o2000 != 0 {
        "cannot write to a setgid file"
    } else {
        "cannot write to a sticky bit file"
    };
    Err(why.into())
}

/// Checks `-o` (or a non-terminal stdout) before anything is asked of the daemon; `what` is
/// docker's prefix for path errors ("failed to save image").
pub fn check(output: Option<&str>, what: &str) -> anyhow::Result<()> {
    match output {
        None if io::stdout().is_terminal() => anyhow::bail!(TERMINAL_REFUSAL),
        None => Ok(()),
        Some(path) => validate_output_path(path).map_err(|e| anyhow::anyhow!("{what}: {e}")),
    }
}

/// A new `.tmp-<name><random>` file (mode 0600) beside `target`, as `os.CreateTemp` names it.
fn temp_file(target: &Path) -> io::Result<(File, PathBuf)> {
    let dir = target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let base = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0) as u64;
    let seed = u64::from(std::process::id()) ^ nanos;
    for i in 0..100u64 {
        let n = seed.wrapping_add(i.wrapping_mul(7919)) % 10_000_000_000;
        let path = dir.join(format!(".tmp-{base}{n}"));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(f) => return Ok((f, path)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "cannot create a temporary file",
    ))
}

/// Copies the stream; the number of bytes written.
async fn copy(reader: &mut StreamReader, out: &mut dyn Write) -> anyhow::Result<u64> {
    let mut n = 0;
    while let Some(chunk) = reader.next_chunk().await? {
        out.write_all(&chunk)?;
        n += chunk.len() as u64;
    }
    out.flush()?;
    Ok(n)
}

/// Writes the whole stream to `output`, or to stdout. The file is only replaced when the
/// stream was complete and not empty, as docker's `atomicwriter` does.
pub async fn write(reader: &mut StreamReader, output: Option<&str>) -> anyhow::Result<()> {
    let Some(path) = output else {
        return copy(reader, &mut io::stdout()).await.map(drop);
    };
    let target = Path::new(path);
    let (mut file, tmp) = temp_file(target)?;
    let copied = copy(reader, &mut file).await;
    let synced = file.sync_all();
    drop(file);
    let done = match (copied, synced) {
        (Ok(0), Ok(())) => Ok(()),
        (Ok(_), Ok(())) => std::fs::rename(&tmp, target).map_err(Into::into),
        (Err(e), _) => Err(e),
        (Ok(_), Err(e)) => Err(e.into()),
    };
    let _ = std::fs::remove_file(&tmp);
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_paths_are_validated_like_docker() {
        assert_eq!(
            validate_output_path("/nonexist/x.tar"),
            Err("invalid output path: stat /nonexist: no such file or directory".into())
        );
        assert_eq!(
            validate_output_path("/etc/hostname/x.tar"),
            Err("invalid output path: stat /etc/hostname: not a directory".into())
        );
        assert_eq!(validate_output_path("x.tar"), Ok(()));
        assert_eq!(
            validate_output_path("/tmp"),
            Err("cannot write to a directory".into())
        );
        assert_eq!(
            validate_output_path("/dev/null"),
            Err("cannot write to a character device file".into())
        );
    }
}
