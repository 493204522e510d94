//! What the container service calls: network setup before a container starts, teardown after it
//! stops, and forgetting it when it is removed.

use super::service::{engine_error, Networks, DEFAULT_BRIDGE};
use super::state::EndpointRecord;
use crate::error::{EngineError, Result};
use bollard::models::{EndpointSettings, PortMap};
use netstack::resolv::{hosts_entries, parse_extra_host, render_resolv_conf, ResolvSpec};
use netstack::{ContainerId, PortRequest, Proto, PublishedPort};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use tracing::Instrument;

/// A container's network settings as created (HostConfig and NetworkingConfig parts).
#[derive(Debug, Clone, Default)]
pub struct ContainerNetRequest {
    /// Container id (64 hex).
    pub id: String,
    /// Container name (its DNS name).
    pub name: String,
    /// `HostConfig.NetworkMode`: "", "default", "bridge", "host", "none", "container:<id>" or a network name/id.
    pub network_mode: Option<String>,
    /// `NetworkingConfig.EndpointsConfig`: network name/id → settings (aliases, IPv4Address).
    pub endpoints: HashMap<String, EndpointSettings>,
    /// `HostConfig.PortBindings`, typed at create.
    pub ports: Vec<PortRequest>,
    /// `HostConfig.Dns`.
    pub dns: Vec<String>,
    /// `HostConfig.DnsSearch`.
    pub dns_search: Vec<String>,
    /// `HostConfig.DnsOptions`.
    pub dns_options: Vec<String>,
    /// `HostConfig.ExtraHosts` (`name:ip`, `name:host-gateway`).
    pub extra_hosts: Vec<String>,
    /// Legacy links, `HostConfig.Links` and the endpoints' `Links`: `<container>[:<alias>]` (dockerd's stored
    /// form `/<container>:/<self>/<alias>` too).
    pub links: Vec<String>,
}

/// How the runtime must set up the container's network namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetMode {
    /// Join this namespace file (made by netstack, or another container's).
    Join(PathBuf),
    /// The host's namespace.
    Host,
}

/// Everything the runtime needs from the network side.
#[derive(Debug, Clone)]
pub struct ContainerNet {
    /// Namespace to use.
    pub mode: NetMode,
    /// Text of /etc/resolv.conf.
    pub resolv_conf: String,
    /// Extra /etc/hosts lines.
    pub hosts: Vec<(String, IpAddr)>,
    /// Ports as published.
    pub ports: Vec<PublishedPort>,
    /// Endpoints, first = default route.
    pub endpoints: Vec<EndpointRecord>,
}

fn parse_dns(v: &[String]) -> Result<Vec<IpAddr>> {
    v.iter()
        .map(|s| {
            s.parse().map_err(|_| {
                EngineError::BadRequest(format!("HostConfig.Dns: invalid value {s:?}: expected an IP address"))
            })
        })
        .collect()
}

/// The container's `dns` servers as its resolver's upstreams (port 53).
fn upstreams_of(dns: &[IpAddr]) -> Vec<SocketAddr> {
    dns.iter().map(|ip| SocketAddr::new(*ip, 53)).collect()
}

/// At create: refuses a `NetworkMode` or `EndpointsConfig` key naming a network that does not
/// exist, before anything is made. 400, not dockerd's 404 at start: the docker CLI answers any 404
/// from create by pulling the image, which would bury `network X not found` under a pull error.
pub fn check_networks_exist<'a>(
    db: &crate::state::StateDb,
    mode: Option<&'a str>,
    endpoints: impl IntoIterator<Item = &'a String>,
) -> Result<()> {
    let builtin = |n: &str| {
        n.is_empty() || matches!(n, "default" | DEFAULT_BRIDGE | "host" | "none") || n.starts_with("container:")
    };
    let mut named = mode
        .into_iter()
        .chain(endpoints.into_iter().map(String::as_str))
        .filter(|n| !builtin(n))
        .peekable();
    if named.peek().is_none() {
        return Ok(());
    }
    let nets = super::state::NetDb(db).networks()?;
    for n in named {
        super::service::resolve_in(&nets, n).map_err(|e| match e {
            EngineError::NotFound(m) => EngineError::BadRequest(m),
            other => other,
        })?;
    }
    Ok(())
}

