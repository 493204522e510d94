//! A container's network across its life: set up before start, torn down after exit, forgotten on
//! remove, re-adopted after an engine restart (the network service does the work).

use super::Containers;
use crate::error::Result;
use crate::networks::{
    ContainerNet, ContainerNetRequest, EndpointRecord, NetMode, NetworkRecord, Networks, DEFAULT_BRIDGE,
};
use crate::state::ContainerRecord;
use bollard::models::{EndpointSettings, NetworkSettings, PortBinding, PortMap};
use runtime::{ContainerSpec, NetnsMode, ResolvConf};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// The network service's view of a stored container.
/// The typed port requests; rows written before they were stored typed still carry only the bindings.
fn ports_of(rec: &ContainerRecord) -> Vec<netstack::PortRequest> {
    if rec.ports.is_empty() && rec.host_config.port_bindings.as_ref().is_some_and(|m| !m.is_empty()) {
        return crate::networks::port_requests(rec.host_config.port_bindings.as_ref()).unwrap_or_default();
    }
    rec.ports.clone()
}

fn request_of(rec: &ContainerRecord) -> ContainerNetRequest {
    let h = &rec.host_config;
    // The docker CLI sends mode "default" with an EndpointsConfig entry of that name: both mean `bridge`.
    // With no mode but named endpoints (as API 1.44+ clients send), the first named network is the primary one.
    let named = rec
        .endpoints
        .keys()
        .filter(|k| !matches!(k.as_str(), "default" | DEFAULT_BRIDGE))
        .min()
        .cloned();
    let mode = match h.network_mode.as_deref() {
        None | Some("" | "default") => named.unwrap_or_else(|| DEFAULT_BRIDGE.to_owned()),
        Some(m) => m.to_owned(),
    };
    let endpoints = rec
        .endpoints
        .iter()
        .map(|(k, v)| {
            (
                if k == "default" {
                    DEFAULT_BRIDGE.to_owned()
                } else {
                    k.clone()
                },
                v.clone(),
            )
        })
        .collect();
    ContainerNetRequest {
        id: rec.id.clone(),
        name: rec.name.clone(),
        network_mode: Some(mode),
        endpoints,
        ports: ports_of(rec),
        dns: h.dns.clone().unwrap_or_default(),
        dns_search: h.dns_search.clone().unwrap_or_default(),
        dns_options: h.dns_options.clone().unwrap_or_default(),
        extra_hosts: h.extra_hosts.clone().unwrap_or_default(),
        links: h
            .links
            .iter()
            .flatten()
            .chain(rec.endpoints.values().flat_map(|e| e.links.iter().flatten()))
            .cloned()
            .collect(),
    }
}

/// Parses resolv.conf text into the runtime's form.
pub(super) fn parse_resolv_conf(text: &str) -> ResolvConf {
    let mut rc = ResolvConf::default();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        match it.next() {
            Some("nameserver") => rc
                .nameservers
                .extend(it.next().and_then(|a| a.parse::<std::net::IpAddr>().ok())),
            Some("search") => rc.search.extend(it.map(str::to_owned)),
            Some("options") => rc.options.extend(it.map(str::to_owned)),
            _ => {}
        }
    }
    rc
}

/// Puts the network side into the runtime spec: namespace, resolv.conf, hosts lines.
fn apply(spec: &mut ContainerSpec, net: &ContainerNet) {
    spec.netns = match &net.mode {
        NetMode::Join(path) => NetnsMode::Path(path.clone()),
        NetMode::Host => NetnsMode::Host,
    };
    spec.resolv_conf = parse_resolv_conf(&net.resolv_conf);
    // As Docker: the container's own address under its hostname, then the extra hosts.
    let mut hosts: Vec<_> = net
        .endpoints
        .first()
        .and_then(|ep| ep.addrs().first().copied())
        .map(|ip| (spec.hostname.clone(), ip))
        .into_iter()
        .collect();
    hosts.extend(net.hosts.iter().cloned());
    spec.hosts = hosts;
}

