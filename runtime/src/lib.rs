//! Running isolated containers: OCI runtime spec with Docker's defaults, overlay rootfs, and a detached
//! per-container monitor process (the `berth` binary in a hidden mode) that owns each container through libcontainer.
//!
//! Layout under the state root:
//! - `runtime/<id>/` on disk, what must outlive a host restart: `upper/`, `work/` (the writable layer),
//!   `container.log` (json lines); `runtime/.init/` the init layers, one per image ([`initlayer`]).
//! - `run/<id>/` the bundle, in memory when the engine mounted its tmpfs there ([`rundir`]): `config.json` (OCI
//!   spec), `rootfs/` (overlay mount), `etc/` (hosts, hostname, resolv.conf, written at every start),
//!   `monitor.json` (what the monitor needs), `monitor.pid`, `exit.json` (exit record), `stdin` (FIFO when
//!   `open_stdin`), sockets.
//! - `run/libcontainer/<id>/` libcontainer's own state.
//!
//! Kernel objects are named by the container id so a crashed run is cleaned by [`Runtime::remove`]:
//! cgroup `berth/<id>` under every v1 controller and under v2, the rootfs mount, the monitor process.

pub mod caps;
pub mod cgroups;
pub mod devices;
pub mod exec;
pub mod executor;
pub mod exit;
pub mod initlayer;
pub mod logdriver;
pub mod logfile;
pub mod logrotate;
pub mod monitor;
pub mod probe;
pub mod resources;
pub mod rootfs;
pub mod rundir;
pub mod seccomp;
pub mod spec;
mod tty;
pub mod user;
pub mod zygote;

mod error;
mod join;
mod lifecycle;
mod pidfd;

pub use error::{Result, RuntimeError};
pub use exec::ExecProcess;
pub use exit::ExitRecord;
pub use nix::sys::signal::Signal;
pub use resources::{Blkio, DeviceLimit, Resources};

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// The container runtime rooted at `<state root>/runtime` (data) and `<state root>/run` (bundles).
#[derive(Debug, Clone)]
pub struct Runtime {
    root: PathBuf,
    run: PathBuf,
    monitor_exe: PathBuf,
    /// Forks the monitors (shared by the clones of this runtime).
    zygote: std::sync::Arc<zygote::Zygote>,
    /// Seccomp programs compiled so far (shared likewise).
    seccomp_programs: std::sync::Arc<seccomp::Programs>,
}

/// Everything needed to run one container; the engine fills it from the container config and the image.
#[derive(Debug, Clone, Default)]
pub struct ContainerSpec {
    /// 64-hex container id.
    pub id: String,
    /// Container name (without leading slash), for labels and logs.
    pub name: String,
    /// Unpacked image layer dirs, top-most first.
    pub lower_dirs: Vec<PathBuf>,
    /// The container's main process.
    pub process: ProcessSpec,
    /// Container hostname.
    pub hostname: String,
    /// Optional NIS domain name.
    pub domainname: Option<String>,
    /// Extra /etc/hosts entries (name, address), added after localhost lines.
    pub hosts: Vec<(String, IpAddr)>,
    /// Contents of /etc/resolv.conf.
    pub resolv_conf: ResolvConf,
    /// Bind mounts (volumes crate prepares the sources).
    pub mounts: Vec<MountSpec>,
    /// tmpfs mounts: destination and mount options (e.g. "size=64m,mode=1777").
    pub tmpfs: Vec<(String, String)>,
    /// Network namespace mode.
    pub netns: NetnsMode,
    /// The pid, ipc, uts and cgroup namespaces.
    pub namespaces: Namespaces,
    /// Where /dev/shm comes from.
    pub shm: ShmMode,
    /// The kernel's OOM-killer preference for the container's processes (-1000..=1000).
    pub oom_score_adj: Option<i32>,
    /// Extra OCI annotations (Docker's HostConfig.Annotations).
    pub annotations: BTreeMap<String, String>,
    /// Cgroup parent (Docker's CgroupParent); None = `berth`.
    pub cgroup_parent: Option<String>,
    /// Cgroup resource limits.
    pub resources: Resources,
    /// Privileges and confinement.
    pub security: Security,
    /// Process rlimits.
    pub ulimits: Vec<Ulimit>,
    /// Namespaced sysctls (net.*, kernel.shm*, ...).
    pub sysctls: BTreeMap<String, String>,
    /// Run an init (tini) as PID 1 that forwards signals and reaps zombies.
    pub init: bool,
    /// Signal sent by a graceful stop (default SIGTERM when None).
    pub stop_signal: Option<Signal>,
    /// Log driver and rotation.
    pub log: logdriver::LogConfig,
}