/// Turns `PortBindings` into port requests (keys `80`, `80/tcp`, `53/udp`).
pub fn port_requests(map: Option<&PortMap>) -> Result<Vec<PortRequest>> {
    let mut out = Vec::new();
    for (key, bindings) in map.into_iter().flatten() {
        let (port, proto) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
        let proto = match proto {
            "tcp" => Proto::Tcp,
            "udp" => Proto::Udp,
            other => {
                return Err(EngineError::BadRequest(format!(
                    "HostConfig.PortBindings: protocol {other:?} of {key:?} is not supported (tcp, udp)"
                )))
            }
        };
        let port: u16 = port.parse().map_err(|_| {
            EngineError::BadRequest(format!("HostConfig.PortBindings: invalid container port in {key:?}"))
        })?;
        for b in bindings.iter().flatten() {
            let req = PortRequest::parse(
                proto,
                b.host_ip.as_deref().unwrap_or(""),
                b.host_port.as_deref().unwrap_or(""),
                port,
            )
            .map_err(|e| EngineError::BadRequest(format!("HostConfig.PortBindings[{key:?}]: {e}")))?;
            out.push(req);
        }
    }
    Ok(out)
}

impl Networks {
    /// Prepares a container's network before start: endpoints (leases), namespace, veths, DNS names,
    /// published ports, resolv.conf and hosts lines. On error nothing is left half-made.
    #[tracing::instrument(skip_all, fields(container = %&req.id[..req.id.len().min(12)]))]
    pub async fn setup_container(&self, req: &ContainerNetRequest) -> Result<ContainerNet> {
        let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let mode = req.network_mode.as_deref().unwrap_or("");
        let default_gw = self
            .resolve(DEFAULT_BRIDGE)
            .ok()
            .and_then(|n| n.alloc.subnet_gateway())
            .map(|(_, gw)| gw);
        let plain = |mode| -> Result<ContainerNet> {
            let spec = ResolvSpec {
                dns: parse_dns(&req.dns)?,
                search: req.dns_search.clone(),
                options: req.dns_options.clone(),
                embedded: false,
            };
            Ok(ContainerNet {
                mode,
                resolv_conf: render_resolv_conf(&spec, &host_resolv),
                hosts: self.hosts(req, default_gw)?,
                ports: Vec::new(),
                endpoints: Vec::new(),
            })
        };
        match mode {
            "host" => return plain(NetMode::Host),
            // Docker's `none`: a namespace of its own with `lo` up, which other containers may join.
            "none" => {
                let cid: ContainerId = req.id.parse().map_err(engine_error)?;
                let sandbox = self.sandbox_lock(&req.id);
                let _s = sandbox.lock().await;
                return match self.stack.create_bare_sandbox(&cid).await {
                    Ok(path) => plain(NetMode::Join(path)),
                    Err(e) => {
                        let _ = self.stack.remove_sandbox(&cid).await;
                        Err(engine_error(e))
                    }
                };
            }
            _ => {}
        }
        if let Some(other) = mode.strip_prefix("container:") {
            let rec = self.container_record(other)?;
            if !self.has_sandbox(&rec.id) {
                return Err(EngineError::Conflict(format!(
                    "cannot join network namespace of container {other}: it is not running"
                )));
            }
            let cid: ContainerId = rec.id.parse().map_err(engine_error)?;
            return plain(NetMode::Join(self.stack.sandbox_path(&cid)));
        }
        let sandbox = self.sandbox_lock(&req.id);
        let _s = sandbox.lock().await;
        match self.setup_sandbox(req, mode, &host_resolv).await {
            Ok(net) => Ok(net),
            Err(e) => {
                if let Ok(cid) = req.id.parse::<ContainerId>() {
                    let _ = self.stack.remove_sandbox(&cid).await;
                }
                Err(e)
            }
        }
    }

