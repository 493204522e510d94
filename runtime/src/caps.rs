//! Capability sets: Docker's default set, cap_add / cap_drop (with "ALL"), privileged.

use super::{Result, RuntimeError, Security};
use std::collections::BTreeSet;

/// Docker's default capabilities for a container.
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability Linux knows (up to 6.x).
pub const ALL_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// A capability name as the user wrote it ("net_admin", "CAP_NET_ADMIN", "ALL") in canonical form.
enum CapName {
    All,
    One(String),
}

fn parse(name: &str) -> Result<CapName> {
    let upper = name.trim().to_ascii_uppercase();
    if upper == "ALL" {
        return Ok(CapName::All);
    }
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    if ALL_CAPS.contains(&full.as_str()) {
        Ok(CapName::One(full))
    } else {
        Err(RuntimeError::InvalidSpec(format!(
            "unknown capability {name:?} in cap_add/cap_drop"
        )))
    }
}

/// The capability set a container gets (names like "CAP_KILL").
pub fn effective_caps(sec: &Security) -> Result<BTreeSet<String>> {
    let all = || ALL_CAPS.iter().map(|s| (*s).to_owned()).collect::<BTreeSet<_>>();
    if sec.privileged {
        return Ok(all());
    }
    let (mut add_all, mut drop_all) = (false, false);
    let (mut add, mut drop) = (BTreeSet::new(), BTreeSet::new());
    for n in &sec.cap_add {
        match parse(n)? {
            CapName::All => add_all = true,
            CapName::One(c) => {
                add.insert(c);
            }
        }
    }
    for n in &sec.cap_drop {
        match parse(n)? {
            CapName::All => drop_all = true,
            CapName::One(c) => {
                drop.insert(c);
            }
        }
    }
    let set = if add_all {
        all().difference(&drop).cloned().collect()
    } else if drop_all {
        add
    } else {
        let base: BTreeSet<String> = DEFAULT_CAPS.iter().map(|s| (*s).to_owned()).collect();
        base.difference(&drop).cloned().chain(add).collect()
    };
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sec(add: &[&str], drop: &[&str]) -> Security {
        Security {
            cap_add: add.iter().map(|s| s.to_string()).collect(),
            cap_drop: drop.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn add_drop_all() {
        let d = effective_caps(&sec(&[], &[])).unwrap();
        assert_eq!(d.len(), DEFAULT_CAPS.len());
        let s = effective_caps(&sec(&["net_admin"], &["CAP_KILL"])).unwrap();
        assert!(s.contains("CAP_NET_ADMIN") && !s.contains("CAP_KILL"));
        let s = effective_caps(&sec(&["CHOWN"], &["ALL"])).unwrap();
        assert_eq!(s.into_iter().collect::<Vec<_>>(), ["CAP_CHOWN"]);
        let s = effective_caps(&sec(&["ALL"], &["SYS_ADMIN"])).unwrap();
        assert_eq!(s.len(), ALL_CAPS.len() - 1);
        assert!(effective_caps(&sec(&["BOGUS"], &[])).is_err());
    }
}
