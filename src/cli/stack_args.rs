//! clap definitions of the Compose verbs' flags, mapped to the orchestrator's plain option structs (the
//! orchestrator never sees clap).

use crate::orchestrator::{
    attach_cmd, cp, down, event_log, exec, info, lifecycle, logs, ls, ps, push, run, snapshot, stats, up, volumes,
    watch,
};
use clap::Args;

pub use super::stack_args_up::{BuildArgs, CreateArgs, UpArgs};

/// Defines a verb's clap `Args` struct and its field-by-field conversion into the orchestrator's option
/// struct of the same fields, from one field list (the two must not drift apart).
macro_rules! options_args {
    ($(#[$meta:meta])* $name:ident => $target:path {
        $($(#[$fmeta:meta])* $field:ident: $ty:ty),* $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Args, Debug, Clone, Default)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl From<$name> for $target {
            fn from(a: $name) -> Self {
                Self { $($field: a.$field,)* }
            }
        }
    };
}

options_args! {
    /// Flags of `cp`.
    CpArgs => cp::CpOptions {
        /// Index of the container if the service has multiple replicas (default 1).
        #[arg(long = "index")]
        index: Option<u32>,
        /// Copy into every replica of the service.
        #[arg(long = "all")]
        all: bool,
        /// Archive mode (copy all uid/gid information).
        #[arg(short = 'a', long = "archive")]
        archive: bool,
        /// Always follow symbol link in SRC_PATH.
        #[arg(short = 'L', long = "follow-link")]
        follow_link: bool,
        /// SERVICE:SRC_PATH, or a local path (`-`: a tar stream read from stdin).
        source: String,
        /// SERVICE:DEST_PATH, or a local path (`-`: a tar stream written to stdout).
        destination: String,
    }
}

options_args! {
    /// Flags of `down`.
    DownArgs => down::DownOptions {
        /// Remove named volumes declared in the "volumes" section and anonymous volumes attached to containers.
        #[arg(short = 'v', long = "volumes")]
        volumes: bool,
        /// Remove images used by services: "local" (only images without a custom tag) or "all".
        #[arg(long = "rmi", value_name = "TYPE")]
        rmi: Option<String>,
        /// Remove containers for services not defined in the Compose file.
        #[arg(long = "remove-orphans")]
        remove_orphans: bool,
        /// Specify a shutdown timeout in seconds.
        #[arg(short = 't', long = "timeout")]
        timeout: Option<i32>,
    }
}

options_args! {
    /// Flags of `exec`.
    ExecArgs => exec::ExecOptions {
        /// Detached mode: run the command in the background.
        #[arg(short = 'd', long = "detach")]
        detach: bool,
        /// Disable pseudo-TTY allocation (by default a TTY is allocated when stdin is a terminal).
        #[arg(short = 'T', long = "no-tty", alias = "no-TTY")]
        no_tty: bool,
        /// Run the command as this user.
        #[arg(short = 'u', long = "user")]
        user: Option<String>,
        /// Path to the workdir directory for this command.
        #[arg(short = 'w', long = "workdir")]
        workdir: Option<String>,
        /// Set environment variables (KEY=VALUE).
        #[arg(short = 'e', long = "env")]
        env: Vec<String>,
        /// Index of the container if the service has multiple replicas.
        #[arg(long = "index", default_value_t = 1)]
        index: u32,
        /// Give extended privileges to the process.
        #[arg(long = "privileged")]
        privileged: bool,
        /// Service name.
        service: String,
        /// Command and arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        command: Vec<String>,
    }
}

options_args! {
    /// Flags of `attach`.
    AttachArgs => attach_cmd::AttachOptions {
        /// Index of the container if the service has multiple replicas.
        #[arg(long = "index", default_value_t = 1)]
        index: u32,
        /// Do not attach STDIN.
        #[arg(long = "no-stdin")]
        no_stdin: bool,
        /// Proxy all received signals to the process (default true).
        #[arg(long = "sig-proxy", default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
        sig_proxy: bool,
        /// Override the key sequence for detaching from a container.
        #[arg(long = "detach-keys")]
        detach_keys: Option<String>,
        /// Service.
        service: String,
    }
}

options_args! {
    /// Flags of `port`.
    PortArgs => info::PortOptions {
        /// tcp or udp.
        #[arg(long = "protocol", default_value = "tcp")]
        protocol: String,
        /// Index of the container if the service has multiple replicas.
        #[arg(long = "index", default_value_t = 1)]
        index: u32,
        /// Service.
        service: String,
        /// Private port.
        private_port: u16,
    }
}

/// `pull --policy` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PullPolicyArg {
    /// Pull only images that are not present.
    Missing,
    /// Pull every image.
    Always,
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
    /// Ignore images that can be built.
    #[arg(long = "ignore-buildable")]
    pub ignore_buildable: bool,
    /// Also pull services declared as dependencies.
    #[arg(long = "include-deps")]
    pub include_deps: bool,
    /// Apply pull policy ("missing"|"always").
    #[arg(long = "policy", value_enum)]
    pub policy: Option<PullPolicyArg>,
    /// Services (default: all).
    pub services: Vec<String>,
}

impl From<PullArgs> for info::PullOptions {
    fn from(a: PullArgs) -> Self {
        info::PullOptions {
            ignore_pull_failures: a.ignore_pull_failures,
            quiet: a.quiet,
            ignore_buildable: a.ignore_buildable,
            include_deps: a.include_deps,
            policy: a.policy.map(|p| match p {
                PullPolicyArg::Missing => crate::orchestrator::spec::PullPolicy::Missing,
                PullPolicyArg::Always => crate::orchestrator::spec::PullPolicy::Always,
            }),
            services: a.services,
        }
    }
}

options_args! {
    /// Flags of `events`.
    EventsArgs => event_log::EventsOptions {
        /// Output events as a stream of json objects.
        #[arg(long = "json")]
        json: bool,
        /// Show all events created since timestamp (or a duration back from now, e.g. 10m).
        #[arg(long = "since")]
        since: Option<String>,
        /// Stream events until this timestamp.
        #[arg(long = "until")]
        until: Option<String>,
        /// Services (default: all).
        services: Vec<String>,
    }
}

options_args! {
    /// Flags of `wait`.
    WaitArgs => info::WaitOptions {
        /// Drops project when the first container stops.
        #[arg(long = "down-project")]
        down_project: bool,
        /// Services to wait for.
        #[arg(required = true)]
        services: Vec<String>,
    }
}

options_args! {
    /// Services named on the command line, and a stop timeout.
    TimeoutArgs => lifecycle::TimeoutOptions {
        /// Specify a shutdown timeout in seconds.
        #[arg(short = 't', long = "timeout")]
        timeout: Option<i32>,
        /// Services (default: all).
        services: Vec<String>,
    }
}

options_args! {
    /// Flags of `restart`.
    RestartArgs => lifecycle::RestartOptions {
        /// Specify a shutdown timeout in seconds.
        #[arg(short = 't', long = "timeout")]
        timeout: Option<i32>,
        /// Don't restart dependent services.
        #[arg(long = "no-deps")]
        no_deps: bool,
        /// Services (default: all).
        services: Vec<String>,
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

options_args! {
    /// Flags of `rm`.
    RmArgs => lifecycle::RmOptions {
        /// Don't ask to confirm removal.
        #[arg(short = 'f', long = "force")]
        force: bool,
        /// Stop the containers, if required, before removing.
        #[arg(short = 's', long = "stop")]
        stop: bool,
        /// Remove any anonymous volumes attached to containers.
        #[arg(short = 'v', long = "volumes")]
        volumes: bool,
        /// Services (default: all).
        services: Vec<String>,
    }
}

options_args! {
    /// Flags of `logs`.
    LogsArgs => logs::LogsOptions {
        /// Follow log output.
        #[arg(short = 'f', long = "follow")]
        follow: bool,
        /// Show timestamps.
        #[arg(short = 't', long = "timestamps")]
        timestamps: bool,
        /// Number of lines to show from the end of the logs for each container ("all" for everything).
        #[arg(short = 'n', long = "tail", default_value = "all")]
        tail: String,
        /// Show logs since a timestamp (Unix seconds or RFC 3339, e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m).
        #[arg(long = "since")]
        since: Option<String>,
        /// Show logs before a timestamp (Unix seconds or RFC 3339) or relative (e.g. 42m for 42 minutes).
        #[arg(long = "until")]
        until: Option<String>,
        /// Produce monochrome output.
        #[arg(long = "no-color")]
        no_color: bool,
        /// Don't print prefix in logs.
        #[arg(long = "no-log-prefix")]
        no_log_prefix: bool,
        /// Index of the container if the service has multiple replicas.
        #[arg(long = "index")]
        index: Option<u32>,
        /// Services (default: all).
        services: Vec<String>,
    }
}

options_args! {
    /// Flags of `images`.
    ImagesArgs => info::ImagesOptions {
        /// Format the output. Values: [table | json].
        #[arg(long = "format", default_value = "table")]
        format: String,
        /// Only display IDs.
        #[arg(short = 'q', long = "quiet")]
        quiet: bool,
        /// Services (default: all).
        services: Vec<String>,
    }
}

options_args! {
    /// Flags of `version`.
    VersionArgs => info::VersionOptions {
        /// Format the output. Values: [pretty | json].
        #[arg(short = 'f', long = "format", default_value = "pretty")]
        format: String,
        /// Shows only berth's version number.
        #[arg(long = "short")]
        short: bool,
    }
}

options_args! {
    /// Flags of `ls`.
    LsArgs => ls::LsOptions {
        /// Show all stopped Compose projects.
        #[arg(short = 'a', long = "all")]
        all: bool,
        /// Format the output: table or json.
        #[arg(long = "format", default_value = "table")]
        format: String,
        /// Only display project names.
        #[arg(short = 'q', long = "quiet")]
        quiet: bool,
        /// Filter output based on conditions provided (name=PATTERN).
        #[arg(long = "filter")]
        filter: Option<String>,
    }
}

options_args! {
    /// Flags of `ps`.
    PsArgs => ps::PsOptions {
        /// Show all stopped containers (including those created by the run command).
        #[arg(short = 'a', long = "all")]
        all: bool,
        /// Format the output: table, json, or a Go template ('table TEMPLATE' for aligned columns).
        #[arg(long = "format", default_value = "table")]
        format: String,
        /// Only display IDs.
        #[arg(short = 'q', long = "quiet")]
        quiet: bool,
        /// Display services.
        #[arg(long = "services")]
        services: bool,
        /// Filter services by status: paused, restarting, removing, running, dead, created, exited.
        #[arg(long = "status")]
        status: Vec<String>,
        /// Filter services by a property (supported filters: status), as KEY=VALUE.
        #[arg(long = "filter")]
        filter: Option<String>,
        /// Don't truncate output.
        #[arg(long = "no-trunc")]
        no_trunc: bool,
        /// Include orphaned services (not declared by project); --orphans=false hides them.
        #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
        orphans: bool,
        /// Services to show (default: all).
        service_names: Vec<String>,
    }
}

options_args! {
    /// Flags of `push`.
    PushArgs => push::PushOptions {
        /// Push what it can and ignore images with push failures.
        #[arg(long = "ignore-push-failures")]
        ignore_push_failures: bool,
        /// Push without printing progress information.
        #[arg(short = 'q', long = "quiet")]
        quiet: bool,
        /// Also push images of services declared as dependencies.
        #[arg(long = "include-deps")]
        include_deps: bool,
        /// Services (default: all).
        services: Vec<String>,
    }
}

options_args! {
    /// Flags of `run`.
    RunArgs => run::RunOptions {
        /// Run container in background and print container ID.
        #[arg(short = 'd', long = "detach")]
        detach: bool,
        /// Automatically remove the container when it exits.
        #[arg(long = "rm")]
        rm: bool,
        /// Assign a name to the container.
        #[arg(long = "name")]
        name: Option<String>,
        /// Set environment variables (KEY=VALUE).
        #[arg(short = 'e', long = "env")]
        env: Vec<String>,
        /// Bind mount a volume (SOURCE:TARGET[:ro]).
        #[arg(short = 'v', long = "volume")]
        volumes: Vec<String>,
        /// Publish a container's port(s) to the host ([IP:]HOST:CONTAINER[/PROTO]).
        #[arg(short = 'p', long = "publish")]
        publish: Vec<String>,
        /// Run command with all service's ports enabled and mapped to the host.
        #[arg(short = 'P', long = "service-ports")]
        service_ports: bool,
        /// Don't start linked services.
        #[arg(long = "no-deps")]
        no_deps: bool,
        /// Override the entrypoint of the image.
        #[arg(long = "entrypoint")]
        entrypoint: Option<String>,
        /// Run as specified username or uid.
        #[arg(short = 'u', long = "user")]
        user: Option<String>,
        /// Working directory inside the container.
        #[arg(short = 'w', long = "workdir")]
        workdir: Option<String>,
        /// Disable pseudo-TTY allocation (by default a TTY is allocated when stdin is a terminal).
        #[arg(short = 'T', long = "no-TTY")]
        no_tty: bool,
        /// Service to run.
        service: String,
        /// Command and arguments (default: the service's).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
        /// Build the image before starting the container.
        #[arg(long = "build")]
        build: bool,
        /// Keep STDIN open even if not attached (default true; -i=false closes it).
        #[arg(short = 'i', long = "interactive", default_value_t = true, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
        interactive: bool,
        /// Add or override a label (KEY=VALUE).
        #[arg(short = 'l', long = "label")]
        labels: Vec<String>,
        /// Add Linux capabilities.
        #[arg(long = "cap-add", value_delimiter = ',')]
        cap_add: Vec<String>,
        /// Drop Linux capabilities.
        #[arg(long = "cap-drop", value_delimiter = ',')]
        cap_drop: Vec<String>,
        /// Pull image before running ("always"|"missing"|"never"|"build").
        #[arg(long = "pull", value_name = "POLICY")]
        pull: Option<String>,
        /// Pull without printing progress information.
        #[arg(long = "quiet-pull")]
        quiet_pull: bool,
        /// Remove containers for services not defined in the Compose file.
        #[arg(long = "remove-orphans")]
        remove_orphans: bool,
        /// Use the service's network aliases in the network(s) the container connects to.
        #[arg(long = "use-aliases")]
        use_aliases: bool,
        /// Set environment variables from file.
        #[arg(long = "env-from-file", value_name = "FILE")]
        env_from_file: Vec<std::path::PathBuf>,
        /// Don't print anything to STDOUT.
        #[arg(short = 'q', long = "quiet")]
        quiet: bool,
        /// Suppress progress output from the build process.
        #[arg(long = "quiet-build")]
        quiet_build: bool,
    }
}

options_args! {
    /// Flags `up` and `create` share: how existing containers are treated, pulls, scale.
    ConvergeArgs => up::ConvergePolicy {
        /// Recreate containers even if their configuration hasn't changed.
        #[arg(long = "force-recreate", conflicts_with = "no_recreate")]
        force_recreate: bool,
        /// If containers already exist, don't recreate them.
        #[arg(long = "no-recreate")]
        no_recreate: bool,
        /// Remove containers for services not defined in the Compose file.
        #[arg(long = "remove-orphans")]
        remove_orphans: bool,
        /// Pull image before running ("always"|"missing"|"never").
        #[arg(long = "pull", value_name = "POLICY")]
        pull: Option<String>,
        /// Scale SERVICE to NUM instances (SERVICE=NUM); overrides `scale`/`deploy.replicas`.
        #[arg(long = "scale", value_name = "SERVICE=NUM")]
        scale: Vec<String>,
        /// Build images before starting containers.
        #[arg(long = "build", conflicts_with = "no_build")]
        build: bool,
        /// Don't build an image, even if it's missing.
        #[arg(long = "no-build")]
        no_build: bool,
        /// Pull without printing progress information.
        #[arg(long = "quiet-pull")]
        quiet_pull: bool,
    }
}

/// Flags of `watch`, as `docker compose watch` has them.
#[derive(Args, Debug, Clone, Default)]
pub struct WatchArgs {
    /// Do not build & start services before watching.
    #[arg(long = "no-up")]
    pub no_up: bool,
    /// Prune dangling images on rebuild.
    #[arg(long, default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub prune: bool,
    /// Hide build output.
    #[arg(long)]
    pub quiet: bool,
    /// Services to watch (default: all with a develop section).
    pub services: Vec<String>,
}

impl From<WatchArgs> for watch::WatchOptions {
    fn from(a: WatchArgs) -> Self {
        watch::WatchOptions {
            no_up: a.no_up,
            prune: a.prune,
            quiet: a.quiet,
            services: a.services,
        }
    }
}

options_args! {
    /// Flags of `volumes`.
    VolumesArgs => volumes::VolumesOptions {
        /// Format the output: table, json, or a Go template ('table TEMPLATE' for aligned columns).
        #[arg(long = "format", default_value = "table")]
        format: String,
        /// Only display volume names.
        #[arg(short = 'q', long = "quiet")]
        quiet: bool,
        /// Services (default: all).
        services: Vec<String>,
    }
}

options_args! {
    /// Flags of `stats`.
    StatsArgs => stats::StatsOptions {
        /// Show all containers (default shows just running).
        #[arg(short = 'a', long = "all")]
        all: bool,
        /// Format the output: table, json, or a Go template ('table TEMPLATE' for aligned columns).
        #[arg(long = "format", default_value = "table")]
        format: String,
        /// Disable streaming stats and only pull the first result.
        #[arg(long = "no-stream")]
        no_stream: bool,
        /// Do not truncate output.
        #[arg(long = "no-trunc")]
        no_trunc: bool,
        /// Services (default: all).
        services: Vec<String>,
    }
}

options_args! {
    /// Flags of `export`.
    ExportArgs => snapshot::ExportOptions {
        /// Index of the container if the service has multiple replicas.
        #[arg(long = "index", default_value_t = 1)]
        index: u32,
        /// Write to a file, instead of STDOUT.
        #[arg(short = 'o', long = "output")]
        output: Option<std::path::PathBuf>,
        /// Service.
        service: String,
    }
}

options_args! {
    /// Flags of `commit`.
    CommitArgs => snapshot::CommitOptions {
        /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>").
        #[arg(short = 'a', long = "author")]
        author: Option<String>,
        /// Apply Dockerfile instruction to the created image.
        #[arg(short = 'c', long = "change")]
        change: Vec<String>,
        /// Index of the container if the service has multiple replicas.
        #[arg(long = "index", default_value_t = 1)]
        index: u32,
        /// Commit message.
        #[arg(short = 'm', long = "message")]
        message: Option<String>,
        /// Pause container during commit.
        #[arg(short = 'p', long = "pause", default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
        pause: bool,
        /// Service.
        service: String,
        /// REPOSITORY[:TAG] of the new image.
        reference: Option<String>,
    }
}

/// Flags of `scale`.
#[derive(Args, Debug, Clone, Default)]
pub struct ScaleArgs {
    /// Don't start linked services.
    #[arg(long = "no-deps")]
    pub no_deps: bool,
    /// SERVICE=REPLICAS pairs.
    #[arg(required = true, value_name = "SERVICE=REPLICAS")]
    pub scale: Vec<String>,
}

impl From<ScaleArgs> for up::UpOptions {
    fn from(a: ScaleArgs) -> Self {
        let services = a
            .scale
            .iter()
            .filter_map(|s| s.split_once('='))
            .map(|(n, _)| n.to_owned())
            .collect();
        up::UpOptions {
            detach: true,
            no_deps: a.no_deps,
            converge: up::ConvergePolicy {
                scale: a.scale,
                ..Default::default()
            },
            services,
            ..Default::default()
        }
    }
}

#[cfg(test)]
#[path = "stack_args_tests.rs"]
mod tests;
