//! Turning a container's mount requests into prepared mounts: volumes created or mounted,
//! bind sources checked, subpaths resolved inside their volume, copy-up done.

use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use crate::copyup;
use crate::error::{Error, Result};
use crate::name::VolumeName;
use crate::options::Propagation;
use crate::prepared_mount::{MountKind, PreparedMount};
use crate::resolve::{self, ResolveError};
use crate::spec::{BindRequest, MountRequest, RequestSource, VolumeRequest};
use crate::store::VolumeStore;
use crate::volume::{Volume, VolumeCatalog, ANONYMOUS_LABEL};

/// When `prepare` runs.
#[derive(Debug, Clone, Copy)]
pub enum Stage<'a> {
    /// Container create: make volumes, check binds and subpaths; mount nothing.
    Create,
    /// Container start, with the container's rootfs mounted at `rootfs`: also mount local-driver
    /// volumes and copy the image's files into empty volumes.
    Start {
        /// The container's root filesystem on the host.
        rootfs: &'a Path,
    },
}

/// The result of `prepare`.
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    /// Mounts for the runtime, parents before children (sorted by destination depth).
    pub mounts: Vec<PreparedMount>,
    /// Volumes this call created: the engine records them.
    pub created: Vec<Volume>,
    /// Every volume the container uses (once each), for the engine's reference counts.
    pub volumes: Vec<VolumeName>,
    /// Pin points of Subpath mounts (Stage::Start): give them to `VolumeStore::unpin` once the
    /// runtime has mounted the container (or failed to).
    pub pins: Vec<PathBuf>,
}

/// What to undo if a later request fails, so nothing is left half-made.
#[derive(Default)]
struct Undo {
    created: Vec<VolumeName>,
    mounted: Vec<VolumeName>,
    host_dirs: Vec<PathBuf>,
    pins: Vec<PathBuf>,
}

impl VolumeStore {
    /// Prepares every request; on error, undoes what this call did and names the failing field.
    #[tracing::instrument(skip_all, fields(requests = requests.len()))]
    pub fn prepare(
        &self,
        requests: &[MountRequest],
        catalog: &dyn VolumeCatalog,
        stage: Stage<'_>,
    ) -> Result<Prepared> {
        let mut out = Prepared::default();
        let mut undo = Undo::default();
        for req in requests {
            if let Err(e) = self.prepare_one(req, catalog, stage, &mut out, &mut undo) {
                self.undo(undo);
                return Err(e);
            }
        }
        // Parents before children (a mount at /data must not hide one at /data/logs), as Docker sorts.
        out.mounts.sort_by_key(|m| m.destination.components().count());
        Ok(out)
    }

    fn prepare_one(
        &self,
        req: &MountRequest,
        catalog: &dyn VolumeCatalog,
        stage: Stage<'_>,
        out: &mut Prepared,
        undo: &mut Undo,
    ) -> Result<()> {
        let mount = match &req.source {
            RequestSource::Bind(b) => bind_mount(req, b, undo)?,
            RequestSource::Tmpfs(t) => PreparedMount {
                kind: MountKind::Tmpfs,
                source: PathBuf::new(),
                destination: req.destination.clone(),
                volume: None,
                read_only: req.read_only,
                propagation: Propagation::Rprivate,
                recursive: false,
                tmpfs: Some(t.clone()),
                mode: req.mode.clone(),
            },
            RequestSource::Volume(v) => self.volume_mount(req, v, catalog, stage, out, undo)?,
        };
        out.mounts.push(mount);
        Ok(())
    }

    fn volume_mount(
        &self,
        req: &MountRequest,
        v: &VolumeRequest,
        catalog: &dyn VolumeCatalog,
        stage: Stage<'_>,
        out: &mut Prepared,
        undo: &mut Undo,
    ) -> Result<PreparedMount> {
        let volume = self
            .find_or_create(v, catalog, out, undo)
            .map_err(|e| in_field(&req.field, e))?;
        let data = self.path(&v.name);
        let mounted = match stage {
            Stage::Create => !crate::driver::LocalDriver::from_options(&volume.options)?.needs_mount(),
            Stage::Start { .. } => {
                if self.mount(&volume)? {
                    undo.mounted.push(v.name.clone());
                }
                true
            }
        };
        let source = match (&v.subpath, stage) {
            (Some(sub), Stage::Start { .. }) => {
                let fd = subpath(req, &v.name, &data, sub)?;
                let pin = self.pin(&v.name, &fd)?;
                undo.pins.push(pin.clone());
                out.pins.push(pin.clone());
                pin
            }
            (Some(sub), Stage::Create) if mounted => {
                // Escapes are refused now; a missing subpath may still appear (copy-up, another
                // container) and is checked again at start.
                match subpath(req, &v.name, &data, sub) {
                    Ok(_) | Err(Error::SubpathMissing { .. }) => data.join(sub),
                    Err(e) => return Err(e),
                }
            }
            (Some(sub), Stage::Create) => data.join(sub),
            (None, _) => data.clone(),
        };
        if let (Stage::Start { rootfs }, false, None) = (stage, v.no_copy, &v.subpath) {
            copy_up_from_image(rootfs, &req.destination, &data)?;
        }
        if !out.volumes.contains(&v.name) {
            out.volumes.push(v.name.clone());
        }
        Ok(PreparedMount {
            kind: MountKind::Volume,
            source,
            destination: req.destination.clone(),
            volume: Some(v.name.clone()),
            read_only: req.read_only,
            propagation: Propagation::Rprivate,
            recursive: true,
            tmpfs: None,
            mode: req.mode.clone(),
        })
    }

