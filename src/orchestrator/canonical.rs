//! The canonical Compose project (the long-syntax JSON shape `docker compose config --format json` prints),
//! as typed serde structs: the contract between the loader's output and the orchestrator's mapping.

use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Declares a long-syntax struct that refuses unknown keys, so no attribute is silently dropped.
macro_rules! strict {
    ($($(#[$meta:meta])* pub struct $name:ident { $($body:tt)* })*) => {
        $(
            $(#[$meta])*
            #[derive(Debug, Deserialize, Default, Clone)]
            #[serde(deny_unknown_fields)]
            pub struct $name { $($body)* }
        )*
    };
}

/// A whole canonical project.
#[derive(Debug, Deserialize, Default)]
pub struct Project {
    /// Project name (the caller reads it before mapping).
    #[serde(default)]
    #[allow(dead_code)]
    pub name: Option<String>,
    /// Services, kept raw so unsupported attributes can be named before typing.
    #[serde(default)]
    pub services: Map<String, Value>,
    /// Networks.
    #[serde(default)]
    pub networks: BTreeMap<String, Option<Network>>,
    /// Volumes.
    #[serde(default)]
    pub volumes: BTreeMap<String, Option<Volume>>,
    /// Secrets (mounted as files, see `secrets`).
    #[serde(default)]
    pub secrets: Map<String, Value>,
    /// Configs (as secrets).
    #[serde(default)]
    pub configs: Map<String, Value>,
}

strict! {
    /// A top-level network.
    pub struct Network {
        pub name: Option<String>,
        pub driver: Option<String>,
        #[serde(default)]
        pub driver_opts: BTreeMap<String, Scalar>,
        #[serde(default)]
        pub external: Option<bool>,
        #[serde(default)]
        pub internal: Option<bool>,
        #[serde(default)]
        pub enable_ipv6: Option<bool>,
        #[serde(default)]
        pub labels: BTreeMap<String, String>,
        #[serde(default)]
        pub ipam: Option<Ipam>,
        /// Swarm-only: every network of a single engine is attachable.
        #[serde(default)]
        #[allow(dead_code)]
        pub attachable: Option<bool>,
    }

    /// IPAM block of a network.
    pub struct Ipam {
        pub driver: Option<String>,
        #[serde(default)]
        pub config: Vec<IpamPool>,
    }

    /// One IPAM pool.
    pub struct IpamPool {
        pub subnet: Option<String>,
        pub gateway: Option<String>,
        pub ip_range: Option<String>,
    }

    /// A top-level volume.
    pub struct Volume {
        pub name: Option<String>,
        pub driver: Option<String>,
        #[serde(default)]
        pub driver_opts: BTreeMap<String, Scalar>,
        #[serde(default)]
        pub external: Option<bool>,
        #[serde(default)]
        pub labels: BTreeMap<String, String>,
    }
}

/// A string, number or boolean, kept as the string Compose would print.
#[derive(Debug, Deserialize, Clone, PartialEq)]
#[serde(untagged)]
pub enum Scalar {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl std::fmt::Display for Scalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scalar::Str(s) => f.write_str(s),
            Scalar::Int(i) => write!(f, "{i}"),
            Scalar::Float(x) => write!(f, "{x}"),
            Scalar::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// A service, long syntax only.
#[derive(Debug, Deserialize, Default)]
pub struct Service {
    pub image: Option<String>,
    pub container_name: Option<String>,
    pub command: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    #[serde(default)]
    pub environment: BTreeMap<String, Option<Scalar>>,
    #[serde(default)]
    pub ports: Vec<Port>,
    #[serde(default)]
    pub expose: Vec<Scalar>,
    #[serde(default)]
    pub volumes: Vec<Mount>,
    pub networks: Option<BTreeMap<String, Option<ServiceNetwork>>>,
    pub network_mode: Option<String>,
    #[serde(default)]
    pub depends_on: BTreeMap<String, Dependency>,
    pub healthcheck: Option<Healthcheck>,
    pub restart: Option<String>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub cap_add: Vec<String>,
    #[serde(default)]
    pub cap_drop: Vec<String>,
    pub privileged: Option<bool>,
    pub read_only: Option<bool>,
    pub init: Option<bool>,
    pub tty: Option<bool>,
    pub stdin_open: Option<bool>,
    #[serde(default)]
    pub tmpfs: Vec<String>,
    pub shm_size: Option<Scalar>,
    #[serde(default)]
    pub ulimits: BTreeMap<String, Ulimit>,
    #[serde(default)]
    pub sysctls: BTreeMap<String, Scalar>,
    pub deploy: Option<Deploy>,
    pub scale: Option<u32>,
    pub stop_signal: Option<String>,
    pub stop_grace_period: Option<Scalar>,
    pub extra_hosts: Option<ExtraHosts>,
    #[serde(default)]
    pub dns: Vec<String>,
    #[serde(default)]
    pub dns_search: Vec<String>,
    #[serde(default)]
    pub dns_opt: Vec<String>,
    #[serde(default)]
    pub volumes_from: Vec<String>,
    pub pull_policy: Option<String>,
    pub mem_limit: Option<Scalar>,
    pub mem_reservation: Option<Scalar>,
    pub cpus: Option<Scalar>,
    pub pids_limit: Option<i64>,
    #[serde(default)]
    pub security_opt: Vec<String>,
    #[serde(default)]
    pub group_add: Vec<Scalar>,
    /// Secret references, checked by `secrets::Catalog`.
    pub secrets: Option<Value>,
    /// Config references, as secrets.
    pub configs: Option<Value>,
}

strict! {
    /// A published port.
    pub struct Port {
        pub target: u16,
        pub published: Option<Scalar>,
        pub host_ip: Option<String>,
        pub protocol: Option<String>,
        /// ingress/host publish the same way on one engine.
        #[allow(dead_code)]
        pub mode: Option<String>,
        /// Metadata only.
        #[allow(dead_code)]
        pub name: Option<String>,
        /// Metadata only.
        #[allow(dead_code)]
        pub app_protocol: Option<String>,
    }

    /// A mount in long syntax.
    pub struct Mount {
        #[serde(rename = "type")]
        pub kind: String,
        pub source: Option<String>,
        pub target: Option<String>,
        pub read_only: Option<bool>,
        pub bind: Option<BindOptions>,
        pub volume: Option<VolumeOptions>,
        pub tmpfs: Option<TmpfsOptions>,
        /// Only meaningful on macOS file sharing; no effect on Linux (Compose ignores it there too).
        #[allow(dead_code)]
        pub consistency: Option<String>,
    }

    /// Bind options.
    pub struct BindOptions {
        pub propagation: Option<String>,
        pub create_host_path: Option<bool>,
        pub selinux: Option<String>,
    }

    /// Volume options.
    pub struct VolumeOptions {
        pub nocopy: Option<bool>,
        pub subpath: Option<String>,
    }

    /// Tmpfs options.
    pub struct TmpfsOptions {
        pub size: Option<Scalar>,
        pub mode: Option<u32>,
    }

    /// A network attachment.
    pub struct ServiceNetwork {
        #[serde(default)]
        pub aliases: Vec<String>,
        pub ipv4_address: Option<String>,
        pub ipv6_address: Option<String>,
        pub priority: Option<i64>,
    }
}

/// A `depends_on` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dependency {
    #[serde(default = "default_condition")]
    pub condition: String,
    #[serde(default = "default_true")]
    pub required: bool,
    #[serde(default)]
    pub restart: bool,
}

fn default_condition() -> String {
    "service_started".to_owned()
}

fn default_true() -> bool {
    true
}

strict! {
    /// A healthcheck.
    pub struct Healthcheck {
        pub test: Option<Vec<String>>,
        pub interval: Option<Scalar>,
        pub timeout: Option<Scalar>,
        pub retries: Option<i64>,
        pub start_period: Option<Scalar>,
        pub start_interval: Option<Scalar>,
        #[serde(default)]
        pub disable: bool,
    }
}

/// A ulimit: one number for both, or soft/hard.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Ulimit {
    Single(i64),
    Pair { soft: i64, hard: i64 },
}

strict! {
    /// `deploy:` (the parts a single engine honours).
    pub struct Deploy {
        pub replicas: Option<u32>,
        pub resources: Option<Resources>,
        pub restart_policy: Option<RestartPolicy>,
        pub mode: Option<String>,
        /// Swarm placement: only an empty one (the loader's default) is accepted.
        pub placement: Option<Value>,
    }

    /// `deploy.resources`.
    pub struct Resources {
        pub limits: Option<Limits>,
        pub reservations: Option<Limits>,
    }

    /// Limits or reservations.
    pub struct Limits {
        pub cpus: Option<Scalar>,
        pub memory: Option<Scalar>,
        pub pids: Option<i64>,
        pub devices: Option<Value>,
        pub generic_resources: Option<Value>,
    }

    /// `deploy.restart_policy`.
    pub struct RestartPolicy {
        pub condition: Option<String>,
        pub max_attempts: Option<i64>,
    }
}

/// `extra_hosts` as a list of `host:ip` / `host=ip` or a mapping host → ip(s).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ExtraHosts {
    List(Vec<String>),
    Map(BTreeMap<String, HostAddrs>),
}

/// One or several addresses of an extra host.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum HostAddrs {
    One(String),
    Many(Vec<String>),
}

