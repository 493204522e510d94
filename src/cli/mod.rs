//! Command-line surface: global flags shared with `docker compose`, and dispatch to one module per verb group.

pub mod bridge;
pub mod config;
pub mod config_digests;
pub mod config_vars;
pub mod engine;
pub mod image;
pub mod monitor;
pub mod registry;
pub mod stack;
pub mod stack_args;
pub mod stack_args_up;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Top-level command line.
#[derive(Parser, Debug)]
#[command(
    name = "berth",
    version,
    about = "Run Compose stacks with berth's own container engine"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags that `docker compose` accepts before the verb.
#[derive(Args, Debug, Clone, Default)]
pub struct GlobalArgs {
    // -f and -p go before the verb, as with `docker compose`: `logs -f` and `run -p` are the verbs' own flags.
    /// Compose configuration files (`-` for stdin); may be repeated.
    #[arg(short = 'f', long = "file")]
    pub files: Vec<String>,
    /// Project name.
    #[arg(short = 'p', long = "project-name")]
    pub project_name: Option<String>,
    /// Alternate working directory (default: the directory of the first file).
    #[arg(long = "project-directory", global = true)]
    pub project_directory: Option<PathBuf>,
    /// Alternate environment files; may be repeated.
    #[arg(long = "env-file", global = true)]
    pub env_files: Vec<PathBuf>,
    /// Profiles to enable; may be repeated.
    #[arg(long = "profile", global = true)]
    pub profiles: Vec<String>,
    /// Engine socket to talk to (default: berth's own engine).
    #[arg(short = 'H', long = "host", global = true)]
    pub host: Option<String>,
    /// Log level for berth's own diagnostics (error, warn, info, debug, trace).
    #[arg(long = "log-level", global = true)]
    pub log_level: Option<String>,
    /// Control when to print ANSI control characters ("never"|"always"|"auto").
    #[arg(long = "ansi", env = "COMPOSE_ANSI", value_name = "WHEN", value_parser = ["never", "always", "auto"])]
    pub ansi: Option<String>,
    /// Set type of progress output (auto, tty, plain, json, quiet).
    #[arg(long = "progress", env = "COMPOSE_PROGRESS", value_name = "TYPE", value_parser = ["auto", "tty", "plain", "json", "quiet"])]
    pub progress: Option<String>,
    /// Control max parallelism, -1 for unlimited.
    #[arg(
        long = "parallel",
        env = "COMPOSE_PARALLEL_LIMIT",
        value_name = "N",
        allow_negative_numbers = true
    )]
    pub parallel: Option<i64>,
    /// Run compose in backward compatibility mode (container names joined with `_`).
    #[arg(long = "compatibility", env = "COMPOSE_COMPATIBILITY", value_parser = clap::builder::BoolishValueParser::new())]
    pub compatibility: bool,
    /// Include all resources, even those not used by services.
    #[arg(long = "all-resources")]
    pub all_resources: bool,
    /// Execute command in dry run mode (not supported by berth: refused before anything is done).
    #[arg(long = "dry-run")]
    pub dry_run: bool,
}

impl GlobalArgs {
    /// Applies the output and behaviour flags that hold for the whole process.
    pub fn apply(&self) -> anyhow::Result<()> {
        use crate::orchestrator::{labels, progress, schedule};
        if self.dry_run {
            anyhow::bail!("--dry-run is not supported by berth: run the command without it");
        }
        let parse = |v: &Option<String>| v.as_deref().unwrap_or("auto").to_owned();
        let mode = parse(&self.progress).parse().map_err(anyhow::Error::msg)?;
        let ansi = parse(&self.ansi).parse().map_err(anyhow::Error::msg)?;
        progress::configure(mode, ansi);
        if let Some(n) = self.parallel {
            schedule::set_parallel_limit(n);
        }
        labels::set_compatibility(self.compatibility);
        Ok(())
    }
}

/// The verbs.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Convert the project to other platforms' formats (Kubernetes manifests).
    #[command(subcommand)]
    Bridge(bridge::BridgeCommand),
    /// Parse, resolve and render the Compose file in canonical form.
    Config(config::ConfigArgs),
    /// Manage berth's container engine daemon.
    #[command(subcommand)]
    Engine(engine::EngineCommand),
    /// Manage images in berth's engine (load, ls).
    #[command(subcommand)]
    Image(image::ImageCommand),
    /// Internal: the per-container monitor the engine starts (not for users).
    #[command(name = "__monitor", hide = true)]
    Monitor(monitor::MonitorArgs),
    /// Internal: runs one exec in a running container for the engine (not for users).
    #[command(name = "__exec", hide = true)]
    Exec(monitor::ExecHelperArgs),
    /// Log in to a registry (credentials go to the docker CLI's config.json).
    Login(registry::LoginArgs),
    /// Log out from a registry.
    Logout(registry::LogoutArgs),
    /// Compose verbs: up, down, ps, logs, exec, start, stop, ...
    #[command(flatten)]
    Stack(stack::StackCommand),
}

/// Sets up `tracing` output on stderr; `BERTH_LOG` or `--log-level` choose the level.
pub fn init_tracing(level: Option<&str>) {
    let filter = level
        .map(str::to_owned)
        .or_else(|| std::env::var("BERTH_LOG").ok())
        .unwrap_or_else(|| "warn".to_owned());
    // Span timings on close, for finding where an engine action spends its time (BERTH_LOG_SPANS=1).
    let spans = match std::env::var_os("BERTH_LOG_SPANS") {
        Some(_) => tracing_subscriber::fmt::format::FmtSpan::CLOSE,
        None => tracing_subscriber::fmt::format::FmtSpan::NONE,
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_span_events(spans)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs the chosen verb and turns its outcome into the process exit code.
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    cli.global.apply()?;
    match cli.command {
        Command::Bridge(cmd) => bridge::run(&cli.global, cmd),
        Command::Config(args) => config::run(&cli.global, args),
        Command::Engine(cmd) => engine::run(&cli.global, cmd),
        Command::Image(cmd) => image::run(&cli.global, cmd),
        Command::Monitor(args) => monitor::run(args),
        Command::Exec(args) => monitor::run_exec(args),
        Command::Login(args) => registry::login(&cli.global, args),
        Command::Logout(args) => registry::logout(args),
        Command::Stack(cmd) => stack::run(&cli.global, cmd),
    }
}
