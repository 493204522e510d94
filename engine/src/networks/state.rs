//! Network rows, endpoint rows and the IPAM state in the engine's database; every change is one
//! transaction that also stores the IPAM state, so leases never drift from endpoints.

use crate::error::{EngineError, Result};
use crate::state::StateDb;
use netstack::{IpamState, NetworkAllocation};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Network id → JSON `NetworkRecord`.
const NETWORKS: TableDefinition<&str, &[u8]> = TableDefinition::new("networks");
/// `<network id>/<container id>` → JSON `EndpointRecord`.
const ENDPOINTS: TableDefinition<&str, &[u8]> = TableDefinition::new("network_endpoints");
/// `<container id>/<network id>` → nothing: the index of `ENDPOINTS` by container, so a container's endpoints
/// are a range read instead of a scan of every endpoint row (N² over a stack's starts and stops).
const ENDPOINTS_BY_CONTAINER: TableDefinition<&str, ()> = TableDefinition::new("network_endpoints_by_container");
/// `ipam` → JSON `netstack::IpamState`.
const IPAM: TableDefinition<&str, &[u8]> = TableDefinition::new("network_ipam");
const IPAM_KEY: &str = "ipam";

/// A network as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NetworkRecord {
    /// 64 hex.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// `bridge`, `macvlan` or `ipvlan` (its options are in `options`).
    pub driver: String,
    /// RFC 3339 creation time.
    pub created: String,
    /// No traffic in or out.
    pub internal: bool,
    /// `Attachable` as given.
    pub attachable: bool,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Driver options as given.
    pub options: BTreeMap<String, String>,
    /// Subnet, gateway, range.
    pub alloc: NetworkAllocation,
    /// MTU from `com.docker.network.driver.mtu`.
    pub mtu: Option<u32>,
    /// The predefined `bridge` network.
    pub default_bridge: bool,
    /// `EnableIPv6`: the allocation has an IPv6 side.
    #[serde(default)]
    pub enable_ipv6: bool,
    /// `IPAM.Config` as the client gave it; None in rows written before berth kept it (then nothing is known
    /// of which subnets the user chose).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipam_given: Option<Vec<bollard::models::IpamConfig>>,
    /// `IPAM.Options` as given (dockerd shows them back, `null` when none were sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipam_options: Option<BTreeMap<String, String>>,
    /// `ConfigOnly`: a row of settings only (no allocation, bridge or endpoints; `alloc` is a placeholder).
    #[serde(default)]
    pub config_only: bool,
    /// `ConfigFrom`: the config-only network this one took its settings from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_from: Option<String>,
}

impl NetworkRecord {
    /// Whether the user gave a subnet of that family (dockerd takes static addresses only then); true when
    /// the row does not say.
    pub fn user_subnet(&self, v6: bool) -> bool {
        self.ipam_given.as_ref().is_none_or(|given| {
            given
                .iter()
                .filter_map(|c| c.subnet.as_deref())
                .any(|s| !s.is_empty() && s.contains(':') == v6)
        })
    }

    /// IPv6 entries given for a network without `EnableIPv6`: kept and shown, as dockerd does, never used.
    pub fn unused_v6_configs(&self) -> Vec<bollard::models::IpamConfig> {
        if self.enable_ipv6 {
            return Vec::new();
        }
        let given = self.ipam_given.iter().flatten();
        given
            .filter(|c| c.subnet.as_deref().is_some_and(|s| s.contains(':')))
            .cloned()
            .collect()
    }
}

/// A container's membership of a network.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EndpointRecord {
    /// Network id.
    pub network: String,
    /// Container id.
    pub container: String,
    /// Container name (a DNS name).
    pub name: String,
    /// Extra DNS names.
    pub aliases: Vec<String>,
    /// Leased address; None on an IPv6-only network.
    pub ip: Option<Ipv4Addr>,
    /// The address was asked for (`IPv4Address`).
    pub static_ip: bool,
    /// Endpoint id (64 hex).
    pub endpoint_id: String,
    /// Order of attachment (interfaces and the default route follow dockerd's endpoint order instead).
    pub order: u64,
    /// The container-side interface's MAC address (`MacAddress` of the endpoint or, for the primary network,
    /// of the container config); the kernel's random one when unset.
    #[serde(default)]
    pub mac: Option<[u8; 6]>,
    /// Leased IPv6 address on a dual-stack network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip6: Option<Ipv6Addr>,
    /// Extra link-local addresses (`IPAMConfig.LinkLocalIPs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub link_local: Vec<IpAddr>,
    /// `IPAMConfig` as the client gave it (inspect shows it back, as dockerd does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipam_config: Option<bollard::models::EndpointIpamConfig>,
    /// `DriverOpts` as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_opts: Option<std::collections::HashMap<String, String>>,
    /// `Links` given at connect (`<container>[:<alias>]`), shown back and resolved by the container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
    /// `GwPriority`: the endpoint with the highest gives the default route.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub gw_priority: i64,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// The driver option naming the container-side interface (`interface_name` in Compose).