    async fn setup_sandbox(&self, req: &ContainerNetRequest, mode: &str, host_resolv: &str) -> Result<ContainerNet> {
        let primary = match mode {
            "" | "default" | DEFAULT_BRIDGE => DEFAULT_BRIDGE.to_owned(),
            other => other.to_owned(),
        };
        let primary_net = self.resolve(&primary)?;
        // Leases are taken in memory; the rows are written in one transaction for all of this container's networks.
        let eps = async {
            let mut eps = self.endpoints_of_container(&req.id)?;
            let mut new = Vec::new();
            let keys = std::iter::once((primary.as_str(), primary_net.id.clone()))
                .chain(req.endpoints.keys().map(|k| (k.as_str(), String::new())));
            for (key, id) in keys {
                let id = match id.is_empty() {
                    true => self.resolve(key)?.id,
                    false => id,
                };
                if eps.iter().any(|e| e.network == id) {
                    continue;
                }
                let settings = req.endpoints.get(key).or_else(|| req.endpoints.get(&id));
                match self.lease_endpoint(&id, &req.id, &req.name, settings, &eps).await {
                    Ok(ep) => {
                        eps.push(ep.clone());
                        new.push(ep);
                    }
                    Err(e) => {
                        self.unlease(&new);
                        return Err(e);
                    }
                }
            }
            self.store_endpoints(&new).await?;
            Ok::<_, EngineError>(eps)
        }
        .instrument(tracing::info_span!("leases"))
        .await?;
        self.sync().instrument(tracing::info_span!("sync")).await?;
        let cid: ContainerId = req.id.parse().map_err(engine_error)?;
        let path = self.stack.create_sandbox(&cid).await.map_err(engine_error)?;
        let nets = eps
            .iter()
            .map(|ep| self.resolve(&ep.network))
            .collect::<Result<Vec<_>>>()?;
        let (eps, nets) = dockerd_order(eps, nets);
        // The first non-internal endpoint gives the default route (and is eth0), as in dockerd.
        let routed = nets.iter().position(|n| !n.internal);
        let mut gateway: Option<Ipv4Addr> = None;
        for (i, (ep, net)) in eps.iter().zip(&nets).enumerate() {
            if let (None, Some((_, gw))) = (gateway, net.alloc.subnet_gateway()) {
                gateway = Some(gw);
            }
            self.attach_live(ep, routed == Some(i)).await?;
            self.publish_names(ep);
        }
        let dns = parse_dns(&req.dns)?;
        self.stack.dns().set_client_upstreams(&cid, upstreams_of(&dns));
        self.stack
            .dns()
            .records()
            .set_links(&cid, &self.link_aliases(&links_of(req, &eps)));
        // No ports, no `nft` run (a process per container otherwise).
        let ports = match eps.first().filter(|_| !req.ports.is_empty()) {
            Some(first) => self
                .stack
                .publish(&cid, first.ip, first.ip6, &self.with_host_binding(first, &req.ports))
                .await
                .map_err(engine_error)?,
            None => Vec::new(),
        };
        let spec = ResolvSpec {
            embedded: true,
            dns,
            search: req.dns_search.clone(),
            options: req.dns_options.clone(),
        };
        Ok(ContainerNet {
            mode: NetMode::Join(path),
            resolv_conf: render_resolv_conf(&spec, host_resolv),
            hosts: self.hosts(req, gateway)?,
            ports,
            endpoints: eps,
        })
    }