/// A process to run in a container (the main process, or an exec).
#[derive(Debug, Clone, Default)]
pub struct ProcessSpec {
    /// argv: entrypoint + cmd, already resolved; must not be empty.
    pub args: Vec<String>,
    /// `KEY=value` environment; PATH is added when missing.
    pub env: Vec<String>,
    /// Working directory inside the container (default "/").
    pub cwd: Option<String>,
    /// Docker user syntax: "", "uid", "uid:gid", "name", "name:group"; names resolved against the rootfs.
    pub user: Option<String>,
    /// Extra groups (names or gids).
    pub additional_groups: Vec<String>,
    /// Every capability (`docker exec --privileged`); the container's bounding set still limits it.
    pub privileged: bool,
    /// Allocate a pseudo-terminal.
    pub tty: bool,
    /// Initial terminal size (rows, cols), set inside the container before the process runs (with `tty`).
    pub console_size: Option<(u16, u16)>,
    /// Keep stdin open (a FIFO at [`Runtime::stdin_path`]).
    pub open_stdin: bool,
    /// Stdin ends (EOF) when the first attached client closes it, rather than staying open for later attaches.
    pub stdin_once: bool,
}

/// /etc/resolv.conf contents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvConf {
    /// Nameserver addresses.
    pub nameservers: Vec<IpAddr>,
    /// Search domains.
    pub search: Vec<String>,
    /// Options (e.g. "ndots:0").
    pub options: Vec<String>,
}

/// A bind mount into the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    /// Host path.
    pub source: PathBuf,
    /// Absolute path inside the container.
    pub destination: String,
    /// Mount read-only.
    pub readonly: bool,
    /// Extra mount options (e.g. "rprivate", "nosuid").
    pub options: Vec<String>,
}

/// How the container gets its network namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NetnsMode {
    /// A fresh namespace with only loopback.
    #[default]
    None,
    /// Join a namespace made by netstack (a bind-mounted nsfs path).
    Path(PathBuf),
    /// Share the host's network namespace.
    Host,
}

/// How the container gets one of its pid, ipc, uts or cgroup namespaces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum NsMode {
    /// A fresh namespace.
    #[default]
    Private,
    /// The host's namespace.
    Host,
    /// Another process's namespace (`/proc/<pid>/ns/<kind>`, for `container:<id>`).
    Join(PathBuf),
}

/// The namespaces besides the network one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Namespaces {
    /// PID namespace (`host`: the container sees every host process).
    pub pid: NsMode,
    /// IPC namespace.
    pub ipc: NsMode,
    /// UTS namespace (`host`: the host's hostname, which the container cannot set).
    pub uts: NsMode,
    /// Cgroup namespace; None = Docker's default for the host (private on v2, host on v1).
    pub cgroup: Option<NsMode>,
}

/// Where the container's /dev/shm comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ShmMode {
    /// A tmpfs of its own (`resources.shm_size`).
    #[default]
    Private,
    /// No /dev/shm (Docker's `--ipc none`).
    None,
    /// A bind mount of another /dev/shm (the host's, or a shareable donor's [`Runtime::shm_dir`]).
    Bind(PathBuf),
    /// A tmpfs of its own mounted on the host at [`Runtime::shm_dir`] (inside the bundle, so a crashed run's
    /// leftovers are found there) and bound at /dev/shm: containers joining this one's IPC namespace bind the
    /// same tmpfs, as dockerd does for `--ipc shareable`. A /dev/shm mounted inside the container's own mount
    /// namespace could not be reached by another container's bind mount.
    Shareable,
}

