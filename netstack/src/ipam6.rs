//! IPv6 half of IPAM: a network's IPv6 subnet (from the user or from berth's ULA pool) and its leases.
//!
//! Kept apart from the IPv4 code because IPv6 subnets are too large to scan: the search for a free address
//! looks at no more candidates than there are taken addresses, plus one.

use std::collections::BTreeMap;
use std::net::Ipv6Addr;

use ipnet::{IpNet, Ipv6Net};
use serde::{Deserialize, Serialize};

use crate::error::{NetError, Result};
use crate::ids::{ContainerId, NetworkId};

/// berth's default IPv6 pool: a unique local /48 handed out as /64 subnets, one per network.
pub const DEFAULT_POOL6: &str = "fd42:b37f:a11c::/48";

/// What the user asked for on the IPv6 side (an `IPAM.Config` entry of that family).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubnetRequest6 {
    /// `Subnet`, e.g. fd00:1::/64; `None` takes one from the pool.
    pub subnet: Option<Ipv6Net>,
    /// `Gateway`; defaults to the first address after the subnet's.
    pub gateway: Option<Ipv6Addr>,
    /// `IPRange`: containers get addresses only from this part of the subnet.
    pub ip_range: Option<Ipv6Net>,
    /// `AuxiliaryAddresses`: addresses kept out of the leases, by name.
    pub aux: BTreeMap<String, Ipv6Addr>,
}

/// A network's IPv6 subnet, gateway and leases.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation6 {
    /// The network's IPv6 subnet.
    pub subnet: Ipv6Net,
    /// The bridge's IPv6 address, the containers' IPv6 gateway.
    pub gateway: Ipv6Addr,
    /// Part of the subnet container addresses come from.
    pub ip_range: Option<Ipv6Net>,
    /// Reserved addresses by name (`AuxiliaryAddresses`).
    #[serde(default)]
    pub aux: BTreeMap<String, Ipv6Addr>,
    /// The subnet was given by the user (not from the pool).
    #[serde(default)]
    pub user_subnet: bool,
    /// Leased addresses and their holders.
    pub leases: BTreeMap<Ipv6Addr, ContainerId>,
    /// Last address handed out (the search continues after it).
    pub last: Option<Ipv6Addr>,
}

