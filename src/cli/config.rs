//! `berth config`: render the resolved Compose model.

use super::GlobalArgs;
use clap::Args;
use std::process::ExitCode;

/// Flags of `berth config`.
#[derive(Args, Debug)]
pub struct ConfigArgs {
    /// Output format: yaml or json.
    #[arg(long, default_value = "yaml")]
    pub format: String,
}

/// Runs `berth config`.
pub fn run(_global: &GlobalArgs, _args: ConfigArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("berth config: the Compose loader is being built (issue 3)")
}
