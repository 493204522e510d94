//! `berth`: runs Compose stacks on one Linux machine with its own container engine.

mod bridge;
mod cli;
mod orchestrator;

use clap::Parser;

fn main() -> std::process::ExitCode {
    // A monitor lives as long as its container, hundreds at a time: it and the zygote that forks it skip the CLI
    // parser and the log set-up, whose allocations would stay in every one of them.
    let argv: Vec<std::ffi::OsString> = std::env::args_os().skip(1).take(3).collect();
    let code = match argv.as_slice() {
        [mode, bundle] if mode == "__monitor" => Some(runtime::monitor::main(std::path::Path::new(bundle))),
        [mode, ..] if mode == runtime::zygote::MODE => Some(runtime::zygote::main()),
        _ => None,
    };
    if let Some(code) = code {
        return std::process::ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
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
