//! The typed Compose project (`compose::Project`) → `ProjectSpec`, refusing what berth cannot honour by key path
//! and `file:line:column`.
//!
//! The loader has already expanded every short syntax, resolved paths, merged env_file into environment and
//! typed durations, byte sizes and port ranges; this module only maps.

use super::labels;
use super::secrets;
use super::service_body::{self, refusal, Scope};
use super::spec::{NetworkSpec, ProjectSpec, VolumeSpec};
use super::support;
use anyhow::Result;
use compose::model::{Network, Volume};
use compose::Project;
use std::collections::HashMap;

/// Loads the Compose project (through the `compose` loader) and maps it.
pub fn load(opts: &compose::LoadOptions) -> Result<ProjectSpec> {
    let project = compose::load(opts)?;
    from_project(&project)
}

/// Maps a typed project: checks what berth does not support, then builds each service's create body.
pub fn from_project(project: &Project) -> Result<ProjectSpec> {
    support::check(project)?;
    check_networks(project)?;
    let name = project.name.as_str();
    let mut networks = networks(project);
    let needs_default = project
        .services
        .values()
        .any(|s| s.networks.is_empty() && s.network_mode.is_none());
    if needs_default && !networks.iter().any(|n| n.key == "default") {
        let engine_name = labels::scoped_name(name, "default");
        networks.push(NetworkSpec {
            key: "default".to_owned(),
            config_hash: compose::resource_hash::network(&engine_name, &Network::default()),
            name: engine_name,
            ..Default::default()
        });
    }
    let volumes = volumes(project);
    let volume_names: HashMap<String, String> = volumes.iter().map(|v| (v.key.clone(), v.name.clone())).collect();
    let network_keys: Vec<String> = networks.iter().map(|n| n.key.clone()).collect();
    let catalog = secrets::Catalog::new(
        name,
        &project.secrets,
        &project.configs,
        &project.environment,
        &project.project_dir,
    )?;
    let scope = Scope {
        project,
        working_dir: &project.project_dir,
        volumes: &volume_names,
        networks: &network_keys,
        catalog: &catalog,
    };
    let services = project
        .services
        .iter()
        .map(|(svc_name, svc)| service_body::map(svc_name.as_str(), svc, &scope))
        .collect::<Result<Vec<_>>>()?;
    Ok(ProjectSpec {
        name: name.to_owned(),
        working_dir: project.project_dir.clone(),
        config_files: project.files.clone(),
        services,
        networks,
        volumes,
        graph: project.graph(),
    })
}

fn check_networks(p: &Project) -> Result<()> {
    for (key, net) in &p.networks {
        let at = format!("networks.{key}.ipam");
        let Some(ipam) = &net.ipam else { continue };
        if ipam.driver.as_deref().is_some_and(|d| d != "default") {
            return Err(refusal(
                p,
                &format!("{at}.driver"),
                "only the default IPAM driver is supported by berth",
            ));
        }
        if !ipam.options.is_empty() {
            return Err(refusal(p, &format!("{at}.options"), "not supported by berth yet"));
        }
    }
    Ok(())
}

/// The engine name of a network or volume: its `name:`, else the key (external) or `<project>_<key>`.
fn engine_name(project: &str, key: &str, name: &Option<String>, external: bool) -> String {
    name.clone().unwrap_or_else(|| {
        if external {
            key.to_owned()
        } else {
            labels::scoped_name(project, key)
        }
    })
}

fn networks(p: &Project) -> Vec<NetworkSpec> {
    p.networks
        .iter()
        .map(|(key, net): (&String, &Network)| {
            let name = engine_name(&p.name, key, &net.name, net.external);
            (key, net, name)
        })
        .map(|(key, net, name)| NetworkSpec {
            key: key.clone(),
            config_hash: compose::resource_hash::network(&name, net),
            name,
            external: net.external,
            driver: net.driver.clone(),
            driver_opts: net.driver_opts.clone().into_iter().collect(),
            labels: net.labels.clone().into_iter().collect(),
            internal: net.internal,
            disable_ipv4: net.enable_ipv4 == Some(false),
            enable_ipv6: net.enable_ipv6.unwrap_or(false),
            attachable: net.attachable,
            ipam: net
                .ipam
                .iter()
                .flat_map(|i| i.config.iter())
                .map(|c| bollard::models::IpamConfig {
                    subnet: c.subnet.clone(),
                    ip_range: c.ip_range.clone(),
                    gateway: c.gateway.clone(),
                    auxiliary_addresses: (!c.aux_addresses.is_empty())
                        .then(|| c.aux_addresses.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
                })
                .collect(),
        })
        .collect()
}

fn volumes(p: &Project) -> Vec<VolumeSpec> {
    p.volumes
        .iter()
        .map(|(key, vol): (&String, &Volume)| {
            let name = engine_name(&p.name, key, &vol.name, vol.external);
            (key, vol, name)
        })
        .map(|(key, vol, name)| VolumeSpec {
            key: key.clone(),
            config_hash: compose::resource_hash::volume(&name, vol),
            name,
            external: vol.external,
            driver: vol.driver.clone(),
            driver_opts: vol.driver_opts.clone().into_iter().collect(),
            labels: vol.labels.clone().into_iter().collect(),
        })
        .collect()
}
