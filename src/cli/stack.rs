//! The Compose verbs (`up`, `down`, `ps`, ...): parse flags, find the project, connect to the engine, run the orchestrator.

use super::stack_args;
use super::GlobalArgs;
use crate::orchestrator::{
    api_socket, attach_cmd, build, client, cp, down, event_log, exec, info, lifecycle, logs, ls, project, ps, push,
    run, snapshot, stats, up, volumes, watch,
};
use anyhow::{Context, Result};
use clap::Subcommand;
use std::process::ExitCode;

/// Verbs that act on a Compose project through the engine API.
#[derive(Subcommand, Debug)]
pub enum StackCommand {
    /// Create and start containers.
    Up(stack_args::UpArgs),
    /// Build or rebuild services.
    Build(stack_args::BuildArgs),
    /// Stop and remove containers, networks.
    Down(stack_args::DownArgs),
    /// Creates containers for a service.
    Create(stack_args::CreateArgs),
    /// Run a one-off command on a service.
    Run(stack_args::RunArgs),
    /// List containers.
    Ps(stack_args::PsArgs),
    /// View output from containers.
    Logs(stack_args::LogsArgs),
    /// Execute a command in a running container.
    Exec(stack_args::ExecArgs),
    /// Attach local standard input, output, and error streams to a service's running container.
    Attach(stack_args::AttachArgs),
    /// Start services.
    Start(stack_args::ServicesArgs),
    /// Stop services.
    Stop(stack_args::TimeoutArgs),
    /// Restart service containers.
    Restart(stack_args::RestartArgs),
    /// Force stop service containers.
    Kill(stack_args::KillArgs),
    /// Removes stopped service containers.
    Rm(stack_args::RmArgs),
    /// Pause services.
    Pause(stack_args::ServicesArgs),
    /// Unpause services.
    Unpause(stack_args::ServicesArgs),
    /// Block until the first service container stops.
    Wait(stack_args::WaitArgs),
    /// Display the running processes.
    Top(stack_args::ServicesArgs),
    /// Print the public port for a port binding.
    Port(stack_args::PortArgs),
    /// List images used by the created containers.
    Images(stack_args::ImagesArgs),
    /// Pull service images.
    Pull(stack_args::PullArgs),
    /// Push service images.
    Push(stack_args::PushArgs),
    /// Copy files/folders between a service container and the local filesystem.
    Cp(stack_args::CpArgs),
    /// Receive real time events from containers.
    Events(stack_args::EventsArgs),
    /// List running compose projects.
    Ls(stack_args::LsArgs),
    /// Watch build context for service and rebuild/refresh containers when files are updated.
    Watch(stack_args::WatchArgs),
    /// Display a live stream of container(s) resource usage statistics.
    Stats(stack_args::StatsArgs),
    /// List volumes.
    Volumes(stack_args::VolumesArgs),
    /// Scale services.
    Scale(stack_args::ScaleArgs),
    /// Export a service container's filesystem as a tar archive.
    Export(stack_args::ExportArgs),
    /// Create a new image from a service container's changes.
    Commit(stack_args::CommitArgs),
    /// Show the berth and engine version information.
    Version(stack_args::VersionArgs),
}

/// Runs a stack verb on a fresh tokio runtime.
pub fn run(global: &GlobalArgs, cmd: StackCommand) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(run_async(global, cmd));
    // A blocking read of a terminal's stdin (exec/run input) never ends on its own: do not wait for it.
    runtime.shutdown_background();
    result
}

