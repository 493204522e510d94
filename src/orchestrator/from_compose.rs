//! The project model: canonical Compose (long syntax) → `ProjectSpec`, refusing what berth cannot honour by name.
//!
//! The canonical document comes from the Compose loader (issue 3) once it exports one; until then an interim
//! reader takes a single Compose file already written in long syntax (no interpolation, merge, extends, env_file).

use super::canonical::{self, SUPPORTED_SERVICE_KEYS};
use super::labels;
use super::project::normalise;
use super::service_body::{self, Scope};
use super::spec::{NetworkSpec, ProjectSpec, VolumeSpec};
use crate::cli::GlobalArgs;
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// File names looked for, in Compose's order.
const CANDIDATES: [&str; 4] = ["compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"];

/// Loads the Compose project named by the global flags and maps it to a `ProjectSpec`.
pub fn load(global: &GlobalArgs) -> Result<ProjectSpec> {
    let (file, working_dir) = discover(global)?;
    let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let doc: Value = serde_yaml_ng::from_str(&text).with_context(|| format!("{}: not valid YAML", file.display()))?;
    let name = project_name(global, &doc, &working_dir)?;
    from_canonical(doc, &name, &working_dir, vec![file], true).with_context(|| format!("in {}", display_rel(global)))
}

fn display_rel(global: &GlobalArgs) -> String {
    global.files.first().cloned().unwrap_or_else(|| "the Compose file".to_owned())
}

/// Finds the single Compose file and the project directory.
fn discover(global: &GlobalArgs) -> Result<(PathBuf, PathBuf)> {
    if global.files.len() > 1 {
        bail!("several -f files need the Compose loader's merge (issue 3), which berth does not have yet; pass one file");
    }
    let cwd = std::env::current_dir().context("no current directory")?;
    let base = global.project_directory.clone().map(|d| cwd.join(d)).unwrap_or_else(|| cwd.clone());
    let file = match global.files.first() {
        Some(f) if f == "-" => bail!("-f - (stdin) needs the Compose loader (issue 3)"),
        Some(f) => cwd.join(f),
        None => CANDIDATES
            .iter()
            .map(|c| base.join(c))
            .find(|p| p.is_file())
            .with_context(|| format!("no configuration file provided: not found in {}", base.display()))?,
    };
    let working_dir = match &global.project_directory {
        Some(_) => base,
        None => file.parent().map(Path::to_path_buf).unwrap_or(base),
    };
    Ok((file, working_dir))
}

