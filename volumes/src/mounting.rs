//! mount(2) helpers: binds that are really read-only, private propagation, tmpfs, unmount.

use std::os::fd::AsRawFd;
use std::path::Path;

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::statvfs::{statvfs, FsFlags};

use crate::error::{Error, Result};
use crate::options::{Propagation, TmpfsOptions};
use crate::prepared_mount::{MountKind, PreparedMount};

const NONE: Option<&str> = None;

/// Binds `source` on `target`, then makes it read-only (remount, recursively when `recursive`)
/// and sets its propagation (berth's default `rprivate` keeps container mounts off the host).
pub fn bind(source: &Path, target: &Path, recursive: bool, read_only: bool, propagation: Propagation) -> Result<()> {
    let mut flags = MsFlags::MS_BIND;
    if recursive {
        flags |= MsFlags::MS_REC;
    }
    mount(Some(source), target, NONE, flags, NONE).map_err(|e| Error::errno("bind-mount onto", target, e))?;
    let rest = (|| {
        if read_only {
            make_read_only(target, recursive)?;
        }
        set_propagation(target, propagation)
    })();
    if rest.is_err() {
        let _ = umount2(target, MntFlags::MNT_DETACH);
    }
    rest
}

/// Mounts a tmpfs on `target`; `base` flags come first, option words may override them.
pub fn tmpfs(target: &Path, opts: &TmpfsOptions, base: MsFlags, propagation: Propagation) -> Result<()> {
    let (flags, data) = opts.to_mount(base);
    let data = (!data.is_empty()).then_some(data.as_str());
    mount(Some("tmpfs"), target, Some("tmpfs"), flags, data).map_err(|e| Error::errno("mount tmpfs on", target, e))?;
    set_propagation(target, propagation).inspect_err(|_| {
        let _ = umount2(target, MntFlags::MNT_DETACH);
    })
}

/// Sets the propagation of the mount at `target`.
pub fn set_propagation(target: &Path, propagation: Propagation) -> Result<()> {
    mount(NONE, target, NONE, propagation.flags(), NONE).map_err(|e| Error::errno("set propagation of", target, e))
}

/// Unmounts `target`; a busy mount is detached so nothing new can reach it. Not mounted is fine.
pub fn unmount(target: &Path) -> Result<()> {
    match umount2(target, MntFlags::empty()) {
        Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => Ok(()),
        Err(Errno::EBUSY) => umount2(target, MntFlags::MNT_DETACH).map_err(|e| Error::errno("detach", target, e)),
        Err(e) => Err(Error::errno("unmount", target, e)),
    }
}

/// Mounts a prepared mount on `target` in the current mount namespace (the runtime's OCI mounts do
/// the same inside the container; this is for callers that mount themselves, and for tests).
pub fn apply(m: &PreparedMount, target: &Path) -> Result<()> {
    match m.kind {
        MountKind::Tmpfs => {
            let opts = m.tmpfs.clone().unwrap_or_default();
            let mut base = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
            if m.read_only {
                base |= MsFlags::MS_RDONLY;
            }
            tmpfs(target, &opts, base, m.propagation)
        }
        MountKind::Bind | MountKind::Volume => bind(&m.source, target, m.recursive, m.read_only, m.propagation),
    }
}

/// Read-only for the whole tree when the kernel has mount_setattr(2), else for the top mount by remount.
fn make_read_only(target: &Path, recursive: bool) -> Result<()> {
    if recursive && setattr_read_only(target).is_ok() {
        return Ok(());
    }
    // A bind remount must repeat the flags the kernel locked on the source, or it is refused.
    let kept = statvfs(target).map_err(|e| Error::errno("statvfs", target, e))?.flags();
    let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
    for (fs, ms) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if kept.contains(fs) {
            flags |= ms;
        }
    }
    mount(NONE, target, NONE, flags, NONE).map_err(|e| Error::errno("remount read-only", target, e))
}

/// struct mount_attr of linux/mount.h.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

const MOUNT_ATTR_RDONLY: u64 = 1;

fn setattr_read_only(target: &Path) -> Result<()> {
    let dir = std::fs::File::open(target).map_err(|e| Error::io("open", target, e))?;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let empty = c"";
    // SAFETY: valid fd, NUL-terminated empty path with AT_EMPTY_PATH, attr points to a live struct of the given size.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            dir.as_raw_fd(),
            empty.as_ptr(),
            (libc::AT_EMPTY_PATH | libc::AT_RECURSIVE) as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(rc)
        .map(drop)
        .map_err(|e| Error::errno("mount_setattr read-only", target, e))
}
