//! `berth`: runs Compose stacks on one Linux machine with its own container engine.

mod bridge;
mod cli;
mod orchestrator;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    cli::init_tracing(args.global.log_level.as_deref());
    match cli::dispatch(args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("berth: {err:#}");
            std::process::ExitCode::from(1)
        }
    }
}
