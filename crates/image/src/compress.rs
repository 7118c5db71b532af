//! Layer blob compression: detection by magic bytes and transparent decompression.

use std::io::{self, Cursor, Read};

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0x00];
const BZIP2_MAGIC: &[u8] = b"BZh";
/// Enough bytes to tell every format above apart.
const MAGIC_LEN: usize = 6;

/// How a layer blob is compressed, as told by its first bytes (media types lie; magic doesn't).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar (or anything that is neither gzip nor zstd).
    None,
    /// gzip (`1f 8b`).
    Gzip,
    /// zstd (`28 b5 2f fd`).
    Zstd,
}

impl Compression {
    /// The compression of a blob starting with `head`.
    pub fn detect(head: &[u8]) -> Self {
        if head.starts_with(GZIP_MAGIC) {
            Self::Gzip
        } else if head.starts_with(ZSTD_MAGIC) {
            Self::Zstd
        } else {
            Self::None
        }
    }
}

/// Reads up to `MAGIC_LEN` bytes, retrying short reads (pipes and decoders return less than asked).
pub(crate) fn read_head(r: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut head = vec![0; MAGIC_LEN];
    let mut n = 0;
    while n < MAGIC_LEN {
        match r.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    head.truncate(n);
    Ok(head)
}

/// Opens a layer blob, transparently decompressing gzip or zstd (detected by magic bytes); any
/// other content is returned as it is. xz and bzip2, which Docker's legacy loader also accepts,
/// are refused with [`io::ErrorKind::Unsupported`] rather than misread as a tar.
pub fn decompress(mut r: impl Read + Send + 'static) -> io::Result<Box<dyn Read + Send>> {
    let head = read_head(&mut r)?;
    let kind = Compression::detect(&head);
    if kind == Compression::None && (head.starts_with(XZ_MAGIC) || head.starts_with(BZIP2_MAGIC)) {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "xz and bzip2 compressed layers are not supported",
        ));
    }
    let whole = Cursor::new(head).chain(r);
    Ok(match kind {
        Compression::None => Box::new(whole),
        // Multi-member, as Go's gzip reader (and so Docker) reads concatenated gzip streams.
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(whole)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(whole)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn roundtrip(blob: Vec<u8>) -> Vec<u8> {
        let mut out = Vec::new();
        decompress(Cursor::new(blob))
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn plain_gzip_and_zstd_decompress_to_the_same_bytes() {
        let data = b"layer tar bytes".repeat(100);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(&data[..], 3).unwrap();
        assert_eq!(Compression::detect(&gz), Compression::Gzip);
        assert_eq!(Compression::detect(&zst), Compression::Zstd);
        assert_eq!(Compression::detect(&data), Compression::None);
        assert_eq!(roundtrip(data.clone()), data);
        assert_eq!(roundtrip(gz), data);
        assert_eq!(roundtrip(zst), data);
        assert_eq!(
            roundtrip(Vec::new()),
            b"",
            "an empty blob is an empty stream"
        );
        assert_eq!(roundtrip(vec![1]), [1], "shorter than any magic");
    }

    #[test]
    fn concatenated_gzip_members_are_read_whole() {
        let mut blob = Vec::new();
        for part in [&b"one "[..], b"two"] {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(part).unwrap();
            blob.extend(gz.finish().unwrap());
        }
        assert_eq!(roundtrip(blob), b"one two");
    }

    #[test]
    fn xz_is_refused_clearly() {
        let err = match decompress(Cursor::new(XZ_MAGIC.to_vec())) {
            Err(e) => e,
            Ok(_) => panic!("xz accepted"),
        };
        assert_eq!(err.kind(), io::ErrorKind::Unsupported);
    }
}
