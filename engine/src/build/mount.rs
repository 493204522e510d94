//! Step mounts: an overlay of an image's layers over a fresh upper dir, for steps the engine does itself (COPY,
//! ADD, WORKDIR) and for reading another stage's files. All live under `<root>/build/mounts/`, so an engine that
//! crashed mid-build unmounts and removes them at its next start ([`recover`]).

use crate::error::{EngineError, IoContext, Result};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::path::{Path, PathBuf};

/// A mounted step rootfs; unmounted and removed when dropped.
#[derive(Debug)]
pub struct StepMount {
    dir: PathBuf,
    /// The merged view.
    pub rootfs: PathBuf,
    /// The changes.
    pub upper: PathBuf,
    /// The layers below, top-most first.
    pub lowers: Vec<PathBuf>,
}

/// `<root>/build/mounts`.
pub fn mounts_dir(root: &Path) -> PathBuf {
    root.join("build").join("mounts")
}

impl StepMount {
    /// Mounts `lowers` (top-most first; empty = an empty root) under `root`'s build mounts.
    pub fn new(root: &Path, lowers: Vec<PathBuf>) -> Result<Self> {
        let base = mounts_dir(root);
        let dir = base.join(format!("{:016x}", rand::random::<u64>()));
        let (rootfs, upper, work, empty) = (
            dir.join("rootfs"),
            dir.join("upper"),
            dir.join("work"),
            dir.join("empty"),
        );
        for d in [&rootfs, &upper, &work, &empty] {
            std::fs::create_dir_all(d).ctx(|| format!("creating {}", d.display()))?;
        }
        let me = StepMount {
            dir,
            rootfs,
            upper,
            lowers,
        };
        let lowers = match me.lowers.is_empty() {
            true => vec![empty],
            false => me.lowers.clone(),
        };
        let res = runtime::rootfs::mount_overlayfs(&me.rootfs, &lowers, &me.upper, &work);
        res.map_err(|e| EngineError::internal(format!("mounting a build rootfs at {}", me.rootfs.display()), e))?;
        Ok(me)
    }

    /// Unmounts (the upper dir stays readable until drop).
    pub fn unmount(&self) -> Result<()> {
        umount2(&self.rootfs, MntFlags::empty())
            .or_else(|_| umount2(&self.rootfs, MntFlags::MNT_DETACH))
            .map_err(|e| EngineError::internal(format!("unmounting {}", self.rootfs.display()), e))
    }
}

impl Drop for StepMount {
    fn drop(&mut self) {
        let _ = umount2(&self.rootfs, MntFlags::MNT_DETACH);
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            tracing::warn!(dir = %self.dir.display(), "removing a build mount: {e}");
        }
    }
}

/// A tmpfs holding a RUN's secret files, as BuildKit keeps them: in memory only, for the RUN only. Under the
/// build mounts, so that [`recover`] finds it; unmounted and removed when dropped.
#[derive(Debug)]
pub struct SecretDir {
    dir: PathBuf,
    n: usize,
}

impl SecretDir {
    /// Mounts a root-only tmpfs of at most `size` bytes.
    pub fn new(root: &Path, size: usize) -> Result<Self> {
        use std::os::unix::fs::DirBuilderExt;
        let dir = mounts_dir(root).join(format!("{:016x}-secrets", rand::random::<u64>()));
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .ctx(|| format!("creating {}", dir.display()))?;
        let data = format!("mode=0700,size={}", size.max(4096));
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        if let Err(e) = mount(Some("tmpfs"), &dir, Some("tmpfs"), flags, Some(data.as_str())) {
            let _ = std::fs::remove_dir(&dir);
            return Err(EngineError::internal(
                format!("mounting a tmpfs for secrets at {}", dir.display()),
                e,
            ));
        }
        Ok(SecretDir { dir, n: 0 })
    }

    /// Writes a secret file with `(uid, gid, mode)`; returns its host path.
    pub fn add(&mut self, data: &[u8], (uid, gid, mode): (u32, u32, u32)) -> std::io::Result<PathBuf> {
        use std::io::Write;
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let path = self.dir.join(self.n.to_string());
        self.n += 1;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        f.write_all(data)?;
        std::os::unix::fs::chown(&path, Some(uid), Some(gid))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
        Ok(path)
    }
}

impl Drop for SecretDir {
    fn drop(&mut self) {
        let _ = umount2(&self.dir, MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Unmounts and removes what a crashed build left under `root`.
pub fn recover(root: &Path) {
    let base = mounts_dir(root);
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let prefix = format!("{}/", base.display());
    for line in text.lines() {
        if let Some(mp) = line.split(' ').nth(4) {
            if mp.starts_with(&prefix) {
                let _ = umount2(mp, MntFlags::MNT_DETACH);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&base);
    let _ = std::fs::remove_dir_all(root.join("build").join("tmp"));
}
