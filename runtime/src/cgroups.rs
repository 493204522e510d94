//! Cgroup naming (`/berth/<id>`), OOM detection and cleanup, on cgroup v1, v2 and hybrid hosts.

use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

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

/// File in the bundle recording the container's cgroup path (relative to each hierarchy's root).
pub const PATH_FILE: &str = "cgroup.path";

/// The cgroup path of a container relative to each hierarchy root: `<parent>/<id>`, `berth/<id>` by default.
pub fn rel_path(id: &str, parent: Option<&str>) -> String {
    match parent.map(|p| p.trim_matches('/')).filter(|p| !p.is_empty()) {
        Some(p) => format!("{p}/{id}"),
        None => format!("berth/{id}"),
    }
}

/// The cgroup path a bundle's container was started with (`berth/<id>` when none was recorded).
pub fn rel_of(bundle: &Path, id: &str) -> String {
    std::fs::read_to_string(bundle.join(PATH_FILE))
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| s.ends_with(id))
        .unwrap_or_else(|| rel_path(id, None))
}

/// Checks a cgroup parent (Docker's `--cgroup-parent`): relative path components, no `..`.
pub fn check_parent(parent: &str) -> Result<(), String> {
    let p = parent.trim_matches('/');
    let ok = !p.is_empty()
        && p.split('/')
            .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains(char::is_whitespace));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid cgroup parent {parent:?}: expected a cgroup path such as \"myapp\" or \"/myapp/web\""
        ))
    }
}

/// The cgroups path in the OCI spec: absolute, so it is the same under every hierarchy.
pub fn oci_path(rel: &str) -> String {
    format!("/{rel}")
}

/// Every directory this container's cgroup has on the host (one per v1 hierarchy, or the v2 one).
pub fn cgroup_dirs(rel: &str) -> Vec<PathBuf> {
    match CgroupVersion::detect() {
        CgroupVersion::V2 => vec![Path::new(CGROUP_ROOT).join(rel)],
        CgroupVersion::V1 => std::fs::read_dir(CGROUP_ROOT)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.path().join(rel))
                    .filter(|p| p.is_dir())
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Controllers libcontainer makes a cgroup in on v1 (so their directory exists when the container's mounts are
/// set up and can be bind-mounted read-only at /sys/fs/cgroup/<name>, as Docker shows them).
const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "devices",
    "hugetlb",
    "memory",
    "pids",
    "perf_event",
    "blkio",
    "net_prio",
    "net_cls",
    "freezer",
];

/// (host dir, name under /sys/fs/cgroup) of the container's own cgroup in each v1 hierarchy mounted here.
pub fn v1_views(rel: &str) -> Vec<(PathBuf, String)> {
    // The hierarchies are mounted at boot: read once per process, as mountinfo grows with every container.
    static HIERARCHIES: OnceLock<Vec<(PathBuf, String)>> = OnceLock::new();
    HIERARCHIES
        .get_or_init(|| {
            let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
            v1_views_in(&info, "")
        })
        .iter()
        .map(|(dir, name)| (dir.join(rel), name.clone()))
        .collect()
}

/// Every cgroup v1 mount point in mount order (libcgroups' list), read once per process; empty on v2. The
/// monitor seeds libcgroups with it so neither it nor the processes it forks read mountinfo for it.
pub fn v1_mount_points() -> Vec<PathBuf> {
    static POINTS: OnceLock<Vec<PathBuf>> = OnceLock::new();
    POINTS
        .get_or_init(|| match CgroupVersion::detect() {
            CgroupVersion::V1 => libcgroups::v1::util::list_subsystem_mount_points().unwrap_or_default(),
            CgroupVersion::V2 => Vec::new(),
        })
        .clone()
}

/// Where the hierarchy of `controllers` (as `/proc/<pid>/cgroup` names them; empty for the v2 one) is mounted.
pub(crate) fn hierarchy_dir(controllers: &str) -> Option<PathBuf> {
    if controllers.is_empty() {
        return Some(match CgroupVersion::detect() {
            CgroupVersion::V2 => PathBuf::from(CGROUP_ROOT),
            CgroupVersion::V1 => Path::new(CGROUP_ROOT).join("unified"),
        });
    }
    // Where hosts mount it (systemd, cgroupfs-mount), checked first: mountinfo, read otherwise, is long with
    // every container's mounts.
    let usual = Path::new(CGROUP_ROOT).join(controllers);
    if !controllers.contains('/') && !controllers.starts_with('.') && usual.is_dir() {
        return Some(usual);
    }
    let sorted = |list: &str| {
        let mut names: Vec<String> = list.split(',').map(str::to_owned).collect();
        names.sort_unstable();
        names
    };
    let wanted = sorted(controllers);
    v1_views("")
        .into_iter()
        .find(|(_, name)| sorted(name) == wanted)
        .map(|(dir, _)| dir)
}

/// Gives libcgroups the engine's [`v1_mount_points`] (none: it reads them itself), before a monitor or helper
/// builds a container: it and the processes libcontainer forks then never read mountinfo for them.
pub fn seed_v1_mount_points(points: &[PathBuf]) {
    if !points.is_empty() {
        libcgroups::v1::util::seed_subsystem_mount_points(points.to_vec());
    }
}

fn v1_views_in(mountinfo: &str, rel: &str) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    for line in mountinfo.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let mut post = post.split(' ');
        let (fstype, _src, opts) = (post.next(), post.next(), post.next().unwrap_or(""));
        let Some(mount_point) = pre.split(' ').nth(4) else {
            continue;
        };
        let Some(name) = mount_point.strip_prefix("/sys/fs/cgroup/") else {
            continue;
        };
        let ours = opts.split(',').any(|o| V1_CONTROLLERS.contains(&o));
        if fstype == Some("cgroup") && ours && !name.contains('/') {
            out.push((Path::new(mount_point).join(rel), name.to_owned()));
        }
    }
    out
}

