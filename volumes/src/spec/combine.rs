//! All of a container's mount sources combined, with Docker's precedence:
//! VolumesFrom < Binds/Mounts/Tmpfs (duplicates among these refused) < anonymous volumes fill the gaps.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{clean_destination, parse_bind, parse_mount, MountEntry, MountRequest, RequestSource, VolumeRequest};
use crate::error::{Error, Result};
use crate::name::VolumeName;
use crate::options::TmpfsOptions;

/// A container's mount-related config, as the API gives it.
#[derive(Debug, Clone, Default)]
pub struct MountInputs {
    /// `HostConfig.Binds`.
    pub binds: Vec<String>,
    /// `HostConfig.Mounts`.
    pub mounts: Vec<MountEntry>,
    /// `HostConfig.Tmpfs` (destination → options).
    pub tmpfs: Vec<(String, String)>,
    /// `Config.Volumes` keys (`docker run -v /path` puts anonymous volumes here).
    pub config_volumes: Vec<String>,
    /// The image config's `Volumes` keys (Dockerfile `VOLUME`).
    pub image_volumes: Vec<String>,
    /// `HostConfig.VolumesFrom`, each resolved by the engine to the other container's requests.
    pub volumes_from: Vec<VolumesFrom>,
}

/// One `HostConfig.VolumesFrom` entry with the mounts of the container it names.
#[derive(Debug, Clone)]
pub struct VolumesFrom {
    /// The parsed entry.
    pub spec: VolumesFromSpec,
    /// The other container's stored mount requests.
    pub requests: Vec<MountRequest>,
}

/// A parsed `HostConfig.VolumesFrom` entry: `container[:ro|rw]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumesFromSpec {
    /// Where it came from (`HostConfig.VolumesFrom[i]`).
    pub field: String,
    /// Name or id of the other container.
    pub container: String,
    /// Override of read-only; `None` keeps each mount's own.
    pub read_only: Option<bool>,
}

impl VolumesFromSpec {
    /// Parses `HostConfig.VolumesFrom[index]`.
    pub fn parse(index: usize, raw: &str) -> Result<Self> {
        let field = format!("HostConfig.VolumesFrom[{index}]");
        let (container, read_only) = match raw.split_once(':') {
            None => (raw, None),
            Some((c, "ro")) => (c, Some(true)),
            Some((c, "rw")) => (c, Some(false)),
            Some((_, m)) => return Err(Error::spec(field, format!("mode {m:?} is not ro or rw"))),
        };
        if container.is_empty() {
            return Err(Error::spec(
                field,
                "missing container name (expected container[:ro|rw])",
            ));
        }
        Ok(VolumesFromSpec {
            field,
            container: container.to_string(),
            read_only,
        })
    }
}

/// Parses and combines everything; anonymous volumes get generated names. No filesystem access.
pub fn parse(inputs: &MountInputs) -> Result<Vec<MountRequest>> {
    let mut inherited: Vec<MountRequest> = Vec::new();
    for vf in &inputs.volumes_from {
        for req in vf
            .requests
            .iter()
            .filter(|r| !matches!(r.source, RequestSource::Tmpfs(_)))
        {
            let mut req = req.clone();
            req.field = vf.spec.field.clone();
            req.read_only = vf.spec.read_only.unwrap_or(req.read_only);
            // dockerd copies a mount point's type, source and flags to the inheriting container, not its mode.
            req.mode = String::new();
            inherited.retain(|r| r.destination != req.destination);
            inherited.push(req);
        }
    }
    let mut explicit: Vec<MountRequest> = Vec::new();
    let mut add = |req: MountRequest| -> Result<()> {
        if explicit.iter().any(|r| r.destination == req.destination) {
            return Err(Error::DuplicateMountPoint {
                field: req.field,
                destination: req.destination.display().to_string(),
            });
        }
        explicit.push(req);
        Ok(())
    };
    for (i, raw) in inputs.binds.iter().enumerate() {
        add(parse_bind(&format!("HostConfig.Binds[{i}]"), raw)?)?;
    }
    for (i, entry) in inputs.mounts.iter().enumerate() {
        add(parse_mount(i, entry)?)?;
    }
    for (dst, opts) in &inputs.tmpfs {
        add(tmpfs_entry(dst, opts)?)?;
    }
    inherited.retain(|r| explicit.iter().all(|e| e.destination != r.destination));
    let mut out = inherited;
    out.extend(explicit);
    let anon = inputs
        .config_volumes
        .iter()
        .map(|d| ("Config.Volumes", d))
        .chain(inputs.image_volumes.iter().map(|d| ("image config Volumes", d)));
    for (origin, dst) in anon {
        let field = format!("{origin}[{dst:?}]");
        let destination = clean_destination(&field, dst)?;
        if out.iter().all(|r| r.destination != destination) {
            out.push(anonymous(field, destination));
        }
    }
    Ok(out)
}

