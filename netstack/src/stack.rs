//! The netstack facade the engine calls: networks, sandboxes, attachments, ports, cleanup.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use tracing::{debug, info_span, Instrument};

use crate::dns::{upstreams_from_resolv_conf, DnsServer};
use crate::driver::Driver;
use crate::error::{NetError, Result};
use crate::ids::{BridgeName, ContainerId, InstanceTag, NetworkId, Owner, VethName};
use crate::inflight::Inflight;
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
    /// IPv4 subnet and gateway (bridge) address; None on an IPv6-only network (`EnableIPv4: false`).
    pub v4: Option<(Ipv4Net, Ipv4Addr)>,
    /// `internal: true`: no traffic leaves or enters the bridge.
    pub internal: bool,
    /// Bridge, macvlan or ipvlan.
    pub driver: Driver,
    /// MTU override.
    pub mtu: Option<u32>,
    /// IPv6 subnet and gateway of a dual-stack or IPv6-only network.
    pub v6: Option<(Ipv6Net, Ipv6Addr)>,
    /// Bridge options as dockerd reads them from `Options`.
    pub bridge_opts: BridgeOptions,
}

/// The `com.docker.network.bridge.*` options berth applies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgeOptions {
    /// `com.docker.network.bridge.name`: the bridge's name instead of `brt-<id11>`.
    pub name: Option<BridgeName>,
    /// `enable_icc`: containers of the network may reach each other.
    pub icc: bool,
    /// `enable_ip_masquerade`: outgoing traffic leaves with the host's address.
    pub masquerade: bool,
}

impl Default for BridgeOptions {
    fn default() -> Self {
        BridgeOptions {
            name: None,
            icc: true,
            masquerade: true,
        }
    }
}

impl NetworkSpec {
    /// The spec of an IPAM allocation.
    pub fn from_allocation(id: &NetworkId, alloc: &NetworkAllocation, internal: bool) -> Self {
        NetworkSpec {
            id: id.clone(),
            v4: alloc.subnet_gateway(),
            internal,
            driver: Driver::Bridge,
            mtu: None,
            v6: alloc.v6.as_ref().map(|v| (v.subnet, v.gateway)),
            bridge_opts: BridgeOptions::default(),
        }
    }

    /// The bridge's name.
    pub fn bridge(&self) -> BridgeName {
        self.bridge_opts
            .name
            .clone()
            .unwrap_or_else(|| BridgeName::of(&self.id))
    }

    fn subnets(&self) -> Vec<IpNet> {
        let v4 = self.v4.map(|(s, _)| IpNet::V4(s));
        v4.into_iter().chain(self.v6.map(|(s, _)| IpNet::V6(s))).collect()
    }
}

/// A container's endpoint on one network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointSpec {
    /// Its address (leased from IPAM); None on an IPv6-only network.
    pub ip: Option<Ipv4Addr>,
    /// Its IPv6 address on a dual-stack or IPv6-only network.
    pub ip6: Option<Ipv6Addr>,
    /// Extra link-local addresses (`LinkLocalIPs`).
    pub link_local: Vec<IpAddr>,
    /// DNS names on this network: container name, service name, aliases.
    pub names: Vec<String>,
    /// Route everything through this network's gateway (the container's first network); ignored on internal networks.
    pub default_route: bool,
    /// MAC address of the interface inside the container (the kernel's random one when None).
    pub mac: Option<[u8; 6]>,
    /// Name of the interface inside the container; the first free `ethN` when None.
    pub ifname: Option<String>,
}

