//! Hidden `berth __monitor <bundle>` (the per-container monitor, see runtime::monitor; it forks the probe
//! helpers of runtime::probe itself) and `berth __exec <bundle> <config>` (one exec in a running container, see
//! runtime::exec).

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
    let code = runtime::monitor::main(&args.bundle);
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}

/// Arguments of the hidden exec helper mode.
#[derive(Args, Debug)]
pub struct ExecHelperArgs {
    /// The container's bundle directory.
    pub bundle: PathBuf,
    /// The exec config the engine wrote.
    pub config: PathBuf,
}

/// Runs one exec in a running container; exits with the exec'd process's exit code.
pub fn run_exec(args: ExecHelperArgs) -> anyhow::Result<ExitCode> {
    let code = runtime::exec::helper_main(&args.bundle, &args.config);
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}
