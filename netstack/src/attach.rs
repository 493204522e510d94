//! Connecting a container's namespace to a network and disconnecting it: a veth pair on the network's
//! bridge, or a macvlan/ipvlan interface on its parent; then address, route and DNS names.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use tracing::{debug, info_span, Instrument};

use crate::driver::Driver;
use crate::error::{NetError, Result};
use crate::ids::{ContainerId, NetworkId, Owner, VethName};
use crate::links::{Netlink, VethEnds};
use crate::netns;
use crate::stack::{Attachment, EndpointSpec, Netstack, NetworkSpec};

impl Netstack {
    /// Connects a container's namespace to a network: its interface (`ethN` inside), address, default
    /// route if asked, DNS names. Works on running containers too.
    pub async fn attach(&self, id: &ContainerId, net: &NetworkSpec, ep: &EndpointSpec) -> Result<Attachment> {
        let span = info_span!("attach", container = %id.short(12), network = %net.id.short(12), ip = ?ep.ip);
        async {
            let path = self.netns.path(id);
            if !netns::is_nsfs(&path) {
                return Err(NetError::Unsupported(format!(
                    "container {} has no network namespace; create_sandbox first",
                    id.short(12)
                )));
            }
            let inside = Netlink::connect_in(&path)?;
            let ifname = match &ep.ifname {
                Some(name) => free_ifname(&inside, name).await?,
                None => next_ifname(&inside).await?,
            };
            let label = Owner::Endpoint(id.clone(), net.id.clone()).label(&self.cfg.instance);
            let mtu = net.mtu.unwrap_or(self.cfg.mtu);
            let mac = ep.mac.unwrap_or_else(|| default_mac(ep.ip, ep.ip6, id.as_str()));
            let host_veth = match net.driver.parent() {
                None => Some(self.make_veth(id, net, (&ifname, mac), &label, mtu).await?),
                Some(parent) => {
                    let parent = self.parent_index(parent).await?;
                    self.host
                        .create_sublink(&net.driver, parent, &ifname, Some(&path), mtu)
                        .await?;
                    None
                }
            };
            let index = inside.index_of(&ifname).await?.ok_or_else(|| {
                NetError::Unsupported(format!("{ifname} did not appear in the container's namespace"))
            })?;
            if host_veth.is_none() {
                // The label lives on the interface inside: `detach` finds it there.
                inside.set_alias(index, &label).await?;
            }
            // A veth's peer got its MAC at creation; an ipvlan shares its parent's.
            if matches!(net.driver, Driver::Macvlan { .. }) {
                // Set while the interface is still down (it takes a new address then without a reset).
                inside.set_mac(index, mac).await?;
            }
            let ip6 = ep.ip6.zip(net.v6).map(|(a, (subnet, _))| (a, subnet.prefix_len()));
            if ip6.is_some() || ep.link_local.iter().any(IpAddr::is_ipv6) {
                let name = ifname.clone();
                netns::run_in(&path, move || crate::links::enable_ipv6_on(&name))?;
            }
            let ip4 = ep.ip.zip(net.v4).map(|(a, (subnet, gw))| (a, subnet.prefix_len(), gw));
            if let Some((a, prefix, _)) = ip4 {
                inside.add_address(index, IpAddr::V4(a), prefix).await?;
            }
            if let Some((a, prefix)) = ip6 {
                inside.add_address(index, IpAddr::V6(a), prefix).await?;
            }
            for ll in &ep.link_local {
                inside
                    .add_address(index, *ll, if ll.is_ipv4() { 16 } else { 64 })
                    .await?;
            }
            inside.up(index, None).await?;
            // Like Docker: an internal network gives no way out, not even a route.
            if ep.default_route && !net.internal {
                if let Some((_, _, gw)) = ip4 {
                    inside.add_default_route(index, gw).await?;
                }
                if let (Some(_), Some((_, gw6))) = (ip6, net.v6) {
                    inside.add_default_route6(index, gw6).await?;
                }
            }
            let addrs: Vec<IpAddr> = ip4
                .map(|(a, _, _)| IpAddr::V4(a))
                .into_iter()
                .chain(ip6.map(|(a, _)| IpAddr::V6(a)))
                .collect();
            self.dns.records().set(&net.id, id, &ep.names, &addrs);
            debug!(%ifname, "attached");
            Ok(Attachment {
                ifname,
                host_veth,
                ip: ip4,
                ip6,
            })
        }
        .instrument(span)
        .await
    }

