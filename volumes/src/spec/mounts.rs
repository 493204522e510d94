//! `HostConfig.Mounts` entries (Docker's `Mount` object; bollard's `models::Mount` serialises to it).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{check_subpath, clean_destination, volume_name, BindRequest, MountRequest, RequestSource, VolumeRequest};
use crate::error::{Error, Result};
use crate::name::VolumeName;
use crate::options::{Propagation, TmpfsOptions};
use crate::volume::LOCAL_DRIVER;

/// One `HostConfig.Mounts` entry with Docker's JSON field names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountEntry {
    /// Container path.
    pub target: Option<String>,
    /// Volume name or host path.
    pub source: Option<String>,
    /// `volume`, `bind` or `tmpfs`.
    #[serde(rename = "Type")]
    pub kind: Option<String>,
    /// Read-only.
    pub read_only: Option<bool>,
    /// macOS consistency hint (no effect).
    pub consistency: Option<String>,
    /// Options of bind mounts.
    pub bind_options: Option<BindOptionsEntry>,
    /// Options of volume mounts.
    pub volume_options: Option<VolumeOptionsEntry>,
    /// Options of tmpfs mounts.
    pub tmpfs_options: Option<TmpfsOptionsEntry>,
}

/// `Mount.BindOptions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct BindOptionsEntry {
    /// Propagation mode.
    pub propagation: Option<String>,
    /// Plain bind instead of rbind.
    pub non_recursive: Option<bool>,
    /// Create the host path when missing.
    pub create_mountpoint: Option<bool>,
    /// Read-only only at the top mount (berth's ro is recursive when the kernel allows).
    pub read_only_non_recursive: Option<bool>,
    /// Read-only recursively (berth's default when the kernel allows).
    pub read_only_force_recursive: Option<bool>,
}

/// `Mount.VolumeOptions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeOptionsEntry {
    /// Skip copy-up.
    pub no_copy: Option<bool>,
    /// Labels for a volume created by this mount.
    pub labels: Option<BTreeMap<String, String>>,
    /// Driver and its options for a volume created by this mount.
    pub driver_config: Option<DriverConfigEntry>,
    /// Relative path inside the volume to mount.
    pub subpath: Option<String>,
}

/// `Mount.VolumeOptions.DriverConfig`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DriverConfigEntry {
    /// Driver name; only `local`.
    pub name: Option<String>,
    /// Driver options.
    pub options: Option<BTreeMap<String, String>>,
}

/// `Mount.TmpfsOptions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TmpfsOptionsEntry {
    /// Size limit in bytes.
    pub size_bytes: Option<i64>,
    /// Permission bits of the tmpfs root.
    pub mode: Option<i64>,
    /// Extra options as `[key]` or `[key, value]`.
    pub options: Option<Vec<Vec<String>>>,
}

/// Parses `HostConfig.Mounts[index]`.
pub fn parse_mount(index: usize, entry: &MountEntry) -> Result<MountRequest> {
    let at = |f: &str| format!("HostConfig.Mounts[{index}]{f}");
    let kind = entry.kind.as_deref().unwrap_or("");
    let destination = clean_destination(&at(".Target"), entry.target.as_deref().unwrap_or(""))?;
    let source = entry.source.as_deref().unwrap_or("");
    let read_only = entry.read_only.unwrap_or(false);
    let forbid = |present: bool, what: &str| -> Result<()> {
        match present {
            true => Err(Error::spec(
                at(&format!(".{what}")),
                format!("must not be given for a mount of type {kind}"),
            )),
            false => Ok(()),
        }
    };
    let source = match kind {
        "bind" => {
            forbid(entry.volume_options.is_some(), "VolumeOptions")?;
            forbid(entry.tmpfs_options.is_some(), "TmpfsOptions")?;
            RequestSource::Bind(bind(&at, source, entry.bind_options.as_ref())?)
        }
        "volume" => {
            forbid(entry.bind_options.is_some(), "BindOptions")?;
            forbid(entry.tmpfs_options.is_some(), "TmpfsOptions")?;
            RequestSource::Volume(volume(&at, source, entry.volume_options.as_ref())?)
        }
        "tmpfs" => {
            forbid(!source.is_empty(), "Source")?;
            forbid(entry.bind_options.is_some(), "BindOptions")?;
            forbid(entry.volume_options.is_some(), "VolumeOptions")?;
            RequestSource::Tmpfs(tmpfs(&at, entry.tmpfs_options.as_ref())?)
        }
        "" => return Err(Error::spec(at(".Type"), "missing (expected volume, bind or tmpfs)")),
        other => {
            return Err(Error::spec(
                at(".Type"),
                format!("{other:?} is not supported by berth (expected volume, bind or tmpfs)"),
            ))
        }
    };
    // dockerd keeps no options string for a Mounts entry: only a volume gets its relabel default.
    let mode = match source {
        RequestSource::Volume(_) => super::volume_mode(""),
        _ => String::new(),
    };
    Ok(MountRequest {
        field: at(""),
        destination,
        read_only,
        source,
        mode,
        hidden: false,
    })
}

