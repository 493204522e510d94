//! Where an engine lives: its state root and its socket, from flags and environment.

use std::path::{Path, PathBuf};

/// Default state root.
pub const DEFAULT_ROOT: &str = "/var/lib/berth";
/// Default API socket.
pub const DEFAULT_SOCKET: &str = "/run/berth/berth.sock";

/// An engine's locations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// State root: database, blobs, layers, runtime bundles, log and pid files.
    pub root: PathBuf,
    /// The unix socket the API listens on.
    pub socket: PathBuf,
}

impl EngineConfig {
    /// Resolves the config: explicit host (e.g. `-H`) first, then `BERTH_HOST`, `BERTH_ROOT`, then defaults.
    pub fn resolve(host: Option<&str>) -> Result<Self, String> {
        let root = std::env::var_os("BERTH_ROOT")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT));
        let host = host
            .map(str::to_owned)
            .or_else(|| std::env::var("BERTH_HOST").ok().filter(|v| !v.is_empty()));
        let socket = match host {
            Some(h) => parse_host(&h)?,
            None => PathBuf::from(DEFAULT_SOCKET),
        };
        Ok(EngineConfig { root, socket })
    }

    /// `<root>/engine.pid`.
    pub fn pid_file(&self) -> PathBuf {
        self.root.join("engine.pid")
    }
    /// `<root>/engine.lock`: held (flock) by the running engine.
    pub fn lock_file(&self) -> PathBuf {
        self.root.join("engine.lock")
    }
    /// `<root>/engine.log`: the detached engine's output.
    pub fn log_file(&self) -> PathBuf {
        self.root.join("engine.log")
    }
    /// `<root>/state.redb`.
    pub fn db_file(&self) -> PathBuf {
        self.root.join("state.redb")
    }
    /// `<root>/tmp`: scratch space on the same filesystem as the stores (for atomic renames).
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }
}

/// Parses `unix:///path` or a plain absolute path into a socket path.
pub fn parse_host(host: &str) -> Result<PathBuf, String> {
    let path = host.strip_prefix("unix://").unwrap_or(host);
    if host.contains("://") && !host.starts_with("unix://") {
        return Err(format!(
            "engine host {host:?}: only unix sockets are supported (unix:///path)"
        ));
    }
    if !Path::new(path).is_absolute() {
        return Err(format!(
            "engine host {host:?}: expected unix:///absolute/path or an absolute path"
        ));
    }
    Ok(PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts() {
        assert_eq!(parse_host("unix:///tmp/x.sock").unwrap(), PathBuf::from("/tmp/x.sock"));
        assert_eq!(parse_host("/tmp/y.sock").unwrap(), PathBuf::from("/tmp/y.sock"));
        assert!(parse_host("tcp://1.2.3.4:2375").is_err());
        assert!(parse_host("relative.sock").is_err());
    }
}
