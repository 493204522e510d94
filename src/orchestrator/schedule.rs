//! Runs one task per service of a dependency graph, each as soon as the tasks it waits for are done — not level
//! by level, so a slow branch of the graph never holds up an unrelated one.

use anyhow::{bail, Result};
use futures::stream::{FuturesUnordered, StreamExt};
use std::collections::{BTreeSet, HashMap};
use std::future::Future;

static PARALLEL: std::sync::OnceLock<usize> = std::sync::OnceLock::new();

/// `--parallel N`: at most N service tasks at once (unlimited when not set or negative).
pub fn set_parallel_limit(limit: i64) {
    if let Ok(n) = usize::try_from(limit) {
        let _ = PARALLEL.set(n.max(1));
    }
}

/// Runs `task(node, results of the nodes it waited for)` for every node of `nodes`, once every node of
/// `waits_for(node)` that is itself in `nodes` has finished; nodes outside `nodes` are not waited for.
/// Tasks run concurrently. After a failure no new task starts, the running ones finish, and the first error is
/// returned. A cycle (which the loader refuses earlier) is an error naming the nodes left.
pub async fn run<T, F, Fut>(
    nodes: &[String],
    waits_for: impl Fn(&str) -> Vec<String>,
    mut task: F,
) -> Result<HashMap<String, T>>
where
    T: Clone,
    F: FnMut(String, HashMap<String, T>) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let members: BTreeSet<&str> = nodes.iter().map(String::as_str).collect();
    let prerequisites: HashMap<&str, Vec<String>> = nodes
        .iter()
        .map(|n| {
            let mut deps = waits_for(n);
            deps.retain(|d| members.contains(d.as_str()) && d != n);
            (n.as_str(), deps)
        })
        .collect();
    let mut done: HashMap<String, T> = HashMap::new();
    let mut waiting: Vec<&String> = nodes.iter().collect();
    let mut running = FuturesUnordered::new();
    let mut first_error = None;
    loop {
        if first_error.is_none() {
            let room = PARALLEL
                .get()
                .map_or(usize::MAX, |limit| limit.saturating_sub(running.len()));
            let (mut ready, mut rest): (Vec<&String>, Vec<&String>) = waiting
                .into_iter()
                .partition(|n| prerequisites[n.as_str()].iter().all(|d| done.contains_key(d)));
            if ready.len() > room {
                rest.extend(ready.split_off(room));
            }
            waiting = rest;
            for n in ready {
                let inputs: HashMap<String, T> = prerequisites[n.as_str()]
                    .iter()
                    .map(|d| (d.clone(), done[d].clone()))
                    .collect();
                let fut = task(n.clone(), inputs);
                let name = n.clone();
                running.push(async move { (name, fut.await) });
            }
        }
        let Some((name, result)) = running.next().await else {
            break;
        };
        match result {
            Ok(value) => {
                done.insert(name, value);
            }
            Err(err) => {
                first_error.get_or_insert(err);
            }
        }
    }
    if let Some(err) = first_error {
        return Err(err);
    }
    if !waiting.is_empty() {
        let left: Vec<&str> = waiting.iter().map(|n| n.as_str()).collect();
        bail!("dependency cycle between services: {}", left.join(", "));
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    /// b is blocked until c has run: level by level (a,c first; b,d next) would deadlock since d needs c only.
    #[tokio::test]
    async fn a_task_starts_when_its_own_prerequisites_are_done() {
        let deps = |n: &str| -> Vec<String> {
            match n {
                "b" => names(&["a"]),
                "d" => names(&["c"]),
                "c" => names(&["e"]),
                _ => Vec::new(),
            }
        };
        let (tx, rx) = tokio::sync::watch::channel(false);
        let order = Arc::new(Mutex::new(Vec::new()));
        let nodes = names(&["a", "b", "c", "d", "e"]);
        let out = run(&nodes, deps, |n, inputs| {
            let mut rx = rx.clone();
            let tx = tx.clone();
            let order = order.clone();
            async move {
                if n == "b" {
                    // b waits (like a slow healthcheck) until d, deeper in another branch, has started.
                    rx.wait_for(|v| *v).await?;
                }
                if n == "d" {
                    tx.send(true)?;
                }
                order.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.push(n.clone());
                Ok(inputs.len())
            }
        })
        .await
        .expect("runs");
        assert_eq!(out.len(), 5);
        assert_eq!(out["b"], 1);
        let order = order.lock().expect("order").clone();
        let pos = |n: &str| order.iter().position(|x| x == n);
        assert!(pos("d") < pos("b"), "{order:?}");
    }

    #[tokio::test]
    async fn first_error_stops_new_tasks_and_cycles_are_named() {
        let nodes = names(&["a", "b"]);
        let err = run(
            &nodes,
            |n| if n == "b" { names(&["a"]) } else { Vec::new() },
            |n, _| async move {
                if n == "a" {
                    bail!("a failed")
                }
                Ok(())
            },
        )
        .await
        .expect_err("fails");
        assert_eq!(err.to_string(), "a failed");
        let err = run(
            &nodes,
            |n| names(&[if n == "a" { "b" } else { "a" }]),
            |_, _| async { Ok(()) },
        )
        .await
        .expect_err("cycle");
        assert!(err.to_string().contains("cycle"), "{err}");
    }
}
