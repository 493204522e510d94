//! The container rootfs: overlayfs of the image layers plus a per-container upper dir (kept across restarts
//! until the container is removed), and the container's own /etc/hosts, /etc/hostname, /etc/resolv.conf.

use super::{ContainerSpec, ResolvConf, Result, RuntimeError};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The paths of one container: its bundle (in the runtime's memory-backed run dir, gone at host restart) and its
/// data (on disk: the writable layer and the log, kept until the container is removed).
#[derive(Debug, Clone)]
pub struct BundlePaths {
    /// The bundle dir `<run dir>/<id>`.
    pub dir: PathBuf,
    /// The data dir `<runtime root>/<id>`.
    pub data: PathBuf,
    /// Overlay mount point (the OCI root).
    pub rootfs: PathBuf,
    /// Overlay upper dir (the container's changes).
    pub upper: PathBuf,
    /// Overlay work dir.
    pub work: PathBuf,
    /// Per-container files bind-mounted over /etc/{hosts,hostname,resolv.conf}.
    pub etc: PathBuf,
    /// The host-side /dev/shm tmpfs of a shareable IPC namespace (`ShmMode::Shareable`).
    pub shm: PathBuf,
}

impl BundlePaths {
    /// The layout of the bundle at `dir` with its data at `data`.
    pub fn new(dir: &Path, data: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            data: data.to_owned(),
            rootfs: dir.join("rootfs"),
            upper: data.join("upper"),
            work: data.join("work"),
            etc: dir.join("etc"),
            shm: shm_dir(dir),
        }
    }

    /// The runtime root, which holds the data dirs (and the init layers).
    pub fn runtime_root(&self) -> &Path {
        self.data.parent().unwrap_or(&self.data)
    }

    /// Creates the directories.
    pub fn create(&self) -> Result<()> {
        for d in [&self.dir, &self.data, &self.rootfs, &self.upper, &self.work, &self.etc] {
            std::fs::create_dir_all(d).map_err(|e| RuntimeError::io(format!("creating {}", d.display()), e))?;
        }
        Ok(())
    }
}

/// Where a bundle's shareable /dev/shm tmpfs is mounted on the host.
pub fn shm_dir(bundle: &Path) -> PathBuf {
    bundle.join("shm")
}

/// Mounts the overlay at `paths.rootfs` unless it is mounted already: the image's layers under the init layer
/// ([`crate::initlayer`]) under the container's upper dir.
pub fn mount_overlay(paths: &BundlePaths, lower_dirs: &[PathBuf]) -> Result<()> {
    if lower_dirs.is_empty() {
        return Err(RuntimeError::InvalidSpec("the image has no layers".into()));
    }
    if is_mounted(&paths.rootfs) {
        return Ok(());
    }
    for l in lower_dirs {
        let s = l.to_string_lossy();
        if s.contains(':') || s.contains(',') {
            return Err(RuntimeError::InvalidSpec(format!(
                "layer path {s:?} contains ':' or ','"
            )));
        }
        if !l.is_dir() {
            return Err(RuntimeError::InvalidSpec(format!("layer dir {s} does not exist")));
        }
    }
    clear_volatile_mark(paths)?;
    let init = crate::initlayer::ensure(paths.runtime_root(), lower_dirs)?;
    let lowers: Vec<PathBuf> = std::iter::once(init).chain(lower_dirs.iter().cloned()).collect();
    mount_overlayfs(&paths.rootfs, &lowers, &paths.upper, &paths.work)
        .map_err(|e| RuntimeError::io(format!("mounting overlay rootfs at {}", paths.rootfs.display()), e))
}

/// Mounts an overlay of `lowers` (top-most first) over `upper` (with `work`) at `target`, `volatile` where the
/// kernel knows it (it spares the unmount a sync of the whole upper filesystem, 100 ms and more per container
/// stop on a busy host; kernels before 5.10 refuse it with EINVAL).
///
/// The layers go in by descriptor (`/proc/self/fd/N`, about 17 bytes each), not by path: the options must fit
/// in one page, which 64-hex layer paths filled at about 40 layers (a Dockerfile's 44th RUN failed; dockerd
/// takes 125), and every container start reads them back from mountinfo, so shorter is cheaper too.
///
/// An image may hold the same layer twice (two identical `COPY`s, the empty layer some builders repeat); overlayfs
/// refuses a lower directory given twice (ELOOP). Only the top-most occurrence is kept: it covers everything the
/// lower one provided, and its whiteouts reach further down.
pub fn mount_overlayfs(target: &Path, lowers: &[PathBuf], upper: &Path, work: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut seen = std::collections::HashSet::new();
    let fds = lowers
        .iter()
        .filter(|l| seen.insert(l.as_path()))
        .map(|l| {
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
                .open(l)
                .map_err(|e| std::io::Error::new(e.kind(), format!("opening layer {}: {e}", l.display())))
        })
        .collect::<std::io::Result<Vec<std::fs::File>>>()?;
    let lower = fds
        .iter()
        .map(|f| format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(f)))
        .collect::<Vec<_>>()
        .join(":");
    let data = format!(
        "lowerdir={lower},upperdir={},workdir={}",
        upper.display(),
        work.display()
    );
    let mount_with = |opts: &str| mount(Some("overlay"), target, Some("overlay"), MsFlags::empty(), Some(opts));
    let res = match mount_with(&format!("{data},volatile")) {
        Err(nix::errno::Errno::EINVAL) => mount_with(&data),
        other => other,
    };
    drop(fds);
    res.map_err(std::io::Error::from)
}