pub const IFNAME_OPTION: &str = "com.docker.network.endpoint.ifname";

impl EndpointRecord {
    /// The interface name asked for inside the container, if any.
    pub fn ifname(&self) -> Option<&str> {
        self.driver_opts.as_ref()?.get(IFNAME_OPTION).map(String::as_str)
    }
}

impl EndpointRecord {
    /// Its addresses, IPv4 first (what its names resolve to).
    pub fn addrs(&self) -> Vec<IpAddr> {
        let v4 = self.ip.map(IpAddr::V4);
        v4.into_iter().chain(self.ip6.map(IpAddr::V6)).collect()
    }

    /// The MAC inspect shows: while attached the interface's (asked for, else derived from the address),
    /// detached only one that was asked for; none on ipvlan, whose interfaces share the parent's.
    pub fn shown_mac(&self, driver: &str, attached: bool) -> String {
        let mac = match (driver, attached) {
            ("ipvlan", _) => None,
            (_, true) => Some(
                self.mac
                    .unwrap_or_else(|| netstack::default_mac(self.ip, self.ip6, &self.container)),
            ),
            (_, false) => self.mac,
        };
        mac.map_or_else(String::new, |m| {
            m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
        })
    }
}

fn decode<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T> {
    serde_json::from_slice(b).map_err(|e| EngineError::internal("decoding a network record", e))
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| EngineError::internal("encoding a network record", e))
}

fn ep_key(network: &str, container: &str) -> String {
    format!("{network}/{container}")
}

/// Network state access over the engine's database.
pub struct NetDb<'a>(pub &'a StateDb);

macro_rules! read_all {
    ($db:expr, $table:expr, $ty:ty) => {{
        let tx = $db.db.begin_read()?;
        match tx.open_table($table) {
            Ok(t) => {
                let mut out: Vec<$ty> = Vec::new();
                for row in t.iter()? {
                    let (_, v) = row?;
                    out.push(decode(v.value())?);
                }
                out
            }
            Err(redb::TableError::TableDoesNotExist(_)) => Vec::new(),
            Err(e) => return Err(e.into()),
        }
    }};
}