/// Service attributes the orchestrator maps to the engine; anything else is refused by name.
pub const SUPPORTED_SERVICE_KEYS: &[&str] = &[
    "image",
    "container_name",
    "command",
    "entrypoint",
    "environment",
    "env_file",
    "ports",
    "expose",
    "volumes",
    "networks",
    "network_mode",
    "depends_on",
    "healthcheck",
    "restart",
    "user",
    "working_dir",
    "hostname",
    "domainname",
    "labels",
    "cap_add",
    "cap_drop",
    "privileged",
    "read_only",
    "init",
    "tty",
    "stdin_open",
    "tmpfs",
    "shm_size",
    "ulimits",
    "sysctls",
    "deploy",
    "scale",
    "stop_signal",
    "stop_grace_period",
    "extra_hosts",
    "dns",
    "dns_search",
    "dns_opt",
    "volumes_from",
    "pull_policy",
    "mem_limit",
    "mem_reservation",
    "cpus",
    "pids_limit",
    "security_opt",
    "group_add",
    "secrets",
    "configs",
    "profiles",
];

/// Parses a Go-style duration (`1m30s`, `1.5s`, `100ms`) or a number of nanoseconds.
pub fn duration_ns(v: &Scalar) -> Option<i64> {
    let s = match v {
        Scalar::Int(n) => return Some(*n),
        Scalar::Float(x) => return Some(*x as i64),
        Scalar::Bool(_) => return None,
        Scalar::Str(s) => s.trim(),
    };
    if let Ok(n) = s.parse::<i64>() {
        return Some(n);
    }
    let mut total: f64 = 0.0;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_len);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let n: f64 = num.parse().ok()?;
        let mult = match unit {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += n * mult;
        rest = next;
    }
    Some(total as i64)
}

