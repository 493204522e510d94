//! Safe layer unpacking: tar entries confined to the layer directory, whiteouts turned into overlayfs form.

use crate::error::{EngineError, Result};
use std::ffi::CString;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// Prefix of a whiteout file in image layers.
const WHITEOUT_PREFIX: &str = ".wh.";
/// Marker making a directory opaque.
const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// Unpacks an uncompressed layer tar stream into `dst` (an empty directory).
/// Refuses absolute paths, `..`, entries written through symlinks, and hard links leaving `dst`.
/// Returns the total size of the regular files.
pub fn unpack_layer(src: impl Read, dst: &Path) -> Result<u64> {
    let mut archive = tar::Archive::new(src);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(true);
    archive.set_preserve_mtime(true);
    archive.set_unpack_xattrs(true);
    archive.set_overwrite(true);
    let entries = archive.entries().map_err(|e| bad("reading the layer tar", e))?;
    let mut size = 0u64;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad("reading the layer tar", e))?;
        let raw = entry.path().map_err(|e| bad("reading an entry path", e))?.into_owned();
        let rel = clean_path(&raw)?;
        let Some(rel) = rel else { continue }; // the layer root itself
                                               // dockerd's layer size: regular files' sizes plus symlinks' (their targets' lengths), directories not.
        let kind = entry.header().entry_type();
        if kind.is_file() {
            size += entry.size();
        } else if kind.is_symlink() {
            size += entry.link_name_bytes().map(|l| l.len() as u64).unwrap_or(0);
        }
        unpack_entry(&mut entry, &rel, dst)?;
    }
    Ok(size)
}

fn unpack_entry<R: Read>(entry: &mut tar::Entry<R>, rel: &Path, dst: &Path) -> Result<()> {
    let parent_rel = rel.parent().unwrap_or(Path::new(""));
    ensure_dirs(dst, parent_rel)?;
    let name = rel
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let parent = dst.join(parent_rel);
    if name == OPAQUE_MARKER {
        return set_xattr(&parent, "trusted.overlay.opaque", b"y");
    }
    if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
        return whiteout(&parent.join(hidden));
    }
    let target = dst.join(rel);
    let kind = entry.header().entry_type();
    if kind.is_hard_link() {
        return hard_link(entry, dst, &target);
    }
    if kind.is_character_special() || kind.is_block_special() || kind.is_fifo() {
        return special_file(entry, &target);
    }
    if let Ok(meta) = std::fs::symlink_metadata(&target) {
        // A directory entry over an existing directory keeps it; anything else replaces what is there.
        if !(kind.is_dir() && meta.is_dir()) && meta.is_dir() {
            std::fs::remove_dir_all(&target).map_err(|e| bad(format!("replacing {}", rel.display()), e))?;
        }
    }
    entry
        .unpack(&target)
        .map_err(|e| bad(format!("unpacking {}", rel.display()), e))?;
    Ok(())
}

/// Normalises an entry path: strips `./` and a leading `/`-free root; refuses absolute paths and `..`.
fn clean_path(raw: &Path) -> Result<Option<PathBuf>> {
    let mut out = PathBuf::new();
    for c in raw.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => {
                return Err(EngineError::BadRequest(format!(
                    "layer entry {} has an absolute path",
                    raw.display()
                )))
            }
            Component::ParentDir => {
                return Err(EngineError::BadRequest(format!(
                    "layer entry {} escapes the layer with '..'",
                    raw.display()
                )))
            }
        }
    }
    Ok(if out.as_os_str().is_empty() { None } else { Some(out) })
}

/// Creates the parent directories of an entry, refusing to pass through a symlink (which could point outside).
fn ensure_dirs(dst: &Path, rel: &Path) -> Result<()> {
    let mut cur = dst.to_path_buf();
    for c in rel.components() {
        cur.push(c);
        match std::fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(EngineError::BadRequest(format!(
                    "layer entry under {} goes through a symbolic link",
                    rel.display()
                )))
            }
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(EngineError::BadRequest(format!(
                    "layer entry under {}: a parent is not a directory",
                    rel.display()
                )))
            }
            Err(_) => std::fs::create_dir(&cur).map_err(|e| bad(format!("creating {}", cur.display()), e))?,
        }
    }
    Ok(())
}

