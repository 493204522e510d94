//! Registry settings of one engine: insecure (plain http) registries and Docker Hub mirrors, read from
//! `<root>/daemon.json`, else `/etc/berth/daemon.json` (the same keys as dockerd's daemon.json):
//!
//! ```json
//! { "insecure-registries": ["myregistry:5000", "10.0.0.0/8"], "registry-mirrors": ["http://127.0.0.1:5001"] }
//! ```
//! `localhost`, `127.0.0.0/8` and `::1` are always reachable over http.

use crate::error::{EngineError, Result};
use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

/// System-wide settings file, used when the engine root has none.
pub const SYSTEM_SETTINGS: &str = "/etc/berth/daemon.json";

/// Parsed registry settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistrySettings {
    /// Registries (`host[:port]`) or IPv4 networks (`a.b.c.d/n`) that may be reached over plain http.
    pub insecure: Vec<String>,
    /// Docker Hub mirrors, tried in order before Docker Hub itself.
    pub mirrors: Vec<Mirror>,
}

/// A registry mirror endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    /// `host[:port]`.
    pub host: String,
    /// Whether the mirror speaks plain http.
    pub http: bool,
}

#[derive(Deserialize, Default)]
struct File {
    #[serde(rename = "insecure-registries", default)]
    insecure: Vec<String>,
    #[serde(rename = "registry-mirrors", default)]
    mirrors: Vec<String>,
}

impl RegistrySettings {
    /// Reads `<root>/daemon.json`, else [`SYSTEM_SETTINGS`]; no file means defaults.
    pub fn load(root: &Path) -> Result<Self> {
        for p in [root.join("daemon.json"), PathBuf::from(SYSTEM_SETTINGS)] {
            match std::fs::read(&p) {
                Ok(data) => return Self::parse(&data, &p),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(EngineError::internal(format!("reading {}", p.display()), e)),
            }
        }
        Ok(Self::default())
    }

    /// Parses a daemon.json; `path` names it in errors.
    pub fn parse(data: &[u8], path: &Path) -> Result<Self> {
        let f: File = serde_json::from_slice(data).map_err(|e| {
            EngineError::BadRequest(format!(
                "{}: {e} (expected insecure-registries and registry-mirrors as lists of strings)",
                path.display()
            ))
        })?;
        let mirrors = f
            .mirrors
            .iter()
            .map(|m| {
                parse_mirror(m).map_err(|why| {
                    EngineError::BadRequest(format!("{}: registry-mirrors: {m:?}: {why}", path.display()))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(RegistrySettings {
            insecure: f.insecure,
            mirrors,
        })
    }

    /// Whether `host` (`name[:port]`) may be contacted over plain http.
    pub fn allows_http(&self, host: &str) -> bool {
        let name = host_name(host);
        if name == "localhost" || name.ends_with(".localhost") {
            return true;
        }
        let ip: Option<IpAddr> = name.trim_start_matches('[').trim_end_matches(']').parse().ok();
        if ip.is_some_and(|ip| ip.is_loopback()) {
            return true;
        }
        self.insecure.iter().any(|entry| {
            entry == host
                || entry == name
                || matches!((ip, parse_cidr(entry)), (Some(IpAddr::V4(a)), Some((net, bits))) if in_net(a, net, bits))
        })
    }
}

/// `host:port` → `host` (keeping bracketed IPv6 literals whole).
fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_once(']').map(|(h, _)| &host[..h.len() + 1]).unwrap_or(host);
    }
    host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host)
}

fn parse_mirror(m: &str) -> std::result::Result<Mirror, &'static str> {
    let (http, rest) = if let Some(r) = m.strip_prefix("http://") {
        (true, r)
    } else if let Some(r) = m.strip_prefix("https://") {
        (false, r)
    } else {
        return Err("expected an http:// or https:// URL");
    };
    let host = rest.trim_end_matches('/');
    if host.is_empty() || host.contains('/') {
        return Err("expected scheme://host[:port] without a path");
    }
    Ok(Mirror {
        host: host.to_owned(),
        http,
    })
}

fn parse_cidr(s: &str) -> Option<(Ipv4Addr, u32)> {
    let (a, b) = s.split_once('/')?;
    let bits: u32 = b.parse().ok()?;
    (bits <= 32).then_some((a.parse().ok()?, bits))
}

fn in_net(a: Ipv4Addr, net: Ipv4Addr, bits: u32) -> bool {
    let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
    u32::from(a) & mask == u32::from(net) & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_rules() {
        let s = RegistrySettings::parse(
            br#"{"insecure-registries":["reg.lan:5000","10.0.0.0/8"],"registry-mirrors":["http://127.0.0.1:5001/"]}"#,
            Path::new("daemon.json"),
        )
        .unwrap();
        assert!(s.allows_http("localhost:5000"));
        assert!(s.allows_http("127.3.2.1:80"));
        assert!(s.allows_http("[::1]:5000"));
        assert!(s.allows_http("reg.lan:5000"));
        assert!(!s.allows_http("reg.lan:5001"));
        assert!(s.allows_http("10.1.2.3:5000"));
        assert!(!s.allows_http("11.1.2.3:5000"));
        assert!(!s.allows_http("docker.io"));
        assert_eq!(
            s.mirrors,
            vec![Mirror {
                host: "127.0.0.1:5001".into(),
                http: true
            }]
        );
    }

    #[test]
    fn bad_file_is_named() {
        let e =
            RegistrySettings::parse(br#"{"registry-mirrors":["ftp://x"]}"#, Path::new("/r/daemon.json")).unwrap_err();
        assert!(e.to_string().contains("/r/daemon.json: registry-mirrors"), "{e}");
    }
}