/// Privileges and confinement of the container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Security {
    /// All capabilities, all devices, no seccomp, no masked paths, writable /sys.
    pub privileged: bool,
    /// Capabilities to add ("NET_ADMIN", "CAP_SYS_TIME", "ALL").
    pub cap_add: Vec<String>,
    /// Capabilities to drop ("ALL" drops everything not added).
    pub cap_drop: Vec<String>,
    /// Mount the rootfs read-only.
    pub readonly_rootfs: bool,
    /// Set no_new_privs on the process.
    pub no_new_privileges: bool,
    /// Turn off berth's default seccomp profile (`seccomp=unconfined`).
    pub seccomp_unconfined: bool,
    /// Paths hidden from the container; None: [`spec::MASKED_PATHS`] (Docker's `HostConfig.MaskedPaths`).
    pub masked_paths: Option<Vec<String>>,
    /// Paths made read-only; None: [`spec::READONLY_PATHS`] (Docker's `HostConfig.ReadonlyPaths`).
    pub readonly_paths: Option<Vec<String>>,
}

/// A process rlimit (Docker's Ulimit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ulimit {
    /// Name as Docker spells it ("nofile", "nproc", "core", ...).
    pub name: String,
    /// Soft limit.
    pub soft: u64,
    /// Hard limit.
    pub hard: u64,
}

/// What [`Runtime::start`] reports once the container process runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// Host pid of the container's PID 1.
    pub pid: i32,
    /// Host pid of the monitor that owns the container.
    pub monitor_pid: i32,
    /// When the container process was started.
    pub started_at: chrono::DateTime<chrono::Utc>,
}

/// Stdio of an exec (pipes or sockets). Create them close-on-exec (e.g. `pipe2(O_CLOEXEC)`): a copy inherited
/// by another child would keep the exec's stdin open forever. With `tty` the helper holds the pty itself.
#[derive(Debug)]
pub struct ExecStdio {
    /// stdin for the exec'd process (None = /dev/null).
    pub stdin: Option<std::os::fd::OwnedFd>,
    /// stdout (with tty: the terminal's output).
    pub stdout: Option<std::os::fd::OwnedFd>,
    /// stderr (ignored with tty).
    pub stderr: Option<std::os::fd::OwnedFd>,
}

impl Runtime {
    /// Opens (and creates) the runtime roots `<state_root>/runtime` and `<state_root>/run`; the monitor is this
    /// executable. The run dir is a plain directory until [`Runtime::mount_run_dir`] puts a tmpfs there.
    pub fn new(state_root: &Path) -> Result<Self> {
        let root = state_root.join("runtime");
        let run = state_root.join(rundir::RUN_DIR);
        for dir in [&root, &run.join("libcontainer")] {
            std::fs::create_dir_all(dir).map_err(|e| RuntimeError::io(format!("creating {}", dir.display()), e))?;
        }
        let monitor_exe = std::env::current_exe().map_err(|e| RuntimeError::io("locating the berth executable", e))?;
        lifecycle::purge_trash(&root);
        lifecycle::purge_trash(&run);
        initlayer::prune(&root, true);
        let zygote = std::sync::Arc::new(zygote::Zygote::new(monitor_exe.clone()));
        Ok(Self {
            root,
            run,
            monitor_exe,
            zygote,
            seccomp_programs: Default::default(),
        })
    }

    /// Puts the bundles in memory: mounts the run dir's tmpfs unless it is there (see [`rundir`]). The engine
    /// calls it before any container starts.
    pub fn mount_run_dir(&self) -> Result<()> {
        rundir::mount(&self.run)
    }

