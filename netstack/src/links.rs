//! rtnetlink operations: bridges, veth pairs, addresses, routes, link listing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::path::Path;

use futures::TryStreamExt;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags};
use rtnetlink::packet_route::link::{InfoData, InfoKind, InfoVeth, LinkAttribute, LinkInfo, LinkMessage};
use rtnetlink::packet_route::link::{IpVlanFlags, IpVlanMode, MacVlanMode};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteHeader};
use rtnetlink::{Handle, LinkBridge, LinkIpVlan, LinkMacVlan, LinkUnspec, LinkVeth, RouteMessageBuilder};
use tokio::task::JoinHandle;

use crate::driver::{Driver, IpvlanFlag, IpvlanMode, MacvlanMode};
use crate::error::{NetError, Result};
use crate::netns;

/// One interface as listed by the kernel.
#[derive(Clone, Debug)]
pub struct LinkEntry {
    /// Interface index.
    pub index: u32,
    /// Interface name.
    pub name: String,
    /// `ifalias`, where berth writes its ownership label.
    pub alias: Option<String>,
    /// Link kind (`bridge`, `veth`, ...), when the kernel reports one.
    pub kind: Option<String>,
    /// `IFLA_LINK`: a veth's peer index (in the peer's namespace), a macvlan's parent.
    pub peer: Option<u32>,
}

/// An rtnetlink connection bound to one network namespace.
pub struct Netlink {
    handle: Handle,
    task: JoinHandle<()>,
}

impl Drop for Netlink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => Some(-m.raw_code()),
        _ => None,
    }
}

/// The two ends of a veth pair to create: `host` stays here, `peer` goes into a container's namespace.
pub struct VethEnds<'a> {
    /// The host end's name.
    pub host: &'a str,
    /// The peer's name inside the namespace.
    pub peer: &'a str,
    /// The peer's MAC address.
    pub peer_mac: [u8; 6],
}

impl Netlink {
    /// Connects in the calling thread's namespace (the host's, for the engine).
    pub fn connect() -> Result<Self> {
        let (conn, handle, _) = rtnetlink::new_connection().map_err(|e| NetError::io("open netlink socket", "", e))?;
        Ok(Netlink {
            handle,
            task: tokio::spawn(conn),
        })
    }

    /// Connects inside the namespace bound at `path`: the socket stays there for its lifetime.
    pub fn connect_in(path: &Path) -> Result<Self> {
        let rt = tokio::runtime::Handle::current();
        let res = netns::run_in(path, move || {
            let _guard = rt.enter();
            rtnetlink::new_connection()
        })?;
        let (conn, handle, _) = res.map_err(|e| NetError::io("open netlink socket in", path, e))?;
        Ok(Netlink {
            handle,
            task: tokio::spawn(conn),
        })
    }

    /// Index of interface `name`, or `None` if there is none.
    pub async fn index_of(&self, name: &str) -> Result<Option<u32>> {
        let mut links = self.handle.link().get().match_name(name.to_string()).execute();
        match links.try_next().await {
            Ok(Some(msg)) => Ok(Some(msg.header.index)),
            Ok(None) => Ok(None),
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(NetError::netlink(format!("look up {name}"), e)),
        }
    }

    /// Whether an interface with this index exists.
    pub async fn has_index(&self, index: u32) -> Result<bool> {
        let mut links = self.handle.link().get().match_index(index).execute();
        match links.try_next().await {
            Ok(found) => Ok(found.is_some()),
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(false),
            Err(e) => Err(NetError::netlink(format!("look up interface {index}"), e)),
        }
    }

