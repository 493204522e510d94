//! Network operations behind the endpoints: create, remove, prune, connect, disconnect.

use super::service::{engine_error, Networks, DEFAULT_BRIDGE};
use super::state::{Change, EndpointRecord, NetDb, NetworkRecord};
use crate::error::{EngineError, Result};
use bollard::models::{EndpointSettings, NetworkCreateRequest};
use netstack::{ContainerId, Driver, NetworkId, SubnetRequest};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// Names Docker reserves for its predefined networks.
const PREDEFINED: [&str; 3] = [DEFAULT_BRIDGE, "host", "none"];

fn bad(field: &str, value: &str, expected: &str) -> EngineError {
    EngineError::BadRequest(format!("{field}: invalid value {value:?}: expected {expected}"))
}

fn parse_opt<T: std::str::FromStr>(field: &str, v: Option<&String>, expected: &str) -> Result<Option<T>> {
    match v.map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s.parse().map(Some).map_err(|_| bad(field, s, expected)),
    }
}

fn subnet_request(req: &NetworkCreateRequest) -> Result<SubnetRequest> {
    let configs = req.ipam.as_ref().and_then(|i| i.config.clone()).unwrap_or_default();
    if let Some(d) = req
        .ipam
        .as_ref()
        .and_then(|i| i.driver.as_deref())
        .filter(|d| !d.is_empty() && *d != "default")
    {
        return Err(EngineError::NotFound(format!(
            "IPAM.Driver: plugin {d:?} not found: berth has the default IPAM driver only"
        )));
    }
    let mut v4 = configs
        .iter()
        .filter(|c| !c.subnet.as_deref().unwrap_or("").contains(':'));
    let first = v4.next();
    if v4.next().is_some() {
        return Err(EngineError::NotImplemented(
            "IPAM.Config: more than one IPv4 subnet per network is not supported by berth".into(),
        ));
    }
    if configs.iter().any(|c| c.subnet.as_deref().unwrap_or("").contains(':')) {
        return Err(EngineError::NotImplemented(
            "IPAM.Config: IPv6 subnets are not supported by berth yet".into(),
        ));
    }
    let Some(c) = first else {
        return Ok(SubnetRequest::default());
    };
    Ok(SubnetRequest {
        subnet: parse_opt(
            "IPAM.Config.Subnet",
            c.subnet.as_ref(),
            "an IPv4 CIDR like 10.99.0.0/24",
        )?,
        gateway: parse_opt("IPAM.Config.Gateway", c.gateway.as_ref(), "an IPv4 address")?,
        ip_range: parse_opt(
            "IPAM.Config.IPRange",
            c.ip_range.as_ref(),
            "an IPv4 CIDR inside the subnet",
        )?,
        default_bridge: false,
    })
}

/// The driver a create request names, with its options read (bridge, macvlan, ipvlan).
fn driver_of(req: &NetworkCreateRequest) -> Result<Driver> {
    let options: BTreeMap<String, String> = req.options.clone().unwrap_or_default().into_iter().collect();
    Driver::from_options(req.driver.as_deref().unwrap_or(""), &options).map_err(|e| {
        if e.key == "Driver" {
            EngineError::NotFound(e.to_string())
        } else {
            EngineError::BadRequest(e.to_string())
        }
    })
}

fn check_create(req: &NetworkCreateRequest) -> Result<()> {
    let name = req.name.as_str();
    let valid = !name.is_empty()
        && name.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if !valid {
        return Err(bad("Name", name, "[a-zA-Z0-9][a-zA-Z0-9_.-]*"));
    }
    if PREDEFINED.contains(&name) {
        return Err(EngineError::Conflict(format!(
            "network with name {name} already exists (pre-defined)"
        )));
    }
    match req.driver.as_deref().unwrap_or("") {
        // As dockerd (which answers 403; berth has no such class): host and none exist once, predefined.
        d @ ("host" | "null") => {
            return Err(EngineError::BadRequest(format!(
                "only one instance of \"{d}\" network is allowed"
            )))
        }
        "overlay" => {
            return Err(EngineError::NotImplemented(
                "Driver: overlay networks span several machines and berth runs stacks on one; for a cluster, \
                 export the stack as Kubernetes manifests with `berth bridge convert`"
                    .into(),
            ))
        }
        _ => {
            driver_of(req)?;
        }
    }
    if req.enable_ipv6 == Some(true) {
        return Err(EngineError::NotImplemented(
            "EnableIPv6: IPv6 networks are not supported by berth yet".into(),
        ));
    }
    if req.ingress == Some(true) || req.config_only == Some(true) || req.config_from.is_some() {
        return Err(EngineError::NotImplemented(
            "Ingress/ConfigOnly/ConfigFrom: swarm features are not supported by berth".into(),
        ));
    }
    Ok(())
}