/// What an attach made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    /// Interface inside the container (`eth0`, `eth1`, ...).
    pub ifname: String,
    /// Host side of the veth pair (none on macvlan/ipvlan networks).
    pub host_veth: Option<VethName>,
    /// IPv4 address, prefix length of the subnet and gateway; None on an IPv6-only network.
    pub ip: Option<(Ipv4Addr, u8, Ipv4Addr)>,
    /// IPv6 address and prefix length on a dual-stack or IPv6-only network.
    pub ip6: Option<(Ipv6Addr, u8)>,
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
    pub(crate) cfg: Config,
    pub(crate) host: Arc<Netlink>,
    pub(crate) nft: Nft,
    pub(crate) dns: DnsServer,
    pub(crate) netns: NetnsDir,
    pub(crate) ports: PortTable,
    pub(crate) base_ready: AtomicBool,
    pub(crate) retiring: Inflight,
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
            host: Arc::new(Netlink::connect()?),
            nft: Nft::new(&cfg.nft_table, cfg.instance.clone()),
            dns: DnsServer::new(upstreams, cfg.dns_port),
            netns: NetnsDir::new(&cfg.netns_dir)?,
            ports: PortTable::default(),
            base_ready: AtomicBool::new(false),
            retiring: Inflight::default(),
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

    /// The host's IPv4 and IPv6 routes, for IPAM overlap checks.
    pub async fn host_routes(&self) -> Result<Vec<IpNet>> {
        let mut routes = self.host.routes_v4().await?;
        routes.extend(self.host.routes_v6().await?);
        Ok(routes)
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
        let span = info_span!("create_network", id = %net.id.short(12), subnets = ?net.subnets());
        async {
            if let Some(parent) = net.driver.parent() {
                // Nothing of berth's stays on the host: the containers' interfaces hang from the parent.
                // A probe interface checks now that the kernel can make them.
                let parent = self.parent_index(parent).await?;
                let probe = format!("bp{}", net.id.short(12));
                let mtu = net.mtu.unwrap_or(self.cfg.mtu);
                self.host.create_sublink(&net.driver, parent, &probe, None, mtu).await?;
                return self.host.delete(&probe).await;
            }
            let bridge = net.bridge();
            let owner = Owner::Network(net.id.clone());
            let mtu = net.mtu.unwrap_or(self.cfg.mtu);
            self.host
                .ensure_bridge(bridge.as_str(), &owner.label(&self.cfg.instance), mtu, net.v4)
                .await?;
            if let Some((subnet, gateway)) = net.v6 {
                self.host.add_bridge_v6(bridge.as_str(), gateway, subnet).await?;
            }
            self.ensure_nft_base()?;
            self.nft.delete_where(|o| *o == owner)?;
            let rules = NetworkRules {
                bridge: &bridge,
                subnets: net.subnets(),
                internal: net.internal,
                icc: net.bridge_opts.icc,
                masquerade: net.bridge_opts.masquerade,
            };
            self.nft.add_network(&owner, &rules)?;
            self.pass_foreign(&owner, &bridge, &rules.subnets)?;
            if !net.internal {
                // Switched on only when a network that routes out exists (and logged), as dockerd does.
                nft::enable_ip_forward()?;
                if net.v6.is_some() {
                    nft::enable_ipv6_forward()?;
                }
            }
            Ok(())
        }
        .instrument(span)
        .await
    }

    /// Inserts accept rules for a bridge into foreign forward chains that would drop its traffic (dockerd's).
    fn pass_foreign(&self, owner: &Owner, bridge: &BridgeName, subnets: &[IpNet]) -> Result<()> {
        let mut families: Vec<nft::Family> = subnets.iter().map(|n| nft::Family::of(&n.addr())).collect();
        families.dedup();
        for chain in self.nft.pass_foreign(owner, bridge.as_str(), &families)? {
            tracing::info!(
                bridge = bridge.as_str(),
                "accept rules added to {chain}, whose forward policy is drop"
            );
        }
        Ok(())
    }

    /// Index of a macvlan/ipvlan network's parent interface on the host.
    pub(crate) async fn parent_index(&self, parent: &str) -> Result<u32> {
        self.host.index_of(parent).await?.ok_or_else(|| NetError::Invalid {
            what: "Options.parent",
            value: parent.into(),
            reason: "no interface of that name on the host".into(),
        })
    }

    /// Removes a network's DNS names, rules and bridge (found by its label when the user named it). Missing
    /// pieces are fine.
    pub async fn remove_network(&self, id: &NetworkId) -> Result<()> {
        let span = info_span!("remove_network", id = %id.short(12));
        async {
            self.dns.records().remove_network(id);
            let owner = Owner::Network(id.clone());
            self.nft.delete_where(|o| *o == owner)?;
            if self.host.remove(BridgeName::of(id).as_str()).await? {
                return Ok(());
            }
            let label = owner.label(&self.cfg.instance);
            for link in self.host.links().await? {
                if link.alias.as_deref() == Some(label.as_str()) {
                    self.host.delete(&link.name).await?;
                }
            }
            Ok(())
        }
        .instrument(span)
        .await
    }

    /// Path of a container's namespace file (what the runtime joins).
    pub fn sandbox_path(&self, id: &ContainerId) -> PathBuf {
        self.netns.path(id)
    }

    /// True when the container's namespace exists and is not being taken down (it is running or starting).
    pub fn has_sandbox(&self, id: &ContainerId) -> bool {
        !self.retiring.contains(id) && netns::is_nsfs(&self.netns.path(id))
    }

    /// Creates a container's network namespace with `lo` up and its resolver on 127.0.0.11;
    /// returns its path. Idempotent.
    #[tracing::instrument(skip_all, fields(container = %id.short(12)))]
    pub async fn create_sandbox(&self, id: &ContainerId) -> Result<PathBuf> {
        let path = self.create_bare_sandbox(id).await?;
        self.dns.serve(id, &path)?;
        Ok(path)
    }

    /// Creates a container's network namespace with `lo` up and nothing else (Docker's `none` network); returns
    /// its path. Idempotent.
    #[tracing::instrument(skip_all, fields(container = %id.short(12)))]
    pub async fn create_bare_sandbox(&self, id: &ContainerId) -> Result<PathBuf> {
        // A restart right after an exit: the old namespace must be gone before a new one is bound.
        self.retiring.settle(id).await;
        let path = self.netns.create(id)?;
        let nl = Netlink::connect_in(&path)?;
        let lo = nl
            .index_of("lo")
            .await?
            .ok_or_else(|| NetError::Unsupported("new network namespace has no lo".into()))?;
        nl.up(lo, None).await?;
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

    /// Publishes ports of a container at `container_ip` (and its IPv6 address `container_ip6`, the target of
    /// ports bound on IPv6 host addresses) — all or none; DNAT plus proxy.
    pub async fn publish(
        &self,
        id: &ContainerId,
        container_ip: Option<Ipv4Addr>,
        container_ip6: Option<Ipv6Addr>,
        reqs: &[PortRequest],
    ) -> Result<Vec<PublishedPort>> {
        let span = info_span!("publish", container = %id.short(12));
        async {
            self.ensure_nft_base()?;
            let (ports, dnats) = self.ports.publish(id, container_ip, container_ip6, reqs).await?;
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

    /// Takes a container's sandbox down: its ports, resolver and DNS names at once, its veths and
    /// namespace file on a background task (see `retire`). Idempotent.
    pub fn retire_sandbox(&self, id: &ContainerId) -> Result<()> {
        let _span = info_span!("retire_sandbox", container = %id.short(12)).entered();
        self.forget_sandbox(id)?;
        crate::retire::begin(&self.retiring, id, self.host.clone(), self.netns.clone());
        Ok(())
    }

    /// Removes everything of a container: ports, DNS names, veths, namespace file; returns once they are
    /// gone. Idempotent.
    pub async fn remove_sandbox(&self, id: &ContainerId) -> Result<()> {
        let span = info_span!("remove_sandbox", container = %id.short(12));
        async {
            self.forget_sandbox(id)?;
            self.retiring.settle(id).await;
            crate::retire::dismantle(&self.host, &self.netns, id).await
        }
        .instrument(span)
        .await
    }

    /// Waits for the sandboxes being taken down in the background (for tests and purge).
    pub async fn settle(&self) {
        self.retiring.settle_all().await;
    }

    /// What users see of a sandbox: published ports, the resolver, DNS names.
    fn forget_sandbox(&self, id: &ContainerId) -> Result<()> {
        self.unpublish(id)?;
        self.dns.stop(id);
        self.dns.records().remove_container(id);
        Ok(())
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
            self.retiring.settle_all().await;
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
            self.retiring.settle_all().await;
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
