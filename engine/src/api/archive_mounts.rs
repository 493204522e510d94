//! A stopped container's volumes and binds for `docker cp`: dockerd copies through them (a file written to a
//! volume by a container that has exited is there; a file put into `/vol` before the first start lands in the
//! volume), so they are bind-mounted over the copy mount of the rootfs for the length of the request.

use super::archive::secure_join;
use super::AppState;
use crate::error::EngineError;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::path::{Path, PathBuf};

/// The binds made for one copy, undone (deepest first) when dropped.
#[derive(Debug, Default)]
pub struct CopyBinds {
    made: Vec<PathBuf>,
}

impl CopyBinds {
    /// Binds container `id`'s volume and bind sources at their destinations under `root` (resolved inside
    /// `root`, so a symlink in the image cannot send a bind outside it).
    pub fn mount(engine: &AppState, id: &str, root: &Path) -> Result<CopyBinds, EngineError> {
        let rec = engine.containers.resolve(id)?;
        let vols = engine.containers.volumes()?;
        let mut points: Vec<(PathBuf, String)> = crate::volumes::container::mount_points(&vols, &rec.mounts)
            .into_iter()
            .filter(|m| matches!(m.typ.as_deref(), Some("volume" | "bind")))
            .filter_map(|m| Some((PathBuf::from(m.source?), m.destination?)))
            .filter(|(src, _)| src.exists())
            .collect();
        // Parents before children, so a nested bind lands on top of its parent's.
        points.sort_by_key(|(_, dest)| dest.matches('/').count());
        let mut binds = CopyBinds::default();
        for (src, dest) in points {
            let target = secure_join(root, &dest, true)?;
            make_mount_point(&src, &target)?;
            mount(
                Some(&src),
                &target,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(|e| EngineError::internal(format!("binding {} for the copy", dest), e))?;
            binds.made.push(target);
        }
        Ok(binds)
    }
}

fn make_mount_point(src: &Path, target: &Path) -> Result<(), EngineError> {
    let made = if src.is_dir() {
        std::fs::create_dir_all(target)
    } else if target.exists() {
        Ok(())
    } else {
        target
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|_| std::fs::File::create(target).map(drop))
    };
    made.map_err(|e| EngineError::internal(format!("making the mount point {}", target.display()), e))
}

impl Drop for CopyBinds {
    fn drop(&mut self) {
        for target in self.made.iter().rev() {
            if let Err(e) = umount2(target, MntFlags::MNT_DETACH) {
                tracing::warn!(target = %target.display(), "unmounting a copy bind: {e}");
            }
        }
    }
}
