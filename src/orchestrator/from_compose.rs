//! The project model: canonical Compose (long syntax) → `ProjectSpec`, refusing what berth cannot honour by name.
//!
//! The input is the loader's canonical document (the shape `docker compose config --format json` prints):
//! every short syntax already expanded, paths resolved, env_file merged into environment.

use super::canonical::{self, SUPPORTED_SERVICE_KEYS};
use super::labels;
use super::secrets;
use super::service_body::{self, Scope};
use super::spec::{NetworkSpec, ProjectSpec, VolumeSpec};
use crate::cli::GlobalArgs;
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Loads the Compose project named by the global flags (through the `compose` loader) and maps it.
pub fn load(global: &GlobalArgs) -> Result<ProjectSpec> {
    let opts = crate::cli::config::load_options(global, true, true);
    let loaded = compose::load_document(&opts)?;
    // The typed model's checks (dependency cycles among them) run before anything reaches the engine.
    compose::Project::from_loaded(&loaded)?;
    let env: HashMap<String, String> = loaded.environment.into_iter().collect();
    from_canonical(loaded.document, &loaded.name, &loaded.project_dir, loaded.files, &env)
}

/// Maps a canonical Compose document.
/// `env` is the loader's environment (for `environment:` secrets and configs).
pub fn from_canonical(
    doc: Value,
    name: &str,
    working_dir: &Path,
    files: Vec<PathBuf>,
    env: &HashMap<String, String>,
) -> Result<ProjectSpec> {
    if let Some(map) = doc.as_object() {
        for key in map.keys() {
            if !matches!(
                key.as_str(),
                "name" | "services" | "networks" | "volumes" | "secrets" | "configs" | "version"
            ) && !key.starts_with("x-")
            {
                bail!("{key}: top-level key not supported by berth yet");
            }
        }
    }
    let project: canonical::Project =
        serde_json::from_value(doc).context("top level: expected the Compose long syntax")?;
    check_networks(&project)?;
    let service_names: Vec<String> = project.services.keys().cloned().collect();
    let mut networks = networks(name, &project);
    let needs_default = project
        .services
        .values()
        .any(|s| s.get("networks").is_none() && s.get("network_mode").is_none());
    if needs_default && !networks.iter().any(|n| n.key == "default") {
        networks.push(NetworkSpec {
            key: "default".to_owned(),
            name: labels::scoped_name(name, "default"),
            ..Default::default()
        });
    }
    let volumes = volumes(name, &project);
    let volume_names: HashMap<String, String> = volumes.iter().map(|v| (v.key.clone(), v.name.clone())).collect();
    let network_keys: Vec<String> = networks.iter().map(|n| n.key.clone()).collect();
    let catalog = secrets::Catalog::new(name, &project.secrets, &project.configs, env, working_dir)?;
    let scope = Scope {
        project: name,
        working_dir,
        volumes: &volume_names,
        networks: &network_keys,
        services: &service_names,
        catalog: &catalog,
    };
    let mut services = Vec::new();
    for (svc_name, raw) in project.services {
        check_keys(&svc_name, &raw)?;
        let typed: canonical::Service = serde_json::from_value(raw)
            .with_context(|| format!("services.{svc_name}: unexpected shape of the canonical model"))?;
        services.push(service_body::map(&svc_name, typed, &scope)?);
    }
    Ok(ProjectSpec {
        name: name.to_owned(),
        working_dir: working_dir.to_path_buf(),
        config_files: files,
        services,
        networks,
        volumes,
    })
}

fn check_keys(service: &str, raw: &Value) -> Result<()> {
    let Some(map) = raw.as_object() else {
        bail!("services.{service}: expected a mapping")
    };
    for key in map.keys() {
        if key.starts_with("x-") {
            continue;
        }
        if !SUPPORTED_SERVICE_KEYS.contains(&key.as_str()) {
            bail!("services.{service}.{key}: attribute not supported by berth yet (refused rather than ignored)");
        }
    }
    Ok(())
}

fn check_networks(p: &canonical::Project) -> Result<()> {
    for (key, net) in &p.networks {
        let Some(ipam) = net.as_ref().and_then(|n| n.ipam.as_ref()) else {
            continue;
        };
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
            let name = net.name.clone().unwrap_or_else(|| {
                if external {
                    key.clone()
                } else {
                    labels::scoped_name(project, key)
                }
            });
            NetworkSpec {
                key: key.clone(),
                name,
                external,
                driver: net.driver.clone(),
                driver_opts: net
                    .driver_opts
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_string()))
                    .collect(),
                labels: net.labels.clone().into_iter().collect(),
                internal: net.internal.unwrap_or(false),
                enable_ipv6: net.enable_ipv6.unwrap_or(false),
                subnets: net
                    .ipam
                    .iter()
                    .flat_map(|i| i.config.iter())
                    .filter_map(|c| c.subnet.clone().map(|s| (s, c.gateway.clone())))
                    .collect(),
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
            let name = vol.name.clone().unwrap_or_else(|| {
                if external {
                    key.clone()
                } else {
                    labels::scoped_name(project, key)
                }
            });
            VolumeSpec {
                key: key.clone(),
                name,
                external,
                driver: vol.driver.clone(),
                driver_opts: vol
                    .driver_opts
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_string()))
                    .collect(),
                labels: vol.labels.clone().into_iter().collect(),
            }
        })
        .collect()
}
