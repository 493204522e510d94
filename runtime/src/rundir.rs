//! The run dir `<state root>/run`: the bundles of the containers (OCI config, monitor files, sockets, the
//! rootfs mount points, libcontainer's state) on a tmpfs of the engine's own.
//!
//! Why memory: every start writes a few dozen small files there and every removal deletes them. On ext4
//! without a journal each new inode is checked against every inode freed in the last minute of its group, so a
//! `down` followed by an `up` of a hundred services paid that scan thousands of times (8% of the CPU of
//! `up`). Nothing there needs to outlive a host restart; what does (the writable layer, the log) stays on disk
//! under `runtime/<id>`. The mount is named `berth-run` and lives as long as the containers' monitors: the
//! engine mounts it when it starts (finding the one a crashed engine left) and unmounts it as it stops, unless
//! containers still run.

use super::{Result, RuntimeError};
use nix::mount::MsFlags;
use std::path::Path;

/// The run dir's name under the state root.
pub const RUN_DIR: &str = "run";

/// The tmpfs's source name in mountinfo (how an operator tells it from other mounts).
pub const SOURCE: &str = "berth-run";

/// Mounts the tmpfs at `dir` unless one is there. A run dir that already holds bundles (an engine ran without
/// the tmpfs, e.g. where mounting failed) is left as it is: mounting over it would hide live containers.
pub fn mount(dir: &Path) -> Result<()> {
    if is_mounted(dir) {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| RuntimeError::io(format!("creating {}", dir.display()), e))?;
    if holds_bundles(dir) {
        tracing::warn!(dir = %dir.display(), "the run dir holds bundles: it stays on disk until they are gone");
        return Ok(());
    }
    nix::mount::mount(
        Some(SOURCE),
        dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=0711"),
    )
    .map_err(|e| RuntimeError::errno(format!("mounting the run dir tmpfs at {}", dir.display()), e))?;
    let lc = dir.join("libcontainer");
    std::fs::create_dir_all(&lc).map_err(|e| RuntimeError::io(format!("creating {}", lc.display()), e))
}

/// Unmounts the tmpfs at `dir` (what it held goes with it); Ok when none is mounted.
pub fn unmount(dir: &Path) -> Result<()> {
    super::rootfs::unmount(dir)
}

/// Whether a tmpfs is mounted at `dir`.
pub fn is_mounted(dir: &Path) -> bool {
    super::rootfs::is_mounted(dir)
        && nix::sys::statfs::statfs(dir).is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC)
}

/// Whether `dir` holds anything but an empty `libcontainer` directory.
fn holds_bundles(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let p = e.path();
        e.file_name() != "libcontainer" || std::fs::read_dir(&p).map_or(true, |mut d| d.next().is_some())
    })
}
