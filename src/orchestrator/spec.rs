//! The desired state the orchestrator converges to: a project's services as engine create bodies, its networks and volumes.
//!
//! Built from the Compose model by `from_compose`; everything after that works on these types only.

use super::secrets::StagedFile;
use bollard::models::ContainerCreateBody;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

/// A whole project, ready to plan.
#[derive(Debug, Clone)]
pub struct ProjectSpec {
    /// Normalised project name.
    pub name: String,
    /// Project working directory (relative paths were resolved against it).
    pub working_dir: PathBuf,
    /// Compose files the project was loaded from.
    pub config_files: Vec<PathBuf>,
    /// Enabled services, in file order.
    pub services: Vec<ServiceSpec>,
    /// Networks the services use.
    pub networks: Vec<NetworkSpec>,
    /// Named volumes the services use.
    pub volumes: Vec<VolumeSpec>,
    /// The loader's dependency graph: the one source of start and stop order.
    pub graph: compose::ServiceGraph,
}

impl ProjectSpec {
    /// Looks a service up by name.
    pub fn service(&self, name: &str) -> Option<&ServiceSpec> {
        self.services.iter().find(|s| s.name == name)
    }

    /// Whether `service` builds an image under the name Compose gives one without `image:`
    /// (`<project>-<service>`): such images exist only here, so `pull` and `push` skip them.
    pub fn local_build(&self, service: &ServiceSpec) -> bool {
        service.build.is_some() && service.image == format!("{}-{}", self.name, service.name)
    }
}

/// When to pull a service's image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum PullPolicy {
    /// Pull only when the image is not present.
    #[default]
    Missing,
    /// Pull on every `up`.
    Always,
    /// Never pull; fail when the image is missing.
    Never,
    /// `daily`, `weekly`, `every_<duration>`: pull when missing or when its tag is older than this many seconds
    /// (Docker Compose compares with the image's `LastTagTime`).
    Refresh(u64),
    /// Build on every `up` (services with `build:` only).
    Build,
}

impl std::str::FromStr for PullPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        const DAY: u64 = 24 * 60 * 60;
        match s {
            "missing" | "if_not_present" => Ok(Self::Missing),
            "always" => Ok(Self::Always),
            "never" => Ok(Self::Never),
            "build" => Ok(Self::Build),
            "daily" => Ok(Self::Refresh(DAY)),
            "weekly" => Ok(Self::Refresh(7 * DAY)),
            other => other
                .strip_prefix("every_")
                .and_then(units::parse_duration)
                .filter(|n| *n > 0)
                .map(|n| Self::Refresh((n as u64).div_ceil(1_000_000_000)))
                .ok_or_else(|| {
                    format!(
                        "pull policy {other:?}: expected always, missing, if_not_present, never, build, daily, weekly \
                         or every_<duration> (such as every_12h)"
                    )
                }),
        }
    }
}

/// What a dependent waits for before it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// The dependency's containers are running.
    Started,
    /// The dependency's containers report healthy.
    Healthy,
    /// The dependency's containers exited with code 0.
    CompletedSuccessfully,
}

impl Condition {
    /// The Compose spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "service_started",
            Self::Healthy => "service_healthy",
            Self::CompletedSuccessfully => "service_completed_successfully",
        }
    }
}

/// One `depends_on` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// Service depended on.
    pub service: String,
    /// What to wait for.
    pub condition: Condition,
    /// `required: false` turns a missing or failing dependency into a warning.
    pub required: bool,
    /// `restart: true`: restart the dependent when this dependency is recreated.
    pub restart: bool,
}

/// A network attachment of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceNetwork {
    /// Network key in the project (`networks:` key).
    pub key: String,
    /// Extra DNS aliases.
    pub aliases: Vec<String>,
    /// Static IPv4 address.
    pub ipv4_address: Option<String>,
    /// Static IPv6 address.
    pub ipv6_address: Option<String>,
    /// Extra link-local addresses.
    pub link_local_ips: Vec<String>,
    /// MAC address on this network (the service's `mac_address` goes to its first network).
    pub mac_address: Option<String>,
    /// `gw_priority`: the network with the highest gives the default route.
    pub gw_priority: Option<i64>,
    /// Endpoint driver options (with `interface_name` as the engine's ifname option).
    pub driver_opts: BTreeMap<String, String>,
}

