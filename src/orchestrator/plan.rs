//! Planning: which services to act on, the config hash, and each replica's full create body.

use super::labels;
use super::spec::{ProjectSpec, ServiceSpec};
use anyhow::{bail, Context, Result};
use bollard::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, NetworkConnectRequest, NetworkingConfig,
};
use bollard::Docker;
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};

/// The services to act on: those named (all when none), plus their dependencies unless `no_deps`.
pub fn select(project: &ProjectSpec, names: &[String], no_deps: bool) -> Result<BTreeSet<String>> {
    if names.is_empty() {
        return Ok(project.services.iter().map(|s| s.name.clone()).collect());
    }
    let mut out = BTreeSet::new();
    let mut todo: Vec<String> = names.to_vec();
    while let Some(name) = todo.pop() {
        let Some(service) = project.service(&name) else {
            bail!("no such service: {name:?} (services: {})", service_names(project));
        };
        if out.insert(name.clone()) && !no_deps {
            todo.extend(
                service
                    .depends_on
                    .iter()
                    .filter(|d| project.service(&d.service).is_some())
                    .map(|d| d.service.clone()),
            );
        }
    }
    Ok(out)
}

fn service_names(project: &ProjectSpec) -> String {
    project
        .services
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Hash of everything that defines a service's containers: equal hashes mean nothing to recreate.
pub fn config_hash(service: &ServiceSpec) -> String {
    // serde_json with sorted map keys would be ideal; HashMaps inside the body are normalised through a Value round trip.
    let body = serde_json::to_value(&service.create).unwrap_or_default();
    let networks: Vec<_> = service
        .networks
        .iter()
        .map(|n| {
            (
                n.key.clone(),
                n.aliases.clone(),
                n.ipv4_address.clone(),
                n.ipv6_address.clone(),
                n.mac_address.clone(),
            )
        })
        .collect();
    let mut canonical = serde_json::json!({ "body": sort_value(body), "networks": networks });
    // Link-local addresses, gateway priorities and endpoint options joined the hash later: only set ones
    // count, so older stacks keep their hashes.
    let link_local: Vec<_> = service.networks.iter().map(|n| &n.link_local_ips).collect();
    if link_local.iter().any(|l| !l.is_empty()) {
        canonical["link_local_ips"] = serde_json::json!(link_local);
    }
    let endpoint_extras: Vec<_> = service
        .networks
        .iter()
        .map(|n| (n.gw_priority, &n.driver_opts))
        .collect();
    if endpoint_extras.iter().any(|(p, o)| p.is_some() || !o.is_empty()) {
        canonical["endpoint_extras"] = serde_json::json!(endpoint_extras);
    }
    // A built image is known by its id: rebuilding it changes the hash (a pulled one keeps its old hash).
    if let Some(id) = &service.image_id {
        canonical["image_id"] = serde_json::json!(id);
    }
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

fn sort_value(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k, sort_value(v))).collect())
        }
        serde_json::Value::Array(items) => serde_json::Value::Array(items.into_iter().map(sort_value).collect()),
        other => other,
    }
}

/// Engine name of replica `number` of `service`.
pub fn replica_name(project: &ProjectSpec, service: &ServiceSpec, number: u32) -> String {
    match &service.container_name {
        Some(name) => name.clone(),
        None => labels::container_name(&project.name, &service.name, number),
    }
}

/// The full create body of one replica: the service body plus compose labels and its first network.
pub fn replica_body(project: &ProjectSpec, service: &ServiceSpec, number: u32, hash: &str) -> ContainerCreateBody {
    let mut body = service.create.clone();
    let mut all = body.labels.take().unwrap_or_default();
    all.extend(compose_labels(project, service, number, hash));
    body.labels = Some(all);
    // Every network at create (API 1.44 and later), as Docker Compose sends them: the primary one (the first)
    // is also the network mode.
    if let Some(first) = service.networks.first() {
        let host_config = body.host_config.get_or_insert_with(Default::default);
        if host_config.network_mode.is_none() {
            host_config.network_mode = Some(network_name(project, &first.key));
        }
        let links = host_config.links.clone();
        let endpoints = service
            .networks
            .iter()
            .map(|net| {
                let mut endpoint = endpoint_settings(project, service, net, number);
                endpoint.links.clone_from(&links);
                (network_name(project, &net.key), endpoint)
            })
            .collect();
        body.networking_config = Some(NetworkingConfig {
            endpoints_config: Some(endpoints),
        });
    }
    body
}

