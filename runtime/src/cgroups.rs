//! Cgroup naming (`/berth/<id>`), OOM detection and cleanup, on cgroup v1, v2 and hybrid hosts.

use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC};
use std::path::{Path, PathBuf};

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Which hierarchy holds the controllers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    /// Legacy or hybrid: controllers are v1 hierarchies under /sys/fs/cgroup/<controller>.
    V1,
    /// Unified: /sys/fs/cgroup is cgroup2.
    V2,
}

impl CgroupVersion {
    /// Detects the host's layout.
    pub fn detect() -> Self {
        match statfs(CGROUP_ROOT) {
            Ok(s) if s.filesystem_type() == CGROUP2_SUPER_MAGIC => Self::V2,
            _ => Self::V1,
        }
    }
}

/// The cgroups path in the OCI spec for a container: absolute, so it is the same under every hierarchy.
pub fn cgroup_path(id: &str) -> String {
    format!("/berth/{id}")
}

/// Every directory this container's cgroup has on the host (one per v1 hierarchy, or the v2 one).
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let rel = format!("berth/{id}");
    match CgroupVersion::detect() {
        CgroupVersion::V2 => vec![Path::new(CGROUP_ROOT).join(rel)],
        CgroupVersion::V1 => std::fs::read_dir(CGROUP_ROOT)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.path().join(&rel))
                    .filter(|p| p.is_dir())
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Pids still in the container's cgroups (any hierarchy).
pub fn pids(id: &str) -> Vec<i32> {
    let mut out: Vec<i32> = cgroup_dirs(id)
        .iter()
        .flat_map(|d| {
            std::fs::read_to_string(d.join("cgroup.procs"))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The number of OOM kills the kernel recorded in the container's memory cgroup.
pub fn oom_kills(id: &str) -> u64 {
    let file = match CgroupVersion::detect() {
        CgroupVersion::V2 => Path::new(CGROUP_ROOT).join(format!("berth/{id}/memory.events")),
        CgroupVersion::V1 => Path::new(CGROUP_ROOT).join(format!("memory/berth/{id}/memory.oom_control")),
    };
    let text = std::fs::read_to_string(file).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.strip_prefix("oom_kill "))
        .filter_map(|v| v.trim().parse().ok())
        .next()
        .unwrap_or(0)
}

/// Removes the container's cgroup dirs (they must be empty of processes), then the `berth` parents when empty.
pub fn remove(id: &str) -> std::io::Result<()> {
    let mut first_err = None;
    for dir in cgroup_dirs(id) {
        // A just-killed task may linger in cgroup.procs for a moment; retry briefly.
        let mut res = std::fs::remove_dir(&dir);
        for _ in 0..50 {
            if res.is_ok() || !dir.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
            res = std::fs::remove_dir(&dir);
        }
        if let Err(e) = res {
            if dir.exists() && first_err.is_none() {
                first_err = Some(std::io::Error::new(
                    e.kind(),
                    format!("removing cgroup {}: {e}", dir.display()),
                ));
            }
        }
    }
    first_err.map_or(Ok(()), Err)
}
