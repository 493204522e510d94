//! Address management: subnets for networks from pools, and address leases per network.
//!
//! The state is a plain serde value: the engine stores it in its own database and hands it
//! back at start. Nothing here touches the kernel; host routes are passed in.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::{IpNet, Ipv4Net};
use serde::{Deserialize, Serialize};

use crate::error::{NetError, Result};
use crate::ids::{ContainerId, NetworkId};
use crate::ipam6::{self, Allocation6, SubnetRequest6};

/// A block of address space carved into subnets of one prefix length.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    /// The block, e.g. 192.168.0.0/16.
    pub base: Ipv4Net,
    /// Prefix length of each subnet taken from it, e.g. 20.
    pub size: u8,
}

impl Pool {
    fn subnets(&self) -> impl Iterator<Item = Ipv4Net> + '_ {
        self.base
            .subnets(self.size.max(self.base.prefix_len()))
            .into_iter()
            .flatten()
    }
}

/// Where subnets come from when the user names none.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolConfig {
    /// Subnet of the default `bridge` network.
    pub default_bridge: Ipv4Net,
    /// Pools for user networks, tried in order.
    pub pools: Vec<Pool>,
}

fn net(s: &str) -> Ipv4Net {
    // Constants below are valid by construction.
    s.parse().unwrap_or_else(|_| Ipv4Net::default())
}

impl Default for PoolConfig {
    /// Docker's defaults: 172.17.0.0/16 for the default bridge, then 172.18-31.x/16, then 192.168.x.0/20.
    fn default() -> Self {
        let p = |base: &str, size| Pool { base: net(base), size };
        PoolConfig {
            default_bridge: net("172.17.0.0/16"),
            pools: vec![
                p("172.18.0.0/15", 16),
                p("172.20.0.0/14", 16),
                p("172.24.0.0/14", 16),
                p("172.28.0.0/14", 16),
                p("192.168.0.0/16", 20),
            ],
        }
    }
}

/// What the user asked for (Docker's IPAM config); every field optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubnetRequest {
    /// `Subnet`, e.g. 10.99.0.0/24.
    pub subnet: Option<Ipv4Net>,
    /// `Gateway`; defaults to the first address of the subnet.
    pub gateway: Option<Ipv4Addr>,
    /// `IPRange`: containers get addresses only from this part of the subnet.
    pub ip_range: Option<Ipv4Net>,
    /// Take the default bridge subnet instead of a pool.
    pub default_bridge: bool,
    /// `AuxiliaryAddresses`: addresses kept out of the leases, by name.
    pub aux: BTreeMap<String, Ipv4Addr>,
}

/// A network's addresses: an IPv4 side unless IPv4 is off (`EnableIPv4: false`), an IPv6 side on a
/// dual-stack or IPv6-only network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkAllocation {
    /// The IPv4 side; None on an IPv6-only network. Flattened: rows stored before IPv4 could be off read as Some.
    #[serde(flatten)]
    pub v4: Option<Allocation4>,
    /// The IPv6 side of a dual-stack or IPv6-only network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v6: Option<Allocation6>,
}

impl NetworkAllocation {
    /// The address leased to `owner`, if any.
    pub fn lease_of(&self, owner: &ContainerId) -> Option<Ipv4Addr> {
        self.v4.as_ref()?.lease_of(owner)
    }

    /// The IPv4 subnet and gateway, if IPv4 is on.
    pub fn subnet_gateway(&self) -> Option<(Ipv4Net, Ipv4Addr)> {
        self.v4.as_ref().map(|v4| (v4.subnet, v4.gateway))
    }
}

/// The IPv4 side of a network: subnet, gateway and leases.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation4 {
    /// The network's subnet.
    pub subnet: Ipv4Net,
    /// Address of the bridge, the containers' default gateway and DNS server.
    pub gateway: Ipv4Addr,
    /// Part of the subnet container addresses come from.
    pub ip_range: Option<Ipv4Net>,
    /// Leased addresses and their holders.
    pub leases: BTreeMap<Ipv4Addr, ContainerId>,
    /// Last address handed out: the search continues after it so a freed address is not reused at once.
    #[serde(default)]
    pub last: Option<Ipv4Addr>,
    /// Reserved addresses by name (`AuxiliaryAddresses`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub aux: BTreeMap<String, Ipv4Addr>,
}

