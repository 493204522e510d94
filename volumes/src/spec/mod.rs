//! A container's mount requests: parsed from its config (Binds, Mounts, Tmpfs, Volumes, VolumesFrom)
//! into typed values, all checks that need no filesystem done here.

mod binds;
mod combine;
mod mounts;

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::name::VolumeName;
use crate::options::{Propagation, TmpfsOptions};

pub use binds::parse_bind;
pub use combine::{parse, MountInputs, VolumesFrom, VolumesFromSpec};
pub use mounts::{parse_mount, BindOptionsEntry, DriverConfigEntry, MountEntry, TmpfsOptionsEntry, VolumeOptionsEntry};

/// One mount a container asks for, typed; the engine stores these with the container
/// (anonymous volumes already have their generated names) and hands them to `VolumeStore::prepare`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountRequest {
    /// Where the request came from, for error messages (e.g. `HostConfig.Binds[1]`).
    pub field: String,
    /// Absolute, cleaned container path.
    pub destination: PathBuf,
    /// Read-only.
    pub read_only: bool,
    /// What is mounted.
    pub source: RequestSource,
    /// Docker's `Mode` string for inspect: the Binds options as given; `z` for a volume of the local driver
    /// given without options in `Binds` or `Mounts` (dockerd's relabel default); empty otherwise.
    pub mode: String,
    /// Left out of inspect's `Mounts`: dockerd lists no `HostConfig.Tmpfs` entry there.
    #[serde(default)]
    pub hidden: bool,
}

/// What a request mounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum RequestSource {
    /// A named or anonymous volume.
    Volume(VolumeRequest),
    /// A host path.
    Bind(BindRequest),
    /// A new tmpfs.
    Tmpfs(TmpfsOptions),
}

/// A volume mount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeRequest {
    /// The volume (generated for anonymous ones).
    pub name: VolumeName,
    /// Made for this container only (`rm -v` removes it).
    pub anonymous: bool,
    /// Skip copy-up of the image's files.
    pub no_copy: bool,
    /// Mount only this relative path of the volume.
    pub subpath: Option<PathBuf>,
    /// Labels for the volume if it gets created.
    pub labels: BTreeMap<String, String>,
    /// Local-driver options for the volume if it gets created.
    pub driver_opts: BTreeMap<String, String>,
}

/// A host-path mount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindRequest {
    /// Absolute host path.
    pub source: PathBuf,
    /// Create the source directory when missing (Binds always; Mounts with CreateMountpoint).
    pub create_host_path: bool,
    /// Propagation (default rprivate).
    pub propagation: Propagation,
    /// rbind rather than bind.
    pub recursive: bool,
}

/// dockerd's `Mode` of a local volume given in `Binds` or `Mounts` with options `opts`.
pub(crate) fn volume_mode(opts: &str) -> String {
    if opts.is_empty() { "z" } else { opts }.to_string()
}

impl MountRequest {
    /// The volume name, for volume mounts.
    pub fn volume(&self) -> Option<&VolumeName> {
        match &self.source {
            RequestSource::Volume(v) => Some(&v.name),
            _ => None,
        }
    }

    /// Whether this mounts an anonymous volume (removed with the container by `rm -v`).
    pub fn is_anonymous_volume(&self) -> bool {
        matches!(&self.source, RequestSource::Volume(v) if v.anonymous)
    }
}

/// Cleans an absolute container path lexically (`//`, `.`, `..`); refuses relative paths and `/`.
pub(crate) fn clean_destination(field: &str, raw: &str) -> Result<PathBuf> {
    if raw.is_empty() {
        return Err(Error::spec(
            field,
            "destination is empty (expected an absolute container path)",
        ));
    }
    if !raw.starts_with('/') {
        return Err(Error::spec(
            field,
            format!("destination {raw:?} is not an absolute path"),
        ));
    }
    let mut clean = PathBuf::from("/");
    for c in Path::new(raw).components() {
        match c {
            Component::Normal(part) => clean.push(part),
            Component::ParentDir => {
                clean.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    if clean == Path::new("/") {
        return Err(Error::spec(
            field,
            format!("destination {raw:?} is the container root; mount it somewhere below /"),
        ));
    }
    Ok(clean)
}

/// A Subpath must be relative and stay inside the volume lexically; symlinks are checked when resolved.
pub(crate) fn check_subpath(field: &str, volume: &VolumeName, raw: &str) -> Result<Option<PathBuf>> {
    if raw.is_empty() {
        return Ok(None);
    }
    let escapes = || Error::SubpathEscapes {
        field: field.to_string(),
        volume: volume.to_string(),
        subpath: raw.to_string(),
    };
    let path = Path::new(raw);
    if path.is_absolute() || path.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(escapes());
    }
    let clean: PathBuf = path
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    Ok((!clean.as_os_str().is_empty()).then_some(clean))
}

/// Parses a volume name given in a mount, with a hint about host paths.
pub(crate) fn volume_name(field: &str, raw: &str) -> Result<VolumeName> {
    VolumeName::new(raw).map_err(|e| Error::spec(field, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_cleaned() {
        assert_eq!(clean_destination("f", "/a//b/./c/").unwrap(), PathBuf::from("/a/b/c"));
        assert_eq!(clean_destination("f", "/a/../b").unwrap(), PathBuf::from("/b"));
        assert_eq!(clean_destination("f", "/../../x").unwrap(), PathBuf::from("/x"));
        for bad in ["", "rel", "/", "/a/..", "//"] {
            let err = clean_destination("HostConfig.Binds[0]", bad).unwrap_err().to_string();
            assert!(err.starts_with("HostConfig.Binds[0]: "), "{bad}: {err}");
        }
    }

    #[test]
    fn subpaths() {
        let v = VolumeName::new("vol").unwrap();
        assert_eq!(check_subpath("f", &v, "a/./b").unwrap(), Some(PathBuf::from("a/b")));
        assert_eq!(check_subpath("f", &v, "").unwrap(), None);
        for bad in ["../x", "a/../../x", "/etc", "a/.."] {
            let err = check_subpath("f", &v, bad).unwrap_err();
            assert!(matches!(err, Error::SubpathEscapes { .. }), "{bad}");
        }
    }
}