    /// A veth pair whose host end is on the network's bridge and whose peer is `peer` (name, MAC) inside.
    /// Three host round trips: the bridge's index, the create, the label.
    #[tracing::instrument(skip_all)]
    async fn make_veth(
        &self,
        id: &ContainerId,
        net: &NetworkSpec,
        peer: (&str, [u8; 6]),
        label: &str,
        mtu: u32,
    ) -> Result<VethName> {
        let bridge = self.host.index_of(net.bridge().as_str()).await?.ok_or_else(|| {
            NetError::NoSuchNetwork(format!("{} (bridge {} missing)", net.id.short(12), net.bridge()))
        })?;
        let veth = VethName::of(id, &net.id);
        let path = self.netns.path(id);
        let ends = VethEnds {
            host: veth.as_str(),
            peer: peer.0,
            peer_mac: peer.1,
        };
        if !self.host.create_veth(&ends, &path, bridge, mtu).await? {
            // A leftover of a crashed attach holds the name: only then is there something to delete.
            self.host.delete(veth.as_str()).await?;
            if !self.host.create_veth(&ends, &path, bridge, mtu).await? {
                return Err(NetError::Unsupported(format!(
                    "veth {veth} exists again right after its removal"
                )));
            }
        }
        self.host.set_alias_of(veth.as_str(), label).await?;
        Ok(veth)
    }

    /// Disconnects a container from a network (its veth pair or its macvlan/ipvlan interface, and its
    /// DNS names). Idempotent.
    pub async fn detach(&self, id: &ContainerId, network: &NetworkId) -> Result<()> {
        let span = info_span!("detach", container = %id.short(12), network = %network.short(12));
        async {
            self.dns.records().remove(network, id);
            let path = self.netns.path(id);
            if self.host.remove(VethName::of(id, network).as_str()).await? || !netns::is_nsfs(&path) {
                return Ok(());
            }
            // A macvlan/ipvlan interface has no host end: find it inside by its label.
            let inside = Netlink::connect_in(&path)?;
            let owner = Owner::Endpoint(id.clone(), network.clone());
            for link in inside.links().await? {
                let ours = link
                    .alias
                    .as_deref()
                    .and_then(|a| Owner::parse_label(&self.cfg.instance, a))
                    .is_some_and(|o| o == owner);
                if ours {
                    inside.delete(&link.name).await?;
                }
            }
            Ok(())
        }
        .instrument(span)
        .await
    }
}

/// dockerd's MAC address for an endpoint without one: 02:42 followed by its IPv4 address.
pub fn mac_of(ip: Ipv4Addr) -> [u8; 6] {
    let [a, b, c, d] = ip.octets();
    [0x02, 0x42, a, b, c, d]
}

/// The MAC of an endpoint without one: dockerd's from its IPv4 address or, on an IPv6-only network, 02:42
/// followed by the last four bytes of its IPv6 address (stable across restarts, so neighbour caches stay
/// right); bytes of the container id when it has neither.
pub fn default_mac(ip: Option<Ipv4Addr>, ip6: Option<Ipv6Addr>, container: &str) -> [u8; 6] {
    match (ip, ip6) {
        (Some(ip), _) => mac_of(ip),
        (None, Some(ip6)) => {
            let o = ip6.octets();
            [0x02, 0x42, o[12], o[13], o[14], o[15]]
        }
        (None, None) => {
            let n = u32::from_str_radix(container.get(..8).unwrap_or("0"), 16).unwrap_or(0);
            let [a, b, c, d] = n.to_be_bytes();
            [0x02, 0x42, a, b, c, d]
        }
    }
}

/// An interface name asked for: valid for the kernel and not taken in the container's namespace.
async fn free_ifname(inside: &Netlink, name: &str) -> Result<String> {
    // IFNAMSIZ is 16 with the terminating NUL; `/`, whitespace and `:` are refused by the kernel or by `ip`.
    let valid = !name.is_empty()
        && name.len() < 16
        && name != "."
        && name != ".."
        && !name.chars().any(|c| c == '/' || c == ':' || c.is_whitespace());
    if !valid {
        return Err(NetError::Invalid {
            what: "interface name",
            value: name.to_owned(),
            reason: "expected 1 to 15 characters without '/', ':' or spaces".into(),
        });
    }
    if inside.links().await?.iter().any(|l| l.name == name) {
        return Err(NetError::Invalid {
            what: "interface name",
            value: name.to_owned(),
            reason: "already used by another interface of the container".into(),
        });
    }
    Ok(name.to_owned())
}

async fn next_ifname(inside: &Netlink) -> Result<String> {
    let names: HashSet<String> = inside.links().await?.into_iter().map(|l| l.name).collect();
    (0..)
        .map(|i| format!("eth{i}"))
        .find(|n| !names.contains(n))
        .ok_or_else(|| NetError::Unsupported("no free ethN name".into()))
}