/// Pids still in the container's cgroups (`rel` from [`rel_of`]) (any hierarchy).
pub fn pids(rel: &str) -> Vec<i32> {
    let mut out: Vec<i32> = cgroup_dirs(rel)
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
pub fn oom_kills(rel: &str) -> u64 {
    let file = match CgroupVersion::detect() {
        CgroupVersion::V2 => Path::new(CGROUP_ROOT).join(format!("{rel}/memory.events")),
        CgroupVersion::V1 => Path::new(CGROUP_ROOT).join(format!("memory/{rel}/memory.oom_control")),
    };
    let text = std::fs::read_to_string(file).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.strip_prefix("oom_kill "))
        .filter_map(|v| v.trim().parse().ok())
        .next()
        .unwrap_or(0)
}

/// Turns the v1 memory controller's OOM killer off for the container's cgroup (`disableOOMKiller` of the spec).
/// libcontainer 0.7 never writes it (its controller options always say "enabled"), so the monitor does, after
/// the cgroup exists and before the workload runs. v2 has no such switch (the engine refuses it there).
pub fn disable_oom_killer(rel: &str) -> std::io::Result<()> {
    if CgroupVersion::detect() != CgroupVersion::V1 {
        return Ok(());
    }
    std::fs::write(
        Path::new(CGROUP_ROOT).join(format!("memory/{rel}/memory.oom_control")),
        "1",
    )
}

/// Removes the container's cgroup dirs (they must be empty of processes), then the `berth` parents when empty.
pub fn remove(rel: &str) -> std::io::Result<()> {
    let mut first_err = None;
    for dir in cgroup_dirs(rel) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_with_and_without_parent() {
        let id = "a".repeat(64);
        assert_eq!(rel_path(&id, None), format!("berth/{id}"));
        assert_eq!(rel_path(&id, Some("/apps/web/")), format!("apps/web/{id}"));
        assert_eq!(oci_path(&rel_path(&id, Some("apps"))), format!("/apps/{id}"));
        assert!(check_parent("apps/web").is_ok());
        for bad in ["", "/", "../x", "a//b", "a b"] {
            assert!(check_parent(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn v1_views_skip_named_and_unified_hierarchies() {
        let info = "\
30 25 0:26 / /sys/fs/cgroup/cpu rw,relatime shared:9 - cgroup cgroup rw,cpu
31 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:10 - cgroup cgroup rw,cpu,cpuacct
32 25 0:28 / /sys/fs/cgroup/systemd rw,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
33 25 0:29 / /sys/fs/cgroup/unified rw,relatime shared:12 - cgroup2 cgroup2 rw
34 25 0:30 / /sys/fs/cgroup/memory rw,relatime shared:13 - cgroup cgroup rw,memory";
        let v = v1_views_in(info, "berth/x");
        let names: Vec<&str> = v.iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(names, ["cpu", "cpu,cpuacct", "memory"]);
        assert_eq!(v[2].0, Path::new("/sys/fs/cgroup/memory/berth/x"));
    }
}
