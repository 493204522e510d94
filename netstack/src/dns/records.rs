//! The name table the DNS server answers from; the engine updates it on attach and detach.

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

/// Names (container names, service names, aliases) → addresses, per network.
#[derive(Debug, Default)]
pub struct Records {
    nets: RwLock<HashMap<NetworkId, Vec<Entry>>>,
    turn: AtomicUsize,
}

fn normalise(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

impl Records {
    /// Sets what `container` is called on `network` and its addresses there (replacing earlier ones).
    pub fn set(&self, network: &NetworkId, container: &ContainerId, names: &[String], addrs: &[IpAddr]) {
        let entry = Entry {
            container: container.clone(),
            names: names.iter().map(|n| normalise(n)).filter(|n| !n.is_empty()).collect(),
            addrs: addrs.to_vec(),
        };
        let mut nets = self.nets.write().unwrap_or_else(|p| p.into_inner());
        let list = nets.entry(network.clone()).or_default();
        list.retain(|e| &e.container != container);
        list.push(entry);
    }

    /// Drops `container`'s names on `network`.
    pub fn remove(&self, network: &NetworkId, container: &ContainerId) {
        let mut nets = self.nets.write().unwrap_or_else(|p| p.into_inner());
        if let Some(list) = nets.get_mut(network) {
            list.retain(|e| &e.container != container);
        }
    }

    /// Drops `container`'s names everywhere.
    pub fn remove_container(&self, container: &ContainerId) {
        let mut nets = self.nets.write().unwrap_or_else(|p| p.into_inner());
        for list in nets.values_mut() {
            list.retain(|e| &e.container != container);
        }
    }

    /// Drops a whole network's table.
    pub fn remove_network(&self, network: &NetworkId) {
        self.nets.write().unwrap_or_else(|p| p.into_inner()).remove(network);
    }

    /// Addresses for `name` on `network`, rotated on each call (round-robin); `None` if the name is unknown.
    pub fn lookup(&self, network: &NetworkId, name: &str) -> Option<Vec<IpAddr>> {
        let name = normalise(name);
        let nets = self.nets.read().unwrap_or_else(|p| p.into_inner());
        let list = nets.get(network)?;
        let mut found: Vec<IpAddr> = list
            .iter()
            .filter(|e| e.names.contains(&name))
            .flat_map(|e| e.addrs.iter().copied())
            .collect();
        if found.is_empty() {
            return None;
        }
        let turn = self.turn.fetch_add(1, Ordering::Relaxed) % found.len();
        found.rotate_left(turn);
        Some(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_per_network_with_rotation() {
        let r = Records::default();
        let n1: NetworkId = "a".repeat(64).parse().unwrap();
        let n2: NetworkId = "b".repeat(64).parse().unwrap();
        let c1: ContainerId = "1".repeat(64).parse().unwrap();
        let c2: ContainerId = "2".repeat(64).parse().unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
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
}