fn hard_link<R: Read>(entry: &tar::Entry<R>, dst: &Path, target: &Path) -> Result<()> {
    let link = entry
        .link_name()
        .map_err(|e| bad("reading a hard link target", e))?
        .ok_or_else(|| EngineError::BadRequest(format!("hard link {} has no target", target.display())))?;
    let rel = clean_path(&link)?.ok_or_else(|| EngineError::BadRequest("hard link to the layer root".into()))?;
    ensure_no_symlink_parents(dst, &rel)?;
    let src = dst.join(&rel);
    let meta = std::fs::symlink_metadata(&src)
        .map_err(|_| EngineError::BadRequest(format!("hard link target {} is not in the layer", link.display())))?;
    if meta.is_dir() {
        return Err(EngineError::BadRequest(format!(
            "hard link to directory {}",
            link.display()
        )));
    }
    let _ = std::fs::remove_file(target);
    std::fs::hard_link(&src, target).map_err(|e| bad(format!("hard linking {}", target.display()), e))
}

fn ensure_no_symlink_parents(dst: &Path, rel: &Path) -> Result<()> {
    let mut cur = dst.to_path_buf();
    if let Some(parent) = rel.parent() {
        for c in parent.components() {
            cur.push(c);
            if std::fs::symlink_metadata(&cur)
                .map(|m| m.file_type().is_symlink())
                .unwrap_or(false)
            {
                return Err(EngineError::BadRequest(format!(
                    "hard link target {} goes through a symbolic link",
                    rel.display()
                )));
            }
        }
    }
    Ok(())
}

fn special_file<R: Read>(entry: &tar::Entry<R>, target: &Path) -> Result<()> {
    let h = entry.header();
    let kind = h.entry_type();
    let mode = h.mode().map_err(|e| bad("reading a mode", e))? & 0o7777;
    let (sflag, dev) = if kind.is_fifo() {
        (libc::S_IFIFO, 0)
    } else {
        let major = h.device_major().ok().flatten().unwrap_or(0);
        let minor = h.device_minor().ok().flatten().unwrap_or(0);
        let t = if kind.is_character_special() {
            libc::S_IFCHR
        } else {
            libc::S_IFBLK
        };
        (t, libc::makedev(major, minor))
    };
    let _ = std::fs::remove_file(target);
    match mknod(target, sflag | mode, dev) {
        // Without CAP_MKNOD (rootless, user namespaces) device nodes cannot exist; the runtime gives
        // containers their /dev anyway, so the entry is skipped as Docker does there.
        Err(MknodError::NotPermitted(e)) if sflag != libc::S_IFIFO => {
            tracing::warn!(
                path = %target.display(),
                "image layer: device node {}:{} skipped: creating device nodes is not permitted here ({e})",
                libc::major(dev),
                libc::minor(dev)
            );
            return Ok(());
        }
        other => other.map_err(EngineError::from)?,
    }
    let uid = h.uid().unwrap_or(0) as u32;
    let gid = h.gid().unwrap_or(0) as u32;
    std::os::unix::fs::lchown(target, Some(uid), Some(gid)).map_err(|e| bad(format!("chown {}", target.display()), e))
}

/// An overlayfs whiteout: a 0/0 character device hiding the lower layer's file.
fn whiteout(path: &Path) -> Result<()> {
    if let Ok(m) = std::fs::symlink_metadata(path) {
        if m.is_dir() {
            let _ = std::fs::remove_dir_all(path);
        } else {
            let _ = std::fs::remove_file(path);
        }
    }
    mknod(path, libc::S_IFCHR, libc::makedev(0, 0)).map_err(EngineError::from)
}

/// A failed mknod: not permitted (no CAP_MKNOD) is told apart so device nodes can be skipped.
enum MknodError {
    NotPermitted(std::io::Error),
    Other(EngineError),
}

impl From<MknodError> for EngineError {
    fn from(e: MknodError) -> Self {
        match e {
            MknodError::NotPermitted(io) => bad("creating a device node (not permitted here)", io),
            MknodError::Other(e) => e,
        }
    }
}

