//! The container service: create, start, stop, wait, remove... on the runtime, with state in the database
//! and lifecycle events on a broadcast channel (the future `/events` endpoint and waiters read it).

mod actions;
mod create;
mod hostcfg;
mod lifecycle;
mod links;
mod list_filter;
mod logs;
mod network;
mod prune;
mod spec;
mod stdin;
mod update;
mod view;

pub use actions::{Action, ContainerEvent};
pub use create::CreateRequest;
pub use lifecycle::{parse_signal, WaitCondition};
pub use logs::{AttachOutput, LogChunk, LogOptions};
pub use prune::dir_size;
pub use stdin::StdinSink;
pub use view::{CopyMount, ListOptions};

use crate::error::Result;
use crate::images::ImageStore;
use crate::state::{ContainerRecord, StateDb};
use runtime::Runtime;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// The container service of one engine.
pub struct Containers {
    db: Arc<StateDb>,
    images: Arc<ImageStore>,
    runtime: Runtime,
    events: broadcast::Sender<ContainerEvent>,
    /// One lock per container so start/stop/remove of the same container do not interleave.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// The engine's network service (opened on first use).
    nets: Arc<crate::networks::LazyNetworks>,
    /// The engine's volume service.
    volumes: Arc<crate::volumes::VolumeService>,
    /// Health of the containers (kept by the health service's probe loops).
    health: Arc<crate::health::HealthTable>,
}

impl Containers {
    /// A service over `db`, `images` and `runtime`.
    pub fn new(
        db: Arc<StateDb>,
        images: Arc<ImageStore>,
        runtime: Runtime,
        nets: Arc<crate::networks::LazyNetworks>,
        volumes: Arc<crate::volumes::VolumeService>,
    ) -> Arc<Self> {
        let health = Arc::default();
        let (events, _) = broadcast::channel(4096);
        Arc::new(Containers {
            db,
            images,
            runtime,
            events,
            locks: Mutex::new(HashMap::new()),
            nets,
            volumes,
            health,
        })
    }

    /// The engine's volumes (rows in the database, directories under `<state root>/volumes`).
    pub(crate) fn volumes(&self) -> Result<crate::volumes::state::Volumes<'_>> {
        self.volumes.open()
    }

    /// The engine's network service (bridges, namespaces, DNS, ports), opened and restored on first use.
    pub(crate) async fn networks(&self) -> Result<Arc<crate::networks::Networks>> {
        self.nets.get().await
    }

    /// The network service if already opened (for synchronous views such as inspect).
    pub(crate) fn networks_opened(&self) -> Option<&Arc<crate::networks::Networks>> {
        self.nets.opened()
    }

    /// Health of the containers.
    pub fn health(&self) -> &crate::health::HealthTable {
        &self.health
    }

    /// The runtime the service drives.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Subscribes to lifecycle events.
    pub fn subscribe(&self) -> broadcast::Receiver<ContainerEvent> {
        self.events.subscribe()
    }

    fn emit(&self, id: &str, action: Action, exit_code: Option<i64>) {
        let _ = self.events.send(ContainerEvent::new(id, action, exit_code));
    }

    fn lock_of(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(id.to_owned()).or_default().clone()
    }

    fn forget_lock(&self, id: &str) {
        self.locks.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
    }

    /// Finds a container by full id, name (with or without `/`) or unique id prefix.
    pub fn resolve(&self, ident: &str) -> Result<ContainerRecord> {
        self.db.resolve_container(ident)
    }

    /// Id of a container using `image_id`, if any (images in use are not deleted).
    pub fn user_of_image(&self, image_id: &str) -> Option<String> {
        self.db
            .containers()
            .ok()?
            .into_iter()
            .find(|c| c.image_id == image_id)
            .map(|c| c.id)
    }
}

/// A fresh 64-hex container id.
pub fn new_id() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}
