//! Value types of the model: names, durations, sizes, top-level resources.

use indexmap::IndexMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::fmt;
pub use units::PortRange;
use units::{format_duration, parse_bytes, parse_duration};

/// A service name (`[a-zA-Z0-9._-]+`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ServiceName(String);

impl ServiceName {
    /// Checks and wraps a name.
    pub fn new(s: &str) -> Result<Self, String> {
        if !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            Ok(ServiceName(s.to_owned()))
        } else {
            Err(format!(
                "invalid service name {s:?}: expected letters, digits, '.', '_' or '-'"
            ))
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ServiceName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ServiceName::new(&s).map_err(serde::de::Error::custom)
    }
}

/// A duration written the Go way (`1m30s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(pub std::time::Duration);

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(i64::try_from(self.0.as_nanos()).unwrap_or(i64::MAX)))
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let ns = parse_duration(&s).ok_or_else(|| serde::de::Error::custom(format!("invalid duration {s:?}")))?;
        Ok(Duration(std::time::Duration::from_nanos(ns.max(0) as u64)))
    }
}

/// A size in bytes (canonical form is a decimal string).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let n = match &v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => parse_bytes(s).and_then(|n| u64::try_from(n).ok()),
            _ => None,
        };
        n.map(ByteSize)
            .ok_or_else(|| serde::de::Error::custom(format!("invalid byte size {v}")))
    }
}

/// A byte size that may also be -1, as `memswap_limit: -1` (unlimited swap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SignedByteSize(pub i64);

impl Serialize for SignedByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for SignedByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let n = match &v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) if s.trim() == "-1" => Some(-1),
            Value::String(s) => parse_bytes(s).and_then(|n| i64::try_from(n).ok()),
            _ => None,
        };
        n.filter(|n| *n >= -1)
            .map(SignedByteSize)
            .ok_or_else(|| serde::de::Error::custom(format!("invalid byte size {v} (expected a size or -1)")))
    }
}

/// A string, number or boolean read as text (labels, sysctls, options).
pub type StringMap = IndexMap<String, String>;

/// A top-level network.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// Name on the engine (`<project>_<key>` unless set).
    pub name: Option<String>,
    /// Driver (default bridge).
    pub driver: Option<String>,
    /// Driver options.
    #[serde(default)]
    pub driver_opts: StringMap,
    /// Address management.
    pub ipam: Option<Ipam>,
    /// Created outside Compose.
    #[serde(default)]
    pub external: bool,
    /// No outside connectivity.
    #[serde(default)]
    pub internal: bool,
    /// Standalone containers may attach.
    #[serde(default)]
    pub attachable: bool,
    /// IPv4 enabled.
    pub enable_ipv4: Option<bool>,
    /// IPv6 enabled.
    pub enable_ipv6: Option<bool>,
    /// Labels.
    #[serde(default)]
    pub labels: StringMap,
    /// `x-` extensions.
    #[serde(flatten)]
    pub extensions: IndexMap<String, Value>,
}

/// IP address management of a network.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Ipam {
    /// IPAM driver.
    pub driver: Option<String>,
    /// Subnets.
    #[serde(default)]
    pub config: Vec<IpamPool>,
    /// Driver options.
    #[serde(default)]
    pub options: StringMap,
    /// `x-` extensions.
    #[serde(flatten)]
    pub extensions: IndexMap<String, Value>,
}

/// One subnet of a network.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IpamPool {
    /// CIDR subnet.
    pub subnet: Option<String>,
    /// Range to allocate from.
    pub ip_range: Option<String>,
    /// Gateway address.
    pub gateway: Option<String>,
    /// Reserved addresses by name.
    #[serde(default)]
    pub aux_addresses: StringMap,
    /// `x-` extensions.
    #[serde(flatten)]
    pub extensions: IndexMap<String, Value>,
}

/// A top-level named volume.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    /// Name on the engine (`<project>_<key>` unless set).
    pub name: Option<String>,
    /// Driver (default local).
    pub driver: Option<String>,
    /// Driver options.
    #[serde(default)]
    pub driver_opts: StringMap,
    /// Created outside Compose.
    #[serde(default)]
    pub external: bool,
    /// Labels.
    #[serde(default)]
    pub labels: StringMap,
    /// `x-` extensions.
    #[serde(flatten)]
    pub extensions: IndexMap<String, Value>,
}

/// A top-level secret or config.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileObject {
    /// Name on the engine.
    pub name: Option<String>,
    /// Host file holding the content (absolute).
    pub file: Option<String>,
    /// Environment variable holding the content.
    pub environment: Option<String>,
    /// Inline content.
    pub content: Option<String>,
    /// Created outside Compose.
    #[serde(default)]
    pub external: bool,
    /// Labels.
    #[serde(default)]
    pub labels: StringMap,
    /// Driver.
    pub driver: Option<String>,
    /// Driver options.
    #[serde(default)]
    pub driver_opts: StringMap,
    /// Template driver.
    pub template_driver: Option<String>,
    /// `x-` extensions.
    #[serde(flatten)]
    pub extensions: IndexMap<String, Value>,
}
