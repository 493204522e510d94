//! The name table the resolvers answer from; the engine updates it on attach and detach.
//!
//! A container's resolver sees the names of every network the container is attached to at the
//! moment of the query (the table knows each container's networks in attach order), so a
//! connect or disconnect changes the answers at once.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::RwLock;

use crate::ids::{ContainerId, NetworkId};

#[derive(Clone, Debug)]
struct Entry {
    container: ContainerId,
    names: Vec<String>,
    addrs: Vec<IpAddr>,
}

#[derive(Debug, Default)]
struct Net {
    /// The network's name: PTR answers are `<container name>.<network name>`, and
    /// `<name>.<network name>` resolves like `<name>` (as on Docker).
    domain: Option<String>,
    entries: Vec<Entry>,
}

#[derive(Debug, Default)]
struct Table {
    nets: HashMap<NetworkId, Net>,
    /// Container → its networks with the order they were attached in.
    member: HashMap<ContainerId, Vec<(u64, NetworkId)>>,
    /// Legacy links per client: alias → the linked container's name. Only that client resolves the alias
    /// (as libnetwork's endpoint aliases on user-defined networks).
    links: HashMap<ContainerId, HashMap<String, String>>,
    seq: u64,
}

impl Table {
    /// The networks of `client`, first attached first.
    fn networks_of(&self, client: &ContainerId) -> Vec<&NetworkId> {
        let mut list: Vec<&(u64, NetworkId)> = self.member.get(client).map(|v| v.iter().collect()).unwrap_or_default();
        list.sort_by_key(|(seq, _)| *seq);
        list.into_iter().map(|(_, n)| n).collect()
    }

    fn drop_member(&mut self, network: &NetworkId, container: &ContainerId) {
        if let Some(list) = self.member.get_mut(container) {
            list.retain(|(_, n)| n != network);
            if list.is_empty() {
                self.member.remove(container);
            }
        }
    }
}

/// Names (container names, service names, aliases, short ids) → addresses, per network.
#[derive(Debug, Default)]
pub struct Records {
    table: RwLock<Table>,
    /// Round-robin turns: of answers of every family, of IPv4 ones, of IPv6 ones (see `AddrKind`).
    turns: [AtomicUsize; 3],
}

/// Which addresses a query asks for (A, AAAA, or any).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddrKind {
    /// Both families (ANY).
    Any,
    /// IPv4 (A).
    V4,
    /// IPv6 (AAAA).
    V6,
}

impl AddrKind {
    fn admits(self, a: &IpAddr) -> bool {
        match self {
            AddrKind::Any => true,
            AddrKind::V4 => a.is_ipv4(),
            AddrKind::V6 => a.is_ipv6(),
        }
    }
}