impl Allocation4 {
    fn range(&self) -> Ipv4Net {
        self.ip_range.unwrap_or(self.subnet)
    }

    fn usable(&self, addr: Ipv4Addr) -> bool {
        addr != self.subnet.network()
            && addr != self.subnet.broadcast()
            && addr != self.gateway
            && !self.aux.values().any(|a| *a == addr)
            && self.range().contains(&addr)
    }

    /// The address leased to `owner`, if any.
    pub fn lease_of(&self, owner: &ContainerId) -> Option<Ipv4Addr> {
        self.leases.iter().find(|(_, o)| *o == owner).map(|(a, _)| *a)
    }
}

/// The whole IPAM state: what the engine persists.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpamState {
    /// Every network's allocation.
    pub networks: BTreeMap<NetworkId, NetworkAllocation>,
}

/// Pools plus state; all changes go through here.
#[derive(Clone, Debug)]
pub struct Ipam {
    config: PoolConfig,
    state: IpamState,
}

fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

impl Ipam {
    /// IPAM over `config`, starting from a state the engine stored earlier (or the default).
    pub fn new(config: PoolConfig, state: IpamState) -> Self {
        Ipam { config, state }
    }

    /// The state to persist.
    pub fn state(&self) -> &IpamState {
        &self.state
    }

    /// The allocation of one network.
    pub fn network(&self, id: &NetworkId) -> Option<&NetworkAllocation> {
        self.state.networks.get(id)
    }

    /// Gives network `id` an IPv4 subnet and gateway, or (`req` None: IPv4 off) no IPv4 side at all; the IPv6
    /// side comes from [`Ipam::allocate_v6`]. `host_routes` are the host's routes (from `host_routes()`); the
    /// default route is ignored. Calling it again for the same id returns the existing allocation.
    pub fn allocate_network(
        &mut self,
        id: &NetworkId,
        req: Option<&SubnetRequest>,
        host_routes: &[IpNet],
    ) -> Result<NetworkAllocation> {
        if let Some(existing) = self.state.networks.get(id) {
            return Ok(existing.clone());
        }
        let v4 = match req {
            Some(req) => {
                let subnet = match req.subnet {
                    Some(s) => self.check_user_subnet(s, host_routes)?,
                    None if req.default_bridge => self.check_free(self.config.default_bridge, host_routes)?,
                    None => self.pick_from_pools(host_routes)?,
                };
                Some(build_allocation(subnet, req)?)
            }
            None => None,
        };
        let alloc = NetworkAllocation { v4, v6: None };
        self.state.networks.insert(id.clone(), alloc.clone());
        Ok(alloc)
    }

    /// Forgets network `id` and its leases, returning its allocation. Unknown ids are fine.
    pub fn release_network(&mut self, id: &NetworkId) -> Option<NetworkAllocation> {
        self.state.networks.remove(id)
    }

    /// Puts back an allocation taken by `release_network` (its network's removal failed).
    pub fn restore_network(&mut self, id: &NetworkId, alloc: NetworkAllocation) {
        self.state.networks.entry(id.clone()).or_insert(alloc);
    }

    /// True when network `id` has any address leased (either family).
    pub fn has_leases(&self, id: &NetworkId) -> bool {
        self.state.networks.get(id).is_some_and(|a| {
            a.v4.as_ref().is_some_and(|v4| !v4.leases.is_empty())
                || a.v6.as_ref().is_some_and(|v6| !v6.leases.is_empty())
        })
    }

