//! Network drivers: a bridge of berth's own, or sub-interfaces of a host interface (macvlan, ipvlan)
//! that put containers straight on the parent's segment, as Docker's drivers of those names do.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// How a network reaches its containers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Driver {
    /// A Linux bridge `brt-<id>` with veth pairs, NAT and isolation rules.
    #[default]
    Bridge,
    /// One macvlan interface per container on `parent`.
    Macvlan {
        /// Host interface the containers' interfaces hang from.
        parent: String,
        /// Traffic between siblings.
        mode: MacvlanMode,
    },
    /// One ipvlan interface per container on `parent` (they share its MAC address).
    Ipvlan {
        /// Host interface the containers' interfaces hang from.
        parent: String,
        /// Layer the sub-interfaces switch at.
        mode: IpvlanMode,
        /// Traffic between siblings.
        flag: IpvlanFlag,
    },
}

/// `macvlan_mode` (Docker's values).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum MacvlanMode {
    /// Siblings talk directly (Docker's default).
    #[default]
    Bridge,
    /// Siblings cannot talk.
    Private,
    /// Sibling traffic goes out through the external switch.
    Vepa,
    /// One sub-interface takes the parent over.
    Passthru,
}

/// `ipvlan_mode` (Docker's values).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum IpvlanMode {
    /// Switching at layer 2 (Docker's default).
    #[default]
    L2,
    /// Routing at layer 3.
    L3,
    /// Layer 3 through the host's netfilter.
    L3s,
}

/// `ipvlan_flag` (Docker's values).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum IpvlanFlag {
    /// Siblings talk directly (Docker's default).
    #[default]
    Bridge,
    /// Siblings cannot talk.
    Private,
    /// Sibling traffic goes out through the external switch.
    Vepa,
}

/// A driver option that cannot be used; says which one and what was expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {problem}")]
pub struct DriverError {
    /// The option (e.g. `Options.macvlan_mode`) or `Driver`.
    pub key: String,
    /// What is wrong and what was expected.
    pub problem: String,
}

fn err(key: &str, problem: impl Into<String>) -> DriverError {
    DriverError {
        key: key.into(),
        problem: problem.into(),
    }
}

/// Reads option `key` with `pick`; unset or empty is the default.
fn choice<T: Default>(
    opts: &BTreeMap<String, String>,
    key: &str,
    expected: &str,
    pick: impl Fn(&str) -> Option<T>,
) -> Result<T, DriverError> {
    match opts.get(key).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(T::default()),
        Some(v) => pick(v).ok_or_else(|| {
            err(
                &format!("Options.{key}"),
                format!("invalid value {v:?}: expected {expected}"),
            )
        }),
    }
}

fn parent(opts: &BTreeMap<String, String>, driver: &str) -> Result<String, DriverError> {
    let p = opts.get("parent").map(|v| v.trim()).unwrap_or("");
    if p.is_empty() {
        // dockerd makes a dummy parent then; berth asks for the host interface to use.
        return Err(err(
            "Options.parent",
            format!("a {driver} network needs the host interface its containers hang from (e.g. -o parent=eth0)"),
        ));
    }
    let valid = p.len() < 16 && !p.contains(['/', ' ', ':']);
    if !valid {
        return Err(err(
            "Options.parent",
            format!("invalid value {p:?}: expected an interface name"),
        ));
    }
    Ok(p.to_owned())
}

impl Driver {
    /// The driver named `name` (`bridge`, `macvlan`, `ipvlan`) with its options read.
    pub fn from_options(name: &str, opts: &BTreeMap<String, String>) -> Result<Self, DriverError> {
        match name {
            "" | "bridge" => Ok(Driver::Bridge),
            "macvlan" => Ok(Driver::Macvlan {
                parent: parent(opts, name)?,
                mode: choice(opts, "macvlan_mode", "bridge, private, vepa or passthru", |v| match v {
                    "bridge" => Some(MacvlanMode::Bridge),
                    "private" => Some(MacvlanMode::Private),
                    "vepa" => Some(MacvlanMode::Vepa),
                    "passthru" => Some(MacvlanMode::Passthru),
                    _ => None,
                })?,
            }),
            "ipvlan" => Ok(Driver::Ipvlan {
                parent: parent(opts, name)?,
                mode: choice(opts, "ipvlan_mode", "l2, l3 or l3s", |v| match v {
                    "l2" => Some(IpvlanMode::L2),
                    "l3" => Some(IpvlanMode::L3),
                    "l3s" => Some(IpvlanMode::L3s),
                    _ => None,
                })?,
                flag: choice(opts, "ipvlan_flag", "bridge, private or vepa", |v| match v {
                    "bridge" => Some(IpvlanFlag::Bridge),
                    "private" => Some(IpvlanFlag::Private),
                    "vepa" => Some(IpvlanFlag::Vepa),
                    _ => None,
                })?,
            }),
            other => Err(err(
                "Driver",
                format!("plugin {other:?} not found: berth has the bridge, macvlan and ipvlan drivers"),
            )),
        }
    }

    /// The host interface of a macvlan/ipvlan network.
    pub fn parent(&self) -> Option<&str> {
        match self {
            Driver::Bridge => None,
            Driver::Macvlan { parent, .. } | Driver::Ipvlan { parent, .. } => Some(parent),
        }
    }
}

impl fmt::Display for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Driver::Bridge => "bridge",
            Driver::Macvlan { .. } => "macvlan",
            Driver::Ipvlan { .. } => "ipvlan",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn options_are_read_with_docker_defaults() {
        assert_eq!(Driver::from_options("", &opts(&[])), Ok(Driver::Bridge));
        assert_eq!(
            Driver::from_options("macvlan", &opts(&[("parent", "dm0")])),
            Ok(Driver::Macvlan {
                parent: "dm0".into(),
                mode: MacvlanMode::Bridge
            })
        );
        assert_eq!(
            Driver::from_options(
                "ipvlan",
                &opts(&[("parent", "dm0"), ("ipvlan_mode", "l3"), ("ipvlan_flag", "private")])
            ),
            Ok(Driver::Ipvlan {
                parent: "dm0".into(),
                mode: IpvlanMode::L3,
                flag: IpvlanFlag::Private
            })
        );
    }

    #[test]
    fn bad_options_name_the_key() {
        let e = Driver::from_options("macvlan", &opts(&[])).unwrap_err();
        assert_eq!(e.key, "Options.parent");
        let e = Driver::from_options("macvlan", &opts(&[("parent", "dm0"), ("macvlan_mode", "l2")])).unwrap_err();
        assert_eq!(e.key, "Options.macvlan_mode");
        assert!(e.problem.contains("passthru"), "{e}");
        let e = Driver::from_options("ipvlan", &opts(&[("parent", "a very long name")])).unwrap_err();
        assert_eq!(e.key, "Options.parent");
        let e = Driver::from_options("weave", &opts(&[])).unwrap_err();
        assert_eq!(e.key, "Driver");
    }
}
