//! clap definitions of the Compose verbs' flags, mapped to the orchestrator's plain option structs (the
//! orchestrator never sees clap).

use crate::orchestrator::{cp, down, exec, info, lifecycle, logs, ls, ps, push, run, up};
use clap::Args;

/// Flags of `cp`.
#[derive(Args, Debug, Clone, Default)]
pub struct CpArgs {
    /// Index of the container if the service has multiple replicas (default 1).
    #[arg(long = "index")]
    pub index: Option<u32>,
    /// Copy into every replica of the service.
    #[arg(long = "all")]
    pub all: bool,
    /// Archive mode (copy all uid/gid information).
    #[arg(short = 'a', long = "archive")]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH.
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// SERVICE:SRC_PATH, or a local path (`-`: a tar stream read from stdin).
    pub source: String,
    /// SERVICE:DEST_PATH, or a local path (`-`: a tar stream written to stdout).
    pub destination: String,
}

impl From<CpArgs> for cp::CpOptions {
    fn from(a: CpArgs) -> Self {
        cp::CpOptions {
            index: a.index,
            all: a.all,
            archive: a.archive,
            follow_link: a.follow_link,
            source: a.source,
            destination: a.destination,
        }
    }
}

/// Flags of `down`.
#[derive(Args, Debug, Clone, Default)]
pub struct DownArgs {
    /// Remove named volumes declared in the "volumes" section and anonymous volumes attached to containers.
    #[arg(short = 'v', long = "volumes")]
    pub volumes: bool,
    /// Remove images used by services: "local" (only images without a custom tag) or "all".
    #[arg(long = "rmi", value_name = "TYPE")]
    pub rmi: Option<String>,
    /// Remove containers for services not defined in the Compose file.
    #[arg(long = "remove-orphans")]
    pub remove_orphans: bool,
    /// Specify a shutdown timeout in seconds.
    #[arg(short = 't', long = "timeout")]
    pub timeout: Option<i32>,
}

impl From<DownArgs> for down::DownOptions {
    fn from(a: DownArgs) -> Self {
        down::DownOptions {
            volumes: a.volumes,
            rmi: a.rmi,
            remove_orphans: a.remove_orphans,
            timeout: a.timeout,
        }
    }
}

/// Flags of `exec`.
#[derive(Args, Debug, Clone, Default)]
pub struct ExecArgs {
    /// Detached mode: run the command in the background.
    #[arg(short = 'd', long = "detach")]
    pub detach: bool,
    /// Disable pseudo-TTY allocation (by default a TTY is allocated when stdin is a terminal).
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Run the command as this user.
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// Path to the workdir directory for this command.
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Set environment variables (KEY=VALUE).
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Index of the container if the service has multiple replicas.
    #[arg(long = "index", default_value_t = 1)]
    pub index: u32,
    /// Give extended privileges to the process.
    #[arg(long = "privileged")]
    pub privileged: bool,
    /// Service name.
    pub service: String,
    /// Command and arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub command: Vec<String>,
}

impl From<ExecArgs> for exec::ExecOptions {
    fn from(a: ExecArgs) -> Self {
        exec::ExecOptions {
            detach: a.detach,
            no_tty: a.no_tty,
            user: a.user,
            workdir: a.workdir,
            env: a.env,
            index: a.index,
            privileged: a.privileged,
            service: a.service,
            command: a.command,
        }
    }
}

/// Flags of `port`.
#[derive(Args, Debug, Clone, Default)]
pub struct PortArgs {
    /// tcp or udp.
    #[arg(long = "protocol", default_value = "tcp")]
    pub protocol: String,
    /// Index of the container if the service has multiple replicas.
    #[arg(long = "index", default_value_t = 1)]
    pub index: u32,
    /// Service.
    pub service: String,
    /// Private port.
    pub private_port: u16,
}

impl From<PortArgs> for info::PortOptions {
    fn from(a: PortArgs) -> Self {
        info::PortOptions {
            protocol: a.protocol,
            index: a.index,
            service: a.service,
            private_port: a.private_port,
        }
    }
}

/// Flags of `pull`.
#[derive(Args, Debug, Clone, Default)]
pub struct PullArgs {
    /// Pull what it can and ignore images with pull failures.
    #[arg(long = "ignore-pull-failures")]
    pub ignore_pull_failures: bool,
    /// Pull without printing progress information.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Services (default: all).
    pub services: Vec<String>,
}

