//! Devices given to a container (`--device`) and device cgroup rules (`--device-cgroup-rule`), in the shapes the
//! OCI spec wants: a node to create inside the container, and an allow/deny entry of the devices cgroup.

use super::{Result, RuntimeError};
use serde_json::{json, Value};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// Character or block device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DevKind {
    /// Character device (`c`).
    Char,
    /// Block device (`b`).
    Block,
}

impl DevKind {
    fn letter(self) -> &'static str {
        match self {
            DevKind::Char => "c",
            DevKind::Block => "b",
        }
    }
}

/// A device node made inside the container, with the cgroup access it is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceNode {
    /// Path inside the container.
    pub path: String,
    /// Character or block.
    pub kind: DevKind,
    /// Major number.
    pub major: i64,
    /// Minor number.
    pub minor: i64,
    /// Permission bits of the node (as on the host).
    pub file_mode: u32,
    /// Owner uid (as on the host).
    pub uid: u32,
    /// Owner gid (as on the host).
    pub gid: u32,
    /// Cgroup access: a subset of "rwm".
    pub access: String,
}

impl DeviceNode {
    /// Describes the host device `host` to appear at `container` (default: the same path) with `access`
    /// (default "rwm"). Errors name the device as dockerd does.
    pub fn from_host(host: &str, container: Option<&str>, access: Option<&str>) -> Result<Self> {
        let access = access.filter(|a| !a.is_empty()).unwrap_or("rwm");
        check_access(access)?;
        let gathering = |e: std::io::Error| {
            RuntimeError::InvalidSpec(format!(
                "error gathering device information while adding custom device {host:?}: {}",
                io_text(&e)
            ))
        };
        let meta = std::fs::metadata(Path::new(host)).map_err(gathering)?;
        let ft = meta.file_type();
        let kind = if ft.is_char_device() {
            DevKind::Char
        } else if ft.is_block_device() {
            DevKind::Block
        } else {
            return Err(RuntimeError::InvalidSpec(format!(
                "error gathering device information while adding custom device {host:?}: not a device node"
            )));
        };
        let rdev = meta.rdev();
        let path = container.filter(|c| !c.is_empty()).unwrap_or(host);
        if !path.starts_with('/') {
            return Err(RuntimeError::InvalidSpec(format!(
                "device {host:?}: the path in the container ({path:?}) must be absolute"
            )));
        }
        Ok(DeviceNode {
            path: path.to_owned(),
            kind,
            major: nix::sys::stat::major(rdev) as i64,
            minor: nix::sys::stat::minor(rdev) as i64,
            file_mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
            access: access.to_owned(),
        })
    }

    /// The OCI `linux.devices` entry.
    pub fn oci_node(&self) -> Value {
        json!({
            "path": self.path, "type": self.kind.letter(), "major": self.major, "minor": self.minor,
            "fileMode": self.file_mode, "uid": self.uid, "gid": self.gid,
        })
    }

    /// The devices-cgroup allow entry.
    pub fn oci_rule(&self) -> Value {
        json!({"allow": true, "type": self.kind.letter(), "major": self.major, "minor": self.minor, "access": self.access})
    }
}

/// A devices-cgroup allow rule in Docker's `--device-cgroup-rule` syntax: `c 1:3 rwm`, `b 7:* r`, `a *:* m`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRule {
    /// None = all device types (`a`).
    pub kind: Option<DevKind>,
    /// None = any major (`*`).
    pub major: Option<i64>,
    /// None = any minor (`*`).
    pub minor: Option<i64>,
    /// A subset of "rwm".
    pub access: String,
}

impl DeviceRule {
    /// Parses one rule; the error quotes it as dockerd does.
    pub fn parse(rule: &str) -> Result<Self> {
        let bad = || RuntimeError::InvalidSpec(format!("invalid device cgroup format '{rule}'"));
        let parts: Vec<&str> = rule.split_whitespace().collect();
        let [kind, numbers, access] = parts[..] else {
            return Err(bad());
        };
        let kind = match kind {
            "a" => None,
            "c" => Some(DevKind::Char),
            "b" => Some(DevKind::Block),
            _ => return Err(bad()),
        };
        let (major, minor) = numbers.split_once(':').ok_or_else(bad)?;
        let number = |n: &str| -> Result<Option<i64>> {
            match n {
                "*" => Ok(None),
                n => n.parse::<u32>().map(|v| Some(v as i64)).map_err(|_| bad()),
            }
        };
        check_access(access).map_err(|_| bad())?;
        Ok(DeviceRule {
            kind,
            major: number(major)?,
            minor: number(minor)?,
            access: access.to_owned(),
        })
    }

    /// The devices-cgroup allow entry.
    pub fn oci_rule(&self) -> Value {
        json!({
            "allow": true, "type": self.kind.map_or("a", DevKind::letter),
            "major": self.major, "minor": self.minor, "access": self.access,
        })
    }
}

/// Device access is a non-empty combination of r, w and m.
fn check_access(access: &str) -> Result<()> {
    let ok = !access.is_empty() && access.len() <= 3 && access.chars().all(|c| "rwm".contains(c));
    if ok {
        Ok(())
    } else {
        Err(RuntimeError::InvalidSpec(format!(
            "invalid device permissions {access:?}: expected a combination of r, w and m"
        )))
    }
}

/// "no such file or directory" rather than std's "No such file or directory (os error 2)", as Go prints it.
fn io_text(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => nix::errno::Errno::from_raw(code).desc().to_ascii_lowercase(),
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_like_docker() {
        let r = DeviceRule::parse("c 1:3 rwm").unwrap();
        assert_eq!(
            (r.kind, r.major, r.minor, r.access.as_str()),
            (Some(DevKind::Char), Some(1), Some(3), "rwm")
        );
        let r = DeviceRule::parse("a *:* m").unwrap();
        assert_eq!((r.kind, r.major, r.minor), (None, None, None));
        assert_eq!(r.oci_rule()["type"], "a");
        for bad in ["x y", "c 1:3", "c 1-3 rw", "z 1:3 rw", "c 1:3 rwx", "c a:3 r"] {
            assert!(DeviceRule::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn host_device_is_described() {
        let n = DeviceNode::from_host("/dev/null", Some("/dev/mynull"), Some("r")).unwrap();
        assert_eq!(
            (n.kind, n.major, n.minor, n.path.as_str()),
            (DevKind::Char, 1, 3, "/dev/mynull")
        );
        assert_eq!(n.oci_rule()["access"], "r");
        let e = DeviceNode::from_host("/dev/nonexist", None, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"/dev/nonexist\": no such file or directory"), "{e}");
        assert!(DeviceNode::from_host("/etc/hostname", None, None).is_err());
        assert!(DeviceNode::from_host("/dev/null", None, Some("x")).is_err());
    }
}
