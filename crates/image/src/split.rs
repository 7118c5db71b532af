//! A layer's original tar, kept without its file contents ("tar-split", as Docker keeps it).
//!
//! `save` and `push` must reproduce a layer's tar byte for byte (its sha256 is the diff id),
//! but the layer's files already hold nearly all of it. So the store keeps the tar's headers,
//! padding and other non-file bytes verbatim, and each regular file's contents as a reference:
//! its name in the layer, its size and its CRC-32. [`SplitReader`] reassembles the tar by
//! reading those files back, and fails if one no longer matches, rather than yield another tar.
//!
//! [`SplitWriter`] is fed the same bytes the unpacker reads, while it reads them, and parses
//! the tar headers itself. A tar whose file contents could not be found again in the layer
//! afterwards (a name written twice, a whiteout of something the same tar wrote, a sparse
//! file, a header it does not understand) is kept whole instead: at the first such header,
//! what was split so far is reassembled into a whole copy, and the rest is copied as it comes.
//! That relies on the unpacker having finished with every entry before it reads the next
//! header, as `tar::Archive` does when nothing buffers between it and this writer; if not,
//! the reassembly's CRC check fails the ingestion instead of keeping a wrong copy.
//!
//! Format (integers little-endian): the magic `rdtarsplit1\n`, then records: `I` u32 length,
//! bytes (kept verbatim); `F` u64 size, u32 CRC-32, u32 name length, name (a file of the
//! layer, relative to its root); last, `E` u64 total tar size.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 12] = b"rdtarsplit1\n";
const INLINE: u8 = b'I';
const FILE: u8 = b'F';
const END: u8 = b'E';
const BLOCK: usize = 512;
/// Verbatim bytes are written out in records of at most this size.
const INLINE_MAX: usize = 64 << 10;
/// GNU long names and pax headers longer than this make the tar be kept whole.
const EXTENSION_MAX: u64 = 1 << 20;

/// A layer's kept tar: whole, or split (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeptTar {
    /// The tar itself.
    Whole(PathBuf),
    /// Its split form, reassembled from the layer's files.
    Split(PathBuf),
}

impl KeptTar {
    /// Where it is kept.
    pub fn path(&self) -> &Path {
        match self {
            KeptTar::Whole(p) | KeptTar::Split(p) => p,
        }
    }

    /// Size in bytes of the tar it gives.
    pub fn tar_size(&self) -> io::Result<u64> {
        match self {
            KeptTar::Whole(p) => Ok(std::fs::metadata(p)?.len()),
            KeptTar::Split(p) => {
                let mut f = File::open(p)?;
                f.seek(SeekFrom::End(-9))?;
                let mut end = [0u8; 9];
                f.read_exact(&mut end)?;
                if end[0] != END {
                    return Err(corrupt(p, "no end record"));
                }
                Ok(u64::from_le_bytes(end[1..].try_into().expect("8 bytes")))
            }
        }
    }

    /// The tar; `layer` is the directory holding the layer's own files (the graphdriver's
    /// diff dir), read for a split one.
    pub fn open(&self, layer: &Path) -> io::Result<Box<dyn Read + Send>> {
        match self {
            KeptTar::Whole(p) => Ok(Box::new(File::open(p)?)),
            KeptTar::Split(p) => Ok(Box::new(SplitReader::open(p, layer)?)),
        }
    }
}

fn corrupt(path: &Path, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("kept layer tar {}: {what}", path.display()),
    )
}

/// Writes the split form of a tar fed to it in order (see the module doc). Dropped before
/// [`finish`](Self::finish), it removes what it wrote.
pub struct SplitWriter {
    out: BufWriter<File>,
    /// The file being written: the split form, or the whole copy once it gave up splitting.
    path: PathBuf,
    whole: bool,
    finished: bool,
    /// The layer's root, where the referenced files are.
    layer: PathBuf,
    state: State,
    /// The header block being gathered.
    block: Vec<u8>,
    /// Verbatim bytes not yet written out.
    inline: Vec<u8>,
    /// Bytes of the tar accounted for so far.
    offset: u64,
    /// The GNU long name and the pax header for the next entry.
    long_name: Option<Vec<u8>>,
    pax: Option<Vec<u8>>,
    /// Every entry name seen (normalised), and whether it was a directory.
    seen: BTreeMap<Vec<u8>, bool>,
}