impl Networks {
    /// Creates a network: subnet from IPAM, bridge, rules, DNS; then the database row.
    #[tracing::instrument(skip_all, fields(name = %req.name))]
    pub async fn create(&self, req: NetworkCreateRequest) -> Result<String> {
        check_create(&req)?;
        let _g = self.changes.lock().await;
        if self.db().networks()?.iter().any(|n| n.name == req.name) {
            return Err(EngineError::Conflict(format!(
                "network with name {} already exists",
                req.name
            )));
        }
        let options: BTreeMap<String, String> = req.options.clone().unwrap_or_default().into_iter().collect();
        let mtu = parse_opt(
            "Options.com.docker.network.driver.mtu",
            options.get("com.docker.network.driver.mtu"),
            "a number",
        )?;
        let subnet = subnet_request(&req)?;
        let mut ipam = self.ipam()?;
        let id = hex::encode(rand::random::<[u8; 32]>());
        let nid: NetworkId = id.parse().map_err(engine_error)?;
        let _subnets = self.stack.lock_subnets().await.map_err(engine_error)?;
        let routes = self.stack.host_routes().await.map_err(engine_error)?;
        let alloc = ipam.allocate_network(&nid, &subnet, &routes).map_err(engine_error)?;
        let rec = NetworkRecord {
            id: id.clone(),
            name: req.name.clone(),
            driver: driver_of(&req)?.to_string(),
            created: chrono::Utc::now().to_rfc3339(),
            internal: req.internal.unwrap_or(false),
            attachable: req.attachable.unwrap_or(false),
            labels: req.labels.clone().unwrap_or_default().into_iter().collect(),
            options,
            alloc,
            mtu,
            default_bridge: false,
        };
        // Kernel objects first: a crash before the row is written leaves objects the next start removes.
        if let Err(e) = self.stack.create_network(&Self::spec_of(&rec)?).await {
            let _ = self.stack.remove_network(&nid).await;
            return Err(engine_error(e));
        }
        self.db().commit(Change::PutNetwork(&rec), ipam.state())?;
        Ok(id)
    }

    /// Removes a network without endpoints.
    #[tracing::instrument(skip(self))]
    pub async fn remove(&self, ident: &str) -> Result<()> {
        let _g = self.changes.lock().await;
        let rec = self.resolve(ident)?;
        self.remove_locked(&rec).await
    }

