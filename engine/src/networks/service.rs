//! The engine's network service: one netstack per state root, networks and endpoints kept in the
//! state database, kernel objects re-made (or removed) at start.

use super::state::{Change, EndpointRecord, NetDb, NetworkRecord};
use crate::error::{EngineError, Result};
use crate::state::StateDb;
use netstack::{
    Config, ContainerId, Driver, EndpointSpec, Inflight, InstanceTag, Ipam, Keep, NetError, Netstack, NetworkId,
    NetworkSpec, PoolConfig, SubnetRequest,
};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Name of the predefined bridge network.
pub const DEFAULT_BRIDGE: &str = "bridge";

/// Networks of one engine.
pub struct Networks {
    pub(super) stack: Netstack,
    pub(super) db: Arc<StateDb>,
    /// Serialises changes of the network rows (network create, remove, prune).
    pub(super) changes: tokio::sync::Mutex<()>,
    /// The IPAM state of record: subnets and leases, held only for the moment of a lease or release. Endpoint
    /// rows are its leases on disk; the subnets are stored when a network comes or goes.
    pub(super) ipam: std::sync::Mutex<Ipam>,
    /// Removed containers whose sandbox, endpoints and leases are still going (see `forget_container`).
    pub(super) forgetting: Inflight,
    /// One lock per container, held while its sandbox is set up or its endpoints change, so the kernel work of
    /// different containers (namespace, veths, ports) runs side by side instead of under `changes`.
    pub(super) sandboxes: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// The network service of one engine, opened (and restored from the database) on first use: opening
/// makes kernel objects, which an engine that never touches networking should not pay for.
pub struct LazyNetworks {
    db: Arc<StateDb>,
    root: PathBuf,
    cell: tokio::sync::OnceCell<Arc<Networks>>,
}

impl LazyNetworks {
    /// The (not yet opened) network service of the engine with state root `root` and database `db`.
    pub fn new(db: Arc<StateDb>, root: &Path) -> Self {
        LazyNetworks {
            db,
            root: root.to_path_buf(),
            cell: tokio::sync::OnceCell::new(),
        }
    }

    /// The service, opened and restored on first use.
    pub async fn get(&self) -> Result<Arc<Networks>> {
        self.cell
            .get_or_try_init(|| Networks::open(self.db.clone(), &self.root))
            .await
            .cloned()
    }

    /// The service if already opened (for synchronous views such as inspect).
    pub fn opened(&self) -> Option<&Arc<Networks>> {
        self.cell.get()
    }
}

/// Maps netstack errors to the API's classes.
pub fn engine_error(e: NetError) -> EngineError {
    match e {
        NetError::Invalid { .. } | NetError::SubnetOverlap { .. } | NetError::AddressUnavailable { .. } => {
            EngineError::BadRequest(e.to_string())
        }
        NetError::PortInUse { .. } | NetError::AddressesExhausted { .. } | NetError::PoolsExhausted => {
            EngineError::Conflict(e.to_string())
        }
        NetError::NoSuchNetwork(_) => EngineError::NotFound(e.to_string()),
        NetError::Unsupported(_) => EngineError::NotImplemented(e.to_string()),
        other => EngineError::Internal(other.to_string()),
    }
}

/// Instance tag of a state root: short, stable, distinct per root.
pub(super) fn tag_of(root: &Path) -> Result<InstanceTag> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in root.to_string_lossy().bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    InstanceTag::new(&format!("e{:010x}", h & 0xff_ffff_ffff)).map_err(engine_error)
}

/// Env var naming the embedded DNS server's upstreams (`ip` or `ip:port`, comma-separated) instead of
/// the host's /etc/resolv.conf (tests point it at a stub on 127.0.0.1).
pub const DNS_UPSTREAMS_ENV: &str = "BERTH_DNS_UPSTREAMS";