/// A lifecycle hook (`post_start`, `pre_stop`): a command exec'd in the running container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hook {
    /// Command and arguments.
    pub command: Vec<String>,
    /// User to run as (default: the container's).
    pub user: Option<String>,
    /// Extended privileges.
    pub privileged: bool,
    /// Working directory (default: the container's).
    pub working_dir: Option<String>,
    /// Extra environment, `KEY=VALUE`.
    pub environment: Vec<String>,
}

/// A service: how to create each of its replicas.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    /// Service name.
    pub name: String,
    /// Image reference.
    pub image: String,
    /// Number of replicas wanted.
    pub replicas: u32,
    /// `container_name:` when set (then only one replica is possible).
    pub container_name: Option<String>,
    /// Dependencies.
    pub depends_on: Vec<Dependency>,
    /// Image pull policy.
    pub pull_policy: PullPolicy,
    /// Networks to join (empty when `network_mode` is set).
    pub networks: Vec<ServiceNetwork>,
    /// The create body without the per-replica parts (name, compose labels, networking config).
    pub create: ContainerCreateBody,
    /// Secret and config files berth writes before creating the containers.
    pub staged: Vec<StagedFile>,
    /// `platform:` (`os/arch[/variant]`) for the pull and the create.
    pub platform: Option<String>,
    /// `attach: false` keeps the service's output out of attached `up`.
    pub attach: bool,
    /// Run after each start of a replica.
    pub post_start: Vec<Hook>,
    /// Run before each stop of a replica (when the Compose file is at hand).
    pub pre_stop: Vec<Hook>,
    /// `use_api_socket: true`: the engine's socket and the user's registry credentials go in (`api_socket`).
    pub api_socket: bool,
    /// `build:`: how to make `image` when it is missing or a build is asked for.
    pub build: Option<BuildSpec>,
    /// Id of the built image, once known: part of the config hash, so a rebuilt image recreates the containers.
    pub image_id: Option<String>,
    /// `develop.watch` rules (`berth watch`, `up --watch`).
    pub watch: Vec<WatchRule>,
}

/// What a `develop.watch` rule does when a file under its path changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchAction {
    /// Copy the changed files into the running containers.
    Sync,
    /// Build the image again and recreate the service's containers.
    Rebuild,
    /// Restart the service's containers.
    Restart,
    /// Sync, then restart.
    SyncRestart,
    /// Sync, then run the rule's `exec` command.
    SyncExec,
}

impl WatchAction {
    /// Whether the action copies files (and so needs a `target`).
    pub fn syncs(self) -> bool {
        matches!(self, Self::Sync | Self::SyncRestart | Self::SyncExec)
    }
}

impl std::str::FromStr for WatchAction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "sync" => Ok(Self::Sync),
            "rebuild" => Ok(Self::Rebuild),
            "restart" => Ok(Self::Restart),
            "sync+restart" => Ok(Self::SyncRestart),
            "sync+exec" => Ok(Self::SyncExec),
            other => Err(format!(
                "{other:?}: expected sync, rebuild, restart, sync+restart or sync+exec"
            )),
        }
    }
}

/// One `develop.watch` rule, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchRule {
    /// What to do.
    pub action: WatchAction,
    /// Host path watched (absolute; it may not exist yet).
    pub path: PathBuf,
    /// Absolute path in the container that `path` maps to (sync actions).
    pub target: Option<String>,
    /// Patterns (`.dockerignore` rules) relative to `path` whose changes are ignored.
    pub ignore: Vec<String>,
    /// Patterns relative to `path`: when any, only matching changes count.
    pub include: Vec<String>,
    /// Sync the whole path once when watching starts.
    pub initial_sync: bool,
    /// The command of `sync+exec`.
    pub exec: Option<Hook>,
    /// Index of the rule in `develop.watch` (for messages).
    pub index: usize,
}

/// Where the Dockerfile of a build comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DockerfileSource {
    /// A file (absolute path; inside the context or not).
    File(PathBuf),
    /// `dockerfile_inline:` text.
    Inline(String),
}

