//! Network operations behind the endpoints: create, remove, prune, connect, disconnect.

use super::config_only;
use super::predefined::{PredefinedAction, BESIDE_NONE, SHARED_NAMESPACE};
use super::request::{
    check_create, driver_of, endpoint_addrs, ipam_given, ipam_options, options_of, parse_opt, subnet_requests, OPT_MTU,
};
use super::service::{engine_error, Networks};
use super::state::{Change, EndpointRecord, NetDb, NetworkRecord};
use crate::error::{EngineError, Result};
use bollard::models::{EndpointSettings, NetworkCreateRequest};
use netstack::{ContainerId, NetworkId};

impl Networks {
    /// Creates a network: subnet from IPAM, bridge, rules, DNS; then the database row.
    #[tracing::instrument(skip_all, fields(name = %req.name))]
    pub async fn create(&self, req: NetworkCreateRequest) -> Result<String> {
        check_create(&req)?;
        let _g = self.changes.lock().await;
        let nets = self.db().networks()?;
        if nets.iter().any(|n| n.name == req.name) {
            return Err(EngineError::Conflict(format!(
                "network with name {} already exists",
                req.name
            )));
        }
        if req.config_only == Some(true) {
            return self.create_config_only(&req);
        }
        let (req, config_from) = match config_only::config_from(&req) {
            Some(from) => {
                let (req, name) = config_only::apply(&nets, &req, &from)?;
                // The taken settings pass the checks a request giving them would.
                check_create(&NetworkCreateRequest {
                    config_from: None,
                    ..req.clone()
                })?;
                (req, Some(name))
            }
            None => (req, None),
        };
        let options = options_of(&req);
        let mtu = parse_opt(&format!("Options.{OPT_MTU}"), options.get(OPT_MTU), "a number")?;
        let (subnet, subnet6) = subnet_requests(&req)?;
        let driver = driver_of(&req)?.to_string();
        let id = hex::encode(rand::random::<[u8; 32]>());
        let nid: NetworkId = id.parse().map_err(engine_error)?;
        let _subnets = self.stack.lock_subnets().await.map_err(engine_error)?;
        let routes = self.stack.host_routes().await.map_err(engine_error)?;
        let alloc = self.allocate(&nid, subnet.as_ref(), subnet6.as_ref(), &routes)?;
        let rec = NetworkRecord {
            id: id.clone(),
            name: req.name.clone(),
            driver,
            created: chrono::Utc::now().to_rfc3339(),
            internal: req.internal.unwrap_or(false),
            attachable: req.attachable.unwrap_or(false),
            labels: req.labels.clone().unwrap_or_default().into_iter().collect(),
            options,
            alloc,
            mtu,
            default_bridge: false,
            enable_ipv6: subnet6.is_some(),
            ipam_given: Some(ipam_given(&req)),
            ipam_options: ipam_options(&req),
            config_only: false,
            config_from,
        };
        // Kernel objects first: a crash before the row is written leaves objects the next start removes.
        let made = match Self::spec_of(&rec) {
            Ok(spec) => {
                let made = match self.stack.create_network(&spec).await {
                    Ok(_) => self.store_subnets(&[Change::PutNetwork(&rec)]),
                    Err(e) => Err(engine_error(e)),
                };
                if made.is_err() {
                    let _ = self.stack.remove_network(&nid).await;
                }
                made
            }
            Err(e) => Err(e),
        };
        if made.is_err() {
            self.ipam().release_network(&nid);
        }
        made.map(|()| id)
    }

    /// Gives a new network its subnets (IPv6 too when asked for); all or none.
    fn allocate(
        &self,
        nid: &NetworkId,
        subnet: Option<&netstack::SubnetRequest>,
        subnet6: Option<&netstack::SubnetRequest6>,
        routes: &[netstack::IpNet],
    ) -> Result<netstack::NetworkAllocation> {
        let mut ipam = self.ipam();
        ipam.allocate_network(nid, subnet, routes).map_err(engine_error)?;
        if let Some(req6) = subnet6 {
            if let Err(e) = ipam.allocate_v6(nid, req6, routes) {
                ipam.release_network(nid);
                return Err(engine_error(e));
            }
        }
        ipam.network(nid)
            .cloned()
            .ok_or_else(|| EngineError::Internal("the new allocation vanished".into()))
    }

