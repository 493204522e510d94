//! Path resolution that cannot leave a directory: openat2(2) with RESOLVE_BENEATH or RESOLVE_IN_ROOT.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};

/// Why a path could not be resolved inside its root.
#[derive(Debug)]
pub enum ResolveError {
    /// The path leaves the root (`..`, an absolute path, or a symlink pointing out).
    Escapes,
    /// A component does not exist.
    Missing,
    /// Anything else (not a directory, permissions, old kernel).
    Other(Errno),
}

/// Resolves `rel` strictly beneath `root` (symlinks allowed only while they stay inside)
/// and returns its real absolute path.
pub fn beneath(root: &Path, rel: &Path) -> Result<PathBuf, ResolveError> {
    let flags = ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS;
    let fd = open(root, rel, flags)?;
    real_path(&fd)
}

/// Opens `rel` strictly beneath `root` as an O_PATH descriptor: what it names cannot change
/// afterwards, whatever happens to the path (see `VolumeStore::pin`).
pub fn open_beneath(root: &Path, rel: &Path) -> Result<OwnedFd, ResolveError> {
    open(
        root,
        rel,
        ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS,
    )
}

/// Resolves `rel` with `root` as `/` (a container's view of its rootfs: absolute symlinks stay inside)
/// and returns its real host path.
pub fn in_root(root: &Path, rel: &Path) -> Result<PathBuf, ResolveError> {
    let flags = ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS;
    let fd = open(root, rel, flags)?;
    real_path(&fd)
}

fn open(root: &Path, rel: &Path, resolve: ResolveFlag) -> Result<OwnedFd, ResolveError> {
    let root_fd = nix::fcntl::open(
        root,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(classify)?;
    // SAFETY: open returned a fresh descriptor we now own.
    let root_fd = unsafe { OwnedFd::from_raw_fd(root_fd) };
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let how = OpenHow::new().flags(OFlag::O_PATH | OFlag::O_CLOEXEC).resolve(resolve);
    let fd = openat2_retrying(raw(&root_fd), rel, how).map_err(classify)?;
    // SAFETY: openat2 returned a fresh descriptor we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Tries of an openat2 that the kernel answers EAGAIN.
const EAGAIN_TRIES: usize = 32;

/// openat2, again while it says EAGAIN: with RESOLVE_IN_ROOT or RESOLVE_BENEATH a `..` step is refused that
/// way whenever any mount or rename happened on the host during the lookup (the kernel cannot prove the step
/// stayed inside), and while containers start there is always one. openat2(2) asks the caller to retry.
fn openat2_retrying(dirfd: RawFd, rel: &Path, how: OpenHow) -> nix::Result<RawFd> {
    let mut last = Errno::EAGAIN;
    for _ in 0..EAGAIN_TRIES {
        match openat2(dirfd, rel, how) {
            Err(Errno::EAGAIN) => last = Errno::EAGAIN,
            other => return other,
        }
    }
    Err(last)
}

fn raw(fd: &OwnedFd) -> RawFd {
    use std::os::fd::AsRawFd;
    fd.as_raw_fd()
}

fn real_path(fd: &OwnedFd) -> Result<PathBuf, ResolveError> {
    std::fs::read_link(format!("/proc/self/fd/{}", raw(fd)))
        .map_err(|e| ResolveError::Other(Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))))
}

fn classify(e: Errno) -> ResolveError {
    match e {
        Errno::EXDEV | Errno::ELOOP => ResolveError::Escapes,
        Errno::ENOENT => ResolveError::Missing,
        other => ResolveError::Other(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beneath_refuses_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("vol");
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../..", root.join("a/up")).unwrap();
        std::os::unix::fs::symlink("b", root.join("a/inside")).unwrap();
        assert_eq!(beneath(&root, Path::new("a/b")).unwrap(), root.join("a/b"));
        assert_eq!(beneath(&root, Path::new("a/inside")).unwrap(), root.join("a/b"));
        assert!(matches!(beneath(&root, Path::new("abs")), Err(ResolveError::Escapes)));
        assert!(matches!(beneath(&root, Path::new("a/up")), Err(ResolveError::Escapes)));
        assert!(matches!(
            beneath(&root, Path::new("../vol")),
            Err(ResolveError::Escapes)
        ));
        assert!(matches!(beneath(&root, Path::new("nope")), Err(ResolveError::Missing)));
    }

    #[test]
    fn in_root_keeps_absolute_links_inside() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc/app")).unwrap();
        std::os::unix::fs::symlink("/etc/app", root.join("link")).unwrap();
        assert_eq!(in_root(root, Path::new("/link")).unwrap(), root.join("etc/app"));
        assert_eq!(
            in_root(root, Path::new("/../../etc/app")).unwrap(),
            root.join("etc/app")
        );
    }
}
