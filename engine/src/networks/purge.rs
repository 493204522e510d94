//! `berth engine stop --purge`: removes a stopped engine's networking from the host (bridges,
//! veths, namespace files, nft rules, its registration), for throwaway roots such as tests and
//! benchmarks. A normal stop keeps networks, as dockerd keeps its bridges across restarts.

use super::service::{engine_error, tag_of};
use crate::config::EngineConfig;
use crate::error::{EngineError, Result};
use netstack::{Config, Netstack};

/// Tears down the host networking of the engine at `config.root`; returns how many objects went.
/// Refuses while the engine runs or while a container of this root still runs in its namespace.
#[tracing::instrument(skip_all, fields(root = %config.root.display()))]
pub fn purge(config: &EngineConfig) -> Result<usize> {
    let _lock = engine_stopped(config)?;
    let netns_dir = config.root.join("netns");
    refuse_running_containers(&netns_dir)?;
    runtime::rundir::unmount(&config.root.join(runtime::rundir::RUN_DIR))
        .map_err(|e| EngineError::Internal(format!("unmounting the run dir: {e}")))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| EngineError::Internal(format!("starting a runtime for the purge: {e}")))?;
    rt.block_on(async {
        let mut cfg = Config::new(&netns_dir, tag_of(&config.root)?);
        // The purge forwards no DNS: do not read the host's resolv.conf.
        cfg.upstream_dns = Some(Vec::new());
        let stack = Netstack::new(cfg).map_err(engine_error)?;
        stack.destroy().await.map_err(engine_error)
    })
}

/// Holds the root's engine lock, so no engine starts during the purge; refuses when one runs.
fn engine_stopped(config: &EngineConfig) -> Result<Option<nix::fcntl::Flock<std::fs::File>>> {
    let path = config.lock_file();
    let file = match std::fs::File::options().write(true).open(&path) {
        Ok(f) => f,
        // No lock file: no engine ever ran on this root.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(EngineError::Internal(format!("opening {}: {e}", path.display()))),
    };
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock)
        .map(Some)
        .map_err(|_| {
            EngineError::Conflict(format!(
                "the engine on {} is still running; stop it before purging",
                config.root.display()
            ))
        })
}

fn refuse_running_containers(netns_dir: &std::path::Path) -> Result<()> {
    let running: Vec<String> = std::fs::read_dir(netns_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| netstack::netns::in_use(&e.path()))
        .map(|e| e.file_name().to_string_lossy().chars().take(12).collect())
        .collect();
    if running.is_empty() {
        return Ok(());
    }
    Err(EngineError::Conflict(format!(
        "containers still running in this root: {}; remove them first (docker rm -f), a purge would cut their network",
        running.join(", ")
    )))
}
