//! The typed service and its parts (build, ports, volumes, depends_on, healthcheck, deploy...).

use super::extra::{
    BlkioConfig, CredentialSpec, Device, DeviceRequest, Gpus, Placement, ServiceHook, SshSpec,
    UpdateConfig,
};
use super::types::{ByteSize, Duration, ServiceName, StringMap};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One service of the project, every attribute of the Compose specification as a typed field.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Service {
    pub annotations: StringMap,
    pub attach: Option<bool>,
    pub blkio_config: Option<BlkioConfig>,
    pub build: Option<Build>,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub cgroup: Option<String>,
    pub cgroup_parent: Option<String>,
    /// Command (None: the image's).
    pub command: Option<Vec<String>>,
    pub configs: Vec<FileRef>,
    pub container_name: Option<String>,
    pub cpu_count: Option<i64>,
    pub cpu_percent: Option<f64>,
    pub cpu_period: Option<i64>,
    pub cpu_quota: Option<i64>,
    pub cpu_rt_period: Option<i64>,
    pub cpu_rt_runtime: Option<i64>,
    pub cpu_shares: Option<i64>,
    pub cpus: Option<f64>,
    pub cpuset: Option<String>,
    pub credential_spec: Option<CredentialSpec>,
    /// Services this one waits for.
    pub depends_on: IndexMap<ServiceName, DependsOn>,
    pub deploy: Option<Deploy>,
    pub develop: Option<Develop>,
    pub device_cgroup_rules: Vec<String>,
    pub devices: Vec<Device>,
    pub dns: Vec<String>,
    pub dns_opt: Vec<String>,
    pub dns_search: Vec<String>,
    pub domainname: Option<String>,
    /// Entrypoint (None: the image's).
    pub entrypoint: Option<Vec<String>>,
    /// Environment; None values are declared but unset.
    pub environment: IndexMap<String, Option<String>>,
    pub expose: Vec<String>,
    pub external_links: Vec<String>,
    /// `host=ip` entries.
    pub extra_hosts: Vec<String>,
    pub gpus: Option<Gpus>,
    pub group_add: Vec<String>,
    pub healthcheck: Option<Healthcheck>,
    pub hostname: Option<String>,
    pub image: Option<String>,
    pub init: Option<bool>,
    pub ipc: Option<String>,
    pub isolation: Option<String>,
    pub labels: StringMap,
    pub links: Vec<String>,
    pub logging: Option<Logging>,
    pub mac_address: Option<String>,
    pub mem_limit: Option<ByteSize>,
    pub mem_reservation: Option<ByteSize>,
    pub mem_swappiness: Option<i64>,
    pub memswap_limit: Option<ByteSize>,
    pub network_mode: Option<String>,
    /// Networks joined (None value: default settings).
    pub networks: IndexMap<String, Option<ServiceNetwork>>,
    pub oom_kill_disable: Option<bool>,
    pub oom_score_adj: Option<i64>,
    pub pid: Option<String>,
    pub pids_limit: Option<i64>,
    pub platform: Option<String>,
    pub ports: Vec<ServicePort>,
    pub post_start: Vec<ServiceHook>,
    pub pre_stop: Vec<ServiceHook>,
    pub privileged: Option<bool>,
    pub profiles: Vec<String>,
    pub pull_policy: Option<String>,
    pub read_only: Option<bool>,
    pub restart: Option<String>,
    pub runtime: Option<String>,
    pub scale: Option<u64>,
    pub secrets: Vec<FileRef>,
    pub security_opt: Vec<String>,
    pub shm_size: Option<ByteSize>,
    pub stdin_open: Option<bool>,
    pub stop_grace_period: Option<Duration>,
    pub stop_signal: Option<String>,
    pub storage_opt: StringMap,
    pub sysctls: StringMap,
    pub tmpfs: Vec<String>,
    pub tty: Option<bool>,
    pub ulimits: IndexMap<String, Ulimit>,
    pub user: Option<String>,
    pub userns_mode: Option<String>,
    pub uts: Option<String>,
    pub volumes: Vec<ServiceVolume>,
    pub volumes_from: Vec<String>,
    pub working_dir: Option<String>,
    /// `x-` extensions and attributes newer than this model, kept as values.
    #[serde(flatten)]
    pub extensions: IndexMap<String, Value>,
}

/// How to build the image.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Build {
    /// Absolute directory or URL.
    pub context: String,
    pub dockerfile: Option<String>,
    pub dockerfile_inline: Option<String>,
    pub args: StringMap,
    pub target: Option<String>,
    pub labels: StringMap,
    pub cache_from: Vec<String>,
    pub cache_to: Vec<String>,
    pub no_cache: Option<bool>,
    pub network: Option<String>,
    pub pull: Option<bool>,
    pub shm_size: Option<ByteSize>,
    pub extra_hosts: Vec<String>,
    pub additional_contexts: StringMap,
    pub platforms: Vec<String>,
    pub tags: Vec<String>,
    pub secrets: Vec<FileRef>,
    pub ssh: Vec<SshSpec>,
    pub isolation: Option<String>,
    pub privileged: Option<bool>,
    pub ulimits: IndexMap<String, Ulimit>,
    pub entitlements: Vec<String>,
    pub provenance: Option<Value>,
    pub sbom: Option<Value>,
    #[serde(flatten)]
    pub extensions: IndexMap<String, Value>,
}