    /// (alias, linked container's name) for the container's resolver: a link names a container by name or id
    /// (its DNS name is its container name); the alias defaults to the name written.
    pub(super) fn link_aliases(&self, links: &[String]) -> Vec<(String, String)> {
        links
            .iter()
            .map(|l| {
                let (target, alias) = l.split_once(':').unwrap_or((l, l));
                let target = target.trim_start_matches('/');
                let alias = alias.rsplit('/').next().unwrap_or(alias);
                let name = self
                    .container_record(target)
                    .map(|r| r.name)
                    .unwrap_or_else(|_| target.to_owned());
                (alias.to_owned(), name)
            })
            .collect()
    }

    fn hosts(&self, req: &ContainerNetRequest, gateway: Option<Ipv4Addr>) -> Result<Vec<(String, IpAddr)>> {
        let parsed = req
            .extra_hosts
            .iter()
            .map(|h| parse_extra_host(h).map_err(|e| EngineError::BadRequest(format!("HostConfig.ExtraHosts: {e}"))))
            .collect::<Result<Vec<_>>>()?;
        hosts_entries(&parsed, gateway).map_err(|e| EngineError::BadRequest(format!("HostConfig.ExtraHosts: {e}")))
    }

    /// After an engine restart, for a container that kept running: its namespace and veths are
    /// intact; DNS names and published ports (proxies live in the engine) are made again.
    #[tracing::instrument(skip_all, fields(container = %&req.id[..req.id.len().min(12)]))]
    pub async fn readopt_container(&self, req: &ContainerNetRequest) -> Result<Vec<PublishedPort>> {
        let cid: ContainerId = req.id.parse().map_err(engine_error)?;
        if !self.has_sandbox(&req.id) {
            return Err(EngineError::Conflict(format!(
                "container {} has no network namespace to re-adopt",
                req.name
            )));
        }
        let eps = self.endpoints_of_container(&req.id)?;
        for ep in &eps {
            self.publish_names(ep);
        }
        self.stack
            .dns()
            .records()
            .set_links(&cid, &self.link_aliases(&links_of(req, &eps)));
        self.stack.resume_sandbox(&cid).map_err(engine_error)?;
        self.stack
            .dns()
            .set_client_upstreams(&cid, upstreams_of(&parse_dns(&req.dns)?));
        self.stack.unpublish(&cid).map_err(engine_error)?;
        match eps.first() {
            Some(first) => self
                .stack
                .publish(&cid, first.ip, first.ip6, &self.with_host_binding(first, &req.ports))
                .await
                .map_err(engine_error),
            None => Ok(Vec::new()),
        }
    }

    /// After a container stopped: its resolver, ports and DNS names go at once, its namespace and veths
    /// on a background task (a restart or removal waits for it); endpoints and leases stay.
    #[tracing::instrument(skip(self))]
    pub fn teardown_container(&self, id: &str) -> Result<()> {
        let Ok(cid) = id.parse::<ContainerId>() else {
            return Ok(());
        };
        self.stack.retire_sandbox(&cid).map_err(engine_error)
    }

    /// When a container is removed: its sandbox, endpoints and leases go on a task, so the removal does not wait
    /// for the kernel to destroy the namespace (an RCU grace period or more). Until then its endpoints are
    /// hidden; what needs them gone (a network's removal, a lease of one of its addresses) settles first.
    pub fn forget_container(self: &Arc<Self>, id: &str) {
        let Ok(cid) = id.parse::<ContainerId>() else {
            return;
        };
        let (this, owned) = (self.clone(), id.to_owned());
        let span = tracing::info_span!("forget_container", container = %cid.short(12));
        self.forgetting.begin(
            &cid,
            async move {
                if let Err(e) = this.forget_now(&owned).await {
                    // The container's row is gone: the next engine start drops its endpoints and objects.
                    tracing::warn!(container = %owned, "network leftovers kept until the next engine start: {e}");
                }
            }
            .instrument(span),
        );
    }