fn normalise(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl Records {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Table> {
        self.table.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Table> {
        self.table.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets what `container` is called on `network` and its addresses there (replacing earlier ones).
    pub fn set(&self, network: &NetworkId, container: &ContainerId, names: &[String], addrs: &[IpAddr]) {
        let entry = Entry {
            container: container.clone(),
            names: names.iter().map(|n| normalise(n)).filter(|n| !n.is_empty()).collect(),
            addrs: addrs.to_vec(),
        };
        let mut t = self.write();
        let list = &mut t.nets.entry(network.clone()).or_default().entries;
        list.retain(|e| &e.container != container);
        list.push(entry);
        let known = t
            .member
            .get(container)
            .is_some_and(|l| l.iter().any(|(_, n)| n == network));
        if !known {
            t.seq += 1;
            let seq = t.seq;
            t.member
                .entry(container.clone())
                .or_default()
                .push((seq, network.clone()));
        }
    }

    /// Names the network (the domain of its PTR answers).
    pub fn set_domain(&self, network: &NetworkId, name: &str) {
        let name = normalise(name);
        self.write().nets.entry(network.clone()).or_default().domain = (!name.is_empty()).then_some(name);
    }

    /// Drops `container`'s names on `network`.
    pub fn remove(&self, network: &NetworkId, container: &ContainerId) {
        let mut t = self.write();
        if let Some(net) = t.nets.get_mut(network) {
            net.entries.retain(|e| &e.container != container);
        }
        t.drop_member(network, container);
    }

    /// Sets the legacy links `client` resolves: (alias, linked container's name) pairs, replacing earlier ones.
    pub fn set_links(&self, client: &ContainerId, links: &[(String, String)]) {
        let map = normalised_links(links);
        let mut t = self.write();
        if map.is_empty() {
            t.links.remove(client);
        } else {
            t.links.insert(client.clone(), map);
        }
    }

    /// Adds links (alias, target name) to those `client` already resolves (a connect with `Links`).
    pub fn add_links(&self, client: &ContainerId, links: &[(String, String)]) {
        let map = normalised_links(links);
        if !map.is_empty() {
            self.write().links.entry(client.clone()).or_default().extend(map);
        }
    }

    /// Drops `container`'s names everywhere.
    pub fn remove_container(&self, container: &ContainerId) {
        let mut t = self.write();
        t.links.remove(container);
        for net in t.nets.values_mut() {
            net.entries.retain(|e| &e.container != container);
        }
        t.member.remove(container);
    }

    /// Drops a whole network's table.
    pub fn remove_network(&self, network: &NetworkId) {
        let mut t = self.write();
        t.nets.remove(network);
        for list in t.member.values_mut() {
            list.retain(|(_, n)| n != network);
        }
        t.member.retain(|_, l| !l.is_empty());
    }

    /// Addresses for `name` on `network`, rotated on each call (round-robin); `None` if the name is unknown.
    pub fn lookup(&self, network: &NetworkId, name: &str) -> Option<Vec<IpAddr>> {
        let name = normalise(name);
        let t = self.read();
        let found = find(t.nets.get(network)?, &name);
        (!found.is_empty()).then(|| self.rotated(found, AddrKind::Any))
    }

    /// Addresses for `name` as `client` sees it: the first of its networks (in attach order) that
    /// knows the name answers, rotated on each call. `<name>.<network>` asks that network only.
    pub fn lookup_for(&self, client: &ContainerId, name: &str) -> Option<Vec<IpAddr>> {
        self.lookup_kind_for(client, name, AddrKind::Any)
    }

    /// As `lookup_for`, only the addresses of `kind` (empty when the name is known without any), each kind
    /// taking turns on its own: resolvers ask A then AAAA for every name, and one shared turn would then
    /// give every A answer of two replicas in the same order.
    pub fn lookup_kind_for(&self, client: &ContainerId, name: &str, kind: AddrKind) -> Option<Vec<IpAddr>> {
        let found = self.find_for(client, name)?;
        Some(self.rotated(found.into_iter().filter(|a| kind.admits(a)).collect(), kind))
    }

    fn find_for(&self, client: &ContainerId, name: &str) -> Option<Vec<IpAddr>> {
        let mut name = normalise(name);
        let t = self.read();
        if let Some(target) = t.links.get(client).and_then(|l| l.get(&name)) {
            name = target.clone();
        }
        for id in t.networks_of(client) {
            let Some(net) = t.nets.get(id) else { continue };
            let mut found = find(net, &name);
            if found.is_empty() {
                let short = net
                    .domain
                    .as_deref()
                    .and_then(|d| name.strip_suffix(d))
                    .and_then(|s| s.strip_suffix('.'));
                found = short.map(|s| find(net, s)).unwrap_or_default();
            }
            if !found.is_empty() {
                return Some(found);
            }
        }
        None
    }

    /// The name of `addr` on one of `client`'s networks: `<container name>.<network name>`.
    pub fn reverse_for(&self, client: &ContainerId, addr: IpAddr) -> Option<String> {
        let t = self.read();
        t.networks_of(client).into_iter().find_map(|id| {
            let net = t.nets.get(id)?;
            let entry = net.entries.iter().find(|e| e.addrs.contains(&addr))?;
            let name = entry.names.first()?;
            Some(match &net.domain {
                Some(d) => format!("{name}.{d}"),
                None => name.clone(),
            })
        })
    }

    /// True when `client` is on at least one network.
    pub fn has_networks(&self, client: &ContainerId) -> bool {
        self.read().member.contains_key(client)
    }

    fn rotated(&self, mut found: Vec<IpAddr>, kind: AddrKind) -> Vec<IpAddr> {
        if found.len() > 1 {
            let turn = self.turns[kind as usize].fetch_add(1, Ordering::Relaxed) % found.len();
            found.rotate_left(turn);
        }
        found
    }
}

fn find(net: &Net, name: &str) -> Vec<IpAddr> {
    net.entries
        .iter()
        .filter(|e| e.names.iter().any(|n| n == name))
        .flat_map(|e| e.addrs.iter().copied())
        .collect()
}

/// Links as the resolver matches them: names normalised, empty ones dropped.
fn normalised_links(links: &[(String, String)]) -> HashMap<String, String> {
    links
        .iter()
        .map(|(alias, target)| (normalise(alias), normalise(target)))
        .filter(|(a, t)| !a.is_empty() && !t.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn names_resolve_per_network_with_rotation() {
        let r = Records::default();
        let n1: NetworkId = "a".repeat(64).parse().unwrap();
        let n2: NetworkId = "b".repeat(64).parse().unwrap();
        let c1: ContainerId = "1".repeat(64).parse().unwrap();
        let c2: ContainerId = "2".repeat(64).parse().unwrap();
        r.set(&n1, &c1, &["Web".into(), "web-1".into()], &[ip("10.0.0.2")]);
        r.set(&n1, &c2, &["web".into(), "web-2".into()], &[ip("10.0.0.3")]);
        let first = r.lookup(&n1, "web.").unwrap();
        let second = r.lookup(&n1, "WEB").unwrap();
        assert_eq!(first.len(), 2);
        assert_ne!(first, second, "answers rotate");
        assert_eq!(r.lookup(&n1, "web-2").unwrap(), vec![ip("10.0.0.3")]);
        assert!(r.lookup(&n2, "web").is_none());
        r.remove(&n1, &c1);
        assert_eq!(r.lookup(&n1, "web").unwrap(), vec![ip("10.0.0.3")]);
        r.remove_container(&c2);
        assert!(r.lookup(&n1, "web").is_none());
    }

    #[test]
    fn a_answers_take_turns_when_aaaa_is_asked_between() {
        let r = Records::default();
        let n: NetworkId = "a".repeat(64).parse().unwrap();
        let (c1, c2, me): (ContainerId, ContainerId, ContainerId) = (
            "1".repeat(64).parse().unwrap(),
            "2".repeat(64).parse().unwrap(),
            "3".repeat(64).parse().unwrap(),
        );
        r.set(&n, &c1, &["web".into()], &[ip("10.0.0.2"), ip("fd00::2")]);
        r.set(&n, &c2, &["web".into()], &[ip("10.0.0.3")]);
        r.set(&n, &me, &["client".into()], &[ip("10.0.0.4")]);
        let mut firsts = Vec::new();
        for _ in 0..4 {
            let a = r.lookup_kind_for(&me, "web", AddrKind::V4).unwrap();
            assert_eq!(a.len(), 2, "{a:?}");
            firsts.push(a[0]);
            assert_eq!(
                r.lookup_kind_for(&me, "web", AddrKind::V6).unwrap(),
                vec![ip("fd00::2")]
            );
        }
        assert_eq!(firsts, [ip("10.0.0.2"), ip("10.0.0.3"), ip("10.0.0.2"), ip("10.0.0.3")]);
        // Known without an address of the family: an empty answer, not "unknown".
        assert_eq!(r.lookup_kind_for(&me, "client", AddrKind::V6), Some(Vec::new()));
        assert_eq!(r.lookup_kind_for(&me, "nobody", AddrKind::V4), None);
    }

    #[test]
    fn a_link_alias_resolves_for_its_client_only() {
        let r = Records::default();
        let id = |c: &str| c.repeat(64);
        let n: NetworkId = id("e").parse().unwrap();
        let (a, b, c): (ContainerId, ContainerId, ContainerId) = (
            id("a").parse().unwrap(),
            id("b").parse().unwrap(),
            id("c").parse().unwrap(),
        );
        r.set(&n, &a, &["db-1".into()], &[ip("10.0.0.2")]);
        r.set(&n, &b, &["web-1".into()], &[ip("10.0.0.3")]);
        r.set(&n, &c, &["other-1".into()], &[ip("10.0.0.4")]);
        r.set_links(&b, &[("Database".into(), "db-1".into())]);
        assert_eq!(r.lookup_for(&b, "database."), Some(vec![ip("10.0.0.2")]));
        assert_eq!(r.lookup_for(&c, "database"), None);
        r.remove_container(&b);
        r.set(&n, &b, &["web-1".into()], &[ip("10.0.0.3")]);
        assert_eq!(r.lookup_for(&b, "database"), None);
    }

    #[test]
    fn a_client_sees_all_its_networks_and_only_those() {
        let r = Records::default();
        let (front, back, other): (NetworkId, NetworkId, NetworkId) = (
            "a".repeat(64).parse().unwrap(),
            "b".repeat(64).parse().unwrap(),
            "c".repeat(64).parse().unwrap(),
        );
        let ids: Vec<ContainerId> = ["1", "2", "3", "4"]
            .iter()
            .map(|d| d.repeat(64).parse().unwrap())
            .collect();
        let (mid, api, proxy, stranger) = (&ids[0], &ids[1], &ids[2], &ids[3]);
        r.set_domain(&back, "p_back");
        r.set(&front, mid, &["mid".into()], &[ip("10.1.0.2")]);
        r.set(&back, mid, &["mid".into()], &[ip("10.2.0.2")]);
        r.set(&back, api, &["p-api-1".into(), "db-alias".into()], &[ip("10.2.0.3")]);
        r.set(&front, proxy, &["proxy".into()], &[ip("10.1.0.3")]);
        r.set(&other, stranger, &["stranger".into()], &[ip("10.3.0.2")]);
        assert_eq!(r.lookup_for(mid, "db-alias"), Some(vec![ip("10.2.0.3")]));
        assert_eq!(r.lookup_for(mid, "proxy"), Some(vec![ip("10.1.0.3")]));
        assert_eq!(r.lookup_for(mid, "db-alias.p_back."), Some(vec![ip("10.2.0.3")]));
        assert_eq!(r.lookup_for(mid, "stranger"), None, "not on that network");
        assert_eq!(r.lookup_for(proxy, "db-alias"), None, "proxy is not on back");
        // The first attached network that knows a name answers.
        assert_eq!(r.lookup_for(proxy, "mid"), Some(vec![ip("10.1.0.2")]));
        assert_eq!(r.lookup_for(api, "mid"), Some(vec![ip("10.2.0.2")]));
        assert_eq!(r.reverse_for(mid, ip("10.2.0.3")).as_deref(), Some("p-api-1.p_back"));
        assert_eq!(r.reverse_for(mid, ip("10.1.0.3")).as_deref(), Some("proxy"));
        assert_eq!(r.reverse_for(proxy, ip("10.2.0.3")), None);
        // Disconnect takes effect at once.
        r.remove(&back, mid);
        assert_eq!(r.lookup_for(mid, "db-alias"), None);
        r.remove_network(&front);
        assert!(!r.has_networks(mid) && !r.has_networks(proxy));
        assert!(r.has_networks(api));
    }
}
