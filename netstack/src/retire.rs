//! Sandboxes taken down in the background. Deleting veths and the namespace file costs the kernel
//! RCU grace periods (tens of milliseconds); a container's exit must not wait for them. What users
//! see (names, resolver, ports) goes at once in `Netstack::retire_sandbox`; the kernel objects go on
//! a task here, and whatever needs the sandbox gone (a new start, removal, cleanup) settles it first.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use futures::future::{FutureExt, Shared};
use tracing::{warn, Instrument};

use crate::error::Result;
use crate::ids::{ContainerId, InstanceTag, Owner};
use crate::links::Netlink;
use crate::netns::NetnsDir;

type Pending = Shared<Pin<Box<dyn Future<Output = ()> + Send>>>;

/// Teardowns in flight, by container.
#[derive(Clone, Default)]
pub(crate) struct Retiring {
    pending: Arc<Mutex<HashMap<ContainerId, Pending>>>,
}

impl Retiring {
    /// Starts the kernel side of a container's teardown on a task (after any teardown of it still running).
    pub fn begin(&self, id: &ContainerId, host: Arc<Netlink>, instance: InstanceTag, netns: NetnsDir) {
        let before = self.get(id);
        let (map, key) = (self.pending.clone(), id.clone());
        let span = tracing::info_span!("dismantle_sandbox", container = %id.short(12));
        let work: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(
            async move {
                if let Some(before) = before {
                    before.await;
                }
                if let Err(e) = dismantle(&host, &instance, &netns, &key).await {
                    // Labelled objects: the next cleanup_orphans (engine start) removes what is left.
                    warn!("taking the network sandbox down: {e}");
                }
            }
            .instrument(span),
        );
        let shared = work.shared();
        let mine = shared.clone();
        let id2 = id.clone();
        self.lock().insert(id.clone(), shared.clone());
        tokio::spawn(async move {
            shared.await;
            let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
            // A later teardown of the same container replaced this entry: keep that one.
            if map.get(&id2).is_some_and(|p| p.ptr_eq(&mine)) {
                map.remove(&id2);
            }
        });
    }

    /// Waits until no teardown of `id` is in flight.
    pub async fn settle(&self, id: &ContainerId) {
        if let Some(p) = self.get(id) {
            p.await;
        }
    }

    /// Waits until no teardown at all is in flight.
    pub async fn settle_all(&self) {
        let all: Vec<Pending> = self.lock().values().cloned().collect();
        futures::future::join_all(all).await;
    }

    /// True while a teardown of `id` is in flight.
    pub fn contains(&self, id: &ContainerId) -> bool {
        self.lock().contains_key(id)
    }

    fn get(&self, id: &ContainerId) -> Option<Pending> {
        self.lock().get(id).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ContainerId, Pending>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Deletes a container's veths (both ends) and its namespace file.
pub(crate) async fn dismantle(
    host: &Netlink,
    instance: &InstanceTag,
    netns: &NetnsDir,
    id: &ContainerId,
) -> Result<()> {
    // Deleting a veth's end inside the namespace takes its host end with it: no dump of every host interface
    // per container (quadratic over a stack's stop, and concurrent dumps on the shared host socket are refused
    // with EBUSY and retried). The host is searched by label only when the namespace is already gone.
    let path = netns.path(id);
    if crate::netns::is_nsfs(&path) {
        let inside = Netlink::connect_in(&path)?;
        for link in inside.links().await?.iter().filter(|l| l.name != "lo") {
            inside.delete(&link.name).await?;
        }
        return netns.remove(id);
    }
    for link in host.links().await? {
        let owner = link.alias.as_deref().and_then(|a| Owner::parse_label(instance, a));
        if matches!(owner, Some(Owner::Endpoint(c, _)) if &c == id) {
            host.delete(&link.name).await?;
        }
    }
    netns.remove(id)
}
