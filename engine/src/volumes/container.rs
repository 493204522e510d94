//! Hooks for the container service: a container's mounts from create to remove.
//!
//! - create: [`on_create`] parses Binds/Mounts/Tmpfs/Volumes/VolumesFrom (400 naming the field on bad
//!   input), creates missing and anonymous volumes, checks bind sources and subpaths, records which
//!   volumes the container uses; store the returned requests with the container.
//! - start: mount the rootfs first (copy-up reads it), then [`on_start`] gives the runtime's mounts;
//!   [`after_start`] once the runtime has made them.
//! - stop: [`on_stop`] unmounts local-driver volumes (tmpfs, o=bind) no running container needs.
//! - remove: [`on_remove`] forgets the container's use; with `v=1` its anonymous volumes go too.

use super::state::{engine_error, Volumes};
use crate::error::Result;
use bollard::models::{ContainerConfig, HostConfig, MountPoint};
use runtime::MountSpec;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use volumes::spec::{self, MountInputs, VolumesFrom, VolumesFromSpec};
use volumes::{MountKind, MountRequest, PreparedMount, RequestSource, Stage, VolumeName, LOCAL_DRIVER};

/// The runtime's view of prepared mounts: binds (volumes too) and tmpfs (destination, options).
pub type RuntimeMounts = (Vec<MountSpec>, Vec<(String, String)>);

/// What [`on_start`] gives the container service.
#[derive(Debug, Clone, Default)]
pub struct StartMounts {
    /// For `ContainerSpec.mounts`.
    pub binds: Vec<MountSpec>,
    /// For `ContainerSpec.tmpfs`.
    pub tmpfs: Vec<(String, String)>,
    /// Pinned Subpaths to release with [`after_start`].
    pub pins: Vec<PathBuf>,
}

/// Parses a `HostConfig.VolumesFrom` entry; the caller looks the container up and passes its
/// stored requests to [`on_create`].
pub fn parse_volumes_from(index: usize, raw: &str) -> Result<VolumesFromSpec> {
    VolumesFromSpec::parse(index, raw).map_err(engine_error)
}

/// Container create: typed, checked mount requests (anonymous volumes named and created).
#[tracing::instrument(skip_all, fields(container = %container_id), err(level = "debug"))]
pub fn on_create(
    vols: &Volumes,
    container_id: &str,
    config: &ContainerConfig,
    host: &HostConfig,
    image_volumes: &[String],
    volumes_from: Vec<(VolumesFromSpec, Vec<MountRequest>)>,
) -> Result<Vec<MountRequest>> {
    let inputs = inputs_of(config, host, image_volumes, volumes_from)?;
    let requests = spec::parse(&inputs).map_err(engine_error)?;
    let prepared = vols
        .store()
        .prepare(&requests, vols, Stage::Create)
        .map_err(engine_error)?;
    if let Err(e) = vols.record_use(container_id, &prepared.created, &prepared.volumes) {
        for v in &prepared.created {
            let _ = vols.store().remove(&v.name);
        }
        return Err(e);
    }
    Ok(requests)
}

fn inputs_of(
    config: &ContainerConfig,
    host: &HostConfig,
    image_volumes: &[String],
    volumes_from: Vec<(VolumesFromSpec, Vec<MountRequest>)>,
) -> Result<MountInputs> {
    let mut mounts = Vec::new();
    for (i, m) in host.mounts.iter().flatten().enumerate() {
        // bollard's Mount serialises to Docker's JSON, which MountEntry reads.
        let entry = serde_json::to_value(m)
            .and_then(serde_json::from_value)
            .map_err(|e| crate::error::EngineError::BadRequest(format!("HostConfig.Mounts[{i}]: {e}")))?;
        mounts.push(entry);
    }
    Ok(MountInputs {
        binds: host.binds.clone().unwrap_or_default(),
        mounts,
        tmpfs: host.tmpfs.clone().unwrap_or_default().into_iter().collect(),
        config_volumes: config.volumes.clone().unwrap_or_default(),
        image_volumes: image_volumes.to_vec(),
        volumes_from: volumes_from
            .into_iter()
            .map(|(spec, requests)| VolumesFrom { spec, requests })
            .collect(),
    })
}

/// Container start, with its rootfs mounted at `rootfs`: mounts local-driver volumes, copies the
/// image's files into empty volumes, pins Subpaths, and returns the mounts for
/// `ContainerSpec.mounts`/`.tmpfs` (parents before children). Call [`after_start`] with `pins` once
/// the runtime has started the container (or failed to).
#[tracing::instrument(skip_all, fields(mounts = requests.len()), err(level = "debug"))]
pub fn on_start(vols: &Volumes, requests: &[MountRequest], rootfs: &Path) -> Result<StartMounts> {
    let prepared = vols
        .store()
        .prepare(requests, vols, Stage::Start { rootfs })
        .map_err(engine_error)?;
    let (binds, tmpfs) = to_runtime(&prepared.mounts);
    Ok(StartMounts {
        binds,
        tmpfs,
        pins: prepared.pins,
    })
}

/// Drops the pinned Subpaths of a start: the container's own mounts hold them now.
pub fn after_start(vols: &Volumes, pins: &[PathBuf]) -> Result<()> {
    vols.store().unpin(pins).map_err(engine_error)
}