    /// Deletes the interface with this index; gone already is fine.
    pub async fn remove_index(&self, index: u32) -> Result<()> {
        match self.handle.link().del(index).execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(()),
            Err(e) => Err(NetError::netlink(format!("delete interface {index}"), e)),
        }
    }

    /// Every interface of this namespace.
    pub async fn links(&self) -> Result<Vec<LinkEntry>> {
        // The kernel answers EBUSY while another dump runs on this socket (tasks of the engine
        // listing links at once): wait a little and ask again.
        let mut attempt = 0;
        loop {
            let res: std::result::Result<Vec<LinkMessage>, _> = self.handle.link().get().execute().try_collect().await;
            match res {
                Ok(msgs) => return Ok(msgs.iter().map(link_entry).collect()),
                Err(e) if errno(&e) == Some(libc::EBUSY) && attempt < 20 => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(2 * attempt)).await;
                }
                Err(e) => return Err(NetError::netlink("list links", e)),
            }
        }
    }

    /// Creates bridge `name` (or reuses it), labels it, gives it `gateway/prefix` of `v4` (none on an IPv6-only
    /// network), sets MTU and brings it up.
    pub async fn ensure_bridge(
        &self,
        name: &str,
        label: &str,
        mtu: u32,
        v4: Option<(Ipv4Net, Ipv4Addr)>,
    ) -> Result<u32> {
        if self.index_of(name).await?.is_none() {
            let add = self
                .handle
                .link()
                .add(LinkBridge::new(name).mtu(mtu).build())
                .execute()
                .await;
            match add {
                Ok(()) => {}
                Err(e) if errno(&e) == Some(libc::EEXIST) => {}
                Err(e) => return Err(NetError::netlink(format!("create bridge {name}"), e)),
            }
        }
        let index = self
            .index_of(name)
            .await?
            .ok_or_else(|| NetError::Unsupported(format!("bridge {name} vanished right after creation")))?;
        self.set_alias(index, label).await?;
        if let Some((subnet, gateway)) = v4 {
            self.add_address(index, IpAddr::V4(gateway), subnet.prefix_len())
                .await?;
        }
        self.up(index, Some(mtu)).await?;
        Ok(index)
    }

    /// Gives bridge `name` its IPv6 gateway address (IPv6 switched on for it, no duplicate detection).
    pub async fn add_bridge_v6(&self, name: &str, gateway: Ipv6Addr, subnet: Ipv6Net) -> Result<()> {
        let index = self
            .index_of(name)
            .await?
            .ok_or_else(|| NetError::Unsupported(format!("bridge {name} missing for its IPv6 address")))?;
        // A host with IPv6 off by default would refuse the address.
        enable_ipv6_on(name);
        self.add_address(index, IpAddr::V6(gateway), subnet.prefix_len()).await
    }

    /// Writes the ownership label into the interface's alias.
    pub async fn set_alias(&self, index: u32, label: &str) -> Result<()> {
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(index).alias(label).build())
            .execute()
            .await
            .map_err(|e| NetError::netlink(format!("label interface {index}"), e))
    }

    /// Sets the interface's MAC address.
    pub async fn set_mac(&self, index: u32, mac: [u8; 6]) -> Result<()> {
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(index).address(mac.to_vec()).build())
            .execute()
            .await
            .map_err(|e| NetError::netlink(format!("set MAC address of interface {index}"), e))
    }

    /// Sets MTU (if given) and brings the interface up.
    pub async fn up(&self, index: u32, mtu: Option<u32>) -> Result<()> {
        let mut msg = LinkUnspec::new_with_index(index).up();
        if let Some(mtu) = mtu {
            msg = msg.mtu(mtu);
        }
        self.handle
            .link()
            .set(msg.build())
            .execute()
            .await
            .map_err(|e| NetError::netlink(format!("bring up interface {index}"), e))
    }

    /// Deletes interface `name`; a missing one is fine.
    pub async fn delete(&self, name: &str) -> Result<()> {
        self.remove(name).await.map(|_| ())
    }

    /// Deletes interface `name`; false when there was none.
    pub async fn remove(&self, name: &str) -> Result<bool> {
        let Some(index) = self.index_of(name).await? else {
            return Ok(false);
        };
        match self.handle.link().del(index).execute().await {
            Ok(()) => Ok(true),
            Err(e) if errno(&e) == Some(libc::ENODEV) => Ok(false),
            Err(e) => Err(NetError::netlink(format!("delete {name}"), e)),
        }
    }

    /// Creates veth `host` (on bridge `bridge`, up) whose peer appears as `peer` directly inside the
    /// namespace at `netns_path` (still down); false when an interface named `host` already exists.
    pub async fn create_veth(&self, ends: &VethEnds<'_>, netns_path: &Path, bridge: u32, mtu: u32) -> Result<bool> {
        let ns = std::fs::File::open(netns_path).map_err(|e| NetError::io("open netns", netns_path, e))?;
        // The peer must come up later, from inside: up at creation together with a master fails (ENOTCONN).
        // Its MAC is set here, while it is down and before anything inside sees it (one round trip less).
        let peer_msg = LinkUnspec::new_with_name(ends.peer)
            .mtu(mtu)
            .address(ends.peer_mac.to_vec())
            .setns_by_fd(ns.as_raw_fd())
            .build();
        let msg = LinkVeth::new(ends.host, ends.peer)
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer_msg)))
            .mtu(mtu)
            .controller(bridge)
            .up()
            .build();
        let created = self.handle.link().add(msg).execute().await;
        drop(ns);
        match created {
            Ok(()) => Ok(true),
            Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(false),
            Err(e) => Err(NetError::netlink(format!("create veth {}", ends.host), e)),
        }
    }

    /// Labels interface `name` (the kernel finds it by name: no lookup of its index first).
    pub async fn set_alias_of(&self, name: &str, label: &str) -> Result<()> {
        self.handle
            .link()
            .set(LinkUnspec::new_with_name(name).alias(label).build())
            .execute()
            .await
            .map_err(|e| NetError::netlink(format!("label interface {name}"), e))
    }

    /// Creates a macvlan/ipvlan interface on host interface `parent` directly inside the namespace at
    /// `netns_path`, named `name` there (still down). A bridge driver makes nothing.
    /// With no namespace, the interface is made here (a probe of the parent and the kernel's support).
    pub async fn create_sublink(
        &self,
        driver: &Driver,
        parent: u32,
        name: &str,
        netns_path: Option<&Path>,
        mtu: u32,
    ) -> Result<()> {
        let ns = match netns_path {
            Some(p) => Some(std::fs::File::open(p).map_err(|e| NetError::io("open netns", p, e))?),
            None => None,
        };
        let mut msg = match driver {
            Driver::Bridge => return Ok(()),
            Driver::Macvlan { mode, .. } => LinkMacVlan::new(name, parent, macvlan_mode(*mode)).mtu(mtu).build(),
            Driver::Ipvlan { mode, flag, .. } => LinkIpVlan::new(name, parent, ipvlan_mode(*mode))
                .flag(ipvlan_flag(*flag))
                .mtu(mtu)
                .build(),
        };
        if let Some(ns) = &ns {
            msg.attributes.push(LinkAttribute::NetNsFd(ns.as_raw_fd()));
        }
        match self.handle.link().add(msg).execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(libc::EOPNOTSUPP) => Err(NetError::Unsupported(format!(
                "Driver: this kernel has no {driver} support (module {driver} missing)"
            ))),
            Err(e) => Err(NetError::netlink(
                format!("create {driver} interface {name} on {parent}"),
                e,
            )),
        }
    }

    /// Adds `addr/prefix` to interface `index`; an IPv6 address skips duplicate detection (usable at once,
    /// as addresses berth leases are unique on their network).
    pub async fn add_address(&self, index: u32, addr: IpAddr, prefix: u8) -> Result<()> {
        let mut req = self.handle.address().add(index, addr, prefix).replace();
        if addr.is_ipv6() {
            req.message_mut()
                .attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        req.execute()
            .await
            .map_err(|e| NetError::netlink(format!("add address {addr}/{prefix}"), e))
    }

    /// Adds the IPv6 default route via `gateway` out of interface `index`.
    pub async fn add_default_route6(&self, index: u32, gateway: Ipv6Addr) -> Result<()> {
        let route = RouteMessageBuilder::<Ipv6Addr>::new()
            .gateway(gateway)
            .output_interface(index)
            .build();
        match self.handle.route().add(route).execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(()),
            Err(e) => Err(NetError::netlink(format!("add IPv6 default route via {gateway}"), e)),
        }
    }

    /// IPv6 routes of the main table (for subnet overlap checks); none where the kernel has no IPv6.
    pub async fn routes_v6(&self) -> Result<Vec<IpNet>> {
        let req = RouteMessageBuilder::<Ipv6Addr>::new().build();
        let routes: Vec<_> = match self.handle.route().get(req).execute().try_collect().await {
            Ok(r) => r,
            Err(e) if errno(&e) == Some(libc::EAFNOSUPPORT) => return Ok(Vec::new()),
            Err(e) => return Err(NetError::netlink("list IPv6 routes", e)),
        };
        Ok(routes
            .iter()
            .filter(|r| r.header.table == RouteHeader::RT_TABLE_MAIN)
            .filter_map(|r| {
                let dst = r.attributes.iter().find_map(|a| match a {
                    RouteAttribute::Destination(RouteAddress::Inet6(a)) => Some(*a),
                    _ => None,
                });
                let dst = dst.unwrap_or(Ipv6Addr::UNSPECIFIED);
                Ipv6Net::new(dst, r.header.destination_prefix_length)
                    .ok()
                    .map(IpNet::V6)
            })
            // Link-local and multicast routes exist on every interface and never collide with a subnet of ours.
            .filter(
                |n| !matches!(n, IpNet::V6(v) if v.addr().segments()[0] & 0xffc0 == 0xfe80 || v.addr().is_multicast()),
            )
            .collect())
    }

    /// Adds the default route via `gateway` out of interface `index`.
    pub async fn add_default_route(&self, index: u32, gateway: Ipv4Addr) -> Result<()> {
        let route = RouteMessageBuilder::<Ipv4Addr>::new()
            .gateway(gateway)
            .output_interface(index)
            .build();
        match self.handle.route().add(route).execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(()),
            Err(e) => Err(NetError::netlink(format!("add default route via {gateway}"), e)),
        }
    }

    /// IPv4 routes of the main table (for subnet overlap checks).
    pub async fn routes_v4(&self) -> Result<Vec<IpNet>> {
        let req = RouteMessageBuilder::<Ipv4Addr>::new().build();
        let routes: Vec<_> = self
            .handle
            .route()
            .get(req)
            .execute()
            .try_collect()
            .await
            .map_err(|e| NetError::netlink("list routes", e))?;
        Ok(routes
            .iter()
            .filter(|r| r.header.table == RouteHeader::RT_TABLE_MAIN)
            .filter_map(|r| {
                let dst = r.attributes.iter().find_map(|a| match a {
                    RouteAttribute::Destination(RouteAddress::Inet(a)) => Some(*a),
                    _ => None,
                });
                let dst = dst.unwrap_or(Ipv4Addr::UNSPECIFIED);
                Ipv4Net::new(dst, r.header.destination_prefix_length)
                    .ok()
                    .map(IpNet::V4)
            })
            .collect())
    }
}