fn tmpfs_entry(dst: &str, opts: &str) -> Result<MountRequest> {
    let field = format!("HostConfig.Tmpfs[{dst:?}]");
    let destination = clean_destination(&field, dst)?;
    let opts = TmpfsOptions::parse(opts).map_err(|m| Error::spec(&field, m))?;
    let read_only = opts.has("ro");
    Ok(MountRequest {
        field,
        destination,
        read_only,
        source: RequestSource::Tmpfs(opts),
        mode: String::new(),
        hidden: true,
    })
}

fn anonymous(field: String, destination: PathBuf) -> MountRequest {
    let source = RequestSource::Volume(VolumeRequest {
        name: VolumeName::generate(),
        anonymous: true,
        no_copy: false,
        subpath: None,
        labels: BTreeMap::new(),
        driver_opts: BTreeMap::new(),
    });
    MountRequest {
        field,
        destination,
        read_only: false,
        source,
        mode: String::new(),
        hidden: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dests(reqs: &[MountRequest]) -> Vec<String> {
        reqs.iter().map(|r| r.destination.display().to_string()).collect()
    }

    #[test]
    fn precedence_and_anonymous_fill() {
        let other = parse(&MountInputs {
            binds: vec!["shared:/shared".into(), "/h:/data".into()],
            ..Default::default()
        })
        .unwrap();
        let inputs = MountInputs {
            binds: vec!["v1:/data".into()],
            mounts: vec![serde_json::from_str(r#"{"Type":"tmpfs","Target":"/run/x"}"#).unwrap()],
            tmpfs: vec![("/tmp".into(), "size=1m".into())],
            config_volumes: vec!["/cache".into(), "/data".into()],
            image_volumes: vec!["/var/lib/app".into(), "/cache/".into()],
            volumes_from: vec![VolumesFrom {
                spec: VolumesFromSpec::parse(0, "other:ro").unwrap(),
                requests: other,
            }],
        };
        let reqs = parse(&inputs).unwrap();
        assert_eq!(
            dests(&reqs),
            ["/shared", "/data", "/run/x", "/tmp", "/cache", "/var/lib/app"]
        );
        assert!(reqs[0].read_only && reqs[0].field == "HostConfig.VolumesFrom[0]");
        assert_eq!(reqs[1].volume().unwrap().as_str(), "v1");
        assert!(reqs[4].is_anonymous_volume() && reqs[5].is_anonymous_volume());
        assert_ne!(reqs[4].volume(), reqs[5].volume());
        // dockerd's inspect: a Binds volume without options has mode `z`; an inherited mount, an image's or
        // Config's anonymous volume none; a HostConfig.Tmpfs entry is no mount point, a Mounts tmpfs is.
        let modes: Vec<(&str, bool)> = reqs.iter().map(|r| (r.mode.as_str(), r.hidden)).collect();
        assert_eq!(
            modes,
            [
                ("", false),
                ("z", false),
                ("", false),
                ("", true),
                ("", false),
                ("", false)
            ]
        );
    }

    #[test]
    fn duplicates_are_refused() {
        let inputs = MountInputs {
            binds: vec!["v1:/data".into()],
            mounts: vec![serde_json::from_str(r#"{"Type":"volume","Source":"v2","Target":"/data/"}"#).unwrap()],
            ..Default::default()
        };
        let e = parse(&inputs).unwrap_err().to_string();
        assert_eq!(e, "HostConfig.Mounts[0]: duplicate mount point: /data");
    }

    #[test]
    fn bad_tmpfs_and_volumes_from() {
        let e = parse(&MountInputs {
            tmpfs: vec![("/t".into(), "size=big".into())],
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.to_string().starts_with("HostConfig.Tmpfs[\"/t\"]: "), "{e}");
        assert!(VolumesFromSpec::parse(3, "c:rx")
            .unwrap_err()
            .to_string()
            .starts_with("HostConfig.VolumesFrom[3]: "));
        assert!(VolumesFromSpec::parse(0, ":ro").is_err());
        assert_eq!(VolumesFromSpec::parse(0, "web").unwrap().read_only, None);
    }
}