    async fn remove_locked(&self, rec: &NetworkRecord) -> Result<()> {
        if rec.default_bridge {
            return Err(EngineError::Conflict(format!(
                "{} is a pre-defined network and cannot be removed",
                rec.name
            )));
        }
        let eps = self.endpoints_of_network(&rec.id)?;
        if !eps.is_empty() {
            return Err(EngineError::Conflict(format!(
                "error while removing network: network {} id {} has active endpoints ({})",
                rec.name,
                rec.id,
                eps.iter().map(|e| e.name.as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
        let nid: NetworkId = rec.id.parse().map_err(engine_error)?;
        self.stack.remove_network(&nid).await.map_err(engine_error)?;
        let mut ipam = self.ipam()?;
        ipam.release_network(&nid);
        self.db().commit(Change::DeleteNetwork(&rec.id), ipam.state())
    }

    /// Removes every unused user network that `keep` does not protect; returns their names.
    pub async fn prune(&self, keep: impl Fn(&NetworkRecord) -> bool) -> Result<Vec<String>> {
        let _g = self.changes.lock().await;
        let mut deleted = Vec::new();
        for rec in self.db().networks()? {
            if rec.default_bridge || keep(&rec) || !self.endpoints_of_network(&rec.id)?.is_empty() {
                continue;
            }
            self.remove_locked(&rec).await?;
            deleted.push(rec.name);
        }
        Ok(deleted)
    }

    /// Connects a container: leases its address and, if it runs, attaches its namespace now.
    #[tracing::instrument(skip(self, settings))]
    pub async fn connect(
        &self,
        ident: &str,
        container: &str,
        settings: Option<&EndpointSettings>,
    ) -> Result<EndpointRecord> {
        let ctr = self.container_record(container)?;
        let sandbox = self.sandbox_lock(&ctr.id);
        let _s = sandbox.lock().await;
        let ep = {
            let _g = self.changes.lock().await;
            self.connect_locked(ident, &ctr.id, &ctr.name, settings).await?
        };
        self.sync().await?;
        Ok(ep)
    }

    pub(super) async fn connect_locked(
        &self,
        ident: &str,
        container: &str,
        name: &str,
        settings: Option<&EndpointSettings>,
    ) -> Result<EndpointRecord> {
        let net = self.resolve(ident)?;
        let existing = self.endpoints_of_container(container)?;
        if existing.iter().any(|e| e.network == net.id) {
            return Err(EngineError::Conflict(format!(
                "endpoint with name {name} already exists in network {}",
                net.name
            )));
        }
        let requested: Option<Ipv4Addr> = parse_opt(
            "EndpointConfig.IPAMConfig.IPv4Address",
            settings
                .and_then(|s| s.ipam_config.as_ref())
                .and_then(|c| c.ipv4_address.as_ref()),
            "an IPv4 address",
        )?;
        let mac = match settings
            .and_then(|s| s.mac_address.as_deref())
            .filter(|m| !m.is_empty())
        {
            Some(m) => Some(parse_mac(m).ok_or_else(|| {
                EngineError::BadRequest(format!("EndpointConfig.MacAddress: invalid MAC address: {m}"))
            })?),
            None => None,
        };
        let nid: NetworkId = net.id.parse().map_err(engine_error)?;
        let cid: ContainerId = container.parse().map_err(engine_error)?;
        let mut ipam = self.ipam()?;
        let before = ipam.state().clone();
        let ip = ipam.lease(&nid, &cid, requested).map_err(engine_error)?;
        let ep = EndpointRecord {
            network: net.id.clone(),
            container: container.to_owned(),
            name: name.to_owned(),
            aliases: settings.and_then(|s| s.aliases.clone()).unwrap_or_default(),
            ip,
            static_ip: requested.is_some(),
            endpoint_id: hex::encode(rand::random::<[u8; 32]>()),
            order: existing.iter().map(|e| e.order + 1).max().unwrap_or(0),
            mac,
        };
        // The record is written while the kernel objects are made, not after; lazily: callers sync it (`sync`)
        // after letting go of the network lock.
        let commit = {
            let (db, ep, state) = (self.db.clone(), ep.clone(), ipam.state().clone());
            tokio::task::spawn_blocking(move || NetDb(&db).commit_lazy(Change::PutEndpoint(&ep), &state))
        };
        let live = self.has_sandbox(container);
        let attached = if live {
            self.attach_live(&ep, !net.internal && existing.is_empty()).await
        } else {
            Ok(())
        };
        let committed = match commit.await {
            Ok(r) => r,
            Err(e) => Err(EngineError::internal("storing the endpoint", e)),
        };
        match (attached, committed) {
            (Ok(()), Ok(())) => {
                self.publish_names(&ep);
                Ok(ep)
            }
            (attached, committed) => {
                if live {
                    let _ = self.stack.detach(&cid, &nid).await;
                }
                if committed.is_ok() {
                    let _ = self
                        .db()
                        .commit(Change::DeleteEndpoint(&ep.network, &ep.container), &before);
                }
                Err(attached
                    .err()
                    .or(committed.err())
                    .unwrap_or_else(|| EngineError::Internal("connecting the endpoint failed".into())))
            }
        }
    }

    /// Disconnects a container from a network (live, if it runs) and frees its address.
    #[tracing::instrument(skip(self))]
    pub async fn disconnect(&self, ident: &str, container: &str) -> Result<()> {
        let net = self.resolve(ident)?;
        let ctr = self.container_record(container)?;
        let sandbox = self.sandbox_lock(&ctr.id);
        let _s = sandbox.lock().await;
        let _g = self.changes.lock().await;
        let Some(ep) = self
            .endpoints_of_container(&ctr.id)?
            .into_iter()
            .find(|e| e.network == net.id)
        else {
            return Err(EngineError::NotFound(format!(
                "container {} is not connected to network {}",
                ctr.name, net.name
            )));
        };
        self.drop_endpoint(&ep).await?;
        drop(_g);
        self.sync().await
    }

    pub(super) async fn drop_endpoint(&self, ep: &EndpointRecord) -> Result<()> {
        let nid: NetworkId = ep.network.parse().map_err(engine_error)?;
        let cid: ContainerId = ep.container.parse().map_err(engine_error)?;
        self.stack.detach(&cid, &nid).await.map_err(engine_error)?;
        self.release_endpoint(ep)
    }

    /// Frees an endpoint's lease and deletes its row (its interface already gone); under `changes`.
    pub(super) fn release_endpoint(&self, ep: &EndpointRecord) -> Result<()> {
        let nid: NetworkId = ep.network.parse().map_err(engine_error)?;
        let cid: ContainerId = ep.container.parse().map_err(engine_error)?;
        let mut ipam = self.ipam()?;
        ipam.release(&nid, &cid);
        // Lazy: callers sync after letting go of the network lock.
        self.db()
            .commit_lazy(Change::DeleteEndpoint(&ep.network, &ep.container), ipam.state())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_driver(driver: &str) -> Result<()> {
        check_create(&NetworkCreateRequest {
            name: "n".into(),
            driver: Some(driver.into()),
            ..Default::default()
        })
    }

    #[test]
    fn drivers_beyond_bridge_are_refused_with_the_reason() {
        assert!(with_driver("bridge").is_ok() && with_driver("").is_ok());
        let host = with_driver("host").unwrap_err().to_string();
        assert_eq!(host, "only one instance of \"host\" network is allowed");
        let overlay = with_driver("overlay").unwrap_err();
        assert!(
            matches!(&overlay, EngineError::NotImplemented(m) if m.contains("berth bridge convert") && m.contains("Kubernetes")),
            "{overlay}"
        );
        assert!(matches!(with_driver("weave"), Err(EngineError::NotFound(_))));
        let macvlan = with_driver("macvlan").unwrap_err().to_string();
        assert!(macvlan.contains("Options.parent"), "{macvlan}");
    }
}

/// `aa:bb:cc:dd:ee:ff` (or with `-`) → bytes; None unless six hex octets of a unicast address.
pub(crate) fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = text.split([':', '-']).collect();
    if parts.len() != 6 {
        return None;
    }
    let mut mac = [0u8; 6];
    for (slot, part) in mac.iter_mut().zip(&parts) {
        if part.len() != 2 {
            return None;
        }
        *slot = u8::from_str_radix(part, 16).ok()?;
    }
    // A multicast address cannot be an interface's own (the kernel refuses it with EADDRNOTAVAIL).
    (mac[0] & 1 == 0).then_some(mac)
}

#[cfg(test)]
mod mac_tests {
    #[test]
    fn macs_parse_and_multicast_is_refused() {
        assert_eq!(super::parse_mac("02:42:AC:11:00:02"), Some([2, 0x42, 0xac, 0x11, 0, 2]));
        assert_eq!(super::parse_mac("02-42-ac-11-00-02"), Some([2, 0x42, 0xac, 0x11, 0, 2]));
        assert_eq!(super::parse_mac("01:00:5e:00:00:01"), None);
        assert_eq!(super::parse_mac("02:42:ac:11:00"), None);
        assert_eq!(super::parse_mac("zz:42:ac:11:00:02"), None);
    }
}
