//! Engine connection: which socket to talk to, and auto-starting berth's own engine when nothing answers.

use anyhow::{bail, Context, Result};
use bollard::{Docker, API_DEFAULT_VERSION};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Berth's engine socket when nothing else is named.
pub const DEFAULT_SOCKET: &str = "/run/berth/berth.sock";

/// Seconds a single API request may take before it fails (long waits use events, not requests).
const REQUEST_TIMEOUT_SECS: u64 = 600;

/// Where the engine lives, and whether berth may start it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Path of the unix socket.
    pub socket: PathBuf,
    /// True when the user named no engine: berth's own is started on demand.
    pub auto_start: bool,
}

/// Resolves the engine endpoint: `--host`, then `DOCKER_HOST` (another engine: never auto-started), then
/// `BERTH_HOST`, then berth's default socket (berth's own engine: started on demand, inheriting BERTH_HOST/BERTH_ROOT).
pub fn resolve_endpoint(flag: Option<&str>) -> Result<Endpoint> {
    if let Some(host) = flag.map(str::to_owned).or_else(|| non_empty_env("DOCKER_HOST")) {
        return Ok(Endpoint {
            socket: parse_host(&host)?,
            auto_start: false,
        });
    }
    match non_empty_env("BERTH_HOST") {
        Some(host) => Ok(Endpoint {
            socket: parse_host(&host)?,
            auto_start: true,
        }),
        None => Ok(Endpoint {
            socket: PathBuf::from(DEFAULT_SOCKET),
            auto_start: true,
        }),
    }
}

fn non_empty_env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

/// Parses `unix:///path` or a bare absolute path; other schemes are refused with the reason.
pub fn parse_host(host: &str) -> Result<PathBuf> {
    if let Some(path) = host.strip_prefix("unix://") {
        if path.is_empty() {
            bail!("engine host {host:?}: expected unix:///path/to/socket, the path is empty");
        }
        return Ok(PathBuf::from(path));
    }
    if host.starts_with('/') {
        return Ok(PathBuf::from(host));
    }
    bail!("engine host {host:?}: expected unix:///path/to/socket (tcp:// and ssh:// engines are not supported by berth yet)")
}

/// Connects to the engine, starting berth's own engine when allowed and nothing answers.
pub async fn connect(flag: Option<&str>) -> Result<Docker> {
    let endpoint = resolve_endpoint(flag)?;
    match try_connect(&endpoint.socket).await {
        Ok(docker) => Ok(docker),
        Err(err) if endpoint.auto_start => {
            tracing::info!(socket = %endpoint.socket.display(), error = %err, "no engine answers; starting berth's engine");
            start_engine()?;
            wait_for_engine(&endpoint.socket, Duration::from_secs(20)).await
        }
        Err(err) => Err(err),
    }
}

async fn try_connect(socket: &Path) -> Result<Docker> {
    let path = socket
        .to_str()
        .with_context(|| format!("socket path {} is not UTF-8", socket.display()))?;
    let docker = Docker::connect_with_unix(path, REQUEST_TIMEOUT_SECS, API_DEFAULT_VERSION)
        .with_context(|| format!("cannot reach the engine at unix://{path}"))?;
    docker
        .ping()
        .await
        .with_context(|| format!("the engine at unix://{path} does not answer"))?;
    docker
        .negotiate_version()
        .await
        .with_context(|| format!("API version negotiation with unix://{path} failed"))
}

/// Spawns `berth engine start` (the engine daemonises itself).
fn start_engine() -> Result<()> {
    let exe = std::env::current_exe().context("cannot find berth's own executable to start the engine")?;
    let status = std::process::Command::new(&exe)
        .args(["engine", "start"])
        .stdin(std::process::Stdio::null())
        // Its "started" line would mix into this verb's own output (ps --format json...); errors still reach stderr.
        .stdout(std::process::Stdio::null())
        .status()
        .with_context(|| format!("cannot run {} engine start", exe.display()))?;
    if !status.success() {
        bail!("`berth engine start` failed ({status}); see its messages above");
    }
    Ok(())
}

async fn wait_for_engine(socket: &Path, limit: Duration) -> Result<Docker> {
    let deadline = Instant::now() + limit;
    loop {
        match try_connect(socket).await {
            Ok(docker) => return Ok(docker),
            Err(err) if Instant::now() >= deadline => {
                return Err(err.context(format!("berth's engine did not answer within {}s", limit.as_secs())))
            }
            // The daemon is coming up: this is its start-up, not a state we could get an event for.
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_unix_hosts_and_refuses_others() {
        assert_eq!(parse_host("unix:///run/x.sock").unwrap(), PathBuf::from("/run/x.sock"));
        assert_eq!(parse_host("/run/y.sock").unwrap(), PathBuf::from("/run/y.sock"));
        assert!(parse_host("tcp://127.0.0.1:2375")
            .unwrap_err()
            .to_string()
            .contains("tcp://"));
        assert!(parse_host("unix://").is_err());
    }

    #[test]
    fn flag_wins_over_environment() {
        let ep = resolve_endpoint(Some("unix:///a.sock")).unwrap();
        assert_eq!(
            ep,
            Endpoint {
                socket: PathBuf::from("/a.sock"),
                auto_start: false
            }
        );
    }
}