/// overlayfs leaves `work/incompat/volatile` behind after a volatile mount and refuses the next mount while it is
/// there. Within the same boot the upper dir is intact (the page cache still holds whatever was not written back),
/// so the mark can go; a mark older than this boot means the host restarted while the container's layer was
/// mounted, and writes of its last seconds may be lost: say so.
fn clear_volatile_mark(paths: &BundlePaths) -> Result<()> {
    let mark = paths.work.join("work").join("incompat").join("volatile");
    let Ok(meta) = mark.symlink_metadata() else {
        return Ok(());
    };
    if meta.modified().ok().zip(boot_time()).is_some_and(|(m, b)| m < b) {
        tracing::warn!(
            bundle = %paths.data.display(),
            "the host restarted since this container last ran: its writable layer was not synced and may miss the \
             writes of its last seconds"
        );
    }
    std::fs::remove_dir_all(&mark).map_err(|e| RuntimeError::io(format!("removing {}", mark.display()), e))
}

/// When the host booted (`btime` of /proc/stat).
fn boot_time() -> Option<std::time::SystemTime> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let secs = stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

/// Mounts a fresh tmpfs for a shareable /dev/shm at `dir` (size in bytes), replacing a stale one.
pub fn mount_shm(dir: &Path, size: u64) -> Result<()> {
    unmount(dir)?;
    std::fs::create_dir_all(dir).map_err(|e| RuntimeError::io(format!("creating {}", dir.display()), e))?;
    let opts = format!("mode=1777,size={size}");
    mount(
        Some("shm"),
        dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some(opts.as_str()),
    )
    .map_err(|e| RuntimeError::errno(format!("mounting /dev/shm tmpfs at {}", dir.display()), e))
}

/// Unmounts the rootfs (every stacked mount); Ok when nothing is mounted.
pub fn unmount(rootfs: &Path) -> Result<()> {
    while is_mounted(rootfs) {
        umount2(rootfs, MntFlags::MNT_DETACH)
            .map_err(|e| RuntimeError::errno(format!("unmounting {}", rootfs.display()), e))?;
    }
    Ok(())
}

/// Whether `path` is a mount point in our mount namespace.
pub fn is_mounted(path: &Path) -> bool {
    // statx's mount-root attribute answers without reading mountinfo, whose text grows with every container's
    // overlay: a read per start and per removal made a stack's `up` and `down` cost N².
    mount_root_attr(path).unwrap_or_else(|| is_mounted_by_mountinfo(path))
}

/// `STATX_ATTR_MOUNT_ROOT` of `path`: None when the kernel does not report it or the path holds a NUL byte;
/// false when `path` does not exist; None also on other errors.
fn mount_root_attr(path: &Path) -> Option<bool> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statx fills the zeroed buffer it is given; `c` outlives the call.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statx(libc::AT_FDCWD, c.as_ptr(), libc::AT_SYMLINK_NOFOLLOW, 0, &mut stx) };
    if rc != 0 {
        // A path that is not there is not a mount point; other errors are left to mountinfo.
        return (std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOENT)).then_some(false);
    }
    let bit = libc::STATX_ATTR_MOUNT_ROOT as u64;
    (stx.stx_attributes_mask & bit != 0).then_some(stx.stx_attributes & bit != 0)
}

fn is_mounted_by_mountinfo(path: &Path) -> bool {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let want = path.to_string_lossy();
    text.lines()
        .any(|l| l.split(' ').nth(4).map(unescape).as_deref() == Some(&*want))
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// Writes hosts, hostname and resolv.conf into `paths.etc`.
pub fn write_etc_files(paths: &BundlePaths, spec: &ContainerSpec) -> Result<()> {
    let write = |name: &str, data: String| {
        let p = paths.etc.join(name);
        std::fs::write(&p, data).map_err(|e| RuntimeError::io(format!("writing {}", p.display()), e))
    };
    write("hostname", format!("{}\n", spec.hostname))?;
    write("hosts", hosts_file(spec))?;
    write("resolv.conf", resolv_conf(&spec.resolv_conf))
}

fn hosts_file(spec: &ContainerSpec) -> String {
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for (name, ip) in &spec.hosts {
        let _ = writeln!(s, "{ip}\t{name}");
    }
    s
}

/// The resolv.conf text: the given one, or the host's without loopback nameservers (which do not answer inside
/// the container's network namespace), falling back to public resolvers like Docker.
fn resolv_conf(rc: &ResolvConf) -> String {
    let mut s = String::new();
    if rc.nameservers.is_empty() && rc.search.is_empty() && rc.options.is_empty() {
        let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let mut servers = 0;
        for line in host.lines() {
            let t = line.trim();
            if let Some(ns) = t.strip_prefix("nameserver") {
                let ns = ns.trim();
                if ns.starts_with("127.") || ns == "::1" {
                    continue;
                }
                servers += 1;
            }
            if !t.is_empty() && !t.starts_with('#') {
                let _ = writeln!(s, "{t}");
            }
        }
        if servers == 0 {
            s.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
        }
        return s;
    }
    for ns in &rc.nameservers {
        let _ = writeln!(s, "nameserver {ns}");
    }
    if !rc.search.is_empty() {
        let _ = writeln!(s, "search {}", rc.search.join(" "));
    }
    if !rc.options.is_empty() {
        let _ = writeln!(s, "options {}", rc.options.join(" "));
    }
    s
}

#[cfg(test)]
mod mount_root_tests {
    use super::*;

    #[test]
    fn is_mounted_agrees_with_mountinfo() {
        let dir = tempfile::tempdir().unwrap();
        for p in [
            Path::new("/"),
            Path::new("/proc"),
            dir.path(),
            &dir.path().join("missing"),
        ] {
            assert_eq!(is_mounted(p), is_mounted_by_mountinfo(p), "{}", p.display());
        }
    }
}
