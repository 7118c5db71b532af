use crate::error::IoContext;
use crate::Result;
use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

/// How far a replacing write makes its result durable.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flush {
    /// Nothing is synced: atomic with respect to process crashes only.
    None,
    /// The temp file is fsynced before the rename.
    File,
    /// The temp file is fsynced, and the directory after the rename.
    FileAndDir,
    /// One `syncfs` before the rename (flushing every earlier write too), the directory after.
    FilesystemAndDir,
}

/// Writes `data` to a temp file next to `path` and renames it over `path`, flushing as asked.
fn replace(path: &Path, data: &[u8], flush: Flush) -> Result<()> {
    let dir = path
        .parent()
        .expect("replaced files live inside a directory");
    let name = path
        .file_name()
        .expect("replaced files are named")
        .to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let mut f = File::create(&tmp).at(&tmp)?;
    f.write_all(data).at(&tmp)?;
    if matches!(flush, Flush::File | Flush::FileAndDir) {
        f.sync_all().at(&tmp)?;
    }
    drop(f);
    if flush == Flush::FilesystemAndDir {
        sync_filesystem(dir)?;
    }
    fs::rename(&tmp, path).at(path)?;
    if matches!(flush, Flush::FileAndDir | Flush::FilesystemAndDir) {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Writes `data` to `path` atomically: a temp file in the same directory, fsync, rename, and an
/// fsync of the directory, so a crash leaves either the old or the new content, never half.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .expect("atomic writes target a file inside a directory");
    fs::create_dir_all(dir).at(dir)?;
    replace(path, data, Flush::FileAndDir)
}

/// Replaces `path` with `data`: temp file, fsync, rename. The content is on disk before the
/// name points to it, so a crash never shows a torn file; the rename itself reaches the disk
/// with the directory's next flush (a power loss right after may keep the old version), as
/// with dockerd's atomic writer. For records whose loss is recoverable but whose corruption
/// is not.
pub fn write_synced(path: &Path, data: &[u8]) -> Result<()> {
    replace(path, data, Flush::File)
}

/// Replaces `path` with `data` atomically with respect to process crashes (temp file + rename),
/// without fsync: for records whose durability the caller secures with one later sync (see
/// [`sync_filesystem`]) or that are re-derived after a power loss.
pub fn write_replace(path: &Path, data: &[u8]) -> Result<()> {
    replace(path, data, Flush::None)
}

/// Replaces `path` with `data` as the commit point of everything written before it on the same
/// filesystem: the temp file, then one `syncfs` (the temp file and every earlier write, e.g. a
/// layer's files and records, reach the disk with a single flush instead of an fsync each),
/// the rename, and an fsync of the directory. A crash leaves the old content or the new one,
/// and the new one only once all that it may refer to is on disk.
pub fn write_commit(path: &Path, data: &[u8]) -> Result<()> {
    replace(path, data, Flush::FilesystemAndDir)
}

/// Flushes everything written to the filesystem holding `path` (one `syncfs`), so that a
/// following durable write can act as the commit point of many cheap ones.
pub(crate) fn sync_filesystem(path: &Path) -> Result<()> {
    let f = File::open(path).at(path)?;
    nix::unistd::syncfs(&f).map_err(|e| crate::Error::Io {
        path: path.to_path_buf(),
        source: e.into(),
    })
}

/// fsyncs a directory so that renames inside it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).at(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sub/f.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(d.path().join("sub")).unwrap().count(), 1);
    }

    #[test]
    fn commit_replaces_content_and_leaves_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f.json");
        write_commit(&p, b"one").unwrap();
        write_commit(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }
}