/// When a dependency counts as ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// The container was started.
    #[default]
    ServiceStarted,
    /// Its health check passes.
    ServiceHealthy,
    /// It exited with status 0.
    ServiceCompletedSuccessfully,
}

impl Condition {
    /// The Compose spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::ServiceStarted => "service_started",
            Condition::ServiceHealthy => "service_healthy",
            Condition::ServiceCompletedSuccessfully => "service_completed_successfully",
        }
    }
}

fn yes() -> bool {
    true
}

/// One `depends_on` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DependsOn {
    #[serde(default)]
    pub condition: Condition,
    /// A missing optional dependency is skipped.
    #[serde(default = "yes")]
    pub required: bool,
    /// Restart this service when the dependency restarts.
    #[serde(default)]
    pub restart: bool,
}

/// A health check.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Healthcheck {
    /// `["CMD", ...]`, `["CMD-SHELL", "..."]` or `["NONE"]`.
    pub test: Vec<String>,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub retries: Option<u64>,
    pub start_period: Option<Duration>,
    pub start_interval: Option<Duration>,
    pub disable: bool,
}

/// A published or exposed port (long form).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ServicePort {
    pub name: Option<String>,
    pub target: u16,
    /// Host port or range (`8080`, `8080-8090`); None lets the engine choose.
    pub published: Option<String>,
    pub host_ip: Option<String>,
    /// tcp, udp or sctp.
    pub protocol: String,
    pub app_protocol: Option<String>,
    /// ingress or host.
    pub mode: String,
}

/// A mount (long form).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ServiceVolume {
    /// bind, volume, tmpfs, npipe, cluster or image.
    #[serde(rename = "type")]
    pub kind: String,
    /// Host path (bind, absolute), volume name, or None for an anonymous volume.
    pub source: Option<String>,
    pub target: String,
    pub read_only: bool,
    pub consistency: Option<String>,
    pub bind: Option<BindOptions>,
    pub volume: Option<VolumeOptions>,
    pub tmpfs: Option<TmpfsOptions>,
    pub image: Option<Value>,
    #[serde(flatten)]
    pub extensions: IndexMap<String, Value>,
}

/// Bind mount options.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct BindOptions {
    pub propagation: Option<String>,
    pub create_host_path: bool,
    pub selinux: Option<String>,
    pub recursive: Option<String>,
}

/// Named volume mount options.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct VolumeOptions {
    pub nocopy: bool,
    pub subpath: Option<String>,
    pub labels: StringMap,
}

/// tmpfs mount options.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct TmpfsOptions {
    pub size: Option<ByteSize>,
    pub mode: Option<u32>,
}

/// A resource limit: one number, or soft and hard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Ulimit {
    /// Same soft and hard limit.
    Single(i64),
    /// Separate limits.
    Pair { soft: i64, hard: i64 },
}

/// A secret or config given to a service.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct FileRef {
    pub source: String,
    pub target: Option<String>,
    pub uid: Option<String>,
    pub gid: Option<String>,
    /// Octal file mode as Compose prints it (`0400`).
    pub mode: Option<String>,
}

/// Per-network settings of a service.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ServiceNetwork {
    pub aliases: Vec<String>,
    pub ipv4_address: Option<String>,
    pub ipv6_address: Option<String>,
    pub link_local_ips: Vec<String>,
    pub mac_address: Option<String>,
    pub priority: Option<i64>,
    pub gw_priority: Option<i64>,
    pub interface_name: Option<String>,
    pub driver_opts: StringMap,
}

/// Logging driver.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Logging {
    pub driver: Option<String>,
    pub options: IndexMap<String, Option<String>>,
}

/// Deployment settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Deploy {
    pub mode: Option<String>,
    pub replicas: Option<u64>,
    pub labels: StringMap,
    pub resources: Resources,
    pub restart_policy: Option<RestartPolicy>,
    pub placement: Placement,
    pub update_config: Option<UpdateConfig>,
    pub rollback_config: Option<UpdateConfig>,
    pub endpoint_mode: Option<String>,
}

/// Limits and reservations.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Resources {
    pub limits: Option<ResourceSet>,
    pub reservations: Option<ResourceSet>,
}

/// CPU, memory, pids (and devices for reservations).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ResourceSet {
    pub cpus: Option<f64>,
    pub memory: Option<ByteSize>,
    pub pids: Option<i64>,
    pub devices: Vec<DeviceRequest>,
    pub generic_resources: Vec<Value>,
}

/// Swarm-style restart policy.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct RestartPolicy {
    pub condition: Option<String>,
    pub delay: Option<Duration>,
    pub max_attempts: Option<u64>,
    pub window: Option<Duration>,
}

/// `develop` (watch mode).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Develop {
    pub watch: Vec<Watch>,
}

/// One watch rule.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Watch {
    /// sync, rebuild, restart, sync+restart, sync+exec.
    pub action: String,
    pub path: String,
    pub target: Option<String>,
    pub ignore: Vec<String>,
    pub include: Vec<String>,
    pub initial_sync: Option<bool>,
    pub exec: Option<ServiceHook>,
}