    fn find_or_create(
        &self,
        v: &VolumeRequest,
        catalog: &dyn VolumeCatalog,
        out: &mut Prepared,
        undo: &mut Undo,
    ) -> Result<Volume> {
        if let Some(vol) = catalog
            .get(&v.name)
            .or_else(|| out.created.iter().find(|c| c.name == v.name).cloned())
        {
            if !self.exists(&v.name) {
                return Err(Error::NotFound(format!(
                    "{} (its directory {} is missing)",
                    v.name,
                    self.path(&v.name).display()
                )));
            }
            return Ok(vol);
        }
        let mut labels = v.labels.clone();
        if v.anonymous {
            labels.insert(ANONYMOUS_LABEL.to_string(), String::new());
        }
        let vol = self.create(Some(v.name.clone()), labels, v.driver_opts.clone())?;
        undo.created.push(v.name.clone());
        out.created.push(vol.clone());
        Ok(vol)
    }

    fn undo(&self, undo: Undo) {
        let _ = self.unpin(&undo.pins);
        for name in undo.mounted.iter().rev() {
            let _ = self.unmount(name);
        }
        for name in undo.created.iter().rev() {
            if let Err(e) = self.remove(name) {
                tracing::warn!(volume = %name, error = %e, "could not remove volume after a failed prepare");
            }
        }
        for dir in undo.host_dirs.iter().rev() {
            let _ = fs::remove_dir(dir);
        }
    }
}

fn bind_mount(req: &MountRequest, b: &BindRequest, undo: &mut Undo) -> Result<PreparedMount> {
    if !b.source.exists() {
        if !b.create_host_path {
            return Err(Error::BindSourceMissing {
                field: req.field.clone(),
                path: b.source.clone(),
            });
        }
        create_host_dirs(&b.source, undo).map_err(|e| in_field(&req.field, e))?;
    }
    Ok(PreparedMount {
        kind: MountKind::Bind,
        source: b.source.clone(),
        destination: req.destination.clone(),
        volume: None,
        read_only: req.read_only,
        propagation: b.propagation,
        recursive: b.recursive,
        tmpfs: None,
        mode: req.mode.clone(),
    })
}

/// mkdir -p, remembering each directory made so a failure can take them back.
fn create_host_dirs(path: &Path, undo: &mut Undo) -> Result<()> {
    let missing: Vec<&Path> = path.ancestors().take_while(|p| !p.exists()).collect();
    for dir in missing.into_iter().rev() {
        fs::create_dir(dir).map_err(|e| Error::io("create host directory", dir, e))?;
        undo.host_dirs.push(dir.to_path_buf());
    }
    Ok(())
}

fn subpath(req: &MountRequest, name: &VolumeName, data: &Path, sub: &Path) -> Result<OwnedFd> {
    let field = format!(
        "{}{}",
        req.field,
        if req.field.starts_with("HostConfig.Mounts[") {
            ".VolumeOptions.Subpath"
        } else {
            ""
        }
    );
    let subpath = sub.display().to_string();
    resolve::open_beneath(data, sub).map_err(|e| match e {
        ResolveError::Escapes => Error::SubpathEscapes {
            field,
            volume: name.to_string(),
            subpath,
        },
        ResolveError::Missing => Error::SubpathMissing {
            field,
            volume: name.to_string(),
            subpath,
        },
        ResolveError::Other(errno) => Error::errno("resolve subpath in", data, errno),
    })
}

/// Seeds an empty volume from the image's directory at the mount point, resolved as the
/// container would see it (absolute symlinks in the image stay inside the rootfs).
fn copy_up_from_image(rootfs: &Path, destination: &Path, data: &Path) -> Result<()> {
    let src = match resolve::in_root(rootfs, destination) {
        Ok(p) => p,
        Err(ResolveError::Missing) => return Ok(()),
        Err(ResolveError::Escapes) => return Ok(()),
        Err(ResolveError::Other(errno)) => {
            return Err(Error::errno(
                "resolve in rootfs",
                rootfs.join(destination.strip_prefix("/").unwrap_or(destination)),
                errno,
            ))
        }
    };
    if !src.is_dir() || !copyup::is_empty_dir(data)? {
        return Ok(());
    }
    tracing::debug!(from = %src.display(), to = %data.display(), "copy-up");
    copyup::copy_up(&src, data)
}

/// Prefixes a store error with the request's field when it does not name one already.
fn in_field(field: &str, e: Error) -> Error {
    match e {
        Error::InvalidName { .. }
        | Error::InvalidDriverOption { .. }
        | Error::AlreadyExists(_)
        | Error::NotFound(_) => Error::spec(field, e.to_string()),
        other => other,
    }
}
