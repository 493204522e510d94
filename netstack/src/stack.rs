//! The netstack facade the engine calls: networks, sandboxes, attachments, ports, cleanup.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use ipnet::{IpNet, Ipv4Net};
use tracing::{debug, info_span, Instrument};

use crate::dns::{upstreams_from_resolv_conf, DnsServer};
use crate::error::{NetError, Result};
use crate::ids::{BridgeName, ContainerId, InstanceTag, NetworkId, Owner, VethName};
use crate::ipam::NetworkAllocation;
use crate::links::Netlink;
use crate::netns::{self, NetnsDir};
use crate::nft::{self, NetworkRules, Nft};
use crate::ports::{PortRequest, PortTable, PublishedPort};

/// How a netstack is set up.
#[derive(Clone, Debug)]
pub struct Config {
    /// Directory of the containers' namespace files (e.g. `<state root>/netns`).
    pub netns_dir: PathBuf,
    /// Label of this netstack's kernel objects (one per engine state root).
    pub instance: InstanceTag,
    /// nftables table (family ip) holding berth's rules.
    pub nft_table: String,
    /// Default MTU of bridges and veths.
    pub mtu: u32,
    /// DNS upstreams; `None` = the nameservers of the host's /etc/resolv.conf.
    pub upstream_dns: Option<Vec<SocketAddr>>,
    /// Port of each container's resolver on 127.0.0.11, inside its namespace.
    pub dns_port: u16,
    /// Directory where instances register (see `reaper`).
    pub registry_dir: PathBuf,
}

impl Config {
    /// Defaults: table `berth`, MTU 1500, host resolvers, DNS on port 53.
    pub fn new(netns_dir: &Path, instance: InstanceTag) -> Self {
        Config {
            netns_dir: netns_dir.to_path_buf(),
            instance,
            nft_table: "berth".into(),
            mtu: 1500,
            upstream_dns: None,
            dns_port: 53,
            registry_dir: PathBuf::from(crate::reaper::REGISTRY_DIR),
        }
    }
}

/// A network as the kernel side needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkSpec {
    /// Network id.
    pub id: NetworkId,
    /// Subnet.
    pub subnet: Ipv4Net,
    /// Gateway (bridge) address.
    pub gateway: Ipv4Addr,
    /// `internal: true`: no traffic leaves or enters the bridge.
    pub internal: bool,
    /// MTU override.
    pub mtu: Option<u32>,
}

impl NetworkSpec {
    /// The spec of an IPAM allocation.
    pub fn from_allocation(id: &NetworkId, alloc: &NetworkAllocation, internal: bool) -> Self {
        NetworkSpec {
            id: id.clone(),
            subnet: alloc.subnet,
            gateway: alloc.gateway,
            internal,
            mtu: None,
        }
    }

    /// The bridge's name.
    pub fn bridge(&self) -> BridgeName {
        BridgeName::of(&self.id)
    }
}

/// A container's endpoint on one network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointSpec {
    /// Its address (leased from IPAM).
    pub ip: Ipv4Addr,
    /// DNS names on this network: container name, service name, aliases.
    pub names: Vec<String>,
    /// Route everything through this network's gateway (the container's first network); ignored on internal networks.
    pub default_route: bool,
    /// MAC address of the interface inside the container (the kernel's random one when None).
    pub mac: Option<[u8; 6]>,
}

/// What an attach made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    /// Interface inside the container (`eth0`, `eth1`, ...).
    pub ifname: String,
    /// Host side of the veth pair.
    pub host_veth: VethName,
    /// Address.
    pub ip: Ipv4Addr,
    /// Prefix length of the subnet.
    pub prefix: u8,
    /// Gateway.
    pub gateway: Ipv4Addr,
}

/// What cleanup must keep.
#[derive(Clone, Debug, Default)]
pub struct Keep {
    /// Networks still wanted.
    pub networks: HashSet<NetworkId>,
    /// Containers whose sandbox is still wanted.
    pub containers: HashSet<ContainerId>,
}

/// What cleanup removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CleanupReport {
    /// Bridges deleted.
    pub bridges: usize,
    /// Host-side veths deleted.
    pub veths: usize,
    /// Namespace files removed.
    pub netns: usize,
    /// nft rules deleted.
    pub rules: usize,
}

