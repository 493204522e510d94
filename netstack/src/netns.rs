//! Named network namespaces: an nsfs bind mount on a file `<dir>/<container id>`.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

use crate::error::{NetError, Result};
use crate::ids::ContainerId;

/// Directory of namespace files; one file per container, named by the container id.
#[derive(Clone, Debug)]
pub struct NetnsDir {
    dir: PathBuf,
}

impl NetnsDir {
    /// Uses (and creates) `dir`.
    pub fn new(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| NetError::io("create netns directory", dir, e))?;
        Ok(NetnsDir { dir: dir.to_path_buf() })
    }

    /// Path of a container's namespace file (whether or not it exists).
    pub fn path(&self, id: &ContainerId) -> PathBuf {
        self.dir.join(id.as_str())
    }

    /// Creates a fresh network namespace bound at `path(id)`. If one is already bound there it is kept.
    pub fn create(&self, id: &ContainerId) -> Result<PathBuf> {
        let path = self.path(id);
        if is_nsfs(&path) {
            return Ok(path);
        }
        File::create(&path).map_err(|e| NetError::io("create netns file", &path, e))?;
        let target = path.clone();
        // unshare changes only the calling thread's namespace: do it on a throwaway thread.
        let res = std::thread::spawn(move || -> Result<()> {
            unshare(CloneFlags::CLONE_NEWNET).map_err(|e| NetError::io("unshare netns for", &target, e.into()))?;
            ipv6_off_for_new_interfaces();
            for (key, value) in PRIVATE_NETNS_SYSCTLS {
                write_sysctl(key, value);
            }
            mount(
                Some("/proc/thread-self/ns/net"),
                &target,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| NetError::io("bind-mount netns on", &target, e.into()))
        })
        .join()
        .unwrap_or_else(|_| {
            Err(NetError::io(
                "create netns",
                &path,
                std::io::Error::other("thread panicked"),
            ))
        });
        if res.is_err() {
            let _ = std::fs::remove_file(&path);
        }
        res.map(|_| path)
    }

    /// Unmounts and deletes a namespace file; missing files are fine.
    pub fn remove(&self, id: &ContainerId) -> Result<()> {
        remove_path(&self.path(id))
    }

    /// Container ids that have a file here (names that are not ids are ignored).
    pub fn list(&self) -> Result<Vec<ContainerId>> {
        let entries = std::fs::read_dir(&self.dir).map_err(|e| NetError::io("read netns directory", &self.dir, e))?;
        Ok(entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
            .collect())
    }
}

/// Interfaces that come into the calling thread's (new) namespace start with IPv6 off, as Docker has them
/// since CVE-2024-32473: an interface on an IPv4-only network takes no link-local address and no address
/// from a router advertisement. `attach` switches IPv6 on for the interfaces of IPv6 networks. It also spares
/// each container's interface the kernel's duplicate-address and multicast-listener work. `lo` exists
/// already and keeps `::1`.
/// dockerd's defaults for every private network namespace (not `host`, not another container's): a process
/// without CAP_NET_BIND_SERVICE may bind any port, and any group may open ICMP echo sockets (`ping`). Written
/// here, where the namespace is born, rather than by each container's init (which would build a procfs
/// instance for it; `--network none` is a namespace made here too). A container's own `sysctls` are applied after
/// these and win.
pub const PRIVATE_NETNS_SYSCTLS: &[(&str, &str)] = &[
    ("net.ipv4.ip_unprivileged_port_start", "0"),
    ("net.ipv4.ping_group_range", "0 2147483647"),
];

/// Writes a sysctl of the calling thread's network namespace (a kernel without it keeps its default).
fn write_sysctl(key: &str, value: &str) {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    if let Err(e) = std::fs::write(&path, value) {
        tracing::debug!(%path, "cannot set: {e}");
    }
}

fn ipv6_off_for_new_interfaces() {
    crate::links::set_ipv6_conf("default", "disable_ipv6", "1");
}

/// Unmounts (lazily) and deletes a namespace file; missing files are fine.
pub fn remove_path(path: &Path) -> Result<()> {
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(NetError::io("unmount netns", path, e.into())),
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(NetError::io("remove netns file", path, e)),
    }
}

/// True when `path` is a bound network namespace.
pub fn is_nsfs(path: &Path) -> bool {
    const NSFS_MAGIC: i64 = 0x6e73_6673;
    nix::sys::statfs::statfs(path).is_ok_and(|s| s.filesystem_type().0 == NSFS_MAGIC)
}

/// Runs `f` on a new thread that has joined the namespace at `path`; other threads stay where they are.
pub fn run_in<T: Send + 'static>(path: &Path, f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    let file = File::open(path).map_err(|e| NetError::io("open netns", path, e))?;
    let p = path.to_path_buf();
    std::thread::spawn(move || -> Result<T> {
        setns(file.as_fd(), CloneFlags::CLONE_NEWNET).map_err(|e| NetError::io("join netns", &p, e.into()))?;
        Ok(f())
    })
    .join()
    .unwrap_or_else(|_| {
        Err(NetError::io(
            "run in netns",
            path,
            std::io::Error::other("thread panicked"),
        ))
    })
}

/// True when some process on the host is inside the namespace bound at `path` (a running container).
pub fn in_use(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(ns) = std::fs::metadata(path).map(|m| (m.dev(), m.ino())) else {
        return false;
    };
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .any(|e| std::fs::metadata(e.path().join("ns/net")).is_ok_and(|m| (m.dev(), m.ino()) == ns))
}
