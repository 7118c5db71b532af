//! The metadata of one tar entry (ustar fields overridden by PAX records) and applying it.

use std::io;
use std::path::Path;

use nix::sys::time::TimeSpec;

use crate::fsutil;
use crate::Result;

const XATTR_PREFIX: &str = "SCHILY.xattr.";

/// Owner, mode, times and xattrs of an entry.
#[derive(Debug)]
pub(super) struct Meta {
    pub(super) uid: u32,
    pub(super) gid: u32,
    pub(super) mode: u32,
    pub(super) atime: TimeSpec,
    pub(super) mtime: TimeSpec,
    pub(super) xattrs: Vec<(String, Vec<u8>)>,
}

impl Meta {
    /// Reads the header and the entry's PAX records (`uid`, `gid`, `mtime`, `atime`,
    /// `SCHILY.xattr.*`, as written by Docker and GNU tar). Errors mean a malformed tar.
    pub(super) fn read<R: io::Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<Meta> {
        let header = entry.header();
        let mut uid = header.uid()?;
        let mut gid = header.gid()?;
        let mode = header.mode()?;
        let mut mtime = TimeSpec::new(to_i64(header.mtime()?)?, 0);
        let mut atime = None;
        let mut xattrs = Vec::new();
        if let Some(pax) = entry.pax_extensions()? {
            for ext in pax {
                let ext = ext?;
                let Ok(key) = ext.key() else { continue };
                let value = ext.value_bytes();
                match key {
                    "uid" => uid = parse_u64(value)?,
                    "gid" => gid = parse_u64(value)?,
                    "mtime" => mtime = parse_time(value)?,
                    "atime" => atime = Some(parse_time(value)?),
                    _ => {
                        if let Some(name) = key.strip_prefix(XATTR_PREFIX) {
                            xattrs.push((name.to_owned(), value.to_vec()));
                        }
                    }
                }
            }
        }
        Ok(Meta {
            uid: to_u32(uid)?,
            gid: to_u32(gid)?,
            mode: mode & 0o7777,
            atime: atime.unwrap_or(mtime),
            mtime,
            xattrs,
        })
    }

    /// Sets owner, then mode (chown clears setuid), then xattrs; times are the caller's, since
    /// a directory's must wait until its children are written. `owner`: who already owns
    /// `path` when that is known (made just now), so an ownership change that changes nothing
    /// is skipped.
    pub(super) fn apply(
        &self,
        path: &Path,
        is_symlink: bool,
        owner: Option<(u32, u32)>,
    ) -> Result<()> {
        if owner != Some((self.uid, self.gid)) {
            fsutil::lchown(path, self.uid, self.gid)?;
        }
        if !is_symlink {
            fsutil::chmod(path, self.mode)?;
        }
        for (name, value) in &self.xattrs {
            // Overlayfs' own attributes (opaque, redirect, metacopy...) could make the mount
            // show files from elsewhere; a layer expresses them as whiteout entries only.
            if name.starts_with("trusted.overlay.") {
                tracing::debug!(path = %path.display(), xattr = %name, "overlay xattr in tar ignored");
                continue;
            }
            fsutil::set_xattr_lenient(path, name, value)?;
        }
        Ok(())
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("invalid {what} in tar header"),
    )
}

fn to_u32(v: u64) -> io::Result<u32> {
    u32::try_from(v).map_err(|_| invalid("uid/gid"))
}

fn to_i64(v: u64) -> io::Result<i64> {
    i64::try_from(v).map_err(|_| invalid("mtime"))
}

fn parse_u64(v: &[u8]) -> io::Result<u64> {
    std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| invalid("PAX number"))
}

/// A PAX time: decimal seconds with an optional fraction, e.g. `1700000000.123456789`.
fn parse_time(v: &[u8]) -> io::Result<TimeSpec> {
    let s = std::str::from_utf8(v)
        .map_err(|_| invalid("PAX time"))?
        .trim();
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs.parse().map_err(|_| invalid("PAX time"))?;
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("PAX time"));
    }
    let digits: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
    let nsec: i64 = digits.parse().map_err(|_| invalid("PAX time"))?;
    let (whole, part) = (TimeSpec::new(secs, 0), TimeSpec::new(0, nsec));
    Ok(if s.starts_with('-') {
        whole - part
    } else {
        whole + part
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pax_times() {
        let t = parse_time(b"1700000000.5").unwrap();
        assert_eq!((t.tv_sec(), t.tv_nsec()), (1_700_000_000, 500_000_000));
        let t = parse_time(b"12").unwrap();
        assert_eq!((t.tv_sec(), t.tv_nsec()), (12, 0));
        let t = parse_time(b"1.1234567891").unwrap();
        assert_eq!(t.tv_nsec(), 123_456_789);
        assert!(parse_time(b"x").is_err());
        assert!(parse_time(b"1.2e3").is_err());
    }
}
