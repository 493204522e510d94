//! Work on a container that runs on a task while its caller moves on: what must see the work done first
//! (a new start, a removal, a cleanup) settles it. Work on the same container runs in the order begun.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use futures::future::{FutureExt, Shared};

use crate::ids::ContainerId;

type Pending = Shared<Pin<Box<dyn Future<Output = ()> + Send>>>;

/// Work in flight, by container.
#[derive(Clone, Default)]
pub struct Inflight {
    pending: Arc<Mutex<HashMap<ContainerId, Pending>>>,
}

impl Inflight {
    /// Runs `work` on a task, after any work on `id` still in flight.
    pub fn begin(&self, id: &ContainerId, work: impl Future<Output = ()> + Send + 'static) {
        let before = self.get(id);
        let work: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(async move {
            if let Some(before) = before {
                before.await;
            }
            work.await;
        });
        let shared = work.shared();
        let mine = shared.clone();
        let (map, key) = (self.pending.clone(), id.clone());
        self.lock().insert(id.clone(), shared.clone());
        tokio::spawn(async move {
            shared.await;
            let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
            // Later work on the same container replaced this entry: keep that one.
            if map.get(&key).is_some_and(|p| p.ptr_eq(&mine)) {
                map.remove(&key);
            }
        });
    }

    /// Waits until no work on `id` is in flight.
    pub async fn settle(&self, id: &ContainerId) {
        if let Some(p) = self.get(id) {
            p.await;
        }
    }

    /// Waits until no work at all is in flight.
    pub async fn settle_all(&self) {
        let all: Vec<Pending> = self.lock().values().cloned().collect();
        futures::future::join_all(all).await;
    }

    /// True while work on `id` is in flight.
    pub fn contains(&self, id: &ContainerId) -> bool {
        self.lock().contains_key(id)
    }

    /// True while any work is in flight.
    pub fn any(&self) -> bool {
        !self.lock().is_empty()
    }

    fn get(&self, id: &ContainerId) -> Option<Pending> {
        self.lock().get(id).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ContainerId, Pending>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}