impl NetDb<'_> {
    /// Every network.
    pub fn networks(&self) -> Result<Vec<NetworkRecord>> {
        Ok(read_all!(self.0, NETWORKS, NetworkRecord))
    }

    /// The network with id `id` (a keyed read).
    pub fn network(&self, id: &str) -> Result<Option<NetworkRecord>> {
        let tx = self.0.db.begin_read()?;
        let nets = match tx.open_table(NETWORKS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let found = nets.get(id)?;
        found.map(|v| decode(v.value())).transpose()
    }

    /// Every endpoint.
    pub fn endpoints(&self) -> Result<Vec<EndpointRecord>> {
        Ok(read_all!(self.0, ENDPOINTS, EndpointRecord))
    }

    /// Endpoints of one network: a range read of its `<network id>/` keys.
    pub fn endpoints_of_network(&self, network: &str) -> Result<Vec<EndpointRecord>> {
        let tx = self.0.db.begin_read()?;
        let eps = match tx.open_table(ENDPOINTS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let (from, to) = (format!("{network}/"), format!("{network}0"));
        let mut out = Vec::new();
        for row in eps.range(from.as_str()..to.as_str())? {
            out.push(decode(row?.1.value())?);
        }
        Ok(out)
    }

    /// Endpoints of one container (in key order) through the container index.
    pub fn endpoints_of_container(&self, container: &str) -> Result<Vec<EndpointRecord>> {
        let tx = self.0.db.begin_read()?;
        let (index, eps) = match (tx.open_table(ENDPOINTS_BY_CONTAINER), tx.open_table(ENDPOINTS)) {
            (Ok(i), Ok(e)) => (i, e),
            (Err(redb::TableError::TableDoesNotExist(_)), _) | (_, Err(redb::TableError::TableDoesNotExist(_))) => {
                return Ok(Vec::new())
            }
            (Err(e), _) | (_, Err(e)) => return Err(e.into()),
        };
        // Every key of this container, and only those: `<id>/` up to `<id>0` ('0' follows '/').
        let (from, to) = (format!("{container}/"), format!("{container}0"));
        let mut out = Vec::new();
        for row in index.range(from.as_str()..to.as_str())? {
            let (key, _) = row?;
            let network = &key.value()[from.len()..];
            if let Some(v) = eps.get(ep_key(network, container).as_str())? {
                out.push(decode(v.value())?);
            }
        }
        Ok(out)
    }

    /// Makes the container index of the endpoint rows when it is missing (a database from before it).
    pub fn ensure_container_index(&self) -> Result<()> {
        {
            let tx = self.0.db.begin_read()?;
            match tx.open_table(ENDPOINTS_BY_CONTAINER) {
                Ok(_) => return Ok(()),
                Err(redb::TableError::TableDoesNotExist(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let endpoints = self.endpoints()?;
        let tx = self.0.db.begin_write()?;
        {
            let mut index = tx.open_table(ENDPOINTS_BY_CONTAINER)?;
            for e in &endpoints {
                index.insert(ep_key(&e.container, &e.network).as_str(), ())?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The stored IPAM state.
    pub fn ipam(&self) -> Result<IpamState> {
        let tx = self.0.db.begin_read()?;
        let t = match tx.open_table(IPAM) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(IpamState::default()),
            Err(e) => return Err(e.into()),
        };
        let v = t.get(IPAM_KEY)?;
        v.map(|g| decode(g.value())).transpose().map(Option::unwrap_or_default)
    }

    /// Applies network and endpoint changes, and the IPAM state when given, in one transaction, durable on
    /// return.
    pub fn commit(&self, changes: &[Change<'_>], ipam: Option<&IpamState>) -> Result<()> {
        self.commit_lazy(changes, ipam)?;
        self.0.sync()
    }

    /// As `commit`, not yet durable: the caller syncs (`StateDb::sync`) once it has let go of the network lock,
    /// so the fsyncs of concurrent container starts are shared instead of queued under the lock.
    ///
    /// Endpoint changes leave the stored IPAM state alone: the endpoint rows are the leases of record (the
    /// stored state's leases are replaced by them at open), so a container's start writes its own rows only,
    /// not every lease of the engine.
    pub fn commit_lazy(&self, changes: &[Change<'_>], ipam: Option<&IpamState>) -> Result<()> {
        let tx = self.0.begin_lazy()?;
        {
            let mut nets = tx.open_table(NETWORKS)?;
            let mut eps = tx.open_table(ENDPOINTS)?;
            let mut index = tx.open_table(ENDPOINTS_BY_CONTAINER)?;
            for change in changes {
                match change {
                    Change::PutNetwork(n) => {
                        nets.insert(n.id.as_str(), encode(n)?.as_slice())?;
                    }
                    Change::DeleteNetwork(id) => {
                        nets.remove(*id)?;
                    }
                    Change::PutEndpoint(e) => {
                        eps.insert(ep_key(&e.network, &e.container).as_str(), encode(e)?.as_slice())?;
                        index.insert(ep_key(&e.container, &e.network).as_str(), ())?;
                    }
                    Change::DeleteEndpoint(network, container) => {
                        eps.remove(ep_key(network, container).as_str())?;
                        index.remove(ep_key(container, network).as_str())?;
                    }
                }
            }
            if let Some(ipam) = ipam {
                tx.open_table(IPAM)?.insert(IPAM_KEY, encode(ipam)?.as_slice())?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

/// One change to the network tables.
pub enum Change<'a> {
    /// Insert or replace a network.
    PutNetwork(&'a NetworkRecord),
    /// Delete a network row.
    DeleteNetwork(&'a str),
    /// Insert or replace an endpoint.
    PutEndpoint(&'a EndpointRecord),
    /// Delete an endpoint row (network id, container id).
    DeleteEndpoint(&'a str, &'a str),
}