/// Engines before API 1.44 take one network at create: on those, the endpoints other than the network mode's
/// are taken out of `body`, to be connected once the container exists (as Docker Compose does there).
pub fn endpoints_after_create(docker: &Docker, body: &mut ContainerCreateBody) -> Vec<(String, EndpointSettings)> {
    let v = docker.client_version();
    if (v.major_version, v.minor_version) >= (1, 44) {
        return Vec::new();
    }
    let primary = body.host_config.as_ref().and_then(|h| h.network_mode.clone());
    let Some(endpoints) = body
        .networking_config
        .as_mut()
        .and_then(|n| n.endpoints_config.as_mut())
    else {
        return Vec::new();
    };
    let others: Vec<String> = endpoints
        .keys()
        .filter(|k| Some(*k) != primary.as_ref())
        .cloned()
        .collect();
    let mut later: Vec<(String, EndpointSettings)> = others
        .into_iter()
        .filter_map(|k| endpoints.remove(&k).map(|e| (k, e)))
        .collect();
    later.sort_by(|a, b| a.0.cmp(&b.0));
    later
}

/// Connects a created container to the networks [`endpoints_after_create`] kept back.
pub async fn connect_endpoints(docker: &Docker, id: &str, later: Vec<(String, EndpointSettings)>) -> Result<()> {
    for (network, endpoint) in later {
        let request = NetworkConnectRequest {
            container: id.to_owned(),
            endpoint_config: Some(endpoint),
        };
        docker
            .connect_network(&network, request)
            .await
            .with_context(|| format!("to network {network}"))?;
    }
    Ok(())
}

fn compose_labels(project: &ProjectSpec, service: &ServiceSpec, number: u32, hash: &str) -> HashMap<String, String> {
    let depends: Vec<String> = service
        .depends_on
        .iter()
        .map(|d| format!("{}:{}:{}", d.service, d.condition.as_str(), d.restart))
        .collect();
    let files: Vec<String> = project.config_files.iter().map(|p| p.display().to_string()).collect();
    HashMap::from([
        (labels::PROJECT.to_owned(), project.name.clone()),
        (labels::SERVICE.to_owned(), service.name.clone()),
        (labels::CONTAINER_NUMBER.to_owned(), number.to_string()),
        (labels::CONFIG_HASH.to_owned(), hash.to_owned()),
        (labels::ONEOFF.to_owned(), "False".to_owned()),
        (labels::DEPENDS_ON.to_owned(), depends.join(",")),
        (
            labels::WORKING_DIR.to_owned(),
            project.working_dir.display().to_string(),
        ),
        (labels::CONFIG_FILES.to_owned(), files.join(",")),
        (labels::IMAGE.to_owned(), service.image.clone()),
        (labels::VERSION.to_owned(), env!("CARGO_PKG_VERSION").to_owned()),
    ])
}

/// Engine name of a project network key.
pub fn network_name(project: &ProjectSpec, key: &str) -> String {
    project
        .networks
        .iter()
        .find(|n| n.key == key)
        .map(|n| n.name.clone())
        .unwrap_or_else(|| labels::scoped_name(&project.name, key))
}

/// Endpoint settings for one network attachment: service name and aliases resolvable, static addresses.
pub fn endpoint_settings(
    project: &ProjectSpec,
    service: &ServiceSpec,
    net: &super::spec::ServiceNetwork,
    number: u32,
) -> EndpointSettings {
    let mut aliases = vec![replica_name(project, service, number), service.name.clone()];
    aliases.extend(net.aliases.iter().cloned());
    let ipam =
        (net.ipv4_address.is_some() || net.ipv6_address.is_some() || !net.link_local_ips.is_empty()).then(|| {
            EndpointIpamConfig {
                ipv4_address: net.ipv4_address.clone(),
                ipv6_address: net.ipv6_address.clone(),
                link_local_ips: (!net.link_local_ips.is_empty()).then(|| net.link_local_ips.clone()),
                ..Default::default()
            }
        });
    EndpointSettings {
        aliases: Some(aliases),
        ipam_config: ipam,
        mac_address: net.mac_address.clone(),
        driver_opts: (!net.driver_opts.is_empty()).then(|| net.driver_opts.clone().into_iter().collect()),
        gw_priority: net.gw_priority,
        ..Default::default()
    }
}