    async fn forget_now(&self, id: &str) -> Result<()> {
        let sandbox = self.sandbox_lock(id);
        let _s = sandbox.lock().await;
        if let Ok(cid) = id.parse::<ContainerId>() {
            self.stack.remove_sandbox(&cid).await.map_err(engine_error)?;
        }
        // No fsync of its own: the periodic state sync makes the deletions durable, and rows a crash keeps are
        // dropped at the next open (their container is gone), so a removal never waits behind a flush.
        for ep in &self.endpoints_of_container(id)? {
            self.drop_endpoint(ep).await?;
        }
        drop(_s);
        self.forget_sandbox_lock(id);
        Ok(())
    }

    /// Waits until the containers removed so far have given back their endpoints and leases.
    pub async fn settle_forgotten(&self) {
        self.forgetting.settle_all().await;
    }

    /// True while a removed container's endpoints are still going.
    pub(super) fn is_forgotten(&self, id: &str) -> bool {
        id.parse::<ContainerId>().is_ok_and(|c| self.forgetting.contains(&c))
    }

    /// Port requests with the network's `host_binding_ipv4` as the host address of those that name none.
    fn with_host_binding(&self, primary: &EndpointRecord, ports: &[PortRequest]) -> Vec<PortRequest> {
        let binding = self
            .resolve(&primary.network)
            .ok()
            .and_then(|n| n.options.get(super::request::OPT_HOST_BINDING).cloned())
            .and_then(|a| a.trim().parse::<Ipv4Addr>().ok())
            .filter(|a| !a.is_unspecified());
        ports
            .iter()
            .cloned()
            .map(|mut p| {
                p.host_ip = p.host_ip.or(binding.map(IpAddr::V4));
                p
            })
            .collect()
    }

    /// Ports published for a running container.
    pub fn published_ports(&self, id: &str) -> Vec<PublishedPort> {
        id.parse::<ContainerId>()
            .map(|c| self.stack.published(&c))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_bindings_become_requests() {
        use bollard::models::PortBinding;
        let mut map = bollard::models::PortMap::new();
        let b = |ip: &str, port: &str| PortBinding {
            host_ip: Some(ip.into()),
            host_port: Some(port.into()),
        };
        map.insert("80/tcp".into(), Some(vec![b("127.0.0.1", "18080"), b("", "")]));
        map.insert("53/udp".into(), Some(vec![b("", "5300-5310")]));
        map.insert("9000/tcp".into(), None);
        let mut reqs = port_requests(Some(&map)).unwrap();
        reqs.sort_by_key(|r| (r.container_port, r.host_ports));
        assert_eq!(reqs.len(), 3);
        assert_eq!(reqs[0].proto, netstack::Proto::Udp);
        assert_eq!(reqs[0].host_ports, Some((5300, 5310)));
        assert_eq!(reqs[2].host_ports, Some((18080, 18080)));
        map.insert("80/sctp".into(), Some(vec![b("", "1")]));
        let err = port_requests(Some(&map)).unwrap_err().to_string();
        assert!(err.contains("sctp"), "{err}");
    }
}

/// The container's links: its config's (`HostConfig.Links`, the endpoints' at create) and those given at connect.
fn links_of(req: &ContainerNetRequest, eps: &[EndpointRecord]) -> Vec<String> {
    let mut links = req.links.clone();
    links.extend(eps.iter().flat_map(|e| e.links.iter().cloned()));
    links
}

/// A container's endpoints in the order dockerd's sandbox keeps them (its interfaces are numbered in it, the
/// first gives the default route): internal networks last, then the highest `GwPriority`, then by network name.
fn dockerd_order(
    eps: Vec<EndpointRecord>,
    nets: Vec<super::state::NetworkRecord>,
) -> (Vec<EndpointRecord>, Vec<super::state::NetworkRecord>) {
    let mut pairs: Vec<_> = eps.into_iter().zip(nets).collect();
    pairs.sort_by(|(a, an), (b, bn)| {
        (an.internal, std::cmp::Reverse(a.gw_priority), &an.name).cmp(&(
            bn.internal,
            std::cmp::Reverse(b.gw_priority),
            &bn.name,
        ))
    });
    pairs.into_iter().unzip()
}