fn project_name(global: &GlobalArgs, doc: &Value, dir: &Path) -> Result<String> {
    let chosen = global
        .project_name
        .clone()
        .or_else(|| std::env::var("COMPOSE_PROJECT_NAME").ok().filter(|n| !n.is_empty()))
        .or_else(|| doc.get("name").and_then(Value::as_str).map(str::to_owned))
        .or_else(|| dir.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let name = normalise(&chosen);
    if name.is_empty() {
        bail!("project name {chosen:?} is empty after normalisation: use -p NAME");
    }
    Ok(name)
}

/// Maps a canonical Compose document. `interim` marks input that did not go through the loader.
pub fn from_canonical(doc: Value, name: &str, working_dir: &Path, files: Vec<PathBuf>, interim: bool) -> Result<ProjectSpec> {
    if let Some(map) = doc.as_object() {
        for key in map.keys() {
            if !matches!(key.as_str(), "name" | "services" | "networks" | "volumes" | "secrets" | "configs" | "version") && !key.starts_with("x-") {
                bail!("{key}: top-level key not supported by berth yet");
            }
        }
    }
    let project: canonical::Project = serde_json::from_value(doc).context("top level: expected the Compose long syntax")?;
    check_networks(&project)?;
    let service_names: Vec<String> = project.services.keys().cloned().collect();
    let mut networks = networks(name, &project);
    let needs_default = project.services.values().any(|s| s.get("networks").is_none() && s.get("network_mode").is_none());
    if needs_default && !networks.iter().any(|n| n.key == "default") {
        networks.push(NetworkSpec { key: "default".to_owned(), name: labels::scoped_name(name, "default"), ..Default::default() });
    }
    let volumes = volumes(name, &project);
    let volume_names: HashMap<String, String> = volumes.iter().map(|v| (v.key.clone(), v.name.clone())).collect();
    let network_keys: Vec<String> = networks.iter().map(|n| n.key.clone()).collect();
    let scope = Scope { project: name, working_dir, volumes: &volume_names, networks: &network_keys, services: &service_names };
    let mut services = Vec::new();
    for (svc_name, raw) in project.services {
        check_keys(&svc_name, &raw, interim)?;
        let typed: canonical::Service = serde_json::from_value(raw).with_context(|| {
            let hint = if interim { " (until berth's Compose loader lands, write services in the long syntax)" } else { "" };
            format!("services.{svc_name}: unexpected shape{hint}")
        })?;
        services.push(service_body::map(&svc_name, typed, &scope)?);
    }
    Ok(ProjectSpec { name: name.to_owned(), working_dir: working_dir.to_path_buf(), config_files: files, services, networks, volumes })
}

fn check_keys(service: &str, raw: &Value, interim: bool) -> Result<()> {
    let Some(map) = raw.as_object() else { bail!("services.{service}: expected a mapping") };
    for key in map.keys() {
        if key.starts_with("x-") {
            continue;
        }
        if !SUPPORTED_SERVICE_KEYS.contains(&key.as_str()) {
            bail!("services.{service}.{key}: attribute not supported by berth yet (refused rather than ignored)");
        }
        if interim && key == "env_file" {
            bail!("services.{service}.env_file: needs the Compose loader (issue 3); use environment: for now");
        }
    }
    Ok(())
}

fn check_networks(p: &canonical::Project) -> Result<()> {
    for (key, net) in &p.networks {
        let Some(ipam) = net.as_ref().and_then(|n| n.ipam.as_ref()) else { continue };
        if ipam.driver.as_deref().is_some_and(|d| d != "default") {
            bail!("networks.{key}.ipam.driver: only the default IPAM driver is supported by berth");
        }
        if ipam.config.iter().any(|c| c.ip_range.is_some()) {
            bail!("networks.{key}.ipam.config.ip_range: not supported by berth yet");
        }
    }
    Ok(())
}

fn networks(project: &str, p: &canonical::Project) -> Vec<NetworkSpec> {
    p.networks
        .iter()
        .map(|(key, net)| {
            let net = net.clone().unwrap_or_default();
            let external = net.external.unwrap_or(false);
            let name = net.name.clone().unwrap_or_else(|| if external { key.clone() } else { labels::scoped_name(project, key) });
            NetworkSpec {
                key: key.clone(),
                name,
                external,
                driver: net.driver.clone(),
                driver_opts: net.driver_opts.iter().map(|(k, v)| (k.clone(), v.to_string())).collect(),
                labels: net.labels.clone().into_iter().collect(),
                internal: net.internal.unwrap_or(false),
                enable_ipv6: net.enable_ipv6.unwrap_or(false),
                subnets: net.ipam.iter().flat_map(|i| i.config.iter()).filter_map(|c| c.subnet.clone().map(|s| (s, c.gateway.clone()))).collect(),
            }
        })
        .collect()
}

fn volumes(project: &str, p: &canonical::Project) -> Vec<VolumeSpec> {
    p.volumes
        .iter()
        .map(|(key, vol)| {
            let vol = vol.clone().unwrap_or_default();
            let external = vol.external.unwrap_or(false);
            let name = vol.name.clone().unwrap_or_else(|| if external { key.clone() } else { labels::scoped_name(project, key) });
            VolumeSpec {
                key: key.clone(),
                name,
                external,
                driver: vol.driver.clone(),
                driver_opts: vol.driver_opts.iter().map(|(k, v)| (k.clone(), v.to_string())).collect(),
                labels: vol.labels.clone().into_iter().collect(),
            }
        })
        .collect()
}
