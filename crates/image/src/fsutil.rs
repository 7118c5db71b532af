use crate::error::IoContext;
use crate::Result;
use std::fs::{self, File};
use std::io::Write;
use std::path::Path;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::OnceLock;

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
    // Unique per call: threads may replace the same file at once (the last rename wins).
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.tmp-{}-{n}", std::process::id()));
    let mut f = File::create(&tmp).at(&tmp)?;
    f.write_all(data).at(&tmp)?;
    if matches!(flush, Flush::File | Flush::FileAndDir) {
        f.sync_all().at(&tmp)?;
    }
    drop(f);
    if flush == Flush::FilesystemAndDir {
        sync_filesystem(dir)?;
    }
    // The version being replaced stays open across the rename, so that freeing it happens
    // when this handle is closed, off the caller's path (see `close_later`).
    let replaced = File::open(path).ok();
    fs::rename(&tmp, path).at(path)?;
    if matches!(flush, Flush::FileAndDir | Flush::FilesystemAndDir) {
        sync_dir(dir)?;
    }
    if let Some(old) = replaced {
        close_later(old);
    }
    Ok(())
}

/// Closes `f` on a thread of its own. Closing the last handle of a replaced file frees its
/// inode and blocks, which may wait on the disk: ext4 without a journal, mounted with
/// `discard`, discards freed blocks synchronously (about 1 ms per file on the test machines).
/// Nothing needs to wait for that. Without the thread, or with [`CLOSE_QUEUE`] files queued
/// already (a disk that slow should not cost descriptors), `f` is closed here.
fn close_later(f: File) {
    static CLOSER: OnceLock<Option<SyncSender<File>>> = OnceLock::new();
    let closer = CLOSER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<File>(CLOSE_QUEUE);
        std::thread::Builder::new()
            .name("close-later".to_owned())
            .spawn(move || rx.into_iter().for_each(drop))
            .ok()
            .map(|_| tx)
    });
    if let Some(tx) = closer {
        if let Err(TrySendError::Full(f) | TrySendError::Disconnected(f)) = tx.try_send(f) {
            drop(f);
        }
    }
}

/// Replaced files waiting for [`close_later`] at most.
const CLOSE_QUEUE: usize = 64;

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

    /// The replaced version is closed on the closing thread: no handle of this process stays
    /// open on a deleted file once it has run.
    #[test]
    fn replaced_versions_are_closed() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f.json");
        write_replace(&p, b"one").unwrap();
        write_replace(&p, b"two").unwrap();
        let open_on_deleted = || {
            fs::read_dir("/proc/self/fd")
                .unwrap()
                .filter_map(|e| fs::read_link(e.unwrap().path()).ok())
                .any(|target| target.starts_with(d.path()))
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while open_on_deleted() {
            assert!(
                std::time::Instant::now() < deadline,
                "the replaced file is still open"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(fs::read(&p).unwrap(), b"two");
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
