//! The typed service and its parts (build, ports, volumes, depends_on, healthcheck, deploy...).

use super::extra::{
    BlkioConfig, CredentialSpec, Device, DeviceRequest, Gpus, Placement, ServiceHook, SshSpec, UpdateConfig,
};
use super::types::{ByteSize, Duration, PortRange, ServiceName, SignedByteSize, StringMap};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One service of the project, every attribute of the Compose specification as a typed field.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Service {
    /// OCI annotations of the container.
    pub annotations: StringMap,
    /// Whether `up` attaches to the service's output (default true).
    pub attach: Option<bool>,
    /// Block IO configuration for the service.
    pub blkio_config: Option<BlkioConfig>,
    /// Configuration options for building the service's image.
    pub build: Option<Build>,
    /// Add Linux capabilities.
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities.
    pub cap_drop: Vec<String>,
    /// Specify the cgroup namespace to join.
    pub cgroup: Option<String>,
    /// Specify an optional parent cgroup for the container.
    pub cgroup_parent: Option<String>,
    /// Command (None: the image's).
    pub command: Option<Vec<String>>,
    /// Grant access to Configs on a per-service basis.
    pub configs: Vec<FileRef>,
    /// Specify a custom container name, rather than a generated default name.
    pub container_name: Option<String>,
    /// Number of usable CPUs.
    pub cpu_count: Option<i64>,
    /// Percentage of CPU resources to use.
    pub cpu_percent: Option<f64>,
    /// Limit the CPU CFS (Completely Fair Scheduler) period.
    pub cpu_period: Option<i64>,
    /// Limit the CPU CFS (Completely Fair Scheduler) quota.
    pub cpu_quota: Option<i64>,
    /// Limit the CPU real-time period in microseconds or a duration.
    pub cpu_rt_period: Option<i64>,
    /// Limit the CPU real-time runtime in microseconds or a duration.
    pub cpu_rt_runtime: Option<i64>,
    /// CPU shares (relative weight) for the container.
    pub cpu_shares: Option<i64>,
    /// Number of CPUs to use.
    pub cpus: Option<f64>,
    /// CPUs in which to allow execution (0-3, 0,1).
    pub cpuset: Option<String>,
    /// Configure the credential spec for managed service account.
    pub credential_spec: Option<CredentialSpec>,
    /// Services this one waits for.
    pub depends_on: IndexMap<ServiceName, DependsOn>,
    /// Deployment settings: replicas, resources, restart policy.
    pub deploy: Option<Deploy>,
    /// Development settings (`watch` rules).
    pub develop: Option<Develop>,
    /// Add rules to the cgroup allowed devices list.
    pub device_cgroup_rules: Vec<String>,
    /// List of device mappings for the container.
    pub devices: Vec<Device>,
    /// Custom DNS servers to set for the service container.
    pub dns: Vec<String>,
    /// Custom DNS options to be passed to the container's DNS resolver.
    pub dns_opt: Vec<String>,
    /// Custom DNS search domains to set on the service container.
    pub dns_search: Vec<String>,
    /// Custom domain name to use for the service container.
    pub domainname: Option<String>,
    /// Entrypoint (None: the image's).
    pub entrypoint: Option<Vec<String>>,
    /// Environment; None values are declared but unset.
    pub environment: IndexMap<String, Option<String>>,
    /// Container ports to expose without publishing them on the host.
    pub expose: Vec<String>,
    /// Link to services started outside this Compose application.
    pub external_links: Vec<String>,
    /// `host=ip` entries.
    pub extra_hosts: Vec<String>,
    /// Define GPU devices to use.
    pub gpus: Option<Gpus>,
    /// Add additional groups which user inside the container should be member of.
    pub group_add: Vec<String>,
    /// Configure a health check for the container to monitor its health status.
    pub healthcheck: Option<Healthcheck>,
    /// Define a custom hostname for the service container.
    pub hostname: Option<String>,
    /// Specify the image to start the container from.
    pub image: Option<String>,
    /// Run as an init process inside the container that forwards signals and reaps processes.
    pub init: Option<bool>,
    /// IPC sharing mode for the service container.
    pub ipc: Option<String>,
    /// Container isolation technology to use.
    pub isolation: Option<String>,
    /// Add metadata to containers using Docker labels.
    pub labels: StringMap,
    /// Files of `KEY=VALUE` labels (absolute paths), read when containers are created.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub label_file: Vec<String>,
    /// Link to containers in another service.
    pub links: Vec<String>,
    /// Logging configuration for the service.
    pub logging: Option<Logging>,
    /// Container MAC address to set.
    pub mac_address: Option<String>,
    /// Memory limit for the container.
    pub mem_limit: Option<ByteSize>,
    /// Memory reservation for the container.
    pub mem_reservation: Option<ByteSize>,
    /// Container memory swappiness as percentage (0 to 100).
    pub mem_swappiness: Option<i64>,
    /// Amount of memory the container is allowed to swap to disk.
    pub memswap_limit: Option<SignedByteSize>,
    /// Network mode.
    pub network_mode: Option<String>,
    /// Networks joined (None value: default settings).
    pub networks: IndexMap<String, Option<ServiceNetwork>>,
    /// Disable OOM Killer for the container.
    pub oom_kill_disable: Option<bool>,
    /// Tune host's OOM preferences for the container (accepts -1000 to 1000).
    pub oom_score_adj: Option<i64>,
    /// PID mode for container.
    pub pid: Option<String>,
    /// Tune a container's PIDs limit.
    pub pids_limit: Option<i64>,
    /// Target platform to run on, e.g., 'linux/amd64', 'linux/arm64', or 'windows/amd64'.
    pub platform: Option<String>,
    /// Expose container ports.
    pub ports: Vec<ServicePort>,
    /// Commands to run after the container starts.
    pub post_start: Vec<ServiceHook>,
    /// Commands to run before the container stops.
    pub pre_stop: Vec<ServiceHook>,
    /// Give extended privileges to the service container.
    pub privileged: Option<bool>,
    /// List of profiles for this service.
    pub profiles: Vec<String>,
    /// Policy for pulling images.
    pub pull_policy: Option<String>,
    /// Mount the container's filesystem as read only.
    pub read_only: Option<bool>,
    /// Restart policy for the service container.
    pub restart: Option<String>,
    /// Runtime to use for this container, e.g., 'runc'.
    pub runtime: Option<String>,
    /// Service provided by a plugin instead of a container (`type`, `options`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<Value>,
    /// AI models the service uses (short list or mapping to endpoint variables).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub models: Option<Value>,
    /// Number of containers to deploy for this service.
    pub scale: Option<u64>,
    /// Grant access to Secrets on a per-service basis.
    pub secrets: Vec<FileRef>,
    /// Override the default labeling scheme for each container.
    pub security_opt: Vec<String>,
    /// Size of /dev/shm.
    pub shm_size: Option<ByteSize>,
    /// Keep STDIN open even if not attached.
    pub stdin_open: Option<bool>,
    /// Time to wait for the container to stop gracefully before sending SIGKILL (e.g., '1s', '1m30s').
    pub stop_grace_period: Option<Duration>,
    /// Signal to stop the container (e.g., 'SIGTERM', 'SIGINT').
    pub stop_signal: Option<String>,
    /// Storage driver options for the container.
    pub storage_opt: StringMap,
    /// Kernel parameters to set in the container.
    pub sysctls: StringMap,
    /// Mount a temporary filesystem (tmpfs) into the container.
    pub tmpfs: Vec<String>,
    /// Allocate a pseudo-TTY to service container.
    pub tty: Option<bool>,
    /// Override the default ulimits for a container.
    pub ulimits: IndexMap<String, Ulimit>,
    /// Username or UID to run the container process as.
    pub user: Option<String>,
    /// User namespace to use.
    pub userns_mode: Option<String>,
    /// UTS namespace to use.
    pub uts: Option<String>,
    /// Mount the engine's API socket (with the user's registry credentials) into the container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_api_socket: Option<bool>,
    /// Mount host paths or named volumes accessible to the container.
    pub volumes: Vec<ServiceVolume>,
    /// Mount volumes from another service or container.
    pub volumes_from: Vec<String>,
    /// The working directory in which the entrypoint or command will be run
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
    /// Name of the Dockerfile to use for building the image.
    pub dockerfile: Option<String>,
    /// Inline Dockerfile content to use instead of a Dockerfile from the build context.
    pub dockerfile_inline: Option<String>,
    /// Build-time variables, specified as a map or a list of KEY=VAL pairs.
    pub args: StringMap,
    /// Build stage to target in a multi-stage Dockerfile.
    pub target: Option<String>,
    /// Labels of the built image.
    pub labels: StringMap,
    /// List of sources the image builder should use for cache resolution
    pub cache_from: Vec<String>,
    /// Cache destinations for the build cache.
    pub cache_to: Vec<String>,
    /// Do not use cache when building the image.
    pub no_cache: Option<bool>,
    /// Network mode to use for the build.
    pub network: Option<String>,
    /// Always attempt to pull a newer version of the image.
    pub pull: Option<bool>,
    /// Size of /dev/shm.
    pub shm_size: Option<ByteSize>,
    /// Add hostname mappings to the container network interface configuration.
    pub extra_hosts: Vec<String>,
    /// Additional build contexts to use, specified as a map of name to context path or URL.
    pub additional_contexts: StringMap,
    /// Platforms to build for, e.g., 'linux/amd64', 'linux/arm64', or 'windows/amd64'.
    pub platforms: Vec<String>,
    /// Additional tags to apply to the built image.
    pub tags: Vec<String>,
    /// Secrets given to the build.
    pub secrets: Vec<FileRef>,
    /// SSH agent socket or keys to expose to the build.
    pub ssh: Vec<SshSpec>,
    /// Container isolation technology to use.
    pub isolation: Option<String>,
    /// Build with extended privileges.
    pub privileged: Option<bool>,
    /// Resource limits of the build's containers.
    pub ulimits: IndexMap<String, Ulimit>,
    /// List of extra privileged entitlements to grant to the build process.
    pub entitlements: Vec<String>,
    /// Add a provenance attestation
    pub provenance: Option<Value>,
    /// Add a SBOM attestation
    pub sbom: Option<Value>,
    /// `x-` extensions.
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
    /// Condition to wait for.
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
    /// Time between running the check (e.g., '1s', '1m30s').
    pub interval: Option<Duration>,
    /// Maximum time to allow one check to run (e.g., '1s', '1m30s').
    pub timeout: Option<Duration>,
    /// Number of consecutive failures needed to consider the container as unhealthy.
    pub retries: Option<u64>,
    /// Start period for the container to initialize before starting health-retries countdown (e.g., '1s', '1m30s').
    pub start_period: Option<Duration>,
    /// Time between running the check during the start period (e.g., '1s', '1m30s').
    pub start_interval: Option<Duration>,
    /// Disable any container-specified healthcheck.
    pub disable: bool,
}