enum State {
    Header,
    /// An entry's data: `left` bytes, then `pad` bytes of padding.
    Data {
        left: u64,
        pad: u64,
        data: Data,
    },
    Padding {
        left: u64,
    },
    /// After the end-of-archive block: everything is kept verbatim.
    Trailer,
}

enum Data {
    Verbatim,
    /// An extension header's payload, kept verbatim and also gathered.
    Extension {
        long_name: bool,
        bytes: Vec<u8>,
    },
    /// A regular file's contents: referenced, not kept.
    File {
        name: Vec<u8>,
        size: u64,
        crc: crc32fast::Hasher,
    },
}

impl SplitWriter {
    /// Starts writing the split form to `path` (created) for a layer unpacked into `layer`.
    pub fn create(path: PathBuf, layer: PathBuf) -> io::Result<SplitWriter> {
        let mut out = BufWriter::new(File::create(&path)?);
        out.write_all(MAGIC)?;
        Ok(SplitWriter {
            out,
            path,
            whole: false,
            finished: false,
            layer,
            state: State::Header,
            block: Vec::with_capacity(BLOCK),
            inline: Vec::new(),
            offset: 0,
            long_name: None,
            pax: None,
            seen: BTreeMap::new(),
        })
    }

    /// Feeds the next bytes of the tar.
    pub fn write(&mut self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            if self.whole {
                return self.out.write_all(buf);
            }
            let (state, taken) = match std::mem::replace(&mut self.state, State::Header) {
                State::Header => {
                    let n = (BLOCK - self.block.len()).min(buf.len());
                    self.block.extend_from_slice(&buf[..n]);
                    if self.block.len() == BLOCK {
                        let block = std::mem::take(&mut self.block);
                        // Sets the state for what follows the header.
                        self.header(&block)?;
                        self.block = block;
                        self.block.clear();
                        buf = &buf[n..];
                        continue;
                    }
                    (State::Header, n)
                }
                State::Trailer => {
                    self.verbatim(buf)?;
                    (State::Trailer, buf.len())
                }
                State::Padding { left } => {
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                    self.verbatim(&buf[..n])?;
                    let left = left - n as u64;
                    let next = if left == 0 {
                        State::Header
                    } else {
                        State::Padding { left }
                    };
                    (next, n)
                }
                State::Data {
                    left,
                    pad,
                    mut data,
                } => {
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                    let chunk = &buf[..n];
                    match &mut data {
                        Data::File { crc, .. } => {
                            crc.update(chunk);
                            self.offset += n as u64;
                        }
                        Data::Extension { bytes, .. } => {
                            bytes.extend_from_slice(chunk);
                            self.verbatim(chunk)?;
                        }
                        Data::Verbatim => self.verbatim(chunk)?,
                    }
                    let left = left - n as u64;
                    if left == 0 {
                        self.data_done(data)?;
                        let next = if pad == 0 {
                            State::Header
                        } else {
                            State::Padding { left: pad }
                        };
                        (next, n)
                    } else {
                        (State::Data { left, pad, data }, n)
                    }
                }
            };
            self.state = state;
            buf = &buf[taken..];
        }
        Ok(())
    }

    /// Ends the tar: returns what was kept, at the path given to [`create`](Self::create)
    /// (split) or that path with `.whole` appended.
    pub fn finish(mut self) -> io::Result<KeptTar> {
        if !self.whole {
            if let State::Data {
                data: Data::File { .. },
                ..
            } = self.state
            {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "layer tar ends inside a file",
                ));
            }
            let partial = std::mem::take(&mut self.block);
            self.verbatim(&partial)?;
            self.end()?;
        }
        self.out.flush()?;
        self.finished = true;
        Ok(if self.whole {
            KeptTar::Whole(self.path.clone())
        } else {
            KeptTar::Split(self.path.clone())
        })
    }

    fn verbatim(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.inline.extend_from_slice(bytes);
        self.offset += bytes.len() as u64;
        if self.inline.len() >= INLINE_MAX {
            self.flush_inline()?;
        }
        Ok(())
    }

    fn flush_inline(&mut self) -> io::Result<()> {
        for chunk in self.inline.chunks(u32::MAX as usize) {
            self.out.write_all(&[INLINE])?;
            self.out.write_all(&(chunk.len() as u32).to_le_bytes())?;
            self.out.write_all(chunk)?;
        }
        self.inline.clear();
        Ok(())
    }

    fn end(&mut self) -> io::Result<()> {
        self.flush_inline()?;
        self.out.write_all(&[END])?;
        self.out.write_all(&self.offset.to_le_bytes())
    }

    /// An entry's data ended: record a file, or keep an extension for the next entry.
    fn data_done(&mut self, data: Data) -> io::Result<()> {
        match data {
            Data::Verbatim => {}
            Data::Extension { long_name, bytes } => {
                if long_name {
                    self.long_name = Some(bytes);
                } else {
                    self.pax = Some(bytes);
                }
            }
            Data::File { name, size, crc } => {
                self.out.write_all(&[FILE])?;
                self.out.write_all(&size.to_le_bytes())?;
                self.out.write_all(&crc.finalize().to_le_bytes())?;
                self.out.write_all(&(name.len() as u32).to_le_bytes())?;
                self.out.write_all(&name)?;
            }
        }
        Ok(())
    }

    /// A complete header block.
    fn header(&mut self, block: &[u8]) -> io::Result<()> {
        if block.iter().all(|&b| b == 0) {
            // The end of the archive for the unpacker; whatever follows is only kept.
            self.state = State::Trailer;
            return self.verbatim(block);
        }
        let header = tar::Header::from_byte_slice(block);
        let kind = header.entry_type();
        let recognized = header.as_gnu().is_some() || header.as_ustar().is_some();
        let Ok(mut size) = header.entry_size() else {
            return self.go_whole(block);
        };
        let long_name = kind.is_gnu_longname();
        if recognized && (long_name || kind.is_pax_local_extensions()) {
            let again = if long_name {
                self.long_name.is_some()
            } else {
                self.pax.is_some()
            };
            if again || size > EXTENSION_MAX {
                return self.go_whole(block);
            }
            self.verbatim(block)?;
            return self.data(
                size,
                Data::Extension {
                    long_name,
                    bytes: Vec::new(),
                },
            );
        }
        let extension = long_name
            || kind.is_gnu_longlink()
            || kind.is_pax_local_extensions()
            || kind.is_pax_global_extensions();
        if recognized && kind.is_gnu_longlink() {
            self.verbatim(block)?;
            return self.data(size, Data::Verbatim);
        }
        // An entry (for the unpacker, even an unrecognised extension header is one).
        let long = self.long_name.take();
        let pax_header = self.pax.take();
        let pax = match &pax_header {
            Some(p) => match pax_records(p) {
                Some(records) => records,
                None => return self.go_whole(block),
            },
            None => Vec::new(),
        };
        let first = |key: &[u8]| pax.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
        if let (false, Some(s)) = (extension, first(b"size")) {
            match std::str::from_utf8(s)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
            {
                Some(s) => size = s,
                None => return self.go_whole(block),
            }
        }
        let name: Vec<u8> = match (&long, first(b"path")) {
            (Some(l), _) => l.strip_suffix(b"\0").unwrap_or(l).to_vec(),
            (None, Some(p)) => p.to_vec(),
            (None, None) => header.path_bytes().into_owned(),
        };
        if kind.is_gnu_sparse() || !self.note(&name, kind.is_dir()) {
            return self.go_whole(block);
        }
        self.verbatim(block)?;
        let file = kind.is_file() || kind.is_contiguous();
        match written_file(&name) {
            Some(path) if file && size > 0 => {
                self.flush_inline()?;
                let data = Data::File {
                    name: path,
                    size,
                    crc: crc32fast::Hasher::new(),
                };
                self.data(size, data)
            }
            _ => self.data(size, Data::Verbatim),
        }
    }

    /// Sets the state for an entry's `size` bytes of data and their padding.
    fn data(&mut self, size: u64, data: Data) -> io::Result<()> {
        if size == 0 {
            self.state = State::Header;
            return self.data_done(data);
        }
        let pad = (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64;
        self.state = State::Data {
            left: size,
            pad,
            data,
        };
        Ok(())
    }

    /// Records an entry name; false if the entry could replace or remove what an earlier
    /// entry of this tar wrote (then a file's contents might not be found again).
    fn note(&mut self, name: &[u8], is_dir: bool) -> bool {
        let Some(path) = normalize(name) else {
            return true; // refused by the unpacker
        };
        let base = path.rsplit(|&b| b == b'/').next().unwrap_or(&path);
        if let Some(target) = base.strip_prefix(b".wh.") {
            if target.starts_with(b".wh.") {
                return true; // opaque marker or aufs metadata: nothing of this tar is removed
            }
            let mut victim = path[..path.len() - base.len()].to_vec();
            victim.extend_from_slice(target);
            return !self.seen.contains_key(&victim) && !self.has_below(&victim);
        }
        if path.is_empty() {
            return true;
        }
        match self.seen.get(&path) {
            Some(&was_dir) if !(was_dir && is_dir) => return false,
            Some(_) => return true,
            None => {}
        }
        if !is_dir && self.has_below(&path) {
            return false;
        }
        self.seen.insert(path, is_dir);
        true
    }

    fn has_below(&self, dir: &[u8]) -> bool {
        let mut prefix = dir.to_vec();
        prefix.push(b'/');
        self.seen
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&prefix))
    }

    /// Gives up splitting before `block`: reassembles what was split so far into a whole
    /// copy (the files it names are still as that part of the tar wrote them), then copies.
    fn go_whole(&mut self, block: &[u8]) -> io::Result<()> {
        tracing::debug!(layer = %self.layer.display(), "layer tar kept whole");
        self.end()?;
        self.out.flush()?;
        let mut whole_path = self.path.clone().into_os_string();
        whole_path.push(".whole");
        let whole_path = PathBuf::from(whole_path);
        let copied = (|| {
            let mut whole = BufWriter::new(File::create(&whole_path)?);
            io::copy(&mut SplitReader::open(&self.path, &self.layer)?, &mut whole)?;
            whole.write_all(block)?;
            Ok::<_, io::Error>(whole)
        })();
        let _ = std::fs::remove_file(&self.path);
        match copied {
            Ok(whole) => {
                self.out = whole;
                self.path = whole_path;
                self.whole = true;
                Ok(())
            }
            Err(e) => {
                let _ = std::fs::remove_file(&whole_path);
                self.finished = true; // nothing left to remove
                Err(e)
            }
        }
    }
}

