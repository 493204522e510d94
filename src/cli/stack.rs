//! The Compose verbs (`up`, `down`, `ps`, ...): parse flags, find the project, connect to the engine, run the orchestrator.

use super::GlobalArgs;
use crate::orchestrator::{client, down, exec, lifecycle, logs_verb, ls, project, ps, up};
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
    /// List running compose projects.
    Ls(ls::LsArgs),
}

/// Runs a stack verb on a fresh tokio runtime.
pub fn run(global: &GlobalArgs, cmd: StackCommand) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run_async(global, cmd))
}

async fn run_async(global: &GlobalArgs, cmd: StackCommand) -> Result<ExitCode> {
    if let StackCommand::Up(args) = &cmd {
        // The model is loaded and checked (cycles, unknown attributes) before the engine is touched.
        let model = project::require_model(global)?;
        let docker = client::connect(global.host.as_deref()).await?;
        return up::run(&docker, &model, args).await;
    }
    if let StackCommand::Ls(args) = &cmd {
        let docker = client::connect(global.host.as_deref()).await?;
        return ls::run(&docker, args).await;
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
        StackCommand::Up(_) | StackCommand::Ls(_) => unreachable!("handled above"),
    }
}