async fn run_async(global: &GlobalArgs, cmd: StackCommand) -> Result<ExitCode> {
    // Verbs that need the model load and check it (cycles, unsupported attributes) before touching the engine.
    let named = named_services(&cmd);
    match &cmd {
        StackCommand::Up(args) => {
            let opts: up::UpOptions = args.clone().into();
            return with_model(global, &named, |d, m| {
                Box::pin(async move { up::run(&d, &m, &opts).await })
            })
            .await;
        }
        StackCommand::Scale(args) => {
            let opts: up::UpOptions = args.clone().into();
            return with_model(global, &named, |d, m| {
                Box::pin(async move { up::run(&d, &m, &opts).await })
            })
            .await;
        }
        StackCommand::Create(args) => {
            let opts = up::CreateOptions::from(args.clone()).to_up();
            return with_model(global, &named, |d, m| {
                Box::pin(async move { up::run(&d, &m, &opts).await })
            })
            .await;
        }
        StackCommand::Run(args) => {
            let opts: run::RunOptions = args.clone().into();
            return with_model(global, &named, |d, m| {
                Box::pin(async move { run::run(&d, &m, &opts).await })
            })
            .await;
        }
        StackCommand::Build(args) => {
            let opts: build::BuildOptions = args.clone().into();
            opts.check()?;
            return with_model(global, &named, |d, m| {
                Box::pin(async move { build::run(&d, &m, &opts).await })
            })
            .await;
        }
        StackCommand::Pull(args) => {
            let opts: info::PullOptions = args.clone().into();
            return with_model(global, &named, |d, m| {
                Box::pin(async move { info::pull(&d, &m, &opts).await })
            })
            .await;
        }
        StackCommand::Push(args) => {
            let opts: push::PushOptions = args.clone().into();
            return with_model(global, &named, |d, m| {
                Box::pin(async move { push::run(&d, &m, &opts).await })
            })
            .await;
        }
        StackCommand::Watch(args) => {
            let opts: watch::WatchOptions = args.clone().into();
            let g = global.clone();
            let reload_named = named.clone();
            return with_model(global, &named, |d, m| {
                Box::pin(async move { watch::run(&d, &m, &opts, &|| load_model(&g, &reload_named)).await })
            })
            .await;
        }
        StackCommand::Ls(args) => {
            let opts: ls::LsOptions = args.clone().into();
            return ls::run(&client::connect(global.host.as_deref()).await?, &opts).await;
        }
        StackCommand::Version(args) => return info::version(global.host.as_deref(), &args.clone().into()).await,
        _ => {}
    }
    let target = project::resolve(&load_options(global, &[]))?;
    let docker = client::connect(global.host.as_deref()).await?;
    let name = target.name.as_str();
    match cmd {
        StackCommand::Down(args) => down::run(&docker, name, target.model.as_ref(), &args.into()).await,
        StackCommand::Ps(args) => {
            let declared: Option<Vec<String>> = target
                .model
                .as_ref()
                .map(|m| m.services.iter().map(|s| s.name.clone()).collect());
            ps::run(&docker, name, declared.as_deref(), &args.into()).await
        }
        StackCommand::Logs(args) => logs::run(&docker, name, &args.into()).await,
        StackCommand::Exec(args) => exec::run(&docker, name, &args.into()).await,
        StackCommand::Attach(args) => attach_cmd::run(&docker, name, &args.into()).await,
        StackCommand::Start(args) => lifecycle::start(&docker, name, &args.into()).await,
        StackCommand::Stop(args) => lifecycle::stop(&docker, name, &args.into()).await,
        StackCommand::Restart(args) => lifecycle::restart(&docker, name, &args.into()).await,
        StackCommand::Kill(args) => lifecycle::kill(&docker, name, &args.into()).await,
        StackCommand::Rm(args) => lifecycle::rm(&docker, name, &args.into()).await,
        StackCommand::Pause(args) => lifecycle::pause(&docker, name, &args.into(), false).await,
        StackCommand::Unpause(args) => lifecycle::pause(&docker, name, &args.into(), true).await,
        StackCommand::Top(args) => info::top(&docker, name, &args.into()).await,
        StackCommand::Port(args) => info::port(&docker, name, &args.into()).await,
        StackCommand::Images(args) => info::images(&docker, name, &args.into()).await,
        StackCommand::Events(args) => event_log::run(&docker, name, &args.into()).await,
        StackCommand::Stats(args) => stats::run(&docker, name, &args.into()).await,
        StackCommand::Volumes(args) => volumes::run(&docker, name, &args.into()).await,
        StackCommand::Export(args) => snapshot::export(&docker, name, &args.into()).await,
        StackCommand::Commit(args) => snapshot::commit(&docker, name, &args.into()).await,
        StackCommand::Cp(args) => cp::run(&docker, name, target.model.as_ref(), &args.into()).await,
        StackCommand::Wait(args) => {
            let down_args = down::DownOptions::default();
            let down = down::run(&docker, name, target.model.as_ref(), &down_args);
            info::wait(&docker, name, &args.into(), down).await
        }
        StackCommand::Up(_)
        | StackCommand::Build(_)
        | StackCommand::Create(_)
        | StackCommand::Scale(_)
        | StackCommand::Run(_)
        | StackCommand::Pull(_)
        | StackCommand::Push(_)
        | StackCommand::Ls(_)
        | StackCommand::Watch(_)
        | StackCommand::Version(_) => {
            unreachable!("handled above")
        }
    }
}

/// The loader's options for a verb that acts on the project (interpolated and normalised), with the services
/// the command names enabled whatever their profiles.
fn load_options(global: &GlobalArgs, named: &[String]) -> compose::LoadOptions {
    compose::LoadOptions {
        services: named.to_vec(),
        ..super::config::load_options(global, true, true)
    }
}

/// The services a model verb names on its command line (Compose enables those even under inactive profiles).
fn named_services(cmd: &StackCommand) -> Vec<String> {
    match cmd {
        StackCommand::Up(a) => a.services.clone(),
        StackCommand::Create(a) => a.services.clone(),
        StackCommand::Scale(a) => a
            .scale
            .iter()
            .filter_map(|s| s.split_once('='))
            .map(|(n, _)| n.to_owned())
            .collect(),
        StackCommand::Run(a) => vec![a.service.clone()],
        StackCommand::Build(a) => a.services.clone(),
        StackCommand::Pull(a) => a.services.clone(),
        StackCommand::Push(a) => a.services.clone(),
        StackCommand::Watch(a) => a.services.clone(),
        _ => Vec::new(),
    }
}

type VerbFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<ExitCode>> + 'a>>;

async fn with_model<'a>(
    global: &GlobalArgs,
    named: &[String],
    verb: impl FnOnce(bollard::Docker, crate::orchestrator::spec::ProjectSpec) -> VerbFuture<'a>,
) -> Result<ExitCode> {
    let model = load_model(global, named)?;
    let docker = client::connect(global.host.as_deref()).await?;
    verb(docker, model).await
}

/// The project model the global flags name, with the engine's API socket applied.
fn load_model(global: &GlobalArgs, named: &[String]) -> Result<crate::orchestrator::spec::ProjectSpec> {
    let mut model = project::require_model(&load_options(global, named))?;
    let endpoint = client::resolve_endpoint(global.host.as_deref())?;
    api_socket::apply(&mut model, &endpoint.socket)?;
    Ok(model)
}