impl Drop for SplitWriter {
    fn drop(&mut self) {
        if !self.finished {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A pax header's records (key, value); `None` if one is malformed.
fn pax_records(pax: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    tar::PaxExtensions::new(pax)
        .map(|e| e.ok().map(|e| (e.key_bytes(), e.value_bytes())))
        .collect()
}

/// Where the unpacker writes a regular file entry named `name`, relative to the layer root:
/// the normalised name; `None` for what it does not write as a file (the root, names with `..`,
/// whiteouts and aufs metadata, which may carry data the unpacker never keeps).
fn written_file(name: &[u8]) -> Option<Vec<u8>> {
    let path = normalize(name).filter(|p| !p.is_empty())?;
    let base = path.rsplit(|&b| b == b'/').next().unwrap_or(&path);
    (!base.starts_with(b".wh.")).then_some(path)
}

/// `a/./b//c/` → `a/b/c`; `None` with a `..` component.
fn normalize(name: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(name.len());
    for part in name.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return None,
            p => {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(p);
            }
        }
    }
    Some(out)
}

/// Reassembles a tar from its split form and the layer's files.
pub(crate) struct SplitReader {
    input: BufReader<File>,
    path: PathBuf,
    layer: File,
    part: Part,
    offset: u64,
}

enum Part {
    Next,
    Inline(u64),
    File {
        file: File,
        name: Vec<u8>,
        left: u64,
        want: u32,
        crc: crc32fast::Hasher,
    },
    Done,
}

impl SplitReader {
    /// Opens the split form at `path` of a layer whose files are in `layer`.
    pub fn open(path: &Path, layer: &Path) -> io::Result<SplitReader> {
        let mut input = BufReader::with_capacity(64 << 10, File::open(path)?);
        let mut magic = [0u8; 12];
        input.read_exact(&mut magic)?;
        if &magic != MAGIC {
            return Err(corrupt(path, "not a split layer tar"));
        }
        let layer = File::open(layer)?;
        Ok(SplitReader {
            input,
            path: path.to_path_buf(),
            layer,
            part: Part::Next,
            offset: 0,
        })
    }