/// One `NetworkSettings.Networks` entry as dockerd shows it: addresses only while the container runs.
fn endpoint_view(net: &NetworkRecord, ep: &EndpointRecord, running: bool) -> EndpointSettings {
    let live = |s: String| if running { s } else { String::new() };
    let v6 = net.alloc.v6.as_ref();
    let v4 = net.alloc.subnet_gateway();
    EndpointSettings {
        ipam_config: ep.ipam_config.clone(),
        aliases: Some(ep.aliases.clone()),
        network_id: Some(net.id.clone()),
        endpoint_id: Some(live(ep.endpoint_id.clone())),
        gateway: Some(live(v4.map(|(_, gw)| gw.to_string()).unwrap_or_default())),
        ip_address: Some(live(ep.ip.map(|a| a.to_string()).unwrap_or_default())),
        ip_prefix_len: Some(match (ep.ip, v4) {
            (Some(_), Some((subnet, _))) if running => subnet.prefix_len().into(),
            _ => 0,
        }),
        ipv6_gateway: Some(live(v6.map(|v| v.gateway.to_string()).unwrap_or_default())),
        global_ipv6_address: Some(live(ep.ip6.map(|a| a.to_string()).unwrap_or_default())),
        global_ipv6_prefix_len: Some(match (ep.ip6, v6) {
            (Some(_), Some(v)) if running => v.subnet.prefix_len().into(),
            _ => 0,
        }),
        mac_address: Some(ep.shown_mac(&net.driver, running)),
        driver_opts: ep.driver_opts.clone(),
        links: Some(ep.links.clone()),
        dns_names: Some(crate::networks::dns_names(ep)),
        ..Default::default()
    }
}

/// The networks a container is configured for, as dockerd shows them before the first start: the settings
/// asked for, with no network id or addresses.
fn configured_entries(rec: &ContainerRecord, nets: &Networks, networks: &mut HashMap<String, EndpointSettings>) {
    let req = request_of(rec);
    let mode = req.network_mode.unwrap_or_default();
    let mut wanted: Vec<&String> = req.endpoints.keys().collect();
    if !matches!(mode.as_str(), "none" | "host") && !mode.starts_with("container:") {
        wanted.push(&mode);
    }
    for name in wanted {
        let name = nets.resolve(name).map(|n| n.name).unwrap_or_else(|_| name.clone());
        if networks.contains_key(&name) {
            continue;
        }
        let mut entry = req.endpoints.get(&name).cloned().unwrap_or_default();
        entry.network_id.get_or_insert_with(String::new);
        networks.insert(name, entry);
    }
}

impl Containers {
    /// `NetworkSettings.Networks` of every container in `recs`, from one read of the networks and one of the
    /// endpoints (a list never reads per container).
    pub(super) fn all_network_entries(
        &self,
        recs: &[ContainerRecord],
    ) -> HashMap<String, HashMap<String, EndpointSettings>> {
        let Some(nets) = self.networks_opened() else {
            return HashMap::new();
        };
        let by_id: HashMap<String, NetworkRecord> = nets
            .records()
            .unwrap_or_default()
            .into_iter()
            .map(|n| (n.id.clone(), n))
            .collect();
        let mut out: HashMap<String, HashMap<String, EndpointSettings>> = HashMap::new();
        for ep in nets.endpoints().unwrap_or_default() {
            let Some(net) = by_id.get(&ep.network) else { continue };
            let view = endpoint_view(net, &ep, nets.has_sandbox(&ep.container));
            out.entry(ep.container.clone())
                .or_default()
                .insert(net.name.clone(), view);
        }
        for rec in recs {
            if let std::collections::hash_map::Entry::Vacant(e) = out.entry(rec.id.clone()) {
                configured_entries(rec, nets, e.insert(HashMap::new()));
            }
        }
        out
    }

