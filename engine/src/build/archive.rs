//! ADD's local archives: telling a tar (possibly compressed) from other files, and unpacking it as dockerd's
//! untar does: owners and modes from the headers (set-id bits kept), an existing entry of another type
//! replaced (only a directory over a directory merges), FIFOs and devices made as they are, and a hard link
//! taking its header's owner (which, on the shared inode, its target takes too).

use std::io::{BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

/// Whether ADD unpacks this file: a tar, possibly gzip-, bzip2-, xz- or zstd-compressed.
pub fn is_archive(path: &Path) -> bool {
    let Ok(f) = std::fs::File::open(path) else { return false };
    let Ok(mut r) = super::compress::decompressed(BufReader::new(f)) else {
        return false;
    };
    let mut head = vec![0u8; 512];
    let mut n = 0;
    while n < head.len() {
        match r.read(&mut head[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    n == 512 && &head[257..262] == b"ustar"
}

/// Unpacks an archive into `dst` (an existing directory).
pub fn unpack(src: &Path, dst: &Path) -> std::io::Result<()> {
    let r = super::compress::decompressed(BufReader::new(std::fs::File::open(src)?))?;
    let mut a = tar::Archive::new(r);
    a.set_preserve_permissions(true);
    a.set_preserve_ownerships(true);
    a.set_preserve_mtime(true);
    a.set_overwrite(true);
    for entry in a.entries()? {
        let mut e = entry?;
        let Some(rel) = inside(&e.path()?) else { continue };
        let path = dst.join(&rel);
        let kind = e.header().entry_type();
        replace_other_type(&path, kind.is_dir())?;
        if kind.is_fifo() || kind.is_character_special() || kind.is_block_special() {
            special(&e, &path)?;
        } else {
            e.unpack_in(dst)?;
            if kind.is_hard_link() {
                let h = e.header();
                std::os::unix::fs::lchown(&path, Some(h.uid()? as u32), Some(h.gid()? as u32))?;
            }
        }
    }
    Ok(())
}

/// The entry's path relative to the destination; None for the root itself or a path climbing out (skipped,
/// as the tar crate does).
fn inside(p: &Path) -> Option<PathBuf> {
    let mut rel = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => rel.push(n),
            Component::ParentDir => return None,
            _ => {}
        }
    }
    (!rel.as_os_str().is_empty()).then_some(rel)
}

/// Removes what is at `path` unless both it and the entry are directories (then they merge).
fn replace_other_type(path: &Path, entry_is_dir: bool) -> std::io::Result<()> {
    match path.symlink_metadata() {
        Ok(m) if m.is_dir() && entry_is_dir => Ok(()),
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(_) => Ok(()),
    }
}

/// Makes a FIFO or device entry with the header's mode, owner and time.
fn special<R: Read>(e: &tar::Entry<'_, R>, path: &Path) -> std::io::Result<()> {
    use nix::sys::stat::{makedev, mknod, Mode, SFlag};
    let h = e.header();
    let kind = h.entry_type();
    let flag = if kind.is_fifo() {
        SFlag::S_IFIFO
    } else if kind.is_character_special() {
        SFlag::S_IFCHR
    } else {
        SFlag::S_IFBLK
    };
    // A FIFO's device fields may be blank, which the tar crate takes for an error.
    let dev = makedev(
        h.device_major().ok().flatten().unwrap_or(0).into(),
        h.device_minor().ok().flatten().unwrap_or(0).into(),
    );
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mode = h.mode()? & 0o7777;
    mknod(path, flag, Mode::from_bits_truncate(mode), dev).map_err(std::io::Error::from)?;
    std::os::unix::fs::lchown(path, Some(h.uid()? as u32), Some(h.gid()? as u32))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    let t = nix::sys::time::TimeSpec::new(h.mtime()? as i64, 0);
    nix::sys::stat::utimensat(None, path, &t, &t, nix::sys::stat::UtimensatFlags::NoFollowSymlink)
        .map_err(std::io::Error::from)
}