    fn next_part(&mut self) -> io::Result<()> {
        let mut tag = [0u8; 1];
        self.input.read_exact(&mut tag)?;
        self.part = match tag[0] {
            INLINE => Part::Inline(u64::from(u32::from_le_bytes(self.array()?))),
            FILE => {
                let left = u64::from_le_bytes(self.array()?);
                let want = u32::from_le_bytes(self.array()?);
                let len = u32::from_le_bytes(self.array()?) as usize;
                let mut name = vec![0u8; len];
                self.input.read_exact(&mut name)?;
                let file = self.open_file(&name)?;
                Part::File {
                    file,
                    name,
                    left,
                    want,
                    crc: crc32fast::Hasher::new(),
                }
            }
            END => {
                if u64::from_le_bytes(self.array()?) != self.offset {
                    return Err(corrupt(&self.path, "wrong total size"));
                }
                Part::Done
            }
            _ => return Err(corrupt(&self.path, "unknown record")),
        };
        Ok(())
    }

    fn array<const N: usize>(&mut self) -> io::Result<[u8; N]> {
        let mut a = [0u8; N];
        self.input.read_exact(&mut a)?;
        Ok(a)
    }

    /// Opens a layer file without following symlinks or leaving the layer.
    fn open_file(&self, name: &[u8]) -> io::Result<File> {
        use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
        let how = OpenHow::new()
            .flags(OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW)
            .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
        let path = std::ffi::OsStr::from_bytes(name);
        openat2(&self.layer, path, how)
            .map(File::from)
            .map_err(|e| self.changed(name, &format!("cannot be opened: {e}")))
    }