fn dns_upstreams_override() -> Result<Option<Vec<std::net::SocketAddr>>> {
    let Some(raw) = std::env::var(DNS_UPSTREAMS_ENV).ok().filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    raw.split(',')
        .map(|s| {
            let s = s.trim();
            s.parse::<std::net::SocketAddr>()
                .or_else(|_| {
                    s.parse::<std::net::IpAddr>()
                        .map(|ip| std::net::SocketAddr::new(ip, 53))
                })
                .map_err(|_| EngineError::BadRequest(format!("{DNS_UPSTREAMS_ENV}: {s:?} is not an ip or ip:port")))
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

fn new_id() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

impl Networks {
    /// Opens the network service of the engine with state root `root` and database `db` and restores
    /// its networks (one per engine: see [`LazyNetworks`]).
    pub async fn open(db: Arc<StateDb>, root: &Path) -> Result<Arc<Networks>> {
        let mut cfg = Config::new(&root.join("netns"), tag_of(root)?);
        cfg.upstream_dns = dns_upstreams_override()?;
        let stack = Netstack::new(cfg).map_err(engine_error)?;
        NetDb(&db).ensure_container_index()?;
        let ipam = load_ipam(&db)?;
        let nets = Arc::new(Networks {
            stack,
            db,
            changes: tokio::sync::Mutex::new(()),
            ipam: std::sync::Mutex::new(ipam),
            forgetting: Inflight::default(),
            sandboxes: Default::default(),
        });
        nets.restore().await?;
        Ok(nets)
    }

    /// Every network's record.
    pub fn records(&self) -> Result<Vec<NetworkRecord>> {
        self.db().networks()
    }

    /// The lock of one container's sandbox and endpoints (taken before `changes`, never after it).
    pub(super) fn sandbox_lock(&self, container: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.sandboxes.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(container.to_owned()).or_default().clone()
    }

    /// Drops a removed container's sandbox lock.
    pub(super) fn forget_sandbox_lock(&self, container: &str) {
        self.sandboxes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(container);
    }

    /// Makes the lazy commits so far durable, off the runtime's threads (an fsync shared by concurrent callers).
    pub(super) async fn sync(&self) -> Result<()> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.sync())
            .await
            .map_err(|e| EngineError::internal("storing network state", e))?
    }

    pub(super) fn db(&self) -> NetDb<'_> {
        NetDb(&self.db)
    }

    /// A container by full id, name (with or without `/`) or unique id prefix.
    pub(super) fn container_record(&self, ident: &str) -> Result<crate::state::ContainerRecord> {
        self.db.resolve_container(ident)
    }

    /// The IPAM state, for one lease, release or allocation (never held across an await).
    pub(super) fn ipam(&self) -> std::sync::MutexGuard<'_, Ipam> {
        self.ipam.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn spec_of(rec: &NetworkRecord) -> Result<NetworkSpec> {
        let id: NetworkId = rec.id.parse().map_err(engine_error)?;
        let mut spec = NetworkSpec::from_allocation(&id, &rec.alloc, rec.internal);
        spec.mtu = rec.mtu;
        spec.bridge_opts = super::request::bridge_options(&rec.options)?;
        spec.driver = Driver::from_options(&rec.driver, &rec.options)
            .map_err(|e| EngineError::Internal(format!("network {}: {e}", rec.name)))?;
        Ok(spec)
    }

    /// Re-makes bridges, rules and DNS listeners of stored networks; removes what no row names.
    #[tracing::instrument(skip_all)]
    async fn restore(&self) -> Result<()> {
        // The default bridge is chosen and made under the host-wide subnet lock (engines side by side).
        let subnets = self.stack.lock_subnets().await.map_err(engine_error)?;
        if !self.db().networks()?.iter().any(|n| n.default_bridge) {
            self.create_default_bridge().await?;
        }
        let nets = self.db().networks()?;
        for n in nets.iter().filter(|n| !n.config_only) {
            self.stack
                .create_network(&Self::spec_of(n)?)
                .await
                .map_err(engine_error)?;
        }
        drop(subnets);
        let endpoints = self.db().endpoints()?;
        let containers: HashSet<ContainerId> = self.db.containers()?.iter().filter_map(|c| c.id.parse().ok()).collect();
        let keep = Keep {
            networks: nets.iter().filter_map(|n| n.id.parse().ok()).collect(),
            containers,
        };
        let report = self.stack.cleanup_orphans(&keep).await.map_err(engine_error)?;
        tracing::info!(?report, "network leftovers removed");
        // Engines whose state root was deleted (test roots) cannot clean up after themselves.
        let reaped = self.stack.reap_dead_instances().await.map_err(engine_error)?;
        tracing::info!(reaped, "objects of vanished engines removed");
        for ep in endpoints.iter().filter(|e| self.has_sandbox(&e.container)) {
            self.publish_names(ep);
        }
        Ok(())
    }

    async fn create_default_bridge(&self) -> Result<()> {
        let id: NetworkId = new_id().parse().map_err(engine_error)?;
        let routes = self.stack.host_routes().await.map_err(engine_error)?;
        let req = SubnetRequest {
            default_bridge: true,
            ..Default::default()
        };
        let mut ipam = self.ipam();
        // Another engine on this host may hold 172.17.0.0/16: fall back to the pools.
        let alloc = match ipam.allocate_network(&id, Some(&req), &routes) {
            Ok(a) => a,
            Err(NetError::SubnetOverlap { .. }) => ipam
                .allocate_network(&id, Some(&SubnetRequest::default()), &routes)
                .map_err(engine_error)?,
            Err(e) => return Err(engine_error(e)),
        };
        let rec = NetworkRecord {
            id: id.to_string(),
            name: DEFAULT_BRIDGE.into(),
            driver: "bridge".into(),
            created: chrono::Utc::now().to_rfc3339(),
            internal: false,
            attachable: false,
            labels: BTreeMap::new(),
            options: BTreeMap::new(),
            alloc,
            mtu: None,
            default_bridge: true,
            enable_ipv6: false,
            ipam_given: Some(Vec::new()),
            ipam_options: None,
            config_only: false,
            config_from: None,
        };
        let stored = self.db().commit(&[Change::PutNetwork(&rec)], Some(ipam.state()));
        if stored.is_err() {
            ipam.release_network(&id);
        }
        stored
    }

    /// Finds a network by full id, name or unique id prefix.
    pub fn resolve(&self, ident: &str) -> Result<NetworkRecord> {
        // A full id (what the engine passes itself, per container) wins over names and prefixes anyway: one
        // keyed read instead of decoding every network.
        if ident.len() == 64 && ident.bytes().all(|b| b.is_ascii_hexdigit()) {
            if let Some(net) = self.db().network(ident)? {
                return Ok(net);
            }
        }
        resolve_in(&self.db().networks()?, ident)
    }

    /// Every endpoint (one read, for views of all containers).
    pub fn endpoints(&self) -> Result<Vec<EndpointRecord>> {
        self.db().endpoints()
    }

    /// Endpoints of one network (not those of removed containers still giving theirs back).
    pub fn endpoints_of_network(&self, id: &str) -> Result<Vec<EndpointRecord>> {
        let mut eps = self.db().endpoints_of_network(id)?;
        eps.retain(|e| !self.is_forgotten(&e.container));
        Ok(eps)
    }

    /// Endpoints of one container, in attachment order (an indexed read, not a scan of every endpoint).
    pub fn endpoints_of_container(&self, id: &str) -> Result<Vec<EndpointRecord>> {
        let mut eps = self.db().endpoints_of_container(id)?;
        eps.sort_by_key(|e| e.order);
        Ok(eps)
    }

    pub(super) fn publish_names(&self, ep: &EndpointRecord) {
        let (Ok(n), Ok(c)) = (ep.network.parse::<NetworkId>(), ep.container.parse::<ContainerId>()) else {
            return;
        };
        if let Ok(net) = self.resolve(&ep.network) {
            self.stack.dns().records().set_domain(&n, &net.name);
        }
        self.stack.dns().records().set(&n, &c, &dns_names(ep), &ep.addrs());
    }

    /// True when the container's network namespace exists (it is running or starting).
    pub fn has_sandbox(&self, container: &str) -> bool {
        container
            .parse::<ContainerId>()
            .is_ok_and(|c| self.stack.has_sandbox(&c))
    }

    /// Attaches a stored endpoint to the container's live namespace.
    pub(super) async fn attach_live(&self, ep: &EndpointRecord, default_route: bool) -> Result<()> {
        let net = Self::spec_of(&self.resolve(&ep.network)?)?;
        let c: ContainerId = ep.container.parse().map_err(engine_error)?;
        let spec = EndpointSpec {
            ip: ep.ip,
            ip6: ep.ip6,
            link_local: ep.link_local.clone(),
            names: dns_names(ep),
            default_route,
            mac: ep.mac,
            ifname: ep.ifname().map(str::to_owned),
        };
        self.stack.attach(&c, &net, &spec).await.map_err(engine_error)?;
        Ok(())
    }
}