    /// Inspect's `NetworkSettings`: endpoints (address, aliases) and, while running, published ports.
    pub(super) fn network_settings(&self, rec: &ContainerRecord) -> NetworkSettings {
        let Some(nets) = self.networks_opened() else {
            return NetworkSettings {
                networks: Some(HashMap::new()),
                ..Default::default()
            };
        };
        let running = nets.has_sandbox(&rec.id);
        let mut networks = HashMap::new();
        for ep in nets.endpoints_of_container(&rec.id).unwrap_or_default() {
            let Ok(net) = nets.resolve(&ep.network) else { continue };
            networks.insert(net.name.clone(), endpoint_view(&net, &ep, running));
        }
        // Never attached (created, not started or connected): what it is configured for.
        if networks.is_empty() {
            configured_entries(rec, &nets, &mut networks);
        }
        let mut ports: PortMap = HashMap::new();
        for p in nets.published_ports(&rec.id) {
            let key = format!(
                "{}/{}",
                p.container_port,
                if p.proto == netstack::Proto::Udp { "udp" } else { "tcp" }
            );
            let binding = PortBinding {
                host_ip: Some(p.host_ip.to_string()),
                host_port: Some(p.host_port.to_string()),
            };
            ports
                .entry(key)
                .or_insert_with(|| Some(Vec::new()))
                .get_or_insert_with(Vec::new)
                .push(binding);
        }
        // As dockerd: while running, an exposed port that is not published is listed without bindings.
        if running && super::view::owns_ports(rec) {
            for (port, typ) in super::view::exposed_ports(rec) {
                ports.entry(format!("{port}/{typ}")).or_insert(None);
            }
        }
        NetworkSettings {
            networks: Some(networks),
            ports: Some(ports),
            sandbox_key: running.then(|| {
                let root = self.runtime.root().parent().unwrap_or(self.runtime.root());
                root.join("netns").join(&rec.id).display().to_string()
            }),
            // dockerd's sandbox has an id of its own; berth's namespace is the container's, so it derives one.
            sandbox_id: running.then(|| hex::encode(Sha256::digest(format!("{}/sandbox", rec.id)))),
            ..Default::default()
        }
    }

    /// Before start: namespace, veths, DNS names and ports of `rec`, written into `spec`.
    pub(super) async fn setup_network(&self, rec: &ContainerRecord, spec: &mut ContainerSpec) -> Result<()> {
        let nets = self.networks().await?;
        let net = nets.setup_container(&request_of(rec)).await?;
        apply(spec, &net);
        Ok(())
    }

    /// After exit (or a failed start): namespace, veths, ports and DNS names go; leases stay.
    pub(super) async fn teardown_network(&self, id: &str) {
        match self.networks().await {
            Ok(nets) => {
                if let Err(e) = nets.teardown_container(id) {
                    tracing::warn!(container = id, "tearing down the network: {e}");
                }
            }
            Err(e) => tracing::warn!(container = id, "network service unavailable: {e}"),
        }
    }

    /// On remove: teardown plus the container's endpoints and leases (on a task: see `forget_container`).
    pub(super) async fn forget_network(&self, id: &str) -> Result<()> {
        self.networks().await?.forget_container(id);
        Ok(())
    }

    /// After an engine restart, for a container still running: DNS names and published ports again.
    pub(super) async fn readopt_network(&self, rec: &ContainerRecord) {
        let mode = rec.host_config.network_mode.as_deref().unwrap_or("");
        if matches!(mode, "host" | "none") || mode.starts_with("container:") {
            return;
        }
        let res = match self.networks().await {
            Ok(nets) => nets.readopt_container(&request_of(rec)).await.map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = res {
            tracing::warn!(container = %rec.id, "re-adopting the network: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_text_parses() {
        let rc = parse_resolv_conf("# x\nnameserver 172.18.0.1\nsearch a.example b\noptions ndots:0\nnameserver bad\n");
        assert_eq!(rc.nameservers, vec!["172.18.0.1".parse::<std::net::IpAddr>().unwrap()]);
        assert_eq!(rc.search, ["a.example", "b"]);
        assert_eq!(rc.options, ["ndots:0"]);
    }
}
