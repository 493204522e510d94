//! Less common service parts: devices, GPUs, block IO, hooks, credential specs, placement, update policy.

use super::types::{ByteSize, Duration, StringMap};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A host device mapped into the container.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Device {
    /// Host device path.
    pub source: String,
    /// Path in the container (default: the host path).
    pub target: Option<String>,
    /// Cgroup permissions (`rwm`).
    pub permissions: Option<String>,
}

/// How many devices a request wants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DeviceCount {
    /// A number of devices.
    Number(i64),
    /// `all` (or an interpolated number).
    Text(String),
}

/// A device reservation (GPUs and the like).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct DeviceRequest {
    /// Capabilities the device must have (`gpu`, `compute`...).
    pub capabilities: Vec<String>,
    /// How many.
    pub count: Option<DeviceCount>,
    /// Specific device ids.
    pub device_ids: Vec<String>,
    /// Driver (`nvidia`).
    pub driver: Option<String>,
    /// Driver options.
    pub options: StringMap,
}

/// `gpus:`: all of them or specific requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Gpus {
    /// `all`.
    All(String),
    /// Specific requests.
    Requests(Vec<DeviceRequest>),
}

/// Block IO limits and weights.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct BlkioConfig {
    /// Default weight (10-1000).
    pub weight: Option<u16>,
    /// Per-device weights.
    pub weight_device: Vec<BlkioWeight>,
    /// Read bytes per second per device.
    pub device_read_bps: Vec<BlkioLimit>,
    /// Read operations per second per device.
    pub device_read_iops: Vec<BlkioLimit>,
    /// Write bytes per second per device.
    pub device_write_bps: Vec<BlkioLimit>,
    /// Write operations per second per device.
    pub device_write_iops: Vec<BlkioLimit>,
}

/// A per-device rate.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct BlkioLimit {
    /// Device path.
    #[serde(alias = "Path")]
    pub path: String,
    /// Bytes (or operations) per second.
    #[serde(alias = "Rate")]
    pub rate: Option<ByteSize>,
}

/// A per-device weight.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct BlkioWeight {
    /// Device path.
    #[serde(alias = "Path")]
    pub path: String,
    /// Relative weight.
    #[serde(alias = "Weight")]
    pub weight: Option<u16>,
}

/// Windows credential spec.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct CredentialSpec {
    /// Config holding the spec.
    pub config: Option<String>,
    /// File holding the spec.
    pub file: Option<String>,
    /// Registry key holding the spec.
    pub registry: Option<String>,
}

/// A command run at a point of the container's life (`post_start`, `pre_stop`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ServiceHook {
    /// The command.
    pub command: Option<Vec<String>>,
    /// User to run it as.
    pub user: Option<String>,
    /// Extended privileges.
    pub privileged: Option<bool>,
    /// Working directory.
    pub working_dir: Option<String>,
    /// Extra environment.
    pub environment: IndexMap<String, Option<String>>,
}

/// Where replicas may run (Swarm); kept for completeness.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Placement {
    /// Constraints such as `node.role==manager`.
    pub constraints: Vec<String>,
    /// Spread preferences.
    pub preferences: Vec<StringMap>,
    /// Replicas per node.
    pub max_replicas_per_node: Option<u64>,
}

/// How updates or rollbacks proceed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct UpdateConfig {
    /// Containers updated at a time.
    pub parallelism: Option<u64>,
    /// Wait between groups.
    pub delay: Option<Duration>,
    /// continue, pause or rollback.
    pub failure_action: Option<String>,
    /// Time to watch each updated task.
    pub monitor: Option<Duration>,
    /// Tolerated failure ratio.
    pub max_failure_ratio: Option<f64>,
    /// start-first or stop-first.
    pub order: Option<String>,
}

/// An SSH agent or key given to a build (`default` or `id=path`).
pub type SshSpec = Value;
