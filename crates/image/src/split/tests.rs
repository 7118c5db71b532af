use super::*;
use std::io::Cursor;
use tar::{EntryType, Header};

/// A tar being written entry by entry.
struct TarBuf(tar::Builder<Vec<u8>>);

impl TarBuf {
    fn new() -> TarBuf {
        TarBuf(tar::Builder::new(Vec::new()))
    }

    fn header(kind: EntryType, size: u64) -> Header {
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(if kind == EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_mtime(1_700_000_000);
        h
    }

    fn dir(mut self, name: &str) -> Self {
        let mut h = Self::header(EntryType::Directory, 0);
        self.0.append_data(&mut h, name, io::empty()).unwrap();
        self
    }

    fn file(mut self, name: &str, data: &[u8]) -> Self {
        let mut h = Self::header(EntryType::Regular, data.len() as u64);
        self.0.append_data(&mut h, name, data).unwrap();
        self
    }

    fn link(mut self, kind: EntryType, name: &str, target: &str) -> Self {
        let mut h = Self::header(kind, 0);
        self.0.append_link(&mut h, name, target).unwrap();
        self
    }

    /// A pax header with `records`, then a ustar file entry whose header claims `header_size`
    /// while `data` follows.
    fn pax_file(
        mut self,
        records: &[(&str, &str)],
        name: &str,
        header_size: u64,
        data: &[u8],
    ) -> Self {
        let mut text = Vec::new();
        for (k, v) in records {
            let body = format!(" {k}={v}\n");
            let mut len = body.len() + 1;
            while format!("{len}{body}").len() != len {
                len += 1;
            }
            text.extend_from_slice(format!("{len}{body}").as_bytes());
        }
        let mut x = Header::new_ustar();
        x.set_entry_type(EntryType::XHeader);
        x.set_path("PaxHeaders/x").unwrap();
        x.set_size(text.len() as u64);
        x.set_cksum();
        self.0.append(&x, &text[..]).unwrap();
        let mut h = Header::new_ustar();
        h.set_entry_type(EntryType::Regular);
        h.set_path(name).unwrap();
        h.set_size(header_size);
        h.set_mode(0o644);
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }

    fn done(mut self) -> Vec<u8> {
        self.0.finish().unwrap();
        self.0.into_inner().unwrap()
    }
}

/// Feeds everything read through it to a split writer.
struct Feed<'a, R> {
    inner: R,
    split: &'a mut SplitWriter,
}

impl<R: Read> Read for Feed<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.split.write(&buf[..n])?;
        Ok(n)
    }
}

struct Kept {
    _dir: tempfile::TempDir,
    layer: PathBuf,
    kept: KeptTar,
}

impl Kept {
    fn tar(&self) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.kept.open(&self.layer)?.read_to_end(&mut out)?;
        Ok(out)
    }
}

/// Unpacks `tar` (with the tar crate, reading as the graphdriver's unpacker does) while
/// splitting it, as layer ingestion does.
fn ingest(tar: &[u8]) -> Kept {
    let dir = tempfile::tempdir().unwrap();
    let layer = dir.path().join("layer");
    std::fs::create_dir(&layer).unwrap();
    let mut split = SplitWriter::create(dir.path().join("split"), layer.clone()).unwrap();
    let mut feed = Feed {
        inner: Cursor::new(tar),
        split: &mut split,
    };
    for entry in tar::Archive::new(&mut feed).entries().unwrap() {
        entry.unwrap().unpack_in(&layer).unwrap();
    }
    io::copy(&mut feed, &mut io::sink()).unwrap();
    let kept = split.finish().unwrap();
    Kept {
        _dir: dir,
        layer,
        kept,
    }
}

