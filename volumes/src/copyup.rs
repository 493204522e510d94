//! Copy-up: the image's files at a mount point seed an empty volume, keeping owners, modes,
//! times, symlinks, hard links, device nodes and extended attributes.

use std::collections::HashMap;
use std::ffi::{CString, OsStr};
use std::fs::{self, File, Metadata, OpenOptions};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::sys::stat::{mknod, utimensat, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;

use crate::error::{Error, Result};

/// Whether a directory has no entries.
pub fn is_empty_dir(dir: &Path) -> Result<bool> {
    let mut it = fs::read_dir(dir).map_err(|e| Error::io("read directory", dir, e))?;
    Ok(it.next().is_none())
}

/// Copies the tree under `from` into the directory `to`, which takes `from`'s owner and mode.
/// Symlinks are copied as links, never followed.
pub fn copy_up(from: &Path, to: &Path) -> Result<()> {
    let meta = fs::symlink_metadata(from).map_err(|e| Error::io("stat", from, e))?;
    let mut links = HashMap::new();
    copy_dir_contents(from, to, &mut links)?;
    finish(from, to, &meta)
}

/// Hard-linked files seen so far: (dev, inode) → their copy.
type Links = HashMap<(u64, u64), PathBuf>;

fn copy_dir_contents(from: &Path, to: &Path, links: &mut Links) -> Result<()> {
    for entry in fs::read_dir(from).map_err(|e| Error::io("read directory", from, e))? {
        let entry = entry.map_err(|e| Error::io("read directory", from, e))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let meta = fs::symlink_metadata(&src).map_err(|e| Error::io("stat", &src, e))?;
        copy_entry(&src, &dst, &meta, links)?;
    }
    Ok(())
}

fn copy_entry(src: &Path, dst: &Path, meta: &Metadata, links: &mut Links) -> Result<()> {
    let ft = meta.file_type();
    if !ft.is_dir() && meta.nlink() > 1 {
        if let Some(first) = links.get(&(meta.dev(), meta.ino())) {
            return fs::hard_link(first, dst).map_err(|e| Error::io("hard-link", dst, e));
        }
        links.insert((meta.dev(), meta.ino()), dst.to_path_buf());
    }
    if ft.is_dir() {
        fs::create_dir(dst).map_err(|e| Error::io("create directory", dst, e))?;
        copy_dir_contents(src, dst, links)?;
    } else if ft.is_file() {
        copy_file(src, dst)?;
    } else if ft.is_symlink() {
        let target = fs::read_link(src).map_err(|e| Error::io("read link", src, e))?;
        std::os::unix::fs::symlink(&target, dst).map_err(|e| Error::io("create symlink", dst, e))?;
    } else if ft.is_socket() {
        // A socket in an image is a leftover of a build; nothing can listen on its copy.
        return Ok(());
    } else {
        let kind = if ft.is_fifo() {
            SFlag::S_IFIFO
        } else if ft.is_char_device() {
            SFlag::S_IFCHR
        } else {
            SFlag::S_IFBLK
        };
        mknod(dst, kind, Mode::from_bits_truncate(meta.mode()), meta.rdev())
            .map_err(|e| Error::errno("mknod", dst, e))?;
    }
    finish(src, dst, meta)
}

fn copy_file(src: &Path, dst: &Path) -> Result<()> {
    let mut input = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(src)
        .map_err(|e| Error::io("open", src, e))?;
    let mut output: File = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dst)
        .map_err(|e| Error::io("create", dst, e))?;
    std::io::copy(&mut input, &mut output).map_err(|e| Error::io("copy to", dst, e))?;
    Ok(())
}

/// Owner, then mode (chown clears set-id bits), xattrs and times of `dst` from `src`.
fn finish(src: &Path, dst: &Path, meta: &Metadata) -> Result<()> {
    std::os::unix::fs::lchown(dst, Some(meta.uid()), Some(meta.gid())).map_err(|e| Error::io("chown", dst, e))?;
    if !meta.file_type().is_symlink() {
        fs::set_permissions(dst, fs::Permissions::from_mode(meta.mode() & 0o7777))
            .map_err(|e| Error::io("chmod", dst, e))?;
    }
    copy_xattrs(src, dst);
    let atime = TimeSpec::new(meta.atime(), meta.atime_nsec());
    let mtime = TimeSpec::new(meta.mtime(), meta.mtime_nsec());
    utimensat(None, dst, &atime, &mtime, UtimensatFlags::NoFollowSymlink)
        .map_err(|e| Error::errno("set times of", dst, e))
}

/// Best effort: a filesystem without xattr support (or a namespace we may not write) loses them,
/// as `cp -a` does, rather than failing the container's start.
fn copy_xattrs(src: &Path, dst: &Path) {
    let (Ok(s), Ok(d)) = (cstr(src), cstr(dst)) else {
        return;
    };
    for name in list_xattrs(&s) {
        let Some(value) = get_xattr(&s, &name) else {
            continue;
        };
        // SAFETY: valid C strings and a buffer of the given length.
        let rc = unsafe { libc::lsetxattr(d.as_ptr(), name.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
        if rc != 0 {
            tracing::debug!(path = %dst.display(), attr = ?name, err = %std::io::Error::last_os_error(), "xattr not copied");
        }
    }
}

fn list_xattrs(path: &CString) -> Vec<CString> {
    let buf = read_sized(|buf, len| unsafe { libc::llistxattr(path.as_ptr(), buf.cast(), len) });
    buf.split(|b| *b == 0)
        .filter(|n| !n.is_empty())
        .filter_map(|n| CString::new(n).ok())
        .collect()
}

fn get_xattr(path: &CString, name: &CString) -> Option<Vec<u8>> {
    Some(read_sized(|buf, len| unsafe {
        libc::lgetxattr(path.as_ptr(), name.as_ptr(), buf.cast(), len)
    }))
}

/// Calls a size-probing syscall twice: once for the size, once to fill the buffer.
fn read_sized(call: impl Fn(*mut u8, usize) -> isize) -> Vec<u8> {
    let size = call(std::ptr::null_mut(), 0);
    if size <= 0 {
        return Vec::new();
    }
    let mut buf = vec![0u8; size as usize];
    let got = call(buf.as_mut_ptr(), buf.len());
    buf.truncate(got.max(0) as usize);
    buf
}

fn cstr(p: &Path) -> std::result::Result<CString, std::ffi::NulError> {
    CString::new(OsStr::as_bytes(p.as_os_str()))
}