/// What an endpoint answers to on its network, as Docker's `DNSNames`: the container name, its
/// aliases and its short id (the first name is the PTR answer).
pub fn dns_names(ep: &EndpointRecord) -> Vec<String> {
    let mut names = vec![ep.name.clone()];
    names.extend(ep.aliases.iter().cloned());
    names.push(ep.container.chars().take(12).collect());
    names.dedup();
    names
}

/// Finds a network among `nets` by full id, name or unique id prefix (404 `network X not found`).
pub(super) fn resolve_in(nets: &[NetworkRecord], ident: &str) -> Result<NetworkRecord> {
    if let Some(n) = nets.iter().find(|n| n.id == ident || n.name == ident) {
        return Ok(n.clone());
    }
    let mut found = nets.iter().filter(|n| !ident.is_empty() && n.id.starts_with(ident));
    match (found.next(), found.next()) {
        (Some(n), None) => Ok(n.clone()),
        (Some(_), Some(_)) => Err(EngineError::BadRequest(format!(
            "network {ident} is ambiguous (more than one network matches)"
        ))),
        (None, _) => Err(EngineError::NotFound(format!("network {ident} not found"))),
    }
}

/// The stored IPAM state with the endpoint rows as its leases (the stored leases may be older than the rows); rows
/// of containers or networks that are gone (a removal cut short by a crash) are deleted.
fn load_ipam(db: &StateDb) -> Result<Ipam> {
    let rows = NetDb(db);
    let mut ipam = Ipam::new(PoolConfig::default(), rows.ipam()?);
    let containers: HashSet<String> = db.containers()?.into_iter().map(|c| c.id).collect();
    let endpoints = rows.endpoints()?;
    let leases: Vec<(NetworkId, ContainerId, &EndpointRecord)> = endpoints
        .iter()
        .filter(|e| containers.contains(&e.container))
        .filter_map(|e| Some((e.network.parse().ok()?, e.container.parse().ok()?, e)))
        .collect();
    let unknown = ipam.replace_leases(leases.iter().map(|(n, c, e)| (n, c, e.ip, e.ip6)));
    let stale: Vec<Change<'_>> = endpoints
        .iter()
        .filter(|e| {
            !containers.contains(&e.container)
                || unknown
                    .iter()
                    .any(|(n, c)| n.as_str() == e.network && c.as_str() == e.container)
        })
        .map(|e| Change::DeleteEndpoint(&e.network, &e.container))
        .collect();
    if !stale.is_empty() {
        tracing::info!(rows = stale.len(), "endpoints of removed containers dropped");
        rows.commit(&stale, None)?;
    }
    Ok(ipam)
}