/// A published or exposed port (long form).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ServicePort {
    /// A human-readable name for the port.
    pub name: Option<String>,
    /// Port in the container.
    pub target: u16,
    /// Host port or range (`8080`, `8080-8090`); None lets the engine choose.
    pub published: Option<PortRange>,
    /// The host IP to bind to.
    pub host_ip: Option<String>,
    /// tcp, udp or sctp.
    pub protocol: String,
    /// Application protocol to use with the port (e.g., http, https, mysql).
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
    /// Path in the container.
    pub target: String,
    /// Mount read-only.
    pub read_only: bool,
    /// The consistency requirements for the mount.
    pub consistency: Option<String>,
    /// Configuration specific to bind mounts.
    pub bind: Option<BindOptions>,
    /// Configuration specific to volume mounts.
    pub volume: Option<VolumeOptions>,
    /// Configuration specific to tmpfs mounts.
    pub tmpfs: Option<TmpfsOptions>,
    /// Configuration specific to image mounts.
    pub image: Option<Value>,
    /// `x-` extensions.
    #[serde(flatten)]
    pub extensions: IndexMap<String, Value>,
}

/// Bind mount options.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct BindOptions {
    /// The propagation mode for the bind mount: 'shared', 'slave', 'private', 'rshared', 'rslave', or 'rprivate'.
    pub propagation: Option<String>,
    /// Create the host path if it doesn't exist.
    pub create_host_path: bool,
    /// SELinux relabeling options: 'z' for shared content, 'Z' for private unshared content.
    pub selinux: Option<String>,
    /// Recursively mount the source directory.
    pub recursive: Option<String>,
}