    /// Replaces every lease by `leases` (network, owner, IPv4, IPv6): the holders of record, when the stored
    /// state's leases may be older than them. Leases of unknown networks are returned, not kept.
    pub fn replace_leases<'a>(
        &mut self,
        leases: impl IntoIterator<
            Item = (
                &'a NetworkId,
                &'a ContainerId,
                Option<Ipv4Addr>,
                Option<std::net::Ipv6Addr>,
            ),
        >,
    ) -> Vec<(NetworkId, ContainerId)> {
        for alloc in self.state.networks.values_mut() {
            if let Some(v4) = alloc.v4.as_mut() {
                v4.leases.clear();
            }
            if let Some(v6) = alloc.v6.as_mut() {
                v6.leases.clear();
            }
        }
        let mut unknown = Vec::new();
        for (id, owner, ip, ip6) in leases {
            let Some(alloc) = self.state.networks.get_mut(id) else {
                unknown.push((id.clone(), owner.clone()));
                continue;
            };
            if let (Some(v4), Some(ip)) = (alloc.v4.as_mut(), ip) {
                v4.leases.insert(ip, owner.clone());
            }
            if let (Some(v6), Some(ip6)) = (alloc.v6.as_mut(), ip6) {
                v6.leases.insert(ip6, owner.clone());
            }
        }
        unknown
    }

    /// Leases an address on network `id` to `owner`: `requested` if given and free, else the next free one;
    /// None on an IPv6-only network. Leasing again to the same owner returns its address.
    pub fn lease(
        &mut self,
        id: &NetworkId,
        owner: &ContainerId,
        requested: Option<Ipv4Addr>,
    ) -> Result<Option<Ipv4Addr>> {
        let alloc = self
            .state
            .networks
            .get_mut(id)
            .ok_or_else(|| NetError::NoSuchNetwork(id.to_string()))?;
        let Some(alloc) = alloc.v4.as_mut() else {
            return match requested {
                None => Ok(None),
                Some(a) => Err(NetError::AddressUnavailable {
                    addr: a.into(),
                    network: id.short(12).to_string(),
                    reason: "the network has no IPv4 subnet (EnableIPv4 is off)".into(),
                }),
            };
        };
        if let Some(held) = alloc.lease_of(owner) {
            if requested.is_none() || requested == Some(held) {
                return Ok(Some(held));
            }
            alloc.leases.remove(&held);
        }
        let addr = match requested {
            Some(addr) => check_requested(alloc, id, addr)?,
            None => next_free(alloc, id)?,
        };
        alloc.leases.insert(addr, owner.clone());
        alloc.last = Some(addr);
        Ok(Some(addr))
    }

    /// Returns `owner`'s addresses (both families) on network `id` to the pool. Unknown ids and owners are fine.
    pub fn release(&mut self, id: &NetworkId, owner: &ContainerId) {
        if let Some(alloc) = self.state.networks.get_mut(id) {
            if let Some(v4) = alloc.v4.as_mut() {
                v4.leases.retain(|_, o| o != owner);
            }
            if let Some(v6) = alloc.v6.as_mut() {
                v6.leases.retain(|_, o| o != owner);
            }
        }
    }

    /// Gives network `id` (already allocated) its IPv6 subnet: the user's, checked against other networks
    /// and the host's IPv6 routes, or the next free /64 of berth's ULA pool. Idempotent.
    pub fn allocate_v6(&mut self, id: &NetworkId, req: &SubnetRequest6, host_routes: &[IpNet]) -> Result<Allocation6> {
        let taken: Vec<(String, ipnet::Ipv6Net)> = self
            .state
            .networks
            .iter()
            .filter(|(other, _)| *other != id)
            .filter_map(|(other, a)| Some((format!("network {}", other.short(12)), a.v6.as_ref()?.subnet)))
            .collect();
        let alloc = self
            .state
            .networks
            .get_mut(id)
            .ok_or_else(|| NetError::NoSuchNetwork(id.to_string()))?;
        if let Some(v6) = &alloc.v6 {
            return Ok(v6.clone());
        }
        let subnet = match req.subnet {
            Some(s) => ipam6::check_user_subnet(s, &taken, host_routes)?,
            None => {
                let nets: Vec<_> = taken.iter().map(|(_, n)| *n).collect();
                ipam6::pick_from_pool(&nets, host_routes)?
            }
        };
        let v6 = Allocation6::build(subnet, req)?;
        alloc.v6 = Some(v6.clone());
        Ok(v6)
    }

    /// Leases an IPv6 address on network `id` to `owner` (`requested` if free); None on an IPv4-only network.
    pub fn lease_v6(
        &mut self,
        id: &NetworkId,
        owner: &ContainerId,
        requested: Option<std::net::Ipv6Addr>,
    ) -> Result<Option<std::net::Ipv6Addr>> {
        let alloc = self
            .state
            .networks
            .get_mut(id)
            .ok_or_else(|| NetError::NoSuchNetwork(id.to_string()))?;
        match (alloc.v6.as_mut(), requested) {
            (Some(v6), _) => v6.lease(id, owner, requested).map(Some),
            (None, None) => Ok(None),
            (None, Some(a)) => Err(NetError::AddressUnavailable {
                addr: a.into(),
                network: id.short(12).to_string(),
                reason: "the network has no IPv6 subnet (EnableIPv6 is off)".into(),
            }),
        }
    }

    fn check_user_subnet(&self, subnet: Ipv4Net, host_routes: &[IpNet]) -> Result<Ipv4Net> {
        if subnet.trunc() != subnet {
            return Err(NetError::invalid(
                "subnet",
                subnet.to_string(),
                format!("host bits are set; did you mean {}?", subnet.trunc()),
            ));
        }
        if subnet.prefix_len() > 30 {
            return Err(NetError::invalid(
                "subnet",
                subnet.to_string(),
                "prefix longer than /30 leaves no room for containers",
            ));
        }
        self.check_free(subnet, host_routes)
    }

    fn check_free(&self, subnet: Ipv4Net, host_routes: &[IpNet]) -> Result<Ipv4Net> {
        if let Some(other) = self.conflict(&subnet, host_routes) {
            return Err(NetError::SubnetOverlap {
                subnet: subnet.to_string(),
                other,
            });
        }
        Ok(subnet)
    }

    fn conflict(&self, subnet: &Ipv4Net, host_routes: &[IpNet]) -> Option<String> {
        let v4s = self
            .state
            .networks
            .iter()
            .filter_map(|(id, a)| Some((id, a.v4.as_ref()?.subnet)));
        if let Some((id, taken)) = v4s.into_iter().find(|(_, taken)| overlaps(taken, subnet)) {
            return Some(format!("network {} ({taken})", id.short(12)));
        }
        host_routes.iter().find_map(|r| match r {
            IpNet::V4(r) if r.prefix_len() > 0 && overlaps(r, subnet) => Some(format!("host route {r}")),
            _ => None,
        })
    }

    fn pick_from_pools(&self, host_routes: &[IpNet]) -> Result<Ipv4Net> {
        self.config
            .pools
            .iter()
            .flat_map(Pool::subnets)
            .find(|s| !overlaps(s, &self.config.default_bridge) && self.conflict(s, host_routes).is_none())
            .ok_or(NetError::PoolsExhausted)
    }
}

