//! clap definitions of `up`, `create` and `build` (plain structs: their conversions do more than copy fields).

use super::stack_args::ConvergeArgs;
use crate::orchestrator::{build, up};
use clap::Args;

/// Flags of `build`.
#[derive(Args, Debug, Clone, Default)]
pub struct BuildArgs {
    /// Do not use cache when building the image.
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Always attempt to pull a newer version of the image.
    #[arg(long = "pull")]
    pub pull: bool,
    /// Set build-time variables for services (KEY=VALUE; KEY alone takes it from the environment).
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_arg: Vec<String>,
    /// Don't print anything to STDOUT.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Also build dependencies (transitively).
    #[arg(long = "with-dependencies")]
    pub with_dependencies: bool,
    /// Set type of progress output (auto, tty, plain, quiet).
    #[arg(long = "progress", default_value = "auto")]
    pub progress: String,
    /// Set memory limit for the build container.
    #[arg(short = 'm', long = "memory", value_name = "BYTES")]
    pub memory: Option<String>,
    /// Push service images.
    #[arg(long = "push")]
    pub push: bool,
    /// Set builder to use (buildx; refused: berth builds with the classic builder).
    #[arg(long = "builder")]
    pub builder: Option<String>,
    /// Check build configuration (buildx; refused).
    #[arg(long = "check")]
    pub check: bool,
    /// Print equivalent bake file (buildx; refused).
    #[arg(long = "print")]
    pub print: bool,
    /// Add a provenance attestation (BuildKit; refused).
    #[arg(long = "provenance")]
    pub provenance: Option<String>,
    /// Add a SBOM attestation (BuildKit; refused).
    #[arg(long = "sbom")]
    pub sbom: Option<String>,
    /// Set SSH authentications used when building service images (BuildKit; refused).
    #[arg(long = "ssh")]
    pub ssh: Option<String>,
    /// Services to build (default: all with a build section).
    pub services: Vec<String>,
}

impl From<BuildArgs> for build::BuildOptions {
    fn from(a: BuildArgs) -> Self {
        let mut buildx_only = Vec::new();
        let flags = [
            ("--builder", a.builder),
            ("--check", a.check.then(|| "true".to_owned())),
            ("--print", a.print.then(|| "true".to_owned())),
            // Attestations switched off are what the classic builder makes anyway.
            (
                "--provenance",
                a.provenance.filter(|v| !matches!(v.as_str(), "false" | "0")),
            ),
            ("--sbom", a.sbom.filter(|v| !matches!(v.as_str(), "false" | "0"))),
            ("--ssh", a.ssh),
        ];
        for (flag, value) in flags {
            if let Some(v) = value {
                buildx_only.push((flag, v));
            }
        }
        build::BuildOptions {
            no_cache: a.no_cache,
            pull: a.pull,
            build_arg: a.build_arg,
            quiet: a.quiet,
            with_dependencies: a.with_dependencies,
            progress: a.progress,
            memory: a.memory,
            push: a.push,
            buildx_only,
            services: a.services,
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
    /// Stops all containers if any container exited with failure.
    #[arg(long = "abort-on-container-failure")]
    pub abort_on_container_failure: bool,
    /// Recreate dependent containers (the dependencies of the named services).
    #[arg(long = "always-recreate-deps")]
    pub always_recreate_deps: bool,
    /// Recreate anonymous volumes instead of retrieving data from the previous containers.
    #[arg(short = 'V', long = "renew-anon-volumes")]
    pub renew_anon_volumes: bool,
    /// Automatically attach to log output of dependent services.
    #[arg(long = "attach-dependencies")]
    pub attach_dependencies: bool,
    /// Do not attach (stream logs) to the specified services.
    #[arg(long = "no-attach", value_name = "SERVICE")]
    pub no_attach: Vec<String>,
    /// Show timestamps.
    #[arg(long = "timestamps")]
    pub timestamps: bool,
    /// Suppress the build output.
    #[arg(long = "quiet-build")]
    pub quiet_build: bool,
    /// Enable interactive shortcuts when attached (accepted; berth has no menu, as Compose off a terminal).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub menu: Option<bool>,
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
    /// Watch source code and rebuild/refresh containers when files are updated.
    #[arg(short = 'w', long)]
    pub watch: bool,
    /// Assume "yes" as answer to all prompts and run non-interactively (accepted: berth asks nothing here).
    #[arg(short = 'y', long = "yes")]
    pub yes: bool,
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
            abort_on_container_failure: a.abort_on_container_failure,
            always_recreate_deps: a.always_recreate_deps,
            renew_anon_volumes: a.renew_anon_volumes,
            attach_dependencies: a.attach_dependencies,
            no_attach: a.no_attach,
            timestamps: a.timestamps,
            quiet_build: a.quiet_build,
            exit_code_from: a.exit_code_from,
            attach: a.attach,
            no_start: a.no_start,
            timeout: a.timeout,
            no_color: a.no_color,
            no_log_prefix: a.no_log_prefix,
            watch: a.watch,
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
    /// Assume "yes" as answer to all prompts and run non-interactively (accepted: berth asks nothing here).
    #[arg(short = 'y', long = "yes")]
    pub yes: bool,
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