/// Named volume mount options.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct VolumeOptions {
    /// Flag to disable copying of data from a container when a volume is created.
    pub nocopy: bool,
    /// Path within the volume to mount instead of the volume root.
    pub subpath: Option<String>,
    /// Labels of the volume created for this mount.
    pub labels: StringMap,
}

/// tmpfs mount options.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct TmpfsOptions {
    /// Size of the tmpfs mount in bytes.
    pub size: Option<ByteSize>,
    /// File mode of the tmpfs root (octal bits).
    pub mode: Option<u32>,
}

/// A resource limit: one number, or soft and hard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Ulimit {
    /// Same soft and hard limit.
    Single(i64),
    /// Separate limits.
    Pair {
        /// Soft limit.
        soft: i64,
        /// Hard limit.
        hard: i64,
    },
}

/// A secret or config given to a service.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct FileRef {
    /// Name of the top-level secret or config.
    pub source: String,
    /// Path in the container (a relative one is under `/run/secrets` for secrets, `/` for configs).
    pub target: Option<String>,
    /// UID of the file in the container.
    pub uid: Option<String>,
    /// GID of the file in the container.
    pub gid: Option<String>,
    /// Octal file mode as Compose prints it (`0400`).
    pub mode: Option<String>,
}

/// Per-network settings of a service.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ServiceNetwork {
    /// Alternative hostnames for this service on the network.
    pub aliases: Vec<String>,
    /// Specify a static IPv4 address for this service on this network.
    pub ipv4_address: Option<String>,
    /// Specify a static IPv6 address for this service on this network.
    pub ipv6_address: Option<String>,
    /// List of link-local IPs.
    pub link_local_ips: Vec<String>,
    /// Container MAC address to set.
    pub mac_address: Option<String>,
    /// Specify the priority for the network connection.
    pub priority: Option<i64>,
    /// Specify the gateway priority for the network connection.
    pub gw_priority: Option<i64>,
    /// Interface network name used to connect to network
    pub interface_name: Option<String>,
    /// Driver options for this network.
    pub driver_opts: StringMap,
}