fn big(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

#[test]
fn a_tar_comes_back_byte_for_byte_from_its_split_form() {
    let long = format!("d/{}", "n".repeat(150));
    let prefixed = format!("{}/{}", "p".repeat(90), "q".repeat(60));
    let mut tar = TarBuf::new()
        .dir("d")
        .file("d/f", &big(1000))
        .file("e", b"")
        .link(EntryType::Symlink, "s", "d/f")
        .link(EntryType::Link, "h", "d/f")
        .file(&long, b"long named")
        .dir(&prefixed[..90])
        .pax_file(
            &[("path", &prefixed), ("mtime", "1.5")],
            "ignored",
            3,
            b"pax",
        )
        .pax_file(&[("size", "700")], "sized", 0, &big(700))
        .done();
    tar.extend_from_slice(&[0u8; 3000]); // more trailing blocks than two, and a partial one
    let kept = ingest(&tar);
    assert!(matches!(kept.kept, KeptTar::Split(_)), "{:?}", kept.kept);
    assert_eq!(kept.tar().unwrap(), tar);
    assert_eq!(kept.kept.tar_size().unwrap(), tar.len() as u64);
    assert_eq!(std::fs::read(kept.layer.join(&prefixed)).unwrap(), b"pax");
    let split_len = std::fs::metadata(kept.kept.path()).unwrap().len();
    // 1713 bytes of file contents, less the references (names included) to them.
    assert!(
        split_len < tar.len() as u64 - 1200,
        "{split_len} of {}",
        tar.len()
    );
}

/// Entries with data that the unpacker does not write where their name says (a trailing
/// slash, `./` and `//` in the name, a whiteout or aufs metadata carrying bytes): their data is
/// kept verbatim, or found under the cleaned name, and the tar still comes back whole.
#[test]
fn odd_names_are_referenced_as_written_or_kept() {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in [
        ("./d//f", &b"cleaned name"[..]),
        ("g/", b"trailing slash"),
        (".wh.gone", b"whiteout with data"),
        ("d/.wh..wh.aufs", b"aufs metadata"),
    ] {
        let mut h = Header::new_gnu();
        h.set_entry_type(EntryType::Regular);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        // The builder would clean the names: write them raw.
        h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.finish().unwrap();
    let tar = b.into_inner().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let layer = dir.path().join("layer");
    std::fs::create_dir_all(layer.join("d")).unwrap();
    // What the graphdriver's unpacker leaves: the cleaned file, `g` as a file, no whiteouts.
    std::fs::write(layer.join("d/f"), b"cleaned name").unwrap();
    std::fs::write(layer.join("g"), b"trailing slash").unwrap();
    let mut split = SplitWriter::create(dir.path().join("split"), layer.clone()).unwrap();
    split.write(&tar).unwrap();
    let kept = split.finish().unwrap();
    assert!(matches!(kept, KeptTar::Split(_)));
    let mut out = Vec::new();
    kept.open(&layer).unwrap().read_to_end(&mut out).unwrap();
    assert_eq!(out, tar);
}

#[test]
fn file_contents_are_not_kept() {
    let tar = TarBuf::new().dir("x").file("x/big", &big(1 << 20)).done();
    let kept = ingest(&tar);
    assert_eq!(kept.tar().unwrap(), tar);
    let split_len = std::fs::metadata(kept.kept.path()).unwrap().len();
    assert!(split_len < 4096, "{split_len}");
}

#[test]
fn a_changed_file_fails_the_reassembly() {
    let tar = TarBuf::new().file("a", b"hello").file("b", b"world").done();
    let kept = ingest(&tar);
    std::fs::write(kept.layer.join("b"), b"WORLD").unwrap();
    let err = kept.tar().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert!(err.to_string().contains("layer file b changed"), "{err}");
    std::fs::write(kept.layer.join("b"), b"worl").unwrap();
    assert!(kept.tar().unwrap_err().to_string().contains("b is shorter"));
    std::fs::write(kept.layer.join("b"), b"world!").unwrap();
    assert!(kept.tar().unwrap_err().to_string().contains("b changed"));
    std::fs::remove_file(kept.layer.join("b")).unwrap();
    std::os::unix::fs::symlink("a", kept.layer.join("b")).unwrap();
    assert!(kept
        .tar()
        .unwrap_err()
        .to_string()
        .contains("cannot be opened"));
}

#[test]
fn a_name_written_twice_keeps_the_tar_whole() {
    let tar = TarBuf::new()
        .file("a", b"first")
        .file("k", b"kept")
        .file("a", b"second")
        .done();
    let kept = ingest(&tar);
    assert!(matches!(kept.kept, KeptTar::Whole(_)), "{:?}", kept.kept);
    assert_eq!(kept.tar().unwrap(), tar);
    assert!(!kept.layer.parent().unwrap().join("split").exists());
}

#[test]
fn a_whiteout_of_the_same_tars_file_keeps_it_whole() {
    let tar = TarBuf::new()
        .dir("d")
        .file("d/x", b"x")
        .file("d/.wh.x", b"")
        .done();
    let kept = ingest(&tar);
    assert!(matches!(kept.kept, KeptTar::Whole(_)));
    assert_eq!(kept.tar().unwrap(), tar);
}

#[test]
fn a_file_replacing_a_directory_of_the_same_tar_keeps_it_whole() {
    let tar = TarBuf::new().file("d/f", b"f").done();
    let dir = tempfile::tempdir().unwrap();
    let mut split = SplitWriter::create(dir.path().join("s"), dir.path().to_path_buf()).unwrap();
    assert!(split.note(b"d/f", false));
    assert!(
        split.note(b"./d/", true),
        "a directory again is no conflict"
    );
    assert!(!split.note(b"d", false), "d holds d/f");
    assert!(!split.note(b"/d/f", false));
    assert!(split.note(b"d/.wh..wh..opq", false));
    assert!(!split.note(b"d/.wh.f", false));
    assert!(split.note(b"d/.wh.g", false));
    drop(split);
    let kept = ingest(&tar);
    assert!(matches!(kept.kept, KeptTar::Split(_)));
}

#[test]
fn an_unfinished_writer_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("split");
    let mut split = SplitWriter::create(path.clone(), dir.path().to_path_buf()).unwrap();
    split
        .write(&TarBuf::new().file("a", b"a").done()[..700])
        .unwrap();
    drop(split);
    assert!(!path.exists());
}