    /// Unmounts the run dir's tmpfs when no container's monitor is alive (the engine, as it stops); Ok(false)
    /// when monitors still use it.
    pub fn release_run_dir(&self) -> Result<bool> {
        if self.bundles()?.iter().any(|id| self.monitor_pid(id).is_some()) {
            return Ok(false);
        }
        rundir::unmount(&self.run)?;
        Ok(true)
    }

    /// Uses another executable as monitor (tests: the built `berth` binary); it must accept `__monitor <bundle>`
    /// and `__zygote`.
    pub fn with_monitor_exe(mut self, exe: impl Into<PathBuf>) -> Self {
        self.monitor_exe = exe.into();
        self.zygote = std::sync::Arc::new(zygote::Zygote::new(self.monitor_exe.clone()));
        self
    }

    /// The runtime root (`<state root>/runtime`).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Bundle directory of a container: in the run dir, or where an engine before the run dir kept it (the data
    /// dir) while such a container has not been started again (see [`Runtime::is_legacy`]).
    pub fn bundle_dir(&self, id: &str) -> PathBuf {
        if self.is_legacy(id) {
            self.root.join(id)
        } else {
            self.run.join(id)
        }
    }

    /// Whether the container's bundle is still in its data dir, as engines before the run dir made it: its
    /// monitor (maybe still running) and libcontainer state are there. Its next start moves it.
    pub(crate) fn is_legacy(&self, id: &str) -> bool {
        self.root.join(id).join(monitor::CONFIG_FILE).exists()
    }

    /// Data directory of a container (on disk: writable layer, log).
    pub fn data_dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Every path of a container's bundle and data.
    pub fn paths(&self, id: &str) -> rootfs::BundlePaths {
        rootfs::BundlePaths::new(&self.bundle_dir(id), &self.data_dir(id))
    }

    /// Host directory of a `ShmMode::Shareable` container's /dev/shm tmpfs (mounted while it runs).
    pub fn shm_dir(&self, id: &str) -> PathBuf {
        rootfs::shm_dir(&self.bundle_dir(id))
    }

    /// The container's log file (json lines, see [`logfile`]).
    pub fn log_path(&self, id: &str) -> PathBuf {
        self.data_dir(id).join(logfile::LOG_FILE)
    }

    /// FIFO the engine writes the container's stdin into (exists when `open_stdin`).
    pub fn stdin_path(&self, id: &str) -> PathBuf {
        self.bundle_dir(id).join("stdin")
    }

    /// Makes the (empty) log file and the data dir if missing, so a follower placed before the first start
    /// holds the very file the monitor appends to: a short-lived `--rm` container is removed, log and all,
    /// before a follower that waited for the file could open it.
    pub fn ensure_log_file(&self, id: &str) -> Result<PathBuf> {
        lifecycle::check_id(id)?;
        let path = self.log_path(id);
        std::fs::create_dir_all(self.data_dir(id)).map_err(|e| RuntimeError::io("creating the data dir", e))?;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| RuntimeError::io(format!("creating the log {}", path.display()), e))?;
        Ok(path)
    }

    /// Makes the stdin FIFO (and the bundle dir) if missing: an attach may come before the first start.
    pub fn ensure_stdin_fifo(&self, id: &str) -> Result<PathBuf> {
        lifecycle::check_id(id)?;
        let path = self.stdin_path(id);
        if path.exists() {
            return Ok(path);
        }
        std::fs::create_dir_all(self.bundle_dir(id)).map_err(|e| RuntimeError::io("creating the bundle dir", e))?;
        match nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600)) {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => Ok(path),
            Err(e) => Err(RuntimeError::errno("creating the stdin FIFO", e)),
        }
    }

    /// libcontainer's state root for new bundles.
    pub(crate) fn lc_root(&self) -> PathBuf {
        self.run.join("libcontainer")
    }

    /// libcontainer's state root of the container `id` (a legacy bundle's is in the runtime root).
    pub(crate) fn lc_root_of(&self, id: &str) -> PathBuf {
        if self.is_legacy(id) {
            self.root.join("libcontainer")
        } else {
            self.lc_root()
        }
    }
}