fn overlaps(a: &Ipv6Net, b: &Ipv6Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

impl Allocation6 {
    /// Checks a request against its subnet and makes the allocation.
    pub fn build(subnet: Ipv6Net, req: &SubnetRequest6) -> Result<Self> {
        if let Some(range) = req.ip_range {
            if range.trunc() != range || !subnet.contains(&range) {
                return Err(NetError::invalid(
                    "IPAM.Config.IPRange",
                    range.to_string(),
                    format!("must be a network inside subnet {subnet}"),
                ));
            }
        }
        let gateway = req
            .gateway
            .unwrap_or_else(|| Ipv6Addr::from(u128::from(subnet.network()).saturating_add(1)));
        if !subnet.contains(&gateway) || gateway == subnet.network() {
            return Err(NetError::invalid(
                "IPAM.Config.Gateway",
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
        Ok(Allocation6 {
            subnet,
            gateway,
            ip_range: req.ip_range,
            aux: req.aux.clone(),
            user_subnet: req.subnet.is_some(),
            leases: BTreeMap::new(),
            last: None,
        })
    }

    fn range(&self) -> Ipv6Net {
        self.ip_range.unwrap_or(self.subnet)
    }

    fn reserved(&self, addr: &Ipv6Addr) -> bool {
        *addr == self.subnet.network() || *addr == self.gateway || self.aux.values().any(|a| a == addr)
    }

    /// The address leased to `owner`, if any.
    pub fn lease_of(&self, owner: &ContainerId) -> Option<Ipv6Addr> {
        self.leases.iter().find(|(_, o)| *o == owner).map(|(a, _)| *a)
    }

    /// Leases `requested` (if free) or the next free address to `owner`; the same owner keeps its address.
    pub fn lease(&mut self, id: &NetworkId, owner: &ContainerId, requested: Option<Ipv6Addr>) -> Result<Ipv6Addr> {
        if let Some(held) = self.lease_of(owner) {
            if requested.is_none() || requested == Some(held) {
                return Ok(held);
            }
            self.leases.remove(&held);
        }
        let addr = match requested {
            Some(a) => self.check_requested(id, a)?,
            // Only handed-out addresses move the search on: a fixed one elsewhere leaves the sequence as it was.
            None => {
                let a = self.next_free(id)?;
                self.last = Some(a);
                a
            }
        };
        self.leases.insert(addr, owner.clone());
        Ok(addr)
    }

    fn check_requested(&self, id: &NetworkId, addr: Ipv6Addr) -> Result<Ipv6Addr> {
        let unavailable = |reason: String| NetError::AddressUnavailable {
            addr: addr.into(),
            network: id.short(12).to_string(),
            reason,
        };
        if !self.subnet.contains(&addr) {
            return Err(unavailable(format!("not inside subnet {}", self.subnet)));
        }
        if self.reserved(&addr) {
            return Err(unavailable(
                "it is reserved (network, gateway or auxiliary address)".into(),
            ));
        }
        if let Some(holder) = self.leases.get(&addr) {
            return Err(unavailable(format!("leased to container {}", holder.short(12))));
        }
        Ok(addr)
    }

    fn next_free(&self, id: &NetworkId) -> Result<Ipv6Addr> {
        let range = self.range();
        let (lo, hi) = (u128::from(range.network()), u128::from(range.broadcast()));
        let start = self
            .last
            .map(u128::from)
            .filter(|l| (lo..=hi).contains(l))
            .map_or(lo, |l| l.wrapping_add(1));
        let span = hi - lo; // one less than the count of addresses
                            // Only taken addresses block the search: it ends after at most that many candidates, plus one.
        let blocked = self.leases.len() as u128 + 2 + self.aux.len() as u128;
        (0..=span.min(blocked))
            .map(|i| {
                let offset = (start.wrapping_sub(lo) + i) % span.saturating_add(1).max(1);
                Ipv6Addr::from(lo + offset)
            })
            .find(|a| !self.reserved(a) && !self.leases.contains_key(a))
            .ok_or_else(|| NetError::AddressesExhausted {
                network: id.short(12).to_string(),
                range: range.to_string(),
            })
    }
}

/// The first /64 of berth's ULA pool that overlaps neither `taken` nor a host IPv6 route.
pub fn pick_from_pool(taken: &[Ipv6Net], host_routes: &[IpNet]) -> Result<Ipv6Net> {
    let pool: Ipv6Net = DEFAULT_POOL6.parse().map_err(|_| NetError::PoolsExhausted)?;
    let routes: Vec<Ipv6Net> = host_routes
        .iter()
        .filter_map(|r| match r {
            IpNet::V6(r) if r.prefix_len() > 0 => Some(*r),
            _ => None,
        })
        .collect();
    pool.subnets(64)
        .map_err(|_| NetError::PoolsExhausted)?
        .find(|s| !taken.iter().chain(&routes).any(|t| overlaps(t, s)))
        .ok_or(NetError::PoolsExhausted)
}

/// Checks a user subnet: no host bits, room for containers, no overlap with `taken` or the host's routes.
pub fn check_user_subnet(subnet: Ipv6Net, taken: &[(String, Ipv6Net)], host_routes: &[IpNet]) -> Result<Ipv6Net> {
    if subnet.trunc() != subnet {
        return Err(NetError::invalid(
            "IPAM.Config.Subnet",
            subnet.to_string(),
            format!("host bits are set; did you mean {}?", subnet.trunc()),
        ));
    }
    if subnet.prefix_len() > 126 {
        return Err(NetError::invalid(
            "IPAM.Config.Subnet",
            subnet.to_string(),
            "prefix longer than /126 leaves no room for containers",
        ));
    }
    if let Some((who, net)) = taken.iter().find(|(_, t)| overlaps(t, &subnet)) {
        return Err(NetError::SubnetOverlap {
            subnet: subnet.to_string(),
            other: format!("{who} ({net})"),
        });
    }
    let route = host_routes.iter().find_map(|r| match r {
        IpNet::V6(r) if r.prefix_len() > 0 && overlaps(r, &subnet) => Some(*r),
        _ => None,
    });
    match route {
        Some(r) => Err(NetError::SubnetOverlap {
            subnet: subnet.to_string(),
            other: format!("host route {r}"),
        }),
        None => Ok(subnet),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nid() -> NetworkId {
        format!("{:064x}", 1).parse().unwrap()
    }
    fn cid(n: u8) -> ContainerId {
        format!("c{:063x}", n).parse().unwrap()
    }

    #[test]
    fn pool_skips_taken_subnets_and_routes() {
        let first = pick_from_pool(&[], &[]).unwrap();
        assert_eq!(first.to_string(), "fd42:b37f:a11c::/64");
        let routes = vec!["fd42:b37f:a11c:1::/64".parse().unwrap(), "::/0".parse().unwrap()];
        let next = pick_from_pool(&[first], &routes).unwrap();
        assert_eq!(next.to_string(), "fd42:b37f:a11c:2::/64");
    }

    #[test]
    fn leases_skip_gateway_aux_and_holders() {
        let req = SubnetRequest6 {
            subnet: Some("fd00:1::/64".parse().unwrap()),
            aux: [("router".to_string(), "fd00:1::2".parse().unwrap())].into(),
            ..Default::default()
        };
        let mut a = Allocation6::build(req.subnet.unwrap(), &req).unwrap();
        assert_eq!(a.gateway.to_string(), "fd00:1::1");
        assert_eq!(a.lease(&nid(), &cid(1), None).unwrap().to_string(), "fd00:1::3");
        assert_eq!(a.lease(&nid(), &cid(1), None).unwrap().to_string(), "fd00:1::3");
        assert_eq!(a.lease(&nid(), &cid(2), None).unwrap().to_string(), "fd00:1::4");
        let fixed = a.lease(&nid(), &cid(3), Some("fd00:1::99".parse().unwrap())).unwrap();
        assert_eq!(fixed.to_string(), "fd00:1::99");
        let taken = a.lease(&nid(), &cid(4), Some("fd00:1::99".parse().unwrap()));
        assert!(taken.unwrap_err().to_string().contains("leased to container"));
        let gw = a.lease(&nid(), &cid(4), Some("fd00:1::1".parse().unwrap()));
        assert!(gw.unwrap_err().to_string().contains("reserved"));
    }

    #[test]
    fn tiny_ranges_run_out() {
        let req = SubnetRequest6 {
            subnet: Some("fd00:2::/126".parse().unwrap()),
            ..Default::default()
        };
        let mut a = Allocation6::build(req.subnet.unwrap(), &req).unwrap();
        assert!(a.lease(&nid(), &cid(1), None).is_ok());
        assert!(a.lease(&nid(), &cid(2), None).is_ok());
        assert!(matches!(
            a.lease(&nid(), &cid(3), None),
            Err(NetError::AddressesExhausted { .. })
        ));
    }

    #[test]
    fn user_subnets_are_checked() {
        let s: Ipv6Net = "fd00:3::/64".parse().unwrap();
        let taken = vec![("network x".to_string(), "fd00:3::/48".parse().unwrap())];
        assert!(check_user_subnet(s, &taken, &[]).is_err());
        assert!(check_user_subnet("fd00:3::1/64".parse().unwrap(), &[], &[]).is_err());
        assert!(check_user_subnet(s, &[], &[]).is_ok());
    }
}