/// Switches IPv6 on for interface `name` of the calling thread's namespace, without duplicate detection.
/// Best effort: a kernel without IPv6 has no such files, and address assignment then reports the problem.
pub fn enable_ipv6_on(name: &str) {
    set_ipv6_conf(name, "disable_ipv6", "0");
    set_ipv6_conf(name, "accept_dad", "0");
}

/// Writes `net.ipv6.conf.<iface>.<key>` of the calling thread's namespace. Best effort: a kernel without
/// IPv6 has no such file, and what needed IPv6 reports the problem.
pub(crate) fn set_ipv6_conf(iface: &str, key: &str, value: &str) {
    let path = format!("/proc/sys/net/ipv6/conf/{iface}/{key}");
    if let Err(e) = std::fs::write(&path, value) {
        tracing::debug!(%path, "cannot set: {e}");
    }
}

fn link_entry(msg: &LinkMessage) -> LinkEntry {
    let mut entry = LinkEntry {
        index: msg.header.index,
        name: String::new(),
        alias: None,
        kind: None,
        peer: None,
    };
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::IfName(n) => entry.name = n.clone(),
            LinkAttribute::IfAlias(a) => entry.alias = Some(a.clone()),
            LinkAttribute::Link(peer) => entry.peer = Some(*peer),
            LinkAttribute::LinkInfo(infos) => {
                entry.kind = infos.iter().find_map(|i| match i {
                    LinkInfo::Kind(InfoKind::Bridge) => Some("bridge".to_string()),
                    LinkInfo::Kind(InfoKind::Veth) => Some("veth".to_string()),
                    LinkInfo::Kind(k) => Some(format!("{k:?}").to_lowercase()),
                    _ => None,
                })
            }
            _ => {}
        }
    }
    entry
}

fn macvlan_mode(m: MacvlanMode) -> MacVlanMode {
    match m {
        MacvlanMode::Bridge => MacVlanMode::Bridge,
        MacvlanMode::Private => MacVlanMode::Private,
        MacvlanMode::Vepa => MacVlanMode::Vepa,
        MacvlanMode::Passthru => MacVlanMode::Passthrough,
    }
}

fn ipvlan_mode(m: IpvlanMode) -> IpVlanMode {
    match m {
        IpvlanMode::L2 => IpVlanMode::L2,
        IpvlanMode::L3 => IpVlanMode::L3,
        IpvlanMode::L3s => IpVlanMode::L3S,
    }
}

fn ipvlan_flag(f: IpvlanFlag) -> IpVlanFlags {
    match f {
        IpvlanFlag::Bridge => IpVlanFlags::empty(),
        IpvlanFlag::Private => IpVlanFlags::Private,
        IpvlanFlag::Vepa => IpVlanFlags::Vepa,
    }
}
