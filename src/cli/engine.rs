//! `berth engine run|start|stop|status`: the engine daemon's life cycle.

use super::GlobalArgs;
use clap::Subcommand;
use std::process::ExitCode;

/// Engine sub-verbs.
#[derive(Subcommand, Debug)]
pub enum EngineCommand {
    /// Run the engine in the foreground.
    Run,
}

/// Runs an engine sub-verb.
pub fn run(_global: &GlobalArgs, _cmd: EngineCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("berth engine: the engine is being built (issue 4)")
}
