//! Hidden `berth __monitor <bundle>`: the per-container monitor the engine spawns (see engine::runtime::monitor).

use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of the hidden monitor mode.
#[derive(Args, Debug)]
pub struct MonitorArgs {
    /// The container's bundle directory.
    pub bundle: PathBuf,
}

/// Runs the monitor; it forks, so the engine's child returns at once and the monitor lives on detached.
pub fn run(args: MonitorArgs) -> anyhow::Result<ExitCode> {
    let code = engine::runtime::monitor::main(&args.bundle);
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}
