//! The Compose verbs (`up`, `down`, `ps`, ...): parse flags, find the project, connect to the engine, run the orchestrator.

use super::GlobalArgs;
use crate::orchestrator::{client, cp, down, exec, info, lifecycle, logs_verb, ls, project, ps, push, run, up};
use anyhow::{Context, Result};
use clap::Subcommand;
use std::process::ExitCode;

/// Verbs that act on a Compose project through the engine API.
#[derive(Subcommand, Debug)]
pub enum StackCommand {
    /// Create and start containers.
    Up(up::UpArgs),
    /// Stop and remove containers, networks.
    Down(down::DownArgs),
    /// Creates containers for a service.
    Create(up::CreateArgs),
    /// Run a one-off command on a service.
    Run(run::RunArgs),
    /// List containers.
    Ps(ps::PsArgs),
    /// View output from containers.
    Logs(logs_verb::LogsArgs),
    /// Execute a command in a running container.
    Exec(exec::ExecArgs),
    /// Start services.
    Start(lifecycle::ServicesArgs),
    /// Stop services.
    Stop(lifecycle::TimeoutArgs),
    /// Restart service containers.
    Restart(lifecycle::TimeoutArgs),
    /// Force stop service containers.
    Kill(lifecycle::KillArgs),
    /// Removes stopped service containers.
    Rm(lifecycle::RmArgs),
    /// Pause services.
    Pause(lifecycle::ServicesArgs),
    /// Unpause services.
    Unpause(lifecycle::ServicesArgs),
    /// Block until the first service container stops.
    Wait(info::WaitArgs),
    /// Display the running processes.
    Top(info::NamesArgs),
    /// Print the public port for a port binding.
    Port(info::PortArgs),
    /// List images used by the created containers.
    Images(info::NamesArgs),
    /// Pull service images.
    Pull(info::PullArgs),
    /// Push service images.
    Push(push::PushArgs),
    /// Copy files/folders between a service container and the local filesystem.
    Cp(cp::CpArgs),
    /// Receive real time events from containers.
    Events(info::EventsArgs),
    /// List running compose projects.
    Ls(ls::LsArgs),
    /// Show the berth and engine version information.
    Version,
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
    match &cmd {
        StackCommand::Up(args) => {
            return with_model(global, |d, m| Box::pin(async move { up::run(&d, &m, args).await })).await
        }
        StackCommand::Create(args) => {
            let up_args = args.to_up();
            return with_model(global, |d, m| Box::pin(async move { up::run(&d, &m, &up_args).await })).await;
        }
        StackCommand::Run(args) => {
            return with_model(global, |d, m| Box::pin(async move { run::run(&d, &m, args).await })).await
        }
        StackCommand::Pull(args) => {
            return with_model(global, |d, m| Box::pin(async move { info::pull(&d, &m, args).await })).await
        }
        StackCommand::Push(args) => {
            return with_model(global, |d, m| Box::pin(async move { push::run(&d, &m, args).await })).await
        }
        StackCommand::Ls(args) => return ls::run(&client::connect(global.host.as_deref()).await?, args).await,
        StackCommand::Version => return info::version(&client::connect(global.host.as_deref()).await?).await,
        _ => {}
    }
    let target = project::resolve(global)?;
    let docker = client::connect(global.host.as_deref()).await?;
    let name = target.name.as_str();
    match cmd {
        StackCommand::Down(args) => down::run(&docker, name, target.model.as_ref(), &args).await,
        StackCommand::Ps(args) => ps::run(&docker, name, &args).await,
        StackCommand::Logs(args) => logs_verb::run(&docker, name, &args).await,
        StackCommand::Exec(args) => exec::run(&docker, name, &args).await,
        StackCommand::Start(args) => lifecycle::start(&docker, name, &args).await,
        StackCommand::Stop(args) => lifecycle::stop(&docker, name, &args).await,
        StackCommand::Restart(args) => lifecycle::restart(&docker, name, &args).await,
        StackCommand::Kill(args) => lifecycle::kill(&docker, name, &args).await,
        StackCommand::Rm(args) => lifecycle::rm(&docker, name, &args).await,
        StackCommand::Pause(args) => lifecycle::pause(&docker, name, &args, false).await,
        StackCommand::Unpause(args) => lifecycle::pause(&docker, name, &args, true).await,
        StackCommand::Top(args) => info::top(&docker, name, &args).await,
        StackCommand::Port(args) => info::port(&docker, name, &args).await,
        StackCommand::Images(args) => info::images(&docker, name, &args).await,
        StackCommand::Events(args) => info::events(&docker, name, &args).await,
        StackCommand::Cp(args) => cp::run(&docker, name, target.model.as_ref(), &args).await,
        StackCommand::Wait(args) => {
            let down_args = down::DownArgs::default();
            let down = down::run(&docker, name, target.model.as_ref(), &down_args);
            info::wait(&docker, name, &args, down).await
        }
        StackCommand::Up(_)
        | StackCommand::Create(_)
        | StackCommand::Run(_)
        | StackCommand::Pull(_)
        | StackCommand::Push(_)
        | StackCommand::Ls(_)
        | StackCommand::Version => {
            unreachable!("handled above")
        }
    }
}

type VerbFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<ExitCode>> + 'a>>;

async fn with_model<'a>(
    global: &GlobalArgs,
    verb: impl FnOnce(bollard::Docker, crate::orchestrator::spec::ProjectSpec) -> VerbFuture<'a>,
) -> Result<ExitCode> {
    let model = project::require_model(global)?;
    let docker = client::connect(global.host.as_deref()).await?;
    verb(docker, model).await
}