impl From<PullArgs> for info::PullOptions {
    fn from(a: PullArgs) -> Self {
        info::PullOptions {
            ignore_pull_failures: a.ignore_pull_failures,
            services: a.services,
        }
    }
}

/// Flags of `events`.
#[derive(Args, Debug, Clone, Default)]
pub struct EventsArgs {
    /// Output events as a stream of json objects.
    #[arg(long = "json")]
    pub json: bool,
    /// Services (default: all).
    pub services: Vec<String>,
}

impl From<EventsArgs> for info::EventsOptions {
    fn from(a: EventsArgs) -> Self {
        info::EventsOptions {
            json: a.json,
            services: a.services,
        }
    }
}

/// Flags of `wait`.
#[derive(Args, Debug, Clone, Default)]
pub struct WaitArgs {
    /// Drops project when the first container stops.
    #[arg(long = "down-project")]
    pub down_project: bool,
    /// Services to wait for.
    #[arg(required = true)]
    pub services: Vec<String>,
}

impl From<WaitArgs> for info::WaitOptions {
    fn from(a: WaitArgs) -> Self {
        info::WaitOptions {
            down_project: a.down_project,
            services: a.services,
        }
    }
}

/// Services named on the command line, and a stop timeout.
#[derive(Args, Debug, Clone, Default)]
pub struct TimeoutArgs {
    /// Specify a shutdown timeout in seconds.
    #[arg(short = 't', long = "timeout")]
    pub timeout: Option<i32>,
    /// Services (default: all).
    pub services: Vec<String>,
}

impl From<TimeoutArgs> for lifecycle::TimeoutOptions {
    fn from(a: TimeoutArgs) -> Self {
        lifecycle::TimeoutOptions {
            timeout: a.timeout,
            services: a.services,
        }
    }
}

/// Services named on the command line.
#[derive(Args, Debug, Clone, Default)]
pub struct ServicesArgs {
    /// Services (default: all).
    pub services: Vec<String>,
}

impl From<ServicesArgs> for lifecycle::ServicesOptions {
    fn from(a: ServicesArgs) -> Self {
        lifecycle::ServicesOptions { services: a.services }
    }
}

/// Flags of `kill`.
#[derive(Args, Debug, Clone, Default)]
pub struct KillArgs {
    /// SIGNAL to send to the container.
    #[arg(short = 's', long = "signal", default_value = "SIGKILL")]
    pub signal: String,
    /// Remove containers for services not defined in the Compose file.
    #[arg(long = "remove-orphans")]
    pub remove_orphans: bool,
    /// Services (default: all).
    pub services: Vec<String>,
}

impl From<KillArgs> for lifecycle::KillOptions {
    fn from(a: KillArgs) -> Self {
        lifecycle::KillOptions {
            signal: a.signal,
            services: a.services,
        }
    }
}

/// Flags of `rm`.
#[derive(Args, Debug, Clone, Default)]
pub struct RmArgs {
    /// Don't ask to confirm removal.
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Stop the containers, if required, before removing.
    #[arg(short = 's', long = "stop")]
    pub stop: bool,
    /// Remove any anonymous volumes attached to containers.
    #[arg(short = 'v', long = "volumes")]
    pub volumes: bool,
    /// Services (default: all).
    pub services: Vec<String>,
}

impl From<RmArgs> for lifecycle::RmOptions {
    fn from(a: RmArgs) -> Self {
        lifecycle::RmOptions {
            force: a.force,
            stop: a.stop,
            volumes: a.volumes,
            services: a.services,
        }
    }
}

/// Flags of `logs`.
#[derive(Args, Debug, Clone, Default)]
pub struct LogsArgs {
    /// Follow log output.
    #[arg(short = 'f', long = "follow")]
    pub follow: bool,
    /// Show timestamps.
    #[arg(short = 't', long = "timestamps")]
    pub timestamps: bool,
    /// Number of lines to show from the end of the logs for each container ("all" for everything).
    #[arg(short = 'n', long = "tail", default_value = "all")]
    pub tail: String,
    /// Show logs since a Unix timestamp (seconds) or a relative duration such as 42s, 5m, 1h.
    #[arg(long = "since")]
    pub since: Option<String>,
    /// Produce monochrome output.
    #[arg(long = "no-color")]
    pub no_color: bool,
    /// Don't print prefix in logs.
    #[arg(long = "no-log-prefix")]
    pub no_log_prefix: bool,
    /// Index of the container if the service has multiple replicas.
    #[arg(long = "index")]
    pub index: Option<u32>,
    /// Services (default: all).
    pub services: Vec<String>,
}

