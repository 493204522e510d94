//! The service dependency graph (petgraph): each service's dependencies and dependents, start and stop order,
//! cycles named in full. The orchestrator starts each service once its own dependencies are up.

use crate::error::{ErrorKind, LoadError, Result};
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use petgraph::Direction;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};

/// Why one service waits for another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// `service_started`, `service_healthy` or `service_completed_successfully`.
    pub condition: String,
    /// A missing optional dependency is skipped rather than refused.
    pub required: bool,
    /// Restart the dependent when the dependency restarts.
    pub restart: bool,
}

/// Services as nodes, "A depends on B" as an edge A → B.
#[derive(Debug, Clone)]
pub struct ServiceGraph {
    graph: DiGraph<String, Edge>,
    index: HashMap<String, NodeIndex>,
}

impl ServiceGraph {
    /// Builds the graph from `(service, [(dependency, edge)])`; dependencies not in the list are ignored.
    pub fn new<'a>(services: impl IntoIterator<Item = (&'a str, Vec<(String, Edge)>)>) -> Self {
        let services: Vec<(&str, Vec<(String, Edge)>)> = services.into_iter().collect();
        let mut graph = DiGraph::new();
        let mut index = HashMap::new();
        let mut names: Vec<&str> = services.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        for n in names {
            index.insert(n.to_owned(), graph.add_node(n.to_owned()));
        }
        for (n, deps) in &services {
            for (d, e) in deps {
                if let (Some(&a), Some(&b)) = (index.get(*n), index.get(d)) {
                    graph.add_edge(a, b, e.clone());
                }
            }
        }
        ServiceGraph { graph, index }
    }

    /// Builds the graph from canonical `services` (normalised `depends_on`).
    pub fn from_services(services: &Map<String, Value>) -> Self {
        ServiceGraph::new(services.iter().map(|(n, s)| (n.as_str(), deps_of(s))))
    }

    /// The dependencies of `service` with their edges.
    pub fn dependencies(&self, service: &str) -> Vec<(&str, &Edge)> {
        let Some(&i) = self.index.get(service) else {
            return Vec::new();
        };
        self.graph
            .edges_directed(i, Direction::Outgoing)
            .map(|e| (self.graph[e.target()].as_str(), e.weight()))
            .collect()
    }

    /// Services that depend on `service`.
    pub fn dependents(&self, service: &str) -> Vec<&str> {
        let Some(&i) = self.index.get(service) else {
            return Vec::new();
        };
        let mut v: Vec<&str> = self
            .graph
            .neighbors_directed(i, Direction::Incoming)
            .map(|n| self.graph[n].as_str())
            .collect();
        v.sort_unstable();
        v
    }

    /// Fails with the whole cycle named (`a -> b -> c -> a`) if there is one.
    pub fn check_acyclic(&self) -> Result<()> {
        let mut sccs = tarjan_scc(&self.graph);
        sccs.sort_by_key(|c| c.iter().map(|i| self.graph[*i].clone()).min());
        for scc in sccs {
            let self_loop = scc.len() == 1 && self.graph.find_edge(scc[0], scc[0]).is_some();
            if scc.len() > 1 || self_loop {
                let cycle = self.walk_cycle(&scc);
                return Err(LoadError::new(
                    ErrorKind::Semantic,
                    format!("dependency cycle detected: {}", cycle.join(" -> ")),
                )
                .at_path(format!("services.{}.depends_on", cycle[0])));
            }
        }
        Ok(())
    }

    /// Follows edges inside one strongly connected component from its smallest name back to it.
    fn walk_cycle(&self, scc: &[NodeIndex]) -> Vec<String> {
        let Some(&start) = scc.iter().min_by_key(|i| self.graph[**i].clone()) else {
            return Vec::new();
        };
        let inside = |n: &NodeIndex| scc.contains(n);
        // Breadth-first search for the shortest way back to `start`.
        let mut prev: HashMap<NodeIndex, NodeIndex> = HashMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        let mut found = false;
        while let Some(n) = queue.pop_front() {
            let mut next: Vec<NodeIndex> = self
                .graph
                .neighbors_directed(n, Direction::Outgoing)
                .filter(inside)
                .collect();
            next.sort_by_key(|i| self.graph[*i].clone());
            for m in next {
                if m == start {
                    prev.insert(start, n);
                    found = true;
                    break;
                }
                if let std::collections::hash_map::Entry::Vacant(e) = prev.entry(m) {
                    e.insert(n);
                    queue.push_back(m);
                }
            }
            if found {
                break;
            }
        }
        let mut path = vec![self.graph[start].clone()];
        let mut cur = prev.get(&start).copied();
        while let Some(c) = cur {
            if c == start {
                break;
            }
            path.push(self.graph[c].clone());
            cur = prev.get(&c).copied();
        }
        path[1..].reverse();
        path.push(self.graph[start].clone());
        path
    }

    /// Dependencies before dependents (ties by name); refuses a cycle.
    pub fn start_order(&self) -> Result<Vec<String>> {
        self.check_acyclic()?;
        // Kahn's algorithm over "A depends on B" edges, always taking the smallest ready name for a stable order.
        let mut pending: BTreeMap<&str, usize> = self
            .index
            .iter()
            .map(|(n, &i)| (n.as_str(), self.graph.edges_directed(i, Direction::Outgoing).count()))
            .collect();
        let mut out = Vec::with_capacity(pending.len());
        while let Some(next) = pending.iter().find(|(_, &n)| n == 0).map(|(s, _)| s.to_string()) {
            pending.remove(next.as_str());
            for dependent in self.dependents(&next) {
                if let Some(n) = pending.get_mut(dependent) {
                    *n -= 1;
                }
            }
            out.push(next);
        }
        Ok(out)
    }

    /// Dependents before dependencies: the start order reversed.
    pub fn stop_order(&self) -> Result<Vec<String>> {
        let mut v = self.start_order()?;
        v.reverse();
        Ok(v)
    }
}