/// Held while choosing and creating a subnet (see `Netstack::lock_subnets`).
pub struct SubnetLock(#[allow(dead_code)] nix::fcntl::Flock<std::fs::File>);

/// Container networking for one engine.
pub struct Netstack {
    cfg: Config,
    host: Netlink,
    nft: Nft,
    dns: DnsServer,
    netns: NetnsDir,
    ports: PortTable,
    base_ready: AtomicBool,
}

impl Netstack {
    /// Opens the host's netlink socket and prepares the namespace directory. Must run inside a tokio runtime.
    pub fn new(cfg: Config) -> Result<Self> {
        let upstreams = cfg
            .upstream_dns
            .clone()
            .unwrap_or_else(|| upstreams_from_resolv_conf(Path::new("/etc/resolv.conf")));
        crate::reaper::register(&cfg.registry_dir, &cfg.instance, &cfg.netns_dir)?;
        Ok(Netstack {
            host: Netlink::connect()?,
            nft: Nft::new(&cfg.nft_table, cfg.instance.clone()),
            dns: DnsServer::new(upstreams, cfg.dns_port),
            netns: NetnsDir::new(&cfg.netns_dir)?,
            ports: PortTable::default(),
            base_ready: AtomicBool::new(false),
            cfg,
        })
    }

    /// The embedded DNS server (name table, upstreams).
    pub fn dns(&self) -> &DnsServer {
        &self.dns
    }

    /// Access to berth's nftables rules of this instance.
    pub fn nft(&self) -> &Nft {
        &self.nft
    }

    /// Host-wide lock for "read routes → allocate a subnet → create the bridge", so engines
    /// starting side by side never pick the same free subnet. Blocks; hold it only for that.
    pub async fn lock_subnets(&self) -> Result<SubnetLock> {
        let lock = tokio::task::spawn_blocking(|| nft::file_lock("/run/berth-subnets.lock"))
            .await
            .map_err(|e| NetError::Unsupported(format!("subnet lock task: {e}")))??;
        Ok(SubnetLock(lock))
    }

    /// The host's IPv4 routes, for IPAM overlap checks.
    pub async fn host_routes(&self) -> Result<Vec<IpNet>> {
        self.host.routes_v4().await
    }

    /// Host firewall problems berth cannot fix itself (for `docker info` warnings and logs).
    pub fn firewall_warnings(&self) -> Vec<String> {
        nft::host_firewall_warnings(self.nft.table())
    }

    fn ensure_nft_base(&self) -> Result<()> {
        if !self.base_ready.load(Ordering::Acquire) {
            self.nft.ensure_base()?;
            for w in self.firewall_warnings() {
                tracing::warn!("{w}");
            }
            self.base_ready.store(true, Ordering::Release);
        }
        Ok(())
    }

    /// Creates (or re-creates after a restart) a network's bridge and rules. Idempotent.
    pub async fn create_network(&self, net: &NetworkSpec) -> Result<()> {
        let span = info_span!("create_network", id = %net.id.short(12), subnet = %net.subnet);
        async {
            let bridge = net.bridge();
            let owner = Owner::Network(net.id.clone());
            let mtu = net.mtu.unwrap_or(self.cfg.mtu);
            self.host
                .ensure_bridge(
                    bridge.as_str(),
                    &owner.label(&self.cfg.instance),
                    mtu,
                    net.gateway,
                    net.subnet,
                )
                .await?;
            self.ensure_nft_base()?;
            self.nft.delete_where(|o| *o == owner)?;
            let rules = NetworkRules {
                bridge: &bridge,
                subnet: net.subnet,
                internal: net.internal,
            };
            self.nft.add_network(&owner, &rules)?;
            if !net.internal {
                nft::enable_ip_forward()?;
            }
            Ok(())
        }
        .instrument(span)
        .await
    }

    /// Removes a network's DNS names, rules and bridge. Missing pieces are fine.
    pub async fn remove_network(&self, id: &NetworkId) -> Result<()> {
        let span = info_span!("remove_network", id = %id.short(12));
        async {
            self.dns.records().remove_network(id);
            let owner = Owner::Network(id.clone());
            self.nft.delete_where(|o| *o == owner)?;
            self.host.delete(BridgeName::of(id).as_str()).await
        }
        .instrument(span)
        .await
    }

    /// Path of a container's namespace file (what the runtime joins).
    pub fn sandbox_path(&self, id: &ContainerId) -> PathBuf {
        self.netns.path(id)
    }

    /// Creates a container's network namespace with `lo` up and its resolver on 127.0.0.11;
    /// returns its path. Idempotent.
    pub async fn create_sandbox(&self, id: &ContainerId) -> Result<PathBuf> {
        let path = self.netns.create(id)?;
        let nl = Netlink::connect_in(&path)?;
        let lo = nl
            .index_of("lo")
            .await?
            .ok_or_else(|| NetError::Unsupported("new network namespace has no lo".into()))?;
        nl.up(lo, None).await?;
        self.dns.serve(id, &path)?;
        Ok(path)
    }

    /// Starts the resolver of a namespace that outlived an engine restart (its old sockets died
    /// with the old engine). Idempotent.
    pub fn resume_sandbox(&self, id: &ContainerId) -> Result<()> {
        let path = self.netns.path(id);
        if !netns::is_nsfs(&path) {
            return Err(NetError::Unsupported(format!(
                "container {} has no network namespace to resume",
                id.short(12)
            )));
        }
        self.dns.serve(id, &path)
    }

    /// Connects a container's namespace to a network: veth pair, `ethN` inside, address, default
    /// route if asked, DNS names. Works on running containers too.
    pub async fn attach(&self, id: &ContainerId, net: &NetworkSpec, ep: &EndpointSpec) -> Result<Attachment> {
        let span = info_span!("attach", container = %id.short(12), network = %net.id.short(12), ip = %ep.ip);
        async {
            let path = self.netns.path(id);
            if !netns::is_nsfs(&path) {
                return Err(NetError::Unsupported(format!(
                    "container {} has no network namespace; create_sandbox first",
                    id.short(12)
                )));
            }
            let bridge = self.host.index_of(net.bridge().as_str()).await?.ok_or_else(|| {
                NetError::NoSuchNetwork(format!("{} (bridge {} missing)", net.id.short(12), net.bridge()))
            })?;
            let inside = Netlink::connect_in(&path)?;
            let ifname = next_ifname(&inside).await?;
            let veth = VethName::of(id, &net.id);
            let mtu = net.mtu.unwrap_or(self.cfg.mtu);
            // A leftover from a crashed attach would make the create fail.
            self.host.delete(veth.as_str()).await?;
            let host_index = self
                .host
                .create_veth(veth.as_str(), &ifname, &path, bridge, mtu)
                .await?;
            let label = Owner::Endpoint(id.clone(), net.id.clone()).label(&self.cfg.instance);
            self.host.set_alias(host_index, &label).await?;
            let index = inside.index_of(&ifname).await?.ok_or_else(|| {
                NetError::Unsupported(format!("{ifname} did not appear in the container's namespace"))
            })?;
            if let Some(mac) = ep.mac {
                // Set while the interface is still down (a veth takes a new address then without a reset).
                inside.set_mac(index, mac).await?;
            }
            inside.add_address(index, ep.ip, net.subnet.prefix_len()).await?;
            inside.up(index, None).await?;
            // Like Docker: an internal network gives no way out, not even a route.
            if ep.default_route && !net.internal {
                inside.add_default_route(index, net.gateway).await?;
            }
            self.dns.records().set(&net.id, id, &ep.names, &[IpAddr::V4(ep.ip)]);
            debug!(%ifname, veth = %veth, "attached");
            Ok(Attachment {
                ifname,
                host_veth: veth,
                ip: ep.ip,
                prefix: net.subnet.prefix_len(),
                gateway: net.gateway,
            })
        }
        .instrument(span)
        .await
    }

    /// Disconnects a container from a network (its veth pair and DNS names). Idempotent.
    pub async fn detach(&self, id: &ContainerId, network: &NetworkId) -> Result<()> {
        let span = info_span!("detach", container = %id.short(12), network = %network.short(12));
        async {
            self.dns.records().remove(network, id);
            self.host.delete(VethName::of(id, network).as_str()).await
        }
        .instrument(span)
        .await
    }

    /// Publishes ports of a container at `container_ip` (all or none); DNAT plus proxy.
    pub async fn publish(
        &self,
        id: &ContainerId,
        container_ip: Ipv4Addr,
        reqs: &[PortRequest],
    ) -> Result<Vec<PublishedPort>> {
        let span = info_span!("publish", container = %id.short(12));
        async {
            self.ensure_nft_base()?;
            let (ports, dnats) = self.ports.publish(id, container_ip, reqs).await?;
            if let Err(e) = self.nft.add_dnat(&Owner::Ports(id.clone()), &dnats) {
                self.ports.release(id);
                return Err(e);
            }
            Ok(ports)
        }
        .instrument(span)
        .await
    }

    /// Ports currently published for a container.
    pub fn published(&self, id: &ContainerId) -> Vec<PublishedPort> {
        self.ports.ports_of(id)
    }

    /// Frees a container's published ports and their rules. Idempotent.
    pub fn unpublish(&self, id: &ContainerId) -> Result<()> {
        self.ports.release(id);
        let owner = Owner::Ports(id.clone());
        self.nft.delete_where(|o| *o == owner).map(|_| ())
    }

    /// Removes everything of a container: ports, DNS names, veths, namespace file. Idempotent.
    pub async fn remove_sandbox(&self, id: &ContainerId) -> Result<()> {
        let span = info_span!("remove_sandbox", container = %id.short(12));
        async {
            self.unpublish(id)?;
            self.dns.stop(id);
            self.dns.records().remove_container(id);
            for link in self.host.links().await? {
                let owner = link
                    .alias
                    .as_deref()
                    .and_then(|a| Owner::parse_label(&self.cfg.instance, a));
                if matches!(owner, Some(Owner::Endpoint(c, _)) if &c == id) {
                    self.host.delete(&link.name).await?;
                }
            }
            self.netns.remove(id)
        }
        .instrument(span)
        .await
    }

    /// Removes the bridges, veths and rules of other instances whose state root is gone
    /// (registered directory deleted); returns how many objects went.
    pub async fn reap_dead_instances(&self) -> Result<usize> {
        let mut removed = 0;
        for tag in crate::reaper::dead_instances(&self.cfg.registry_dir, &self.cfg.instance) {
            removed += crate::reaper::reap(&self.host, &self.cfg.nft_table, &self.cfg.registry_dir, &tag).await?;
        }
        let forgotten = crate::reaper::forget_vanished_namespaces(&self.cfg.registry_dir);
        if forgotten > 0 {
            debug!(forgotten, "registrations of vanished network namespaces removed");
        }
        Ok(removed)
    }

    /// Forgets this instance entirely: its namespace files, every interface and rule of its tag,
    /// its registry entry, and berth's table when no instance has rules left in it (for throwaway
    /// roots such as tests; the engine itself keeps its networks across restarts).
    pub async fn destroy(&self) -> Result<usize> {
        let span = info_span!("destroy", instance = %self.cfg.instance.as_str());
        async {
            let mut removed = 0;
            for c in self.netns.list()? {
                self.dns.stop(&c);
                self.dns.records().remove_container(&c);
                self.netns.remove(&c)?;
                removed += 1;
            }
            removed += crate::reaper::reap(
                &self.host,
                &self.cfg.nft_table,
                &self.cfg.registry_dir,
                &self.cfg.instance,
            )
            .await?;
            if self.nft.drop_table_if_unused()? {
                removed += 1;
            }
            Ok(removed)
        }
        .instrument(span)
        .await
    }

    /// Removes this instance's bridges, veths, namespace files, rules, listeners and ports that `keep`
    /// does not name: the recovery after a crash. Never touches objects without this instance's label.
    pub async fn cleanup_orphans(&self, keep: &Keep) -> Result<CleanupReport> {
        let span = info_span!(
            "cleanup_orphans",
            networks = keep.networks.len(),
            containers = keep.containers.len()
        );
        async {
            let mut report = CleanupReport::default();
            for link in self.host.links().await? {
                let Some(owner) = link
                    .alias
                    .as_deref()
                    .and_then(|a| Owner::parse_label(&self.cfg.instance, a))
                else {
                    continue;
                };
                let orphan = match &owner {
                    Owner::Network(n) => !keep.networks.contains(n),
                    Owner::Endpoint(c, n) => !keep.containers.contains(c) || !keep.networks.contains(n),
                    Owner::Ports(_) => false,
                };
                if orphan {
                    self.host.delete(&link.name).await?;
                    match owner {
                        Owner::Network(n) => {
                            self.dns.records().remove_network(&n);
                            report.bridges += 1
                        }
                        _ => report.veths += 1,
                    }
                }
            }
            for c in self.netns.list()? {
                if !keep.containers.contains(&c) {
                    self.dns.stop(&c);
                    self.netns.remove(&c)?;
                    self.dns.records().remove_container(&c);
                    report.netns += 1;
                }
            }
            for c in self.ports.holders() {
                if !keep.containers.contains(&c) {
                    self.ports.release(&c);
                }
            }
            report.rules = self.nft.delete_where(|o| match o {
                Owner::Network(n) => !keep.networks.contains(n),
                Owner::Ports(c) => !keep.containers.contains(c),
                Owner::Endpoint(c, n) => !keep.containers.contains(c) || !keep.networks.contains(n),
            })?;
            Ok(report)
        }
        .instrument(span)
        .await
    }
}

async fn next_ifname(inside: &Netlink) -> Result<String> {
    let names: HashSet<String> = inside.links().await?.into_iter().map(|l| l.name).collect();
    (0..)
        .map(|i| format!("eth{i}"))
        .find(|n| !names.contains(n))
        .ok_or_else(|| NetError::Unsupported("no free ethN name".into()))
}
