//! Reading this process's mount table, to find berth's own mounts (idempotent mounts, leak checks).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

const MOUNTINFO: &str = "/proc/self/mountinfo";

/// Every mount point in this process's mount namespace, in mount order.
pub fn mount_points() -> Result<Vec<PathBuf>> {
    let text = std::fs::read_to_string(MOUNTINFO).map_err(|e| Error::io("read", MOUNTINFO, e))?;
    Ok(text
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape(p)))
        .collect())
}

/// Whether `path` itself is a mount point.
pub fn is_mountpoint(path: &Path) -> Result<bool> {
    Ok(mount_points()?.iter().any(|m| m == path))
}

/// Mount points at `path` or below it, deepest first (the order to unmount them in).
pub fn mounts_under(path: &Path) -> Result<Vec<PathBuf>> {
    let mut found: Vec<PathBuf> = mount_points()?.into_iter().filter(|m| m.starts_with(path)).collect();
    found.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
    found.dedup();
    Ok(found)
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo` octal.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let oct = &bytes[i + 1..i + 4];
            if oct[0] <= b'3' && oct.iter().all(|b| (b'0'..=b'7').contains(b)) {
                out.push((oct[0] - b'0') * 64 + (oct[1] - b'0') * 8 + (oct[2] - b'0'));
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_octal() {
        assert_eq!(unescape(r"/a\040b"), "/a b");
        assert_eq!(unescape(r"/a\134b"), r"/a\b");
        assert_eq!(unescape(r"/plain"), "/plain");
        assert_eq!(unescape(r"/end\04"), r"/end\04");
    }

    #[test]
    fn root_is_mounted() {
        assert!(mount_points().unwrap().iter().any(|m| m == Path::new("/")));
    }
}