/// Normalised `depends_on` of one canonical service.
fn deps_of(svc: &Value) -> Vec<(String, Edge)> {
    let Some(Value::Object(d)) = svc.get("depends_on") else {
        return Vec::new();
    };
    d.iter()
        .map(|(n, e)| {
            let condition = e
                .get("condition")
                .and_then(Value::as_str)
                .unwrap_or("service_started")
                .to_owned();
            let required = e.get("required").and_then(Value::as_bool).unwrap_or(true);
            let restart = e.get("restart").and_then(Value::as_bool).unwrap_or(false);
            (
                n.clone(),
                Edge {
                    condition,
                    required,
                    restart,
                },
            )
        })
        .collect()
}

/// Refuses a dependency cycle among canonical services.
pub fn check_cycles(services: &Map<String, Value>) -> Result<()> {
    ServiceGraph::from_services(services).check_acyclic()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn g(v: Value) -> ServiceGraph {
        ServiceGraph::from_services(v.as_object().unwrap_or(&Map::new()))
    }

    #[test]
    fn orders() {
        let graph = g(json!({
            "web": {"depends_on": {"api": {}}},
            "api": {"depends_on": {"db": {}, "cache": {}}},
            "db": {}, "cache": {}
        }));
        assert_eq!(
            graph.start_order().ok(),
            Some(vec!["cache".into(), "db".into(), "api".into(), "web".into()])
        );
        assert_eq!(
            graph.stop_order().ok().and_then(|v| v.first().cloned()),
            Some("web".into())
        );
        assert_eq!(graph.dependents("db"), vec!["api"]);
    }

    #[test]
    fn cycle_is_named_in_full() {
        let graph =
            g(json!({"a": {"depends_on": {"b": {}}}, "b": {"depends_on": {"c": {}}}, "c": {"depends_on": {"a": {}}}}));
        let e = graph.check_acyclic().err().map(|e| e.message);
        assert_eq!(e.as_deref(), Some("dependency cycle detected: a -> b -> c -> a"));
        let graph = g(json!({"s": {"depends_on": {"s": {}}}}));
        assert_eq!(
            graph.check_acyclic().err().map(|e| e.message).as_deref(),
            Some("dependency cycle detected: s -> s")
        );
    }
}