fn build_allocation(subnet: Ipv4Net, req: &SubnetRequest) -> Result<Allocation4> {
    if let Some(range) = req.ip_range {
        if range.trunc() != range || !subnet.contains(&range) {
            return Err(NetError::invalid(
                "ip range",
                range.to_string(),
                format!("must be a network inside subnet {subnet}"),
            ));
        }
    }
    let gateway = match req.gateway {
        Some(gw) => gw,
        None => first_host(&subnet),
    };
    if !subnet.contains(&gateway) || gateway == subnet.network() || gateway == subnet.broadcast() {
        return Err(NetError::invalid(
            "gateway",
            gateway.to_string(),
            format!("must be a host address inside subnet {subnet}"),
        ));
    }
    if let Some((name, a)) = req.aux.iter().find(|(_, a)| !subnet.contains(*a)) {
        return Err(NetError::invalid(
            "IPAM.Config.AuxiliaryAddresses",
            format!("{name}={a}"),
            format!("must be inside subnet {subnet}"),
        ));
    }
    Ok(Allocation4 {
        subnet,
        gateway,
        ip_range: req.ip_range,
        leases: BTreeMap::new(),
        last: None,
        aux: req.aux.clone(),
    })
}

fn first_host(subnet: &Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(subnet.network()).saturating_add(1))
}

fn check_requested(alloc: &Allocation4, id: &NetworkId, addr: Ipv4Addr) -> Result<Ipv4Addr> {
    let unavailable = |reason: String| NetError::AddressUnavailable {
        addr: addr.into(),
        network: id.short(12).to_string(),
        reason,
    };
    if !alloc.subnet.contains(&addr) || addr == alloc.subnet.network() || addr == alloc.subnet.broadcast() {
        return Err(unavailable(format!("not a host address of subnet {}", alloc.subnet)));
    }
    if addr == alloc.gateway {
        return Err(unavailable("it is the gateway".into()));
    }
    if alloc.aux.values().any(|a| *a == addr) {
        return Err(unavailable("it is an auxiliary address".into()));
    }
    if let Some(holder) = alloc.leases.get(&addr) {
        return Err(unavailable(format!("leased to container {}", holder.short(12))));
    }
    Ok(addr)
}