fn bind(at: &dyn Fn(&str) -> String, source: &str, opts: Option<&BindOptionsEntry>) -> Result<BindRequest> {
    if !source.starts_with('/') {
        let msg = if source.is_empty() {
            "missing (expected an absolute host path)".to_string()
        } else {
            format!("{source:?} is not an absolute host path")
        };
        return Err(Error::spec(at(".Source"), msg));
    }
    let opts = opts.cloned().unwrap_or_default();
    let propagation = match opts.propagation.as_deref().unwrap_or("") {
        "" => Propagation::default(),
        p => Propagation::parse(p).ok_or_else(|| {
            Error::spec(
                at(".BindOptions.Propagation"),
                format!("{p:?} is not one of private, rprivate, shared, rshared, slave, rslave"),
            )
        })?,
    };
    Ok(BindRequest {
        source: PathBuf::from(source),
        create_host_path: opts.create_mountpoint.unwrap_or(false),
        propagation,
        recursive: !opts.non_recursive.unwrap_or(false),
    })
}

fn volume(at: &dyn Fn(&str) -> String, source: &str, opts: Option<&VolumeOptionsEntry>) -> Result<VolumeRequest> {
    let (name, anonymous) = match source {
        "" => (VolumeName::generate(), true),
        s => (volume_name(&at(".Source"), s)?, false),
    };
    let opts = opts.cloned().unwrap_or_default();
    let driver = opts.driver_config.clone().unwrap_or_default();
    if let Some(d) = driver.name.as_deref().filter(|d| !d.is_empty() && *d != LOCAL_DRIVER) {
        return Err(Error::spec(
            at(".VolumeOptions.DriverConfig.Name"),
            format!("volume driver {d:?} is not available (berth has the local driver only)"),
        ));
    }
    let driver_opts = driver.options.unwrap_or_default();
    crate::driver::LocalDriver::from_options(&driver_opts)
        .map_err(|e| Error::spec(at(".VolumeOptions.DriverConfig.Options"), e.to_string()))?;
    let subpath = check_subpath(
        &at(".VolumeOptions.Subpath"),
        &name,
        opts.subpath.as_deref().unwrap_or(""),
    )?;
    Ok(VolumeRequest {
        name,
        anonymous,
        no_copy: opts.no_copy.unwrap_or(false),
        subpath,
        labels: opts.labels.unwrap_or_default(),
        driver_opts,
    })
}

