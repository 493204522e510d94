//! `HostConfig.Binds` strings: `src:dst[:opts]` or `dst` (anonymous volume).

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{clean_destination, volume_name, BindRequest, MountRequest, RequestSource, VolumeRequest};
use crate::error::{Error, Result};
use crate::name::VolumeName;
use crate::options::Propagation;

/// Options of a Binds string, each kind at most once.
#[derive(Default)]
struct BindMode {
    read_only: Option<bool>,
    relabel: Option<&'static str>,
    no_copy: bool,
    propagation: Option<Propagation>,
    consistency: bool,
}

/// Parses one `HostConfig.Binds` entry; `field` names it in errors (e.g. `HostConfig.Binds[1]`).
pub fn parse_bind(field: &str, raw: &str) -> Result<MountRequest> {
    let parts: Vec<&str> = raw.split(':').collect();
    let (src, dst, opts) = match parts.as_slice() {
        [""] => {
            return Err(Error::spec(
                field,
                "empty bind specification (expected src:dst[:options])",
            ))
        }
        [dst] => ("", *dst, ""),
        [first, second] if parse_mode(field, second).is_ok() && !second.starts_with('/') => {
            return Err(Error::spec(field, format!("{raw:?} has options but no source (expected src:dst:{second}, or {first} alone for an anonymous volume)")));
        }
        [src, dst] => (*src, *dst, ""),
        [src, dst, opts] => (*src, *dst, *opts),
        _ => {
            return Err(Error::spec(
                field,
                format!("{raw:?} has too many ':' (expected src:dst[:options])"),
            ))
        }
    };
    if parts.len() > 1 && src.is_empty() {
        return Err(Error::spec(
            field,
            format!("{raw:?} has an empty source (expected a volume name or an absolute host path)"),
        ));
    }
    let destination = clean_destination(field, dst)?;
    let mode = parse_mode(field, opts)?;
    let read_only = mode.read_only.unwrap_or(false);
    let source = if src.starts_with('/') {
        if mode.no_copy {
            return Err(Error::spec(field, "nocopy applies to volumes, not to host paths"));
        }
        RequestSource::Bind(BindRequest {
            source: PathBuf::from(src),
            create_host_path: true,
            propagation: mode.propagation.unwrap_or_default(),
            recursive: true,
        })
    } else {
        if mode.propagation.is_some() {
            return Err(Error::spec(field, "propagation applies to host paths, not to volumes"));
        }
        let (name, anonymous) = if src.is_empty() {
            (VolumeName::generate(), true)
        } else {
            (volume_name(field, src)?, false)
        };
        RequestSource::Volume(VolumeRequest {
            name,
            anonymous,
            no_copy: mode.no_copy,
            subpath: None,
            labels: BTreeMap::new(),
            driver_opts: BTreeMap::new(),
        })
    };
    let _ = (mode.relabel, mode.consistency);
    let mode = match source {
        RequestSource::Volume(_) => super::volume_mode(opts),
        _ => opts.to_string(),
    };
    Ok(MountRequest {
        field: field.to_string(),
        destination,
        read_only,
        source,
        mode,
        hidden: false,
    })
}

/// Parses the comma-separated options of a Binds string. SELinux relabel (z/Z) and the macOS
/// consistency words are accepted and have no effect here (no SELinux on berth's hosts).
fn parse_mode(field: &str, opts: &str) -> Result<BindMode> {
    let mut mode = BindMode::default();
    for word in opts.split(',').filter(|w| !w.is_empty()) {
        let twice = || {
            Error::spec(
                field,
                format!("option {word:?} conflicts with an earlier one in {opts:?}"),
            )
        };
        match word {
            "ro" | "rw" => {
                if mode.read_only.replace(word == "ro").is_some() {
                    return Err(twice());
                }
            }
            "z" | "Z" => {
                if mode.relabel.replace(if word == "z" { "z" } else { "Z" }).is_some() {
                    return Err(twice());
                }
            }
            "nocopy" => {
                if std::mem::replace(&mut mode.no_copy, true) {
                    return Err(twice());
                }
            }
            "consistent" | "cached" | "delegated" => {
                if std::mem::replace(&mut mode.consistency, true) {
                    return Err(twice());
                }
            }
            _ => match Propagation::parse(word) {
                Some(p) if mode.propagation.replace(p).is_none() => {}
                Some(_) => return Err(twice()),
                None => {
                    return Err(Error::spec(field, format!(
                        "unknown option {word:?} (expected ro, rw, z, Z, nocopy, or a propagation: private, rprivate, shared, rshared, slave, rslave)"
                    )))
                }
            },
        }
    }
    Ok(mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bind(raw: &str) -> MountRequest {
        parse_bind("HostConfig.Binds[0]", raw).unwrap_or_else(|e| panic!("{raw}: {e}"))
    }

    fn err(raw: &str) -> String {
        parse_bind("HostConfig.Binds[1]", raw).unwrap_err().to_string()
    }

    #[test]
    fn host_path() {
        let m = bind("/srv/data:/data:ro,rslave");
        assert_eq!(m.destination, PathBuf::from("/data"));
        assert!(m.read_only);
        assert_eq!(m.mode, "ro,rslave");
        let RequestSource::Bind(b) = m.source else { panic!() };
        assert_eq!(b.source, PathBuf::from("/srv/data"));
        assert_eq!(b.propagation, Propagation::Rslave);
        assert!(b.create_host_path && b.recursive);
    }

    #[test]
    fn named_volume() {
        let m = bind("pgdata:/var/lib/postgresql/data:nocopy,z");
        assert!(!m.read_only);
        let RequestSource::Volume(v) = m.source else { panic!() };
        assert_eq!(v.name.as_str(), "pgdata");
        assert!(v.no_copy && !v.anonymous);
    }

    #[test]
    fn anonymous_volume() {
        let m = bind("/cache");
        let RequestSource::Volume(v) = &m.source else { panic!() };
        assert!(v.anonymous && m.is_anonymous_volume());
        assert_eq!(v.name.as_str().len(), 64);
        assert_eq!(m.destination, PathBuf::from("/cache"));
    }

    #[test]
    fn bad_binds_name_the_field() {
        for (raw, expect) in [
            ("", "empty"),
            ("/data:rw", "no source"),
            ("a:b:c:d", "too many"),
            (":/data", "empty source"),
            ("../x:/data", "invalid volume name"),
            ("./rel:/data", "invalid volume name"),
            ("v:data", "not an absolute path"),
            ("v:/", "container root"),
            ("/h:/d:ro,rw", "conflicts"),
            ("/h:/d:bogus", "unknown option"),
            ("/h:/d:nocopy", "nocopy applies to volumes"),
            ("v:/d:shared", "propagation applies to host paths"),
        ] {
            let e = err(raw);
            assert!(e.starts_with("HostConfig.Binds[1]: "), "{raw}: {e}");
            assert!(e.contains(expect), "{raw}: {e}");
        }
    }
}