    /// Stores network row changes with the subnets as they are now (the state is copied, not held, while the
    /// database writes).
    fn store_subnets(&self, changes: &[Change<'_>]) -> Result<()> {
        let state = self.ipam().state().clone();
        self.db().commit(changes, Some(&state))
    }

    /// Removes a network without endpoints.
    #[tracing::instrument(skip(self))]
    pub async fn remove(&self, ident: &str) -> Result<()> {
        // Containers just removed may still be giving their endpoints back.
        self.forgetting.settle_all().await;
        let _g = self.changes.lock().await;
        self.refuse_host_or_none(ident, PredefinedAction::Remove)?;
        let rec = self.resolve(ident)?;
        self.remove_locked(&rec).await
    }

    async fn remove_locked(&self, rec: &NetworkRecord) -> Result<()> {
        if rec.default_bridge {
            return Err(EngineError::Forbidden(format!(
                "{} is a pre-defined network and cannot be removed",
                rec.name
            )));
        }
        self.check_config_unused(rec)?;
        if rec.config_only {
            return self.db().commit(&[Change::DeleteNetwork(&rec.id)], None);
        }
        let nid: NetworkId = rec.id.parse().map_err(engine_error)?;
        // The subnet leaves the IPAM state with the check for leases, so no lease can be taken in between.
        let alloc = {
            let mut ipam = self.ipam();
            let eps = self.endpoints_of_network(&rec.id)?;
            if !eps.is_empty() || ipam.has_leases(&nid) {
                return Err(EngineError::Conflict(format!(
                    "error while removing network: network {} id {} has active endpoints ({})",
                    rec.name,
                    rec.id,
                    eps.iter().map(|e| e.name.as_str()).collect::<Vec<_>>().join(", ")
                )));
            }
            ipam.release_network(&nid)
        };
        let removed = match self.stack.remove_network(&nid).await {
            Ok(()) => self.store_subnets(&[Change::DeleteNetwork(&rec.id)]),
            Err(e) => Err(engine_error(e)),
        };
        if let (Err(_), Some(alloc)) = (&removed, alloc) {
            self.ipam().restore_network(&nid, alloc);
        }
        removed
    }

    /// Removes every unused user network that `keep` does not protect; returns their names.
    pub async fn prune(&self, keep: impl Fn(&NetworkRecord) -> bool) -> Result<Vec<String>> {
        self.forgetting.settle_all().await;
        let _g = self.changes.lock().await;
        let mut deleted = Vec::new();
        for rec in self.db().networks()? {
            // As dockerd, prune leaves config-only networks (and those made from them keep their settings).
            if rec.default_bridge || rec.config_only || keep(&rec) || !self.endpoints_of_network(&rec.id)?.is_empty() {
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
        self.refuse_host_or_none(ident, PredefinedAction::Connect)?;
        let ctr = self.container_record(container)?;
        refuse_shared_or_none(ctr.host_config.network_mode.as_deref())?;
        let sandbox = self.sandbox_lock(&ctr.id);
        let _s = sandbox.lock().await;
        let existing = self.endpoints_of_container(&ctr.id)?;
        let ep = self
            .lease_endpoint(ident, &ctr.id, &ctr.name, settings, &existing)
            .await?;
        let live = self.has_sandbox(&ctr.id);
        let attach = async {
            match live {
                true => {
                    let internal = self.resolve(&ep.network)?.internal;
                    self.attach_live(&ep, !internal && existing.is_empty()).await
                }
                false => Ok(()),
            }
        };
        // The row is written while the kernel objects are made, not after.
        let (attached, stored) = tokio::join!(attach, self.store_endpoints(std::slice::from_ref(&ep)));
        if let Err(e) = attached.and(stored) {
            if live {
                let cid: ContainerId = ctr.id.parse().map_err(engine_error)?;
                let nid: NetworkId = ep.network.parse().map_err(engine_error)?;
                let _ = self.stack.detach(&cid, &nid).await;
            }
            let _ = self.release_endpoint(&ep);
            return Err(e);
        }
        self.publish_names(&ep);
        if live && !ep.links.is_empty() {
            let cid: ContainerId = ctr.id.parse().map_err(engine_error)?;
            self.stack
                .dns()
                .records()
                .add_links(&cid, &self.link_aliases(&ep.links));
        }
        self.sync().await?;
        Ok(ep)
    }

    /// Leases a container's addresses on a network and returns its endpoint, not yet stored (`store_endpoints`).
    /// An address held by a container still being removed is waited for.
    pub(super) async fn lease_endpoint(
        &self,
        ident: &str,
        container: &str,
        name: &str,
        settings: Option<&EndpointSettings>,
        existing: &[EndpointRecord],
    ) -> Result<EndpointRecord> {
        match self.lease_now(ident, container, name, settings, existing) {
            Err(_) if self.forgetting.any() => {
                self.forgetting.settle_all().await;
                self.lease_now(ident, container, name, settings, existing)
            }
            leased => leased,
        }
    }

    fn lease_now(
        &self,
        ident: &str,
        container: &str,
        name: &str,
        settings: Option<&EndpointSettings>,
        existing: &[EndpointRecord],
    ) -> Result<EndpointRecord> {
        let net = self.resolve(ident)?;
        config_only::refuse_endpoint(&net)?;
        if existing.iter().any(|e| e.network == net.id) {
            return Err(EngineError::Conflict(format!(
                "endpoint with name {name} already exists in network {}",
                net.name
            )));
        }
        let addrs = endpoint_addrs(settings)?;
        addrs.check_allowed_on(&net)?;
        let nid: NetworkId = net.id.parse().map_err(engine_error)?;
        let cid: ContainerId = container.parse().map_err(engine_error)?;
        let (ip, ip6) = {
            let mut ipam = self.ipam();
            let ip = ipam.lease(&nid, &cid, addrs.ipv4).map_err(engine_error)?;
            // Without EnableIPv6 an address asked for stays in IPAMConfig only, as with dockerd.
            let ip6 = match net.enable_ipv6 {
                true => ipam.lease_v6(&nid, &cid, addrs.ipv6),
                false => Ok(None),
            };
            match ip6 {
                Ok(ip6) => (ip, ip6),
                Err(e) => {
                    ipam.release(&nid, &cid);
                    return Err(engine_error(e));
                }
            }
        };
        Ok(EndpointRecord {
            network: net.id.clone(),
            container: container.to_owned(),
            name: name.to_owned(),
            aliases: settings.and_then(|s| s.aliases.clone()).unwrap_or_default(),
            ip,
            static_ip: addrs.ipv4.is_some(),
            endpoint_id: hex::encode(rand::random::<[u8; 32]>()),
            order: existing.iter().map(|e| e.order + 1).max().unwrap_or(0),
            mac: addrs.mac,
            ip6,
            link_local: addrs.link_local,
            ipam_config: settings.and_then(|s| s.ipam_config.clone()),
            driver_opts: settings.and_then(|s| s.driver_opts.clone()),
            links: settings.and_then(|s| s.links.clone()).unwrap_or_default(),
            gw_priority: settings.and_then(|s| s.gw_priority).unwrap_or(0),
        })
    }

    /// Writes leased endpoints' rows, lazily (callers `sync`), off the runtime's threads; on error their leases go.
    pub(super) async fn store_endpoints(&self, eps: &[EndpointRecord]) -> Result<()> {
        if eps.is_empty() {
            return Ok(());
        }
        let (db, rows) = (self.db.clone(), eps.to_vec());
        let stored = tokio::task::spawn_blocking(move || {
            let changes: Vec<Change<'_>> = rows.iter().map(Change::PutEndpoint).collect();
            NetDb(&db).commit_lazy(&changes, None)
        })
        .await
        .unwrap_or_else(|e| Err(EngineError::internal("storing the endpoint", e)));
        if stored.is_err() {
            self.unlease(eps);
        }
        stored
    }

    /// Frees the leases of endpoints that were never stored.
    pub(super) fn unlease(&self, eps: &[EndpointRecord]) {
        let mut ipam = self.ipam();
        for ep in eps {
            if let (Ok(n), Ok(c)) = (ep.network.parse::<NetworkId>(), ep.container.parse::<ContainerId>()) {
                ipam.release(&n, &c);
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
        self.sync().await
    }

    pub(super) async fn drop_endpoint(&self, ep: &EndpointRecord) -> Result<()> {
        let nid: NetworkId = ep.network.parse().map_err(engine_error)?;
        let cid: ContainerId = ep.container.parse().map_err(engine_error)?;
        self.stack.detach(&cid, &nid).await.map_err(engine_error)?;
        self.release_endpoint(ep)
    }

    /// Deletes an endpoint's row (lazily: callers sync) and frees its lease; its interface already gone.
    pub(super) fn release_endpoint(&self, ep: &EndpointRecord) -> Result<()> {
        let nid: NetworkId = ep.network.parse().map_err(engine_error)?;
        let cid: ContainerId = ep.container.parse().map_err(engine_error)?;
        self.db()
            .commit_lazy(&[Change::DeleteEndpoint(&ep.network, &ep.container)], None)?;
        self.ipam().release(&nid, &cid);
        Ok(())
    }
}

/// dockerd's refusals (400) to connect a container whose network mode leaves no room for another network.
fn refuse_shared_or_none(mode: Option<&str>) -> Result<()> {
    match mode.unwrap_or("") {
        "none" => Err(EngineError::BadRequest(BESIDE_NONE.into())),
        m if m == "host" || m.starts_with("container:") => Err(EngineError::BadRequest(SHARED_NAMESPACE.into())),
        _ => Ok(()),
    }
}
