//! `berth engine run|start|stop|status`: the engine daemon's life cycle.

use super::GlobalArgs;
use anyhow::Context;
use clap::Subcommand;
use engine::daemon;
use engine::EngineConfig;
use std::process::ExitCode;
use std::time::Duration;

/// Engine sub-verbs.
#[derive(Subcommand, Debug)]
pub enum EngineCommand {
    /// Run the engine in the foreground.
    Run,
    /// Start the engine in the background (returns once it answers).
    Start,
    /// Stop the engine (containers keep running and are found again at the next start).
    Stop {
        /// Also remove this root's networking from the host (bridges, veths, netns, nft rules): for throwaway roots.
        #[arg(long)]
        purge: bool,
    },
    /// Show whether the engine runs.
    Status,
}

/// The engine's locations from `-H`, `BERTH_HOST`, `BERTH_ROOT`.
pub fn config(global: &GlobalArgs) -> anyhow::Result<EngineConfig> {
    EngineConfig::resolve(global.host.as_deref()).map_err(anyhow::Error::msg)
}

/// Returns the socket of a running engine, starting one in the background when none answers.
pub fn ensure_running(global: &GlobalArgs) -> anyhow::Result<EngineConfig> {
    let cfg = config(global)?;
    if !daemon::ping(&cfg.socket) {
        let exe = std::env::current_exe().context("locating the berth executable")?;
        daemon::start_detached(&cfg, &exe, Duration::from_secs(15)).context("starting berth's engine")?;
    }
    Ok(cfg)
}

/// Runs an engine sub-verb.
pub fn run(global: &GlobalArgs, cmd: EngineCommand) -> anyhow::Result<ExitCode> {
    let cfg = config(global)?;
    match cmd {
        EngineCommand::Run => {
            daemon::run(&cfg, None)?;
            Ok(ExitCode::SUCCESS)
        }
        EngineCommand::Start => {
            let exe = std::env::current_exe().context("locating the berth executable")?;
            match daemon::start_detached(&cfg, &exe, Duration::from_secs(15))? {
                Some(pid) => println!("berth engine started (pid {pid}) on unix://{}", cfg.socket.display()),
                None => println!("berth engine already running on unix://{}", cfg.socket.display()),
            }
            Ok(ExitCode::SUCCESS)
        }
        EngineCommand::Stop { purge } => {
            if daemon::stop(&cfg, Duration::from_secs(15))? {
                println!("berth engine stopped");
            } else {
                println!("berth engine is not running (root {})", cfg.root.display());
            }
            if purge {
                let n = daemon::purge(&cfg).context("purging the engine's networking")?;
                println!("removed {n} networking objects of root {}", cfg.root.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        EngineCommand::Status => {
            let st = daemon::status(&cfg);
            let pid = st.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into());
            let state = if st.answering { "running" } else { "not running" };
            println!(
                "engine: {state}\npid: {pid}\nsocket: unix://{}\nroot: {}",
                cfg.socket.display(),
                cfg.root.display()
            );
            Ok(if st.answering {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            })
        }
    }
}