/// Maps prepared mounts to the runtime's types.
pub fn to_runtime(mounts: &[PreparedMount]) -> RuntimeMounts {
    let mut binds = Vec::new();
    let mut tmpfs = Vec::new();
    for m in mounts {
        let destination = m.destination.display().to_string();
        match m.kind {
            MountKind::Tmpfs => {
                let mut words: Vec<String> = m.tmpfs.iter().flat_map(|t| t.words.iter().cloned()).collect();
                if m.read_only && !words.iter().any(|w| w == "ro") {
                    words.push("ro".into());
                }
                tmpfs.push((destination, words.join(",")));
            }
            MountKind::Bind | MountKind::Volume => binds.push(MountSpec {
                source: m.source.clone(),
                destination,
                readonly: m.read_only,
                options: vec![m.propagation.as_str().to_owned()],
            }),
        }
    }
    (binds, tmpfs)
}

/// Container stop: unmounts the local-driver volumes of `requests` that no container in
/// `running_requests` (the other running containers' requests) still uses.
#[tracing::instrument(skip_all, err(level = "debug"))]
pub fn on_stop(vols: &Volumes, requests: &[MountRequest], running_requests: &[&[MountRequest]]) -> Result<()> {
    let still: HashSet<&VolumeName> = running_requests
        .iter()
        .flat_map(|r| r.iter())
        .filter_map(MountRequest::volume)
        .collect();
    for name in requests
        .iter()
        .filter_map(MountRequest::volume)
        .filter(|n| !still.contains(n))
    {
        vols.store().unmount(name).map_err(engine_error)?;
    }
    Ok(())
}

/// Container remove: forgets its use; with `remove_anonymous` (`docker rm -v`) deletes its anonymous
/// volumes that no other container uses. Named volumes always stay.
#[tracing::instrument(skip_all, fields(container = %container_id), err(level = "debug"))]
pub fn on_remove(vols: &Volumes, container_id: &str, requests: &[MountRequest], remove_anonymous: bool) -> Result<()> {
    vols.release(container_id)?;
    if !remove_anonymous {
        return Ok(());
    }
    let users = vols.users()?;
    for name in requests
        .iter()
        .filter(|r| r.is_anonymous_volume())
        .filter_map(MountRequest::volume)
    {
        if users.get(name).is_none_or(|u| u.is_empty()) {
            match vols.remove(name.as_str(), true) {
                Ok(()) => {}
                Err(e) => {
                    tracing::warn!(volume = %name, error = %e, "anonymous volume not removed")
                }
            }
        }
    }
    Ok(())
}

/// A container's mounts as `docker inspect` shows them (`Mounts`).
pub fn mount_points(vols: &Volumes, requests: &[MountRequest]) -> Vec<MountPoint> {
    let mut out: Vec<MountPoint> = requests
        .iter()
        .filter(|r| !r.hidden)
        .map(|r| {
            let (typ, name, source, driver, propagation) = match &r.source {
                RequestSource::Volume(v) => {
                    let data = vols.store().path(&v.name);
                    let src = v.subpath.as_ref().map_or(data.clone(), |s| data.join(s));
                    (
                        MountKind::Volume,
                        Some(v.name.to_string()),
                        src,
                        Some(LOCAL_DRIVER.to_owned()),
                        String::new(),
                    )
                }
                RequestSource::Bind(b) => (
                    MountKind::Bind,
                    None,
                    b.source.clone(),
                    None,
                    b.propagation.as_str().to_owned(),
                ),
                RequestSource::Tmpfs(_) => (MountKind::Tmpfs, None, PathBuf::new(), None, String::new()),
            };
            MountPoint {
                typ: Some(typ.as_str().to_owned()),
                name,
                source: Some(source.display().to_string()),
                destination: Some(r.destination.display().to_string()),
                driver,
                mode: Some(r.mode.clone()),
                rw: Some(!r.read_only),
                propagation: Some(propagation),
            }
        })
        .collect();
    out.sort_by(|a, b| a.destination.cmp(&b.destination));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_mapping() {
        let dir = tempfile::tempdir().unwrap();
        let reqs = spec::parse(&MountInputs {
            binds: vec![format!("{}:/srv:ro,rslave", dir.path().display())],
            tmpfs: vec![("/run".into(), "size=1m".into())],
            ..Default::default()
        })
        .unwrap();
        let store = volumes::VolumeStore::new(dir.path()).unwrap();
        let catalog = std::collections::BTreeMap::new();
        let p = store.prepare(&reqs, &catalog, Stage::Create).unwrap();
        let (binds, tmpfs) = to_runtime(&p.mounts);
        assert_eq!(binds.len(), 1);
        assert!(binds[0].readonly);
        assert_eq!(binds[0].options, ["rslave"]);
        assert_eq!(tmpfs, [("/run".to_owned(), "size=1m".to_owned())]);
    }

    #[test]
    fn bad_mounts_are_400_naming_the_field() {
        let host = HostConfig {
            binds: Some(vec!["../x:/data".into()]),
            ..Default::default()
        };
        let inputs = inputs_of(&ContainerConfig::default(), &host, &[], Vec::new()).unwrap();
        let e = engine_error(spec::parse(&inputs).unwrap_err());
        assert!(
            matches!(e, crate::error::EngineError::BadRequest(ref m) if m.starts_with("HostConfig.Binds[0]: ")),
            "{e}"
        );
    }
}