fn mknod(path: &Path, mode: libc::mode_t, dev: libc::dev_t) -> std::result::Result<(), MknodError> {
    let c = cstr(path).map_err(MknodError::Other)?;
    // SAFETY: c is a valid NUL-terminated path; mknod does not retain it.
    let rc = unsafe { libc::mknod(c.as_ptr(), mode, dev) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EPERM) {
            return Err(MknodError::NotPermitted(err));
        }
        return Err(MknodError::Other(bad(format!("mknod {}", path.display()), err)));
    }
    Ok(())
}

fn set_xattr(path: &Path, name: &str, value: &[u8]) -> Result<()> {
    let c = cstr(path)?;
    let n = CString::new(name).map_err(|e| EngineError::internal("xattr name", e))?;
    // SAFETY: valid C strings and a value slice with its length; the call does not retain pointers.
    let rc = unsafe { libc::lsetxattr(c.as_ptr(), n.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
    if rc != 0 {
        return Err(bad(
            format!("setting {name} on {}", path.display()),
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

fn cstr(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| EngineError::BadRequest(format!("path {} has a NUL byte", path.display())))
}

fn bad(what: impl std::fmt::Display, e: impl std::fmt::Display) -> EngineError {
    EngineError::BadRequest(format!("image layer: {what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_with(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        b.into_inner().unwrap()
    }

    fn file(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
        let mut h = crate::test_tar::file_header(data.len());
        // set_path refuses '..' itself, so write the name bytes directly to test our own checks
        let name = &mut h.as_old_mut().name;
        name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_cksum();
        b.append(&h, data).unwrap();
    }

    fn link(b: &mut tar::Builder<Vec<u8>>, kind: tar::EntryType, path: &str, target: &str) {
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_mode(0o777);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1);
        h.set_entry_type(kind);
        h.set_path(path).unwrap();
        let ln = &mut h.as_old_mut().linkname;
        ln[..target.len()].copy_from_slice(target.as_bytes());
        h.set_cksum();
        b.append(&h, &[][..]).unwrap();
    }

    #[test]
    fn unpacks_files_and_links() {
        let dir = tempfile::tempdir().unwrap();
        let data = tar_with(|b| {
            file(b, "./etc/passwd", b"root:x:0:0\n");
            link(b, tar::EntryType::Symlink, "bin/sh", "/bin/busybox");
            link(b, tar::EntryType::Link, "etc/passwd2", "etc/passwd");
        });
        unpack_layer(&data[..], dir.path()).unwrap();
        assert_eq!(std::fs::read(dir.path().join("etc/passwd2")).unwrap(), b"root:x:0:0\n");
        assert_eq!(
            std::fs::read_link(dir.path().join("bin/sh")).unwrap(),
            PathBuf::from("/bin/busybox")
        );
    }

    fn device(b: &mut tar::Builder<Vec<u8>>, kind: tar::EntryType, path: &str, major: u32, minor: u32) {
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_mode(0o666);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1);
        h.set_entry_type(kind);
        h.set_path(path).unwrap();
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        h.set_cksum();
        b.append(&h, &[][..]).unwrap();
    }

    /// Runs `f` on a thread whose effective capabilities lack CAP_MKNOD (capabilities are per thread).
    fn without_cap_mknod<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        #[repr(C)]
        struct Header {
            version: u32,
            pid: i32,
        }
        #[repr(C)]
        #[derive(Clone, Copy, Default)]
        struct Data {
            effective: u32,
            permitted: u32,
            inheritable: u32,
        }
        const VERSION_3: u32 = 0x2008_0522;
        const CAP_MKNOD: u32 = 27;
        std::thread::spawn(move || {
            let mut h = Header {
                version: VERSION_3,
                pid: 0,
            };
            let mut d = [Data::default(); 2];
            // SAFETY: header and two data structs as capget/capset (version 3) expect.
            unsafe {
                assert_eq!(
                    libc::syscall(libc::SYS_capget, &mut h as *mut Header, d.as_mut_ptr()),
                    0
                );
                d[0].effective &= !(1 << CAP_MKNOD);
                assert_eq!(libc::syscall(libc::SYS_capset, &mut h as *mut Header, d.as_ptr()), 0);
            }
            f()
        })
        .join()
        .unwrap()
    }

    fn device_layer() -> Vec<u8> {
        tar_with(|b| {
            file(b, "etc/hostname", b"x\n");
            device(b, tar::EntryType::Char, "dev/null", 1, 3);
            device(b, tar::EntryType::Block, "dev/sda", 8, 0);
            device(b, tar::EntryType::Fifo, "run/fifo", 0, 0);
        })
    }

    #[test]
    fn device_nodes_are_skipped_without_cap_mknod() {
        let parent = tempfile::tempdir().unwrap();
        let dst = parent.path().join("layer");
        std::fs::create_dir(&dst).unwrap();
        let (data, d) = (device_layer(), dst.clone());
        let r = without_cap_mknod(move || unpack_layer(&data[..], &d));
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(std::fs::read(dst.join("etc/hostname")).unwrap(), b"x\n");
        assert!(
            !dst.join("dev/null").exists() && !dst.join("dev/sda").exists(),
            "devices skipped"
        );
        use std::os::unix::fs::FileTypeExt;
        let fifo = std::fs::symlink_metadata(dst.join("run/fifo")).unwrap();
        assert!(fifo.file_type().is_fifo(), "a fifo needs no privilege");
        let outside: Vec<_> = std::fs::read_dir(parent.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(
            outside,
            vec![std::ffi::OsString::from("layer")],
            "nothing outside the layer dir"
        );
    }

    #[test]
    fn device_node_through_a_symlink_is_refused_without_cap_mknod() {
        let parent = tempfile::tempdir().unwrap();
        let dst = parent.path().join("layer");
        let victim = parent.path().join("victim");
        std::fs::create_dir_all(&victim).unwrap();
        std::fs::create_dir(&dst).unwrap();
        let data = tar_with(|b| {
            link(b, tar::EntryType::Symlink, "dev", victim.to_str().unwrap());
            device(b, tar::EntryType::Char, "dev/null", 1, 3);
        });
        let d = dst.clone();
        let r = without_cap_mknod(move || unpack_layer(&data[..], &d));
        assert!(
            matches!(r, Err(EngineError::BadRequest(ref m)) if m.contains("symbolic link")),
            "{r:?}"
        );
        assert_eq!(
            std::fs::read_dir(&victim).unwrap().count(),
            0,
            "nothing made through the link"
        );
    }

    #[test]
    fn device_nodes_are_made_inside_the_layer_with_cap_mknod() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("!!! SKIPPED (needs root): device_nodes_are_made_inside_the_layer_with_cap_mknod");
            assert!(
                std::env::var("BERTH_TEST_REQUIRE_ROOT").as_deref() != Ok("1"),
                "needs root"
            );
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        unpack_layer(&device_layer()[..], dir.path()).unwrap();
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let m = std::fs::symlink_metadata(dir.path().join("dev/null")).unwrap();
        assert!(m.file_type().is_char_device() && m.rdev() == libc::makedev(1, 3));
        let m = std::fs::symlink_metadata(dir.path().join("dev/sda")).unwrap();
        assert!(m.file_type().is_block_device() && m.rdev() == libc::makedev(8, 0));
    }

    #[test]
    fn refuses_escapes() {
        let cases: Vec<Vec<u8>> = vec![
            tar_with(|b| file(b, "../../etc/evil", b"x")),
            tar_with(|b| file(b, "/etc/evil", b"x")),
            tar_with(|b| {
                link(b, tar::EntryType::Symlink, "out", "/tmp");
                file(b, "out/evil", b"x");
            }),
            tar_with(|b| link(b, tar::EntryType::Link, "hl", "../../etc/passwd")),
            tar_with(|b| link(b, tar::EntryType::Link, "hl", "/etc/passwd")),
        ];
        for (i, data) in cases.iter().enumerate() {
            let parent = tempfile::tempdir().unwrap();
            let dst = parent.path().join("layer");
            std::fs::create_dir(&dst).unwrap();
            let r = unpack_layer(&data[..], &dst);
            assert!(matches!(r, Err(EngineError::BadRequest(_))), "case {i}: {r:?}");
            assert!(
                !parent.path().join("etc").exists() && !Path::new("/tmp/evil").exists(),
                "case {i} wrote outside"
            );
        }
    }
}
