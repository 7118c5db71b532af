//! Reading `/proc/self/mountinfo`, to find mounts a crashed daemon left behind.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

const MOUNTINFO: &str = "/proc/self/mountinfo";

/// Mount points currently at or below `root`, deepest first (the order to unmount them in).
pub(crate) fn mountpoints_under(root: &Path) -> Result<Vec<PathBuf>> {
    let text = std::fs::read(MOUNTINFO).map_err(|e| Error::io("read", MOUNTINFO, e))?;
    let mut found: Vec<PathBuf> = parse_mountpoints(&text)
        .into_iter()
        .filter(|p| p.starts_with(root))
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found.dedup();
    Ok(found)
}

/// Whether `path` is a mount point.
pub(crate) fn is_mountpoint(path: &Path) -> Result<bool> {
    let text = std::fs::read(MOUNTINFO).map_err(|e| Error::io("read", MOUNTINFO, e))?;
    Ok(parse_mountpoints(&text).iter().any(|p| p == path))
}

/// The fifth field of every line: the mount point, with the kernel's octal escapes undone.
/// See proc(5), "/proc/pid/mountinfo".
fn parse_mountpoints(text: &[u8]) -> Vec<PathBuf> {
    text.split(|&b| b == b'\n')
        .filter_map(|line| line.split(|&b| b == b' ').nth(4))
        .map(|field| PathBuf::from(OsString::from_vec(unescape(field))))
        .collect()
}

/// Undoes the `\ooo` escapes the kernel uses for space, tab, newline and backslash.
fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let octal = field
            .get(i + 1..i + 4)
            .filter(|d| field[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                let value = d.iter().fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 4;
            }
            None => {
                out.push(field[i]);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_unescapes_mount_points() {
        let text = b"22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw\n\
            90 22 0:50 / /var/lib/a\\040b/merged rw - overlay overlay rw,lowerdir=x\n";
        assert_eq!(
            parse_mountpoints(text),
            vec![PathBuf::from("/"), PathBuf::from("/var/lib/a b/merged")]
        );
        assert_eq!(unescape(b"a\\134b\\011c\\12"), b"a\\b\tc\\12".to_vec());
    }

    #[test]
    fn root_is_a_mountpoint() {
        assert!(is_mountpoint(Path::new("/")).unwrap());
        assert!(mountpoints_under(Path::new("/"))
            .unwrap()
            .contains(&PathBuf::from("/")));
    }
}