impl From<LogsArgs> for logs::LogsOptions {
    fn from(a: LogsArgs) -> Self {
        logs::LogsOptions {
            follow: a.follow,
            timestamps: a.timestamps,
            tail: a.tail,
            since: a.since,
            no_color: a.no_color,
            no_log_prefix: a.no_log_prefix,
            index: a.index,
            services: a.services,
        }
    }
}

/// Flags of `ls`.
#[derive(Args, Debug, Clone, Default)]
pub struct LsArgs {
    /// Show all stopped Compose projects.
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Format the output: table or json.
    #[arg(long = "format", default_value = "table")]
    pub format: String,
    /// Only display project names.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

impl From<LsArgs> for ls::LsOptions {
    fn from(a: LsArgs) -> Self {
        ls::LsOptions {
            all: a.all,
            format: a.format,
            quiet: a.quiet,
        }
    }
}

/// Flags of `ps`.
#[derive(Args, Debug, Clone, Default)]
pub struct PsArgs {
    /// Show all stopped containers (including those created by the run command).
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Format the output: table or json.
    #[arg(long = "format", default_value = "table")]
    pub format: String,
    /// Only display IDs.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Display services.
    #[arg(long = "services")]
    pub services: bool,
    /// Filter services by status: paused, restarting, removing, running, dead, created, exited.
    #[arg(long = "status")]
    pub status: Vec<String>,
    /// Services to show (default: all).
    pub service_names: Vec<String>,
}

impl From<PsArgs> for ps::PsOptions {
    fn from(a: PsArgs) -> Self {
        ps::PsOptions {
            all: a.all,
            format: a.format,
            quiet: a.quiet,
            services: a.services,
            status: a.status,
            service_names: a.service_names,
        }
    }
}

/// Flags of `push`.
#[derive(Args, Debug, Clone, Default)]
pub struct PushArgs {
    /// Push what it can and ignore images with push failures.
    #[arg(long = "ignore-push-failures")]
    pub ignore_push_failures: bool,
    /// Push without printing progress information.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Services (default: all).
    pub services: Vec<String>,
}

impl From<PushArgs> for push::PushOptions {
    fn from(a: PushArgs) -> Self {
        push::PushOptions {
            ignore_push_failures: a.ignore_push_failures,
            quiet: a.quiet,
            services: a.services,
        }
    }
}

/// Flags of `run`.
#[derive(Args, Debug, Clone, Default)]
pub struct RunArgs {
    /// Run container in background and print container ID.
    #[arg(short = 'd', long = "detach")]
    pub detach: bool,
    /// Automatically remove the container when it exits.
    #[arg(long = "rm")]
    pub rm: bool,
    /// Assign a name to the container.
    #[arg(long = "name")]
    pub name: Option<String>,
    /// Set environment variables (KEY=VALUE).
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Bind mount a volume (SOURCE:TARGET[:ro]).
    #[arg(short = 'v', long = "volume")]
    pub volumes: Vec<String>,
    /// Publish a container's port(s) to the host ([IP:]HOST:CONTAINER[/PROTO]).
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Run command with all service's ports enabled and mapped to the host.
    #[arg(long = "service-ports")]
    pub service_ports: bool,
    /// Don't start linked services.
    #[arg(long = "no-deps")]
    pub no_deps: bool,
    /// Override the entrypoint of the image.
    #[arg(long = "entrypoint")]
    pub entrypoint: Option<String>,
    /// Run as specified username or uid.
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// Working directory inside the container.
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Disable pseudo-TTY allocation (by default a TTY is allocated when stdin is a terminal).
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Service to run.
    pub service: String,
    /// Command and arguments (default: the service's).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

impl From<RunArgs> for run::RunOptions {
    fn from(a: RunArgs) -> Self {
        run::RunOptions {
            detach: a.detach,
            rm: a.rm,
            name: a.name,
            env: a.env,
            volumes: a.volumes,
            publish: a.publish,
            service_ports: a.service_ports,
            no_deps: a.no_deps,
            entrypoint: a.entrypoint,
            user: a.user,
            workdir: a.workdir,
            no_tty: a.no_tty,
            service: a.service,
            command: a.command,
        }
    }
}

/// Flags `up` and `create` share: how existing containers are treated, pulls, scale.
#[derive(Args, Debug, Clone, Default)]
pub struct ConvergeArgs {
    /// Recreate containers even if their configuration hasn't changed.
    #[arg(long = "force-recreate", conflicts_with = "no_recreate")]
    pub force_recreate: bool,
    /// If containers already exist, don't recreate them.
    #[arg(long = "no-recreate")]
    pub no_recreate: bool,
    /// Remove containers for services not defined in the Compose file.
    #[arg(long = "remove-orphans")]
    pub remove_orphans: bool,
    /// Pull image before running ("always"|"missing"|"never").
    #[arg(long = "pull", value_name = "POLICY")]
    pub pull: Option<String>,
    /// Scale SERVICE to NUM instances (SERVICE=NUM); overrides `scale`/`deploy.replicas`.
    #[arg(long = "scale", value_name = "SERVICE=NUM")]
    pub scale: Vec<String>,
}

impl From<ConvergeArgs> for up::ConvergePolicy {
    fn from(a: ConvergeArgs) -> Self {
        up::ConvergePolicy {
            force_recreate: a.force_recreate,
            no_recreate: a.no_recreate,
            remove_orphans: a.remove_orphans,
            pull: a.pull,
            scale: a.scale,
        }
    }
}

/// Flags of `up`, as `docker compose up` has them.
#[derive(Args, Debug, Clone, Default)]
pub struct UpArgs {
    /// Detached mode: run containers in the background.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Wait for services to be running|healthy (implies detached mode).
    #[arg(long)]
    pub wait: bool,
    /// Maximum duration in seconds to wait for the project to be running|healthy.
    #[arg(long = "wait-timeout")]
    pub wait_timeout: Option<u64>,
    /// Don't start linked services.
    #[arg(long = "no-deps")]
    pub no_deps: bool,
    /// Recreation, orphans, pulls and scale.
    #[command(flatten)]
    pub converge: ConvergeArgs,
    /// Stops all containers if any container was stopped.
    #[arg(long = "abort-on-container-exit")]
    pub abort_on_container_exit: bool,
    /// Return the exit code of the selected service container (implies --abort-on-container-exit).
    #[arg(long = "exit-code-from", value_name = "SERVICE")]
    pub exit_code_from: Option<String>,
    /// Restrict attaching to the specified services.
    #[arg(long = "attach", value_name = "SERVICE")]
    pub attach: Vec<String>,
    /// Don't start the services after creating them.
    #[arg(long = "no-start")]
    pub no_start: bool,
    /// Use this timeout in seconds for container shutdown.
    #[arg(short = 't', long = "timeout")]
    pub timeout: Option<i32>,
    /// Produce monochrome output.
    #[arg(long = "no-color")]
    pub no_color: bool,
    /// Don't prefix log lines with the container name.
    #[arg(long = "no-log-prefix")]
    pub no_log_prefix: bool,
    /// Services to start (default: all).
    pub services: Vec<String>,
}

impl From<UpArgs> for up::UpOptions {
    fn from(a: UpArgs) -> Self {
        up::UpOptions {
            detach: a.detach,
            wait: a.wait,
            wait_timeout: a.wait_timeout,
            no_deps: a.no_deps,
            converge: a.converge.into(),
            abort_on_container_exit: a.abort_on_container_exit,
            exit_code_from: a.exit_code_from,
            attach: a.attach,
            no_start: a.no_start,
            timeout: a.timeout,
            no_color: a.no_color,
            no_log_prefix: a.no_log_prefix,
            services: a.services,
        }
    }
}

/// Flags of `create` (an `up --no-start`).
#[derive(Args, Debug, Clone, Default)]
pub struct CreateArgs {
    /// Recreation, orphans, pulls and scale.
    #[command(flatten)]
    pub converge: ConvergeArgs,
    /// Services (default: all).
    pub services: Vec<String>,
}

impl From<CreateArgs> for up::CreateOptions {
    fn from(a: CreateArgs) -> Self {
        up::CreateOptions {
            converge: a.converge.into(),
            services: a.services,
        }
    }
}