    fn changed(&self, name: &[u8], what: &str) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "layer file {} {what}: the layer no longer matches its tar",
                String::from_utf8_lossy(name)
            ),
        )
    }
}

impl Read for SplitReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match &mut self.part {
                Part::Next => self.next_part()?,
                Part::Done => return Ok(0),
                Part::Inline(0) => self.part = Part::Next,
                Part::Inline(left) => {
                    let want = usize::try_from(*left).unwrap_or(usize::MAX).min(buf.len());
                    let n = self.input.read(&mut buf[..want])?;
                    if n == 0 {
                        return Err(corrupt(&self.path, "truncated"));
                    }
                    *left -= n as u64;
                    self.offset += n as u64;
                    return Ok(n);
                }
                Part::File {
                    file,
                    name,
                    left,
                    want,
                    crc,
                } => {
                    if *left == 0 {
                        let mut probe = [0u8; 1];
                        let longer = file.read(&mut probe)? != 0;
                        let matches = !longer && crc.clone().finalize() == *want;
                        let name = std::mem::take(name);
                        if !matches {
                            return Err(self.changed(&name, "changed"));
                        }
                        self.part = Part::Next;
                        continue;
                    }
                    let max = usize::try_from(*left).unwrap_or(usize::MAX).min(buf.len());
                    let n = file.read(&mut buf[..max])?;
                    if n == 0 {
                        let name = std::mem::take(name);
                        return Err(self.changed(&name, "is shorter"));
                    }
                    crc.update(&buf[..n]);
                    *left -= n as u64;
                    self.offset += n as u64;
                    return Ok(n);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