/// Parses a byte size (`64m`, `1g`, `512`, `1.5kb`).
pub fn bytes(v: &Scalar) -> Option<i64> {
    let s = match v {
        Scalar::Int(n) => return Some(*n),
        Scalar::Float(x) => return Some(*x as i64),
        Scalar::Bool(_) => return None,
        Scalar::Str(s) => s.trim().to_ascii_lowercase(),
    };
    let num_len = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(num_len);
    let n: f64 = num.parse().ok()?;
    let mult: f64 = match unit.trim_end_matches('b').trim_end_matches('i') {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        _ => return None,
    };
    Some((n * mult) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration_ns(&Scalar::Str("1m30s".into())), Some(90_000_000_000));
        assert_eq!(duration_ns(&Scalar::Str("1.5s".into())), Some(1_500_000_000));
        assert_eq!(duration_ns(&Scalar::Str("100ms".into())), Some(100_000_000));
        assert_eq!(duration_ns(&Scalar::Int(5)), Some(5));
        assert_eq!(duration_ns(&Scalar::Str("5x".into())), None);
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(bytes(&Scalar::Str("64m".into())), Some(64 << 20));
        assert_eq!(bytes(&Scalar::Str("1gb".into())), Some(1 << 30));
        assert_eq!(bytes(&Scalar::Str("67108864".into())), Some(67108864));
        assert_eq!(bytes(&Scalar::Str("lots".into())), None);
    }
}