/// A service's `build:` section, typed; equal specs are built once (every image name they make is a tag).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BuildSpec {
    /// Context directory (absolute).
    pub context: PathBuf,
    /// The Dockerfile.
    pub dockerfile: DockerfileSource,
    /// Build arguments.
    pub args: BTreeMap<String, String>,
    /// Stage to stop at.
    pub target: Option<String>,
    /// Labels of the image.
    pub labels: BTreeMap<String, String>,
    /// Images whose layers may serve as cache.
    pub cache_from: Vec<String>,
    /// Extra tags.
    pub tags: Vec<String>,
    /// Network mode of RUN steps.
    pub network: Option<String>,
    /// `host:ip` entries for RUN steps.
    pub extra_hosts: Vec<String>,
    /// /dev/shm size of RUN steps, bytes.
    pub shm_size: Option<u64>,
    /// Ignore the build cache.
    pub no_cache: bool,
    /// Pull base images even when present.
    pub pull: bool,
    /// `platforms:` when given (only this machine's is accepted).
    pub platform: Option<String>,
    /// `secrets:`: what `RUN --mount=type=secret` may read (sent through berth's extension of /build).
    pub secrets: Vec<BuildSecret>,
    /// `additional_contexts:` by name.
    pub contexts: BTreeMap<String, NamedContext>,
}

/// A build secret of a service.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BuildSecret {
    /// The id the Dockerfile mounts (`target`, else the secret's name).
    pub id: String,
    /// Where its bytes come from.
    pub source: SecretSource,
    /// Owner uid of the mounted file.
    pub uid: Option<u32>,
    /// Owner gid of the mounted file.
    pub gid: Option<u32>,
    /// Mode of the mounted file.
    pub mode: Option<u32>,
}

/// A build secret's bytes: a host file (read when building) or a value read at load time.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SecretSource {
    /// `file:`.
    File(PathBuf),
    /// `environment:` or `content:`.
    Bytes(Vec<u8>),
}

impl std::fmt::Debug for SecretSource {
    /// Never the value: specs are printed in traces.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSource::File(p) => write!(f, "File({})", p.display()),
            SecretSource::Bytes(b) => write!(f, "Bytes(<{} bytes>)", b.len()),
        }
    }
}

/// A named build context (`FROM <name>`, `COPY --from=<name>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NamedContext {
    /// A local directory (absolute).
    Dir(PathBuf),
    /// `docker-image://<ref>`.
    Image(String),
    /// `service:<name>`: the image of that service's build (built first).
    Service(String),
}

/// A project network.
#[derive(Debug, Clone, Default)]
pub struct NetworkSpec {
    /// Key in the project.
    pub key: String,
    /// Engine name.
    pub name: String,
    /// Declared `external: true`: must exist, never created or removed.
    pub external: bool,
    /// Driver (default bridge).
    pub driver: Option<String>,
    /// Driver options.
    pub driver_opts: HashMap<String, String>,
    /// User labels.
    pub labels: HashMap<String, String>,
    /// No outside connectivity.
    pub internal: bool,
    /// `enable_ipv4: false`: an IPv6-only network.
    pub disable_ipv4: bool,
    /// Enable IPv6.
    pub enable_ipv6: bool,
    /// `attachable: true`: containers outside the project may connect.
    pub attachable: bool,
    /// IPAM pools (`ipam.config`: subnet, ip_range, gateway, aux_addresses), either family.
    pub ipam: Vec<bollard::models::IpamConfig>,
    /// Docker Compose's `config-hash` label of the network.
    pub config_hash: String,
}

/// A project named volume.
#[derive(Debug, Clone, Default)]
pub struct VolumeSpec {
    /// Key in the project.
    pub key: String,
    /// Engine name.
    pub name: String,
    /// Declared `external: true`.
    pub external: bool,
    /// Driver (default local).
    pub driver: Option<String>,
    /// Driver options.
    pub driver_opts: HashMap<String, String>,
    /// User labels.
    pub labels: HashMap<String, String>,
    /// Docker Compose's `config-hash` label of the volume.
    pub config_hash: String,
}

#[cfg(test)]
mod tests {
    use super::PullPolicy;

    #[test]
    fn refresh_policies_parse_to_their_window() {
        assert_eq!("daily".parse(), Ok(PullPolicy::Refresh(86_400)));
        assert_eq!("weekly".parse(), Ok(PullPolicy::Refresh(604_800)));
        assert_eq!("every_12h".parse(), Ok(PullPolicy::Refresh(43_200)));
        assert_eq!("every_1h30m".parse(), Ok(PullPolicy::Refresh(5_400)));
        assert_eq!("if_not_present".parse(), Ok(PullPolicy::Missing));
        assert_eq!("build".parse(), Ok(PullPolicy::Build));
        for bad in ["every_", "every_x", "every_-1h", "hourly"] {
            let err = bad.parse::<PullPolicy>().unwrap_err();
            assert!(err.contains(bad) && err.contains("every_<duration>"), "{err}");
        }
    }
}