/// Logging driver.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Logging {
    /// Logging driver to use, such as 'json-file', 'syslog', 'journald', etc.
    pub driver: Option<String>,
    /// Provider-specific options.
    pub options: IndexMap<String, Option<String>>,
}

/// Deployment settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Deploy {
    /// `replicated` or `global`.
    pub mode: Option<String>,
    /// Number of replicas of the service container to run.
    pub replicas: Option<u64>,
    /// Labels of the service (Swarm), not of its containers.
    pub labels: StringMap,
    /// Resource constraints and reservations for the service.
    pub resources: Resources,
    /// Restart policy for the service containers.
    pub restart_policy: Option<RestartPolicy>,
    /// Constraints and preferences for the platform to select a physical node to run service containers
    pub placement: Placement,
    /// Configuration for updating a service.
    pub update_config: Option<UpdateConfig>,
    /// Configuration for rolling back a service update.
    pub rollback_config: Option<UpdateConfig>,
    /// Endpoint mode for the service: 'vip' (default) or 'dnsrr'.
    pub endpoint_mode: Option<String>,
}

/// Limits and reservations.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Resources {
    /// Resource limits for the service containers.
    pub limits: Option<ResourceSet>,
    /// Resource reservations for the service containers.
    pub reservations: Option<ResourceSet>,
}

/// CPU, memory, pids (and devices for reservations).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ResourceSet {
    /// Number of CPUs to use.
    pub cpus: Option<f64>,
    /// Limit on the amount of memory a container can allocate (e.g., '1g', '1024m').
    pub memory: Option<ByteSize>,
    /// Maximum number of PIDs available to the container.
    pub pids: Option<i64>,
    /// Device requests (GPUs and the like).
    pub devices: Vec<DeviceRequest>,
    /// User-defined resources to reserve.
    pub generic_resources: Vec<Value>,
}

/// Swarm-style restart policy.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct RestartPolicy {
    /// `none`, `on-failure` or `any`.
    pub condition: Option<String>,
    /// Wait between restart attempts.
    pub delay: Option<Duration>,
    /// Maximum number of restart attempts before giving up.
    pub max_attempts: Option<u64>,
    /// Time window used to evaluate the restart policy (e.g., '1s', '1m30s').
    pub window: Option<Duration>,
}

/// `develop` (watch mode).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Develop {
    /// Configure watch mode for the service, which monitors file changes and performs actions in response.
    pub watch: Vec<Watch>,
}

/// One watch rule.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Watch {
    /// sync, rebuild, restart, sync+restart, sync+exec.
    pub action: String,
    /// Path to watch for changes.
    pub path: String,
    /// Path in the container that changes are synced to.
    pub target: Option<String>,
    /// Patterns to exclude from watching.
    pub ignore: Vec<String>,
    /// Patterns of paths to watch.
    pub include: Vec<String>,
    /// Ensure that an initial synchronization is done before starting watch mode for sync+x triggers
    pub initial_sync: Option<bool>,
    /// Command to execute when a change is detected and action is sync+exec.
    pub exec: Option<ServiceHook>,
}