fn tmpfs(at: &dyn Fn(&str) -> String, opts: Option<&TmpfsOptionsEntry>) -> Result<TmpfsOptions> {
    let opts = opts.cloned().unwrap_or_default();
    let mut out = TmpfsOptions::default();
    let mut push = |field: &str, word: String| out.push(&word).map_err(|m| Error::spec(at(field), m));
    match opts.size_bytes {
        Some(n) if n < 0 => {
            return Err(Error::spec(
                at(".TmpfsOptions.SizeBytes"),
                format!("{n} is negative (expected bytes, 0 = no limit)"),
            ))
        }
        Some(n) if n > 0 => push(".TmpfsOptions.SizeBytes", format!("size={n}"))?,
        _ => {}
    }
    match opts.mode {
        Some(m) if !(0..=0o7777).contains(&m) => {
            return Err(Error::spec(
                at(".TmpfsOptions.Mode"),
                format!("{m:o} (octal) is not a permission mode (expected at most 7777)"),
            ))
        }
        Some(m) if m > 0 => push(".TmpfsOptions.Mode", format!("mode={m:o}"))?,
        _ => {}
    }
    for (i, kv) in opts.options.unwrap_or_default().iter().enumerate() {
        let field = format!(".TmpfsOptions.Options[{i}]");
        match kv.as_slice() {
            [k] => push(&field, k.clone())?,
            [k, v] => push(&field, format!("{k}={v}"))?,
            _ => return Err(Error::spec(at(&field), "expected [option] or [option, value]")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(json: &str) -> MountEntry {
        serde_json::from_str(json).unwrap()
    }

    fn ok(json: &str) -> MountRequest {
        parse_mount(0, &entry(json)).unwrap_or_else(|e| panic!("{json}: {e}"))
    }

    fn err(json: &str) -> String {
        parse_mount(2, &entry(json)).unwrap_err().to_string()
    }

    #[test]
    fn volume_with_options() {
        let m = ok(r#"{"Type":"volume","Source":"db","Target":"/data","ReadOnly":true,
            "VolumeOptions":{"NoCopy":true,"Subpath":"pg/13","Labels":{"a":"b"}}}"#);
        assert!(m.read_only);
        let RequestSource::Volume(v) = m.source else { panic!() };
        assert_eq!((v.name.as_str(), v.no_copy, v.anonymous), ("db", true, false));
        assert_eq!(v.subpath, Some(PathBuf::from("pg/13")));
        assert_eq!(v.labels.get("a").map(String::as_str), Some("b"));
    }

    #[test]
    fn anonymous_volume() {
        assert!(ok(r#"{"Type":"volume","Target":"/x"}"#).is_anonymous_volume());
    }

    #[test]
    fn bind_with_options() {
        let m = ok(r#"{"Type":"bind","Source":"/srv","Target":"/s",
            "BindOptions":{"Propagation":"rshared","CreateMountpoint":true,"NonRecursive":true}}"#);
        let RequestSource::Bind(b) = m.source else { panic!() };
        assert_eq!(b.propagation, Propagation::Rshared);
        assert!(b.create_host_path && !b.recursive);
        let m = ok(r#"{"Type":"bind","Source":"/srv","Target":"/s"}"#);
        let RequestSource::Bind(b) = m.source else { panic!() };
        assert!(!b.create_host_path && b.recursive);
        assert_eq!(b.propagation, Propagation::Rprivate);
    }

    #[test]
    fn tmpfs_size_and_mode() {
        let m = ok(
            r#"{"Type":"tmpfs","Target":"/t","TmpfsOptions":{"SizeBytes":1048576,"Mode":1023,"Options":[["exec"],["uid","1000"]]}}"#,
        );
        let RequestSource::Tmpfs(t) = m.source else { panic!() };
        assert_eq!(t.words, ["size=1048576", "mode=1777", "exec", "uid=1000"]);
    }

    #[test]
    fn bollard_mount_converts() {
        let json = r#"{"Target":"/d","Source":"v1","Type":"volume","VolumeOptions":{"NoCopy":false}}"#;
        let back = serde_json::to_string(&entry(json)).unwrap();
        assert_eq!(entry(&back), entry(json));
    }

    #[test]
    fn bad_entries_name_the_field() {
        for (json, expect) in [
            (
                r#"{"Type":"volume","Source":"vv"}"#,
                "HostConfig.Mounts[2].Target: destination is empty",
            ),
            (r#"{"Target":"/x"}"#, "HostConfig.Mounts[2].Type: missing"),
            (
                r#"{"Type":"npipe","Target":"/x"}"#,
                "HostConfig.Mounts[2].Type: \"npipe\"",
            ),
            (
                r#"{"Type":"bind","Target":"/x"}"#,
                "HostConfig.Mounts[2].Source: missing",
            ),
            (
                r#"{"Type":"bind","Source":"rel","Target":"/x"}"#,
                "not an absolute host path",
            ),
            (
                r#"{"Type":"bind","Source":"/h","Target":"/x","BindOptions":{"Propagation":"sideways"}}"#,
                ".BindOptions.Propagation",
            ),
            (
                r#"{"Type":"bind","Source":"/h","Target":"/x","VolumeOptions":{}}"#,
                ".VolumeOptions: must not be given",
            ),
            (
                r#"{"Type":"volume","Source":"../x","Target":"/x"}"#,
                "HostConfig.Mounts[2].Source: invalid volume name",
            ),
            (
                r#"{"Type":"volume","Source":"vv","Target":"/x","VolumeOptions":{"Subpath":"../../etc"}}"#,
                "escapes volume vv",
            ),
            (
                r#"{"Type":"volume","Source":"vv","Target":"/x","VolumeOptions":{"DriverConfig":{"Name":"nfs"}}}"#,
                "DriverConfig.Name",
            ),
            (
                r#"{"Type":"volume","Source":"vv","Target":"/x","VolumeOptions":{"DriverConfig":{"Options":{"type":"nfs"}}}}"#,
                "DriverConfig.Options",
            ),
            (
                r#"{"Type":"tmpfs","Source":"x","Target":"/x"}"#,
                ".Source: must not be given",
            ),
            (
                r#"{"Type":"tmpfs","Target":"/x","TmpfsOptions":{"SizeBytes":-1}}"#,
                ".TmpfsOptions.SizeBytes",
            ),
            (
                r#"{"Type":"tmpfs","Target":"/x","TmpfsOptions":{"Mode":99999}}"#,
                ".TmpfsOptions.Mode",
            ),
            (
                r#"{"Type":"tmpfs","Target":"/x","TmpfsOptions":{"Options":[["a","b","c"]]}}"#,
                ".TmpfsOptions.Options[0]",
            ),
        ] {
            let e = err(json);
            assert!(e.contains(expect), "{json}: {e}");
        }
    }
}
