//! The output for the runtime: mounts ready to become OCI `mounts` entries.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::name::VolumeName;
use crate::options::{Propagation, TmpfsOptions};

/// What a container mount is, as Docker reports it (`Mounts[].Type` in inspect).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    /// A named or anonymous volume (bound from its `_data`).
    Volume,
    /// A host path.
    Bind,
    /// A fresh tmpfs.
    Tmpfs,
}

impl MountKind {
    /// Docker's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            MountKind::Volume => "volume",
            MountKind::Bind => "bind",
            MountKind::Tmpfs => "tmpfs",
        }
    }
}

/// A mount resolved on the host: absolute source, container destination, options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreparedMount {
    /// Docker's mount type.
    pub kind: MountKind,
    /// Host path bound into the container (empty for tmpfs).
    pub source: PathBuf,
    /// Absolute, cleaned path inside the container.
    pub destination: PathBuf,
    /// The volume behind a `Volume` mount.
    pub volume: Option<VolumeName>,
    /// Mounted read-only (a remount: writes fail with EROFS).
    pub read_only: bool,
    /// Propagation; `rprivate` unless asked.
    pub propagation: Propagation,
    /// `rbind` (default) rather than `bind`.
    pub recursive: bool,
    /// tmpfs options (size, mode, flags) for `Tmpfs` mounts.
    pub tmpfs: Option<TmpfsOptions>,
    /// Docker's `Mode` string for inspect (e.g. `z`, `ro`, `nocopy`).
    pub mode: String,
}

impl PreparedMount {
    /// OCI mount `type`.
    pub fn oci_type(&self) -> &'static str {
        match self.kind {
            MountKind::Tmpfs => "tmpfs",
            MountKind::Bind | MountKind::Volume => "bind",
        }
    }

    /// OCI mount `source`.
    pub fn oci_source(&self) -> PathBuf {
        match self.kind {
            MountKind::Tmpfs => PathBuf::from("tmpfs"),
            MountKind::Bind | MountKind::Volume => self.source.clone(),
        }
    }

    /// OCI mount `options`: bind/rbind, ro/rw, propagation; for tmpfs Docker's
    /// `noexec,nosuid,nodev` defaults followed by the user's words (which win).
    pub fn oci_options(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        match self.kind {
            MountKind::Tmpfs => {
                out.extend(["noexec", "nosuid", "nodev"].map(String::from));
                out.push(self.propagation.as_str().into());
                if self.read_only && !self.tmpfs.as_ref().is_some_and(|t| t.has("ro")) {
                    out.push("ro".into());
                }
                out.extend(self.tmpfs.iter().flat_map(|t| t.words.iter().cloned()));
            }
            MountKind::Bind | MountKind::Volume => {
                out.push(if self.recursive { "rbind" } else { "bind" }.into());
                out.push(if self.read_only { "ro" } else { "rw" }.into());
                out.push(self.propagation.as_str().into());
            }
        }
        out
    }

    /// Docker's `RW` field in inspect.
    pub fn rw(&self) -> bool {
        !self.read_only
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bind(read_only: bool) -> PreparedMount {
        PreparedMount {
            kind: MountKind::Bind,
            source: "/srv".into(),
            destination: "/data".into(),
            volume: None,
            read_only,
            propagation: Propagation::Rprivate,
            recursive: true,
            tmpfs: None,
            mode: String::new(),
        }
    }

    #[test]
    fn bind_options() {
        assert_eq!(bind(true).oci_options(), ["rbind", "ro", "rprivate"]);
        assert_eq!(bind(false).oci_options(), ["rbind", "rw", "rprivate"]);
        assert_eq!(bind(false).oci_type(), "bind");
    }

    #[test]
    fn tmpfs_options_follow_docker_defaults() {
        let mut m = bind(false);
        m.kind = MountKind::Tmpfs;
        m.tmpfs = Some(TmpfsOptions::parse("size=1m,exec").unwrap());
        assert_eq!(
            m.oci_options(),
            ["noexec", "nosuid", "nodev", "rprivate", "size=1m", "exec"]
        );
        assert_eq!(m.oci_source(), PathBuf::from("tmpfs"));
    }
}
