//! Typed identifiers and the kernel object names derived from them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::NetError;

/// Longest interface name the kernel accepts (IFNAMSIZ - 1).
const IFNAME_MAX: usize = 15;

fn parse_hex_id(what: &'static str, s: &str) -> Result<String, NetError> {
    if s.len() < 12 || s.len() > 64 {
        return Err(NetError::invalid(what, s, "expected 12 to 64 lowercase hex digits"));
    }
    if !s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(NetError::invalid(what, s, "expected lowercase hex digits only"));
    }
    Ok(s.to_string())
}

macro_rules! hex_id {
    ($name:ident, $what:literal) => {
        #[doc = concat!("A ", $what, " id: 12 to 64 lowercase hex digits (the engine uses 64).")]
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The full id.
            pub fn as_str(&self) -> &str {
                &self.0
            }
            /// The first `n` hex digits (at most the whole id).
            pub fn short(&self, n: usize) -> &str {
                &self.0[..n.min(self.0.len())]
            }
        }

        impl FromStr for $name {
            type Err = NetError;
            fn from_str(s: &str) -> Result<Self, NetError> {
                parse_hex_id($what, s).map($name)
            }
        }

        impl TryFrom<String> for $name {
            type Error = NetError;
            fn try_from(s: String) -> Result<Self, NetError> {
                s.parse()
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

hex_id!(NetworkId, "network");
hex_id!(ContainerId, "container");

/// Name of a network's Linux bridge: `brt-` + the first 11 hex digits of the network id
/// (15 characters: the kernel's limit leaves no room for 12).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BridgeName(String);

impl BridgeName {
    /// Prefix every berth bridge starts with.
    pub const PREFIX: &'static str = "brt-";

    /// The bridge name of a network.
    pub fn of(id: &NetworkId) -> Self {
        let name = format!("{}{}", Self::PREFIX, id.short(IFNAME_MAX - Self::PREFIX.len()));
        BridgeName(name)
    }

    /// A bridge name the user chose (`com.docker.network.bridge.name`): a valid interface name.
    pub fn custom(name: &str) -> Result<Self, NetError> {
        let valid = !name.is_empty()
            && name.len() <= IFNAME_MAX
            && name != "."
            && name != ".."
            && !name
                .bytes()
                .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b.is_ascii_control());
        if !valid {
            return Err(NetError::invalid(
                "Options.com.docker.network.bridge.name",
                name,
                format!("an interface name of 1-{IFNAME_MAX} characters without '/', ':' or spaces"),
            ));
        }
        Ok(BridgeName(name.to_string()))
    }

    /// The interface name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BridgeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Host-side name of a container's veth on one network: `vb` + 8 hex of the container id + 4 of the network id.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VethName(String);

impl VethName {
    /// Prefix every berth host-side veth starts with.
    pub const PREFIX: &'static str = "vb";

    /// The host-side veth name for `container` on `network`.
    pub fn of(container: &ContainerId, network: &NetworkId) -> Self {
        VethName(format!("{}{}{}", Self::PREFIX, container.short(8), network.short(4)))
    }

    /// The interface name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for VethName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Tag naming one netstack owner (one engine state root); written into interface aliases
/// and nft rule comments so cleanup touches only its own objects.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct InstanceTag(String);

impl InstanceTag {
    /// Accepts 1 to 24 characters of `[A-Za-z0-9_-]`.
    pub fn new(s: &str) -> Result<Self, NetError> {
        let ok =
            !s.is_empty() && s.len() <= 24 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(InstanceTag(s.to_string()))
        } else {
            Err(NetError::invalid(
                "instance tag",
                s,
                "expected 1 to 24 characters of A-Z a-z 0-9 _ -",
            ))
        }
    }

    /// The tag text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a berth kernel object belongs to, as written in its label.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Owner {
    /// A network's bridge or rules.
    Network(NetworkId),
    /// A container's veth on a network.
    Endpoint(ContainerId, NetworkId),
    /// A container's published-port rules.
    Ports(ContainerId),
}

impl Owner {
    /// Label text: `berth:<tag>:net:<id>`, `berth:<tag>:ep:<cid>:<nid>`, `berth:<tag>:ports:<cid>`.
    pub fn label(&self, tag: &InstanceTag) -> String {
        match self {
            Owner::Network(n) => format!("berth:{}:net:{n}", tag.as_str()),
            Owner::Endpoint(c, n) => format!("berth:{}:ep:{c}:{n}", tag.as_str()),
            Owner::Ports(c) => format!("berth:{}:ports:{c}", tag.as_str()),
        }
    }

    /// Parses a label written by `label` for the same tag; `None` for anything else.
    pub fn parse_label(tag: &InstanceTag, label: &str) -> Option<Owner> {
        let rest = label
            .strip_prefix("berth:")?
            .strip_prefix(tag.as_str())?
            .strip_prefix(':')?;
        let mut parts = rest.split(':');
        let owner = match (parts.next()?, parts.next(), parts.next()) {
            ("net", Some(n), None) => Owner::Network(n.parse().ok()?),
            ("ep", Some(c), Some(n)) => Owner::Endpoint(c.parse().ok()?, n.parse().ok()?),
            ("ports", Some(c), None) => Owner::Ports(c.parse().ok()?),
            _ => return None,
        };
        parts.next().is_none().then_some(owner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const CID: &str = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

    #[test]
    fn names_fit_the_kernel_limit() {
        let n: NetworkId = NID.parse().unwrap();
        let c: ContainerId = CID.parse().unwrap();
        assert_eq!(BridgeName::of(&n).as_str(), "brt-0123456789a");
        assert_eq!(VethName::of(&c, &n).as_str(), "vbfedcba980123");
        assert!(BridgeName::of(&n).as_str().len() <= IFNAME_MAX);
    }

    #[test]
    fn ids_reject_bad_input() {
        assert!("xyz".parse::<NetworkId>().is_err());
        assert!("ABCDEF0123456".parse::<NetworkId>().is_err());
        let err = "short".parse::<ContainerId>().unwrap_err().to_string();
        assert!(err.contains("container"), "{err}");
    }

    #[test]
    fn labels_round_trip_only_for_own_tag() {
        let tag = InstanceTag::new("t1").unwrap();
        let other = InstanceTag::new("t2").unwrap();
        let owner = Owner::Endpoint(CID.parse().unwrap(), NID.parse().unwrap());
        let label = owner.label(&tag);
        assert_eq!(Owner::parse_label(&tag, &label), Some(owner));
        assert_eq!(Owner::parse_label(&other, &label), None);
        assert_eq!(Owner::parse_label(&tag, "berth:t1:net:zz"), None);
    }
}