fn next_free(alloc: &Allocation4, id: &NetworkId) -> Result<Ipv4Addr> {
    let range = alloc.range();
    let (lo, hi) = (u32::from(range.network()), u32::from(range.broadcast()));
    let start = alloc
        .last
        .map(u32::from)
        .filter(|l| (lo..=hi).contains(l))
        .map_or(lo, |l| l.wrapping_add(1));
    let span = u64::from(hi - lo) + 1;
    (0..span)
        .map(|i| Ipv4Addr::from(lo + ((u64::from(start.wrapping_sub(lo)) + i) % span) as u32))
        .find(|a| alloc.usable(*a) && !alloc.leases.contains_key(a))
        .ok_or_else(|| NetError::AddressesExhausted {
            network: id.short(12).to_string(),
            range: range.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nid(n: u8) -> NetworkId {
        format!("{:064x}", n).parse().unwrap()
    }
    fn cid(n: u8) -> ContainerId {
        format!("c{:063x}", n).parse().unwrap()
    }
    fn routes() -> Vec<IpNet> {
        vec!["0.0.0.0/0".parse().unwrap(), "172.18.0.0/16".parse().unwrap()]
    }

    #[test]
    fn pools_skip_host_routes_and_each_other() {
        let mut ipam = Ipam::new(PoolConfig::default(), IpamState::default());
        let bridge = ipam
            .allocate_network(
                &nid(0),
                Some(&SubnetRequest {
                    default_bridge: true,
                    ..Default::default()
                }),
                &routes(),
            )
            .unwrap();
        assert_eq!(bridge.v4.as_ref().unwrap().subnet.to_string(), "172.17.0.0/16");
        assert_eq!(bridge.v4.as_ref().unwrap().gateway.to_string(), "172.17.0.1");
        let a = ipam
            .allocate_network(&nid(1), Some(&SubnetRequest::default()), &routes())
            .unwrap();
        assert_eq!(a.v4.as_ref().unwrap().subnet.to_string(), "172.19.0.0/16");
        let b = ipam
            .allocate_network(&nid(2), Some(&SubnetRequest::default()), &routes())
            .unwrap();
        assert_eq!(b.v4.unwrap().subnet.to_string(), "172.20.0.0/16");
        // Same id again: same answer.
        assert_eq!(
            ipam.allocate_network(&nid(1), Some(&SubnetRequest::default()), &routes())
                .unwrap(),
            a
        );
    }

    #[test]
    fn pools_move_on_to_192_168() {
        let mut ipam = Ipam::new(PoolConfig::default(), IpamState::default());
        for i in 1..=13 {
            ipam.allocate_network(&nid(i), Some(&SubnetRequest::default()), &routes())
                .unwrap();
        }
        let next = ipam
            .allocate_network(&nid(14), Some(&SubnetRequest::default()), &routes())
            .unwrap();
        assert_eq!(next.v4.unwrap().subnet.to_string(), "192.168.0.0/20");
    }

    #[test]
    fn user_subnet_checks() {
        let mut ipam = Ipam::new(PoolConfig::default(), IpamState::default());
        let req = |s: &str| SubnetRequest {
            subnet: Some(s.parse().unwrap()),
            ..Default::default()
        };
        ipam.allocate_network(&nid(1), Some(&req("10.99.0.0/24")), &routes())
            .unwrap();
        let err = ipam
            .allocate_network(&nid(2), Some(&req("10.99.0.0/16")), &routes())
            .unwrap_err();
        assert!(err.to_string().contains("overlaps network"), "{err}");
        let err = ipam
            .allocate_network(&nid(3), Some(&req("172.18.5.0/24")), &routes())
            .unwrap_err();
        assert!(err.to_string().contains("host route 172.18.0.0/16"), "{err}");
        let err = ipam
            .allocate_network(&nid(4), Some(&req("10.98.0.1/24")), &routes())
            .unwrap_err();
        assert!(err.to_string().contains("10.98.0.0/24"), "{err}");
        let bad_gw = SubnetRequest {
            gateway: Some("10.97.1.1".parse().unwrap()),
            ..req("10.97.0.0/24")
        };
        assert!(ipam.allocate_network(&nid(5), Some(&bad_gw), &routes()).is_err());
    }

    #[test]
    fn leases_respect_range_gateway_and_holders() {
        let mut ipam = Ipam::new(PoolConfig::default(), IpamState::default());
        let req = SubnetRequest {
            subnet: Some("10.50.0.0/24".parse().unwrap()),
            gateway: Some("10.50.0.1".parse().unwrap()),
            ip_range: Some("10.50.0.0/30".parse().unwrap()),
            ..Default::default()
        };
        ipam.allocate_network(&nid(1), Some(&req), &[]).unwrap();
        // /30 range = .0-.3; .0 is the network address, .1 the gateway: .2 and .3 remain.
        assert_eq!(
            ipam.lease(&nid(1), &cid(1), None).unwrap().unwrap().to_string(),
            "10.50.0.2"
        );
        assert_eq!(
            ipam.lease(&nid(1), &cid(1), None).unwrap().unwrap().to_string(),
            "10.50.0.2"
        );
        assert_eq!(
            ipam.lease(&nid(1), &cid(2), None).unwrap().unwrap().to_string(),
            "10.50.0.3"
        );
        assert!(matches!(
            ipam.lease(&nid(1), &cid(3), None),
            Err(NetError::AddressesExhausted { .. })
        ));
        let taken = ipam
            .lease(&nid(1), &cid(3), Some("10.50.0.2".parse().unwrap()))
            .unwrap_err();
        assert!(taken.to_string().contains("leased to container"), "{taken}");
        ipam.release(&nid(1), &cid(1));
        // Explicit addresses may lie outside the range but inside the subnet.
        assert_eq!(
            ipam.lease(&nid(1), &cid(3), Some("10.50.0.200".parse().unwrap()))
                .unwrap()
                .unwrap()
                .to_string(),
            "10.50.0.200"
        );
        assert_eq!(
            ipam.lease(&nid(1), &cid(4), None).unwrap().unwrap().to_string(),
            "10.50.0.2"
        );
    }

    #[test]
    fn state_round_trips_through_json() {
        let mut ipam = Ipam::new(PoolConfig::default(), IpamState::default());
        ipam.allocate_network(&nid(1), Some(&SubnetRequest::default()), &[])
            .unwrap();
        ipam.lease(&nid(1), &cid(1), None).unwrap();
        let json = serde_json::to_string(ipam.state()).unwrap();
        let back: IpamState = serde_json::from_str(&json).unwrap();
        assert_eq!(&back, ipam.state());
    }

    #[test]
    fn ipv6_only_networks_take_no_ipv4_subnet_and_lease_none() {
        let mut ipam = Ipam::new(PoolConfig::default(), IpamState::default());
        let alloc = ipam.allocate_network(&nid(1), None, &[]).unwrap();
        assert_eq!(alloc.v4, None);
        assert_eq!(ipam.lease(&nid(1), &cid(1), None).unwrap(), None);
        assert!(matches!(
            ipam.lease(&nid(1), &cid(1), Some("10.0.0.2".parse().unwrap())),
            Err(NetError::AddressUnavailable { .. })
        ));
        // The next IPv4 network still gets the first pool subnet: nothing was taken.
        let next = ipam
            .allocate_network(&nid(2), Some(&SubnetRequest::default()), &[])
            .unwrap();
        assert_eq!(next.v4.unwrap().subnet.to_string(), "172.18.0.0/16");
        let json = serde_json::to_string(ipam.state()).unwrap();
        let back: IpamState = serde_json::from_str(&json).unwrap();
        assert_eq!(&back, ipam.state());
    }

    #[test]
    fn rows_stored_before_ipv4_could_be_off_read_as_ipv4() {
        let old = r#"{"subnet":"10.1.0.0/24","gateway":"10.1.0.1","ip_range":null,"leases":{"10.1.0.2":"c000000000000000000000000000000000000000000000000000000000000001"}}"#;
        let alloc: NetworkAllocation = serde_json::from_str(old).unwrap();
        let v4 = alloc.v4.expect("an IPv4 side");
        assert_eq!(v4.gateway.to_string(), "10.1.0.1");
        assert_eq!(v4.leases.len(), 1);
        assert_eq!(alloc.v6, None);
    }
}
