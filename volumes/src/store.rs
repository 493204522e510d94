//! The volume store: one directory per volume under `<state root>/volumes/<name>/_data`,
//! created and removed atomically (rename), plus the mounts of local-driver volumes.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use chrono::Utc;

use crate::driver::LocalDriver;
use crate::error::{Error, Result};
use crate::mountinfo;
use crate::mounting;
use crate::name::VolumeName;
use crate::options::Propagation;
use crate::volume::{Scope, Volume, LOCAL_DRIVER};

/// Prefix of half-made volume directories (renamed into place when complete).
const TMP_PREFIX: &str = ".tmp-";
/// Prefix of volume directories being deleted (renamed out of place first).
const TRASH_PREFIX: &str = ".trash-";
const DATA: &str = "_data";

/// Owns `<state root>/volumes`: the data directories and every mount on them.
#[derive(Debug, Clone)]
pub struct VolumeStore {
    dir: PathBuf,
}

/// What `prune` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Removed volumes.
    pub removed: Vec<VolumeName>,
    /// Bytes their data used.
    pub space_reclaimed: u64,
}

impl VolumeStore {
    /// Opens (creating if needed) the store under `<state_root>/volumes`.
    pub fn new(state_root: &Path) -> Result<Self> {
        let dir = state_root.join("volumes");
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o701)
            .create(&dir)
            .map_err(|e| Error::io("create directory", &dir, e))?;
        // Mount points are compared with /proc/self/mountinfo, which shows real paths: a symlink in
        // the state root must not hide a mount from the checks that guard deletions.
        let dir = fs::canonicalize(&dir).map_err(|e| Error::io("resolve", &dir, e))?;
        Ok(VolumeStore { dir })
    }

    /// Makes `<state root>/volumes` its own private mount (a self bind), so that volume mounts made
    /// below it never propagate to other mount namespaces on hosts whose `/` is shared (systemd).
    /// Idempotent; undo with [`VolumeStore::release_private`] when the engine stops.
    pub fn make_private(&self) -> Result<()> {
        if !mountinfo::is_mountpoint(&self.dir)? {
            mounting::bind(&self.dir, &self.dir, true, false, Propagation::Rprivate)?;
        }
        mounting::set_propagation(&self.dir, Propagation::Private)
    }

    /// Removes the self bind of [`VolumeStore::make_private`]; refused while a volume is mounted
    /// below it (detaching would take those mounts away from the host's view). The bind may as well
    /// stay for the life of the state root: `make_private` finds it again.
    pub fn release_private(&self) -> Result<()> {
        if let Some(m) = mountinfo::mounts_under(&self.dir)?.into_iter().find(|m| *m != self.dir) {
            return Err(Error::StillMounted {
                name: "(store)".into(),
                path: m,
            });
        }
        if mountinfo::is_mountpoint(&self.dir)? {
            mounting::unmount(&self.dir)?;
        }
        Ok(())
    }

    /// `<state root>/volumes`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Host path of a volume's data: `<state root>/volumes/<name>/_data`.
    pub fn path(&self, name: &VolumeName) -> PathBuf {
        self.dir.join(name.as_str()).join(DATA)
    }

    /// Whether the volume's directory exists.
    pub fn exists(&self, name: &VolumeName) -> bool {
        self.dir.join(name.as_str()).is_dir()
    }

    /// Creates a volume (a generated name when `name` is None). Options are checked before anything
    /// is made; the directory appears complete or not at all.
    #[tracing::instrument(skip(self, labels, options), fields(volume))]
    pub fn create(
        &self,
        name: Option<VolumeName>,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
    ) -> Result<Volume> {
        LocalDriver::from_options(&options)?;
        let name = name.unwrap_or_else(VolumeName::generate);
        tracing::Span::current().record("volume", name.as_str());
        let final_dir = self.dir.join(name.as_str());
        if final_dir.exists() {
            return Err(Error::AlreadyExists(name.to_string()));
        }
        let tmp = self.dir.join(format!("{TMP_PREFIX}{}", VolumeName::generate()));
        let made = fs::DirBuilder::new()
            .mode(0o701)
            .create(&tmp)
            .and_then(|()| fs::DirBuilder::new().mode(0o755).create(tmp.join(DATA)))
            .map_err(|e| Error::io("create directory", &tmp, e));
        if let Err(e) = made.and_then(|()| self.rename_into_place(&tmp, &final_dir, &name)) {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
        tracing::debug!("volume created");
        Ok(Volume {
            mountpoint: final_dir.join(DATA),
            name,
            driver: LOCAL_DRIVER.to_string(),
            labels,
            options,
            created_at: Utc::now(),
            scope: Scope::Local,
        })
    }

    fn rename_into_place(&self, tmp: &Path, final_dir: &Path, name: &VolumeName) -> Result<()> {
        // renameat2(RENAME_NOREPLACE): a volume made concurrently under the same name is never replaced.
        nix::fcntl::renameat2(None, tmp, None, final_dir, nix::fcntl::RenameFlags::RENAME_NOREPLACE).map_err(
            |e| match e {
                nix::errno::Errno::EEXIST => Error::AlreadyExists(name.to_string()),
                e => Error::errno("rename into place", final_dir, e),
            },
        )
    }

    /// Deletes a volume's directory (unmounting its local-driver mount first). Whether it is in
    /// use is the engine's question; this refuses only if something is still mounted inside it.
    #[tracing::instrument(skip(self), fields(volume = %name))]
    pub fn remove(&self, name: &VolumeName) -> Result<()> {
        let dir = self.dir.join(name.as_str());
        if !dir.is_dir() {
            return Err(Error::NotFound(name.to_string()));
        }
        // _data's own mount and any pin points left by an interrupted start.
        for m in mountinfo::mounts_under(&dir)? {
            mounting::unmount(&m)?;
        }
        if let Some(m) = mountinfo::mounts_under(&dir)?.into_iter().next() {
            return Err(Error::StillMounted {
                name: name.to_string(),
                path: m,
            });
        }
        let trash = self.dir.join(format!("{TRASH_PREFIX}{}", VolumeName::generate()));
        fs::rename(&dir, &trash).map_err(|e| Error::io("rename away", &dir, e))?;
        fs::remove_dir_all(&trash).map_err(|e| Error::io("delete", &trash, e))?;
        tracing::debug!("volume removed");
        Ok(())
    }

    /// Mounts a local-driver volume (tmpfs, bind) on its `_data`; nothing for plain volumes and
    /// nothing if already mounted. Returns whether it mounted now. Reference counting is the engine's.
    #[tracing::instrument(skip(self, volume), fields(volume = %volume.name))]
    pub fn mount(&self, volume: &Volume) -> Result<bool> {
        let driver = LocalDriver::from_options(&volume.options)?;
        let data = self.path(&volume.name);
        if !driver.needs_mount() || mountinfo::is_mountpoint(&data)? {
            return Ok(false);
        }
        match driver {
            LocalDriver::Directory => {}
            LocalDriver::Tmpfs(opts) => {
                mounting::tmpfs(&data, &opts, nix::mount::MsFlags::empty(), Propagation::Private)?
            }
            LocalDriver::Bind {
                device,
                read_only,
                recursive,
            } => mounting::bind(&device, &data, recursive, read_only, Propagation::Rprivate)?,
        }
        Ok(true)
    }

    /// Unmounts a volume's `_data` (and anything below it) if mounted.
    #[tracing::instrument(skip(self), fields(volume = %name))]
    pub fn unmount(&self, name: &VolumeName) -> Result<()> {
        for m in mountinfo::mounts_under(&self.path(name))? {
            mounting::unmount(&m)?;
        }
        Ok(())
    }

    /// Whether the volume's `_data` has a mount on it.
    pub fn is_mounted(&self, name: &VolumeName) -> Result<bool> {
        mountinfo::is_mountpoint(&self.path(name))
    }

    /// Volumes present on disk.
    pub fn list(&self) -> Result<Vec<VolumeName>> {
        let mut names: Vec<VolumeName> = self.entries()?.into_iter().filter_map(|(_, n)| n).collect();
        names.sort();
        Ok(names)
    }

    /// Bytes used by a volume's data (not crossing into other filesystems).
    pub fn usage(&self, name: &VolumeName) -> Result<u64> {
        let data = self.path(name);
        let meta = fs::symlink_metadata(&data).map_err(|e| Error::io("stat", &data, e))?;
        Ok(du(&data, meta.dev()))
    }

    /// Removes every volume on disk that is not in `keep` (the engine passes the volumes in use
    /// and those its filters spare).
    #[tracing::instrument(skip(self, keep))]
    pub fn prune(&self, keep: &HashSet<VolumeName>) -> Result<PruneReport> {
        let mut report = PruneReport::default();
        for name in self.list()?.into_iter().filter(|n| !keep.contains(n)) {
            let size = self.usage(&name).unwrap_or(0);
            self.remove(&name)?;
            report.space_reclaimed += size;
            report.removed.push(name);
        }
        Ok(report)
    }

    /// Directories that belong to no known volume: half-made or half-deleted ones from a crash,
    /// and volumes the engine has no record of.
    pub fn orphans(&self, known: &HashSet<VolumeName>) -> Result<Vec<PathBuf>> {
        Ok(self
            .entries()?
            .into_iter()
            .filter(|(_, name)| name.as_ref().is_none_or(|n| !known.contains(n)))
            .map(|(path, _)| path)
            .collect())
    }

    /// Deletes what `orphans` finds (unmounting first); returns what it removed.
    #[tracing::instrument(skip(self, known))]
    pub fn remove_orphans(&self, known: &HashSet<VolumeName>) -> Result<Vec<PathBuf>> {
        let orphans = self.orphans(known)?;
        for path in &orphans {
            for m in mountinfo::mounts_under(path)? {
                mounting::unmount(&m)?;
            }
            if let Some(m) = mountinfo::mounts_under(path)?.into_iter().next() {
                return Err(Error::StillMounted {
                    name: path.display().to_string(),
                    path: m,
                });
            }
            fs::remove_dir_all(path).map_err(|e| Error::io("delete", path, e))?;
            tracing::info!(path = %path.display(), "removed orphan volume directory");
        }
        Ok(orphans)
    }

    /// Unmounts local-driver volumes no container uses (after an engine crash the engine knows
    /// which are in use, not which are mounted). Returns the ones it unmounted.
    pub fn unmount_unused(&self, in_use: &HashSet<VolumeName>) -> Result<Vec<VolumeName>> {
        let mut done = Vec::new();
        for name in self.list()? {
            if !in_use.contains(&name) && self.is_mounted(&name)? {
                self.unmount(&name)?;
                done.push(name);
            }
        }
        Ok(done)
    }

    /// Entries of the store directory: (path, volume name if it is a volume directory).
    fn entries(&self) -> Result<Vec<(PathBuf, Option<VolumeName>)>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(|e| Error::io("read directory", &self.dir, e))? {
            let entry = entry.map_err(|e| Error::io("read directory", &self.dir, e))?;
            let name = entry.file_name().to_str().and_then(|s| VolumeName::new(s).ok());
            out.push((entry.path(), name));
        }
        Ok(out)
    }
}

/// Disk usage of a tree in bytes (allocated blocks), staying on device `dev`.
fn du(path: &Path, dev: u64) -> u64 {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return 0;
    };
    if meta.dev() != dev {
        return 0;
    }
    let mut total = meta.blocks() * 512;
    if meta.is_dir() {
        if let Ok(rd) = fs::read_dir(path) {
            total += rd.flatten().map(|e| du(&e.path(), dev)).sum::<u64>();
        }
    }
    total
}
