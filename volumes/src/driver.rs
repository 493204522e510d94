//! The `local` driver's options (`type`, `device`, `o`), as Docker's local driver reads them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::options::TmpfsOptions;

/// What a local volume's options ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalDriver {
    /// A plain directory under the state root (no options).
    Directory,
    /// A tmpfs mounted on the volume's `_data` at first use.
    Tmpfs(TmpfsOptions),
    /// An existing host directory bound on `_data` at first use (`o=bind`).
    Bind {
        /// Absolute host directory.
        device: PathBuf,
        /// `ro` in `o`.
        read_only: bool,
        /// `rbind` rather than `bind`.
        recursive: bool,
    },
}

const KEYS: &[&str] = &["type", "device", "o"];

impl LocalDriver {
    /// Reads driver options; refuses unknown keys and filesystem types berth does not mount.
    pub fn from_options(opts: &BTreeMap<String, String>) -> Result<Self> {
        if let Some(key) = opts.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(bad(
                key,
                "unknown option for the local driver (expected type, device or o)",
            ));
        }
        let get = |k: &str| opts.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        let (fstype, device, o) = (get("type"), get("device"), get("o").unwrap_or(""));
        let words: Vec<&str> = o.split(',').map(str::trim).filter(|w| !w.is_empty()).collect();
        if words.iter().any(|w| *w == "bind" || *w == "rbind") {
            return bind(fstype, device, &words);
        }
        match fstype {
            None if device.is_none() && words.is_empty() => Ok(LocalDriver::Directory),
            None => Err(bad("type", "missing: give type=tmpfs, or o=bind with device=<existing host directory>")),
            Some("tmpfs") => TmpfsOptions::parse(o).map(LocalDriver::Tmpfs).map_err(|m| bad("o", &m)),
            Some(other) => Err(bad(
                "type",
                &format!("{other:?} is not supported by berth's local driver (supported: type=tmpfs, or o=bind with device=<host directory>; nfs/cifs/block devices are not)"),
            )),
        }
    }

    /// Whether `_data` gets a mount before use.
    pub fn needs_mount(&self) -> bool {
        !matches!(self, LocalDriver::Directory)
    }
}

fn bind(fstype: Option<&str>, device: Option<&str>, words: &[&str]) -> Result<LocalDriver> {
    if let Some(t) = fstype.filter(|t| !matches!(*t, "none" | "bind")) {
        return Err(bad(
            "type",
            &format!("{t:?} cannot be combined with o=bind (use type=none or leave it out)"),
        ));
    }
    let Some(device) = device else {
        return Err(bad(
            "device",
            "missing: o=bind needs device=<absolute path of an existing host directory>",
        ));
    };
    let device = PathBuf::from(device);
    if !device.is_absolute() {
        return Err(bad("device", &format!("{} is not an absolute path", device.display())));
    }
    if !device.is_dir() {
        return Err(bad(
            "device",
            &format!("{} does not exist or is not a directory", device.display()),
        ));
    }
    let mut read_only = false;
    for w in words {
        match *w {
            "bind" | "rbind" => {}
            "ro" => read_only = true,
            "rw" => read_only = false,
            other => {
                return Err(bad(
                    "o",
                    &format!("{other:?} is not supported with o=bind (expected bind, rbind, ro or rw)"),
                ))
            }
        }
    }
    Ok(LocalDriver::Bind {
        device,
        read_only,
        recursive: words.contains(&"rbind"),
    })
}

fn bad(key: &str, message: &str) -> Error {
    Error::InvalidDriverOption {
        key: key.to_string(),
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn plain_directory() {
        assert_eq!(LocalDriver::from_options(&opts(&[])).unwrap(), LocalDriver::Directory);
    }

    #[test]
    fn tmpfs_with_size() {
        let d = LocalDriver::from_options(&opts(&[
            ("type", "tmpfs"),
            ("device", "tmpfs"),
            ("o", "size=1m,uid=1000"),
        ]))
        .unwrap();
        let LocalDriver::Tmpfs(o) = d else {
            panic!("not tmpfs: {d:?}")
        };
        assert_eq!(o.words, ["size=1m", "uid=1000"]);
    }

    #[test]
    fn bind_of_existing_dir() {
        let dir = tempfile::tempdir().unwrap();
        let dev = dir.path().to_str().unwrap();
        let d = LocalDriver::from_options(&opts(&[("type", "none"), ("device", dev), ("o", "bind,ro")])).unwrap();
        assert_eq!(
            d,
            LocalDriver::Bind {
                device: dir.path().into(),
                read_only: true,
                recursive: false
            }
        );
    }

    #[test]
    fn refusals_name_the_option() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("type", "nfs"), ("o", "addr=10.0.0.1"), ("device", ":/x")],
                "option type",
            ),
            (&[("o", "bind"), ("device", "/definitely/not/here")], "option device"),
            (&[("o", "bind")], "option device"),
            (&[("o", "bind"), ("device", "rel")], "absolute"),
            (&[("colour", "blue")], "option colour"),
            (&[("type", "tmpfs"), ("o", "size=huge")], "option o"),
            (&[("device", "/dev/sda1")], "option type"),
        ];
        for (pairs, expect) in cases {
            let err = LocalDriver::from_options(&opts(pairs)).unwrap_err().to_string();
            assert!(err.contains(expect), "{pairs:?}: {err}");
        }
    }
}
