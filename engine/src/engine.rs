//! The engine's services, opened on one state root: state database, image store, containers.

use crate::config::EngineConfig;
use crate::containers::Containers;
use crate::error::{IoContext, Result};
use crate::images::ImageStore;
use crate::state::StateDb;
use runtime::Runtime;
use std::path::PathBuf;
use std::sync::Arc;

/// Everything the API serves from.
pub struct Engine {
    /// Locations.
    pub config: EngineConfig,
    /// State database.
    pub db: Arc<StateDb>,
    /// Image store.
    pub images: Arc<ImageStore>,
    /// Container service.
    pub containers: Arc<Containers>,
    /// Event hub (`/events`, health, restart).
    pub events: Arc<crate::events::EventHub>,
    /// Execs in running containers.
    pub execs: Arc<crate::exec::Execs>,
    /// Registry pulls and pushes.
    pub registry: Arc<crate::registry::Registry>,
    /// Networks, endpoints and their kernel objects.
    pub networks: Arc<crate::networks::LazyNetworks>,
    /// Named volumes and the mounts containers use.
    pub volumes: Arc<crate::volumes::VolumeService>,
    /// When this engine process started.
    pub started_at: chrono::DateTime<chrono::Utc>,
}

impl Engine {
    /// Opens the services under `config.root` (the caller holds the root's lock). `monitor_exe` overrides the
    /// executable used as container monitor (default: this executable).
    #[tracing::instrument(skip_all, fields(root = %config.root.display()), err(level = "debug"))]
    pub fn open(config: EngineConfig, monitor_exe: Option<PathBuf>) -> Result<Arc<Self>> {
        std::fs::create_dir_all(config.tmp_dir()).ctx(|| format!("creating {}", config.tmp_dir().display()))?;
        clear_dir(&config.tmp_dir());
        // Mounts and scratch files of builds a crash interrupted.
        crate::build::recover(&config.root);
        let db = Arc::new(StateDb::open(&config.db_file())?);
        let images = Arc::new(ImageStore::open(&config.root, db.clone())?);
        images.gc()?;
        // Volume rows and directories agree again after a crash (half-made or half-removed volumes).
        let volumes = crate::volumes::VolumeService::new(db.clone(), &config.root);
        volumes.open()?.recover()?;
        let networks = Arc::new(crate::networks::LazyNetworks::new(db.clone(), &config.root));
        let registry = crate::registry::Registry::open(&config.root, images.clone(), db.clone())?;
        let mut runtime =
            Runtime::new(&config.root).map_err(|e| crate::EngineError::internal("opening the runtime", e))?;
        if let Some(exe) = monitor_exe {
            runtime = runtime.with_monitor_exe(exe);
        }
        let execs = crate::exec::Execs::new(runtime.clone());
        let events = crate::events::EventHub::new();
        let containers = Containers::new(db.clone(), images.clone(), runtime, networks.clone(), volumes.clone());
        Ok(Arc::new(Engine {
            config,
            db,
            images,
            containers,
            execs,
            events,
            registry,
            networks,
            volumes,
            started_at: chrono::Utc::now(),
        }))
    }
}

/// Removes leftovers of interrupted uploads.
fn clear_dir(dir: &std::path::Path) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            let _ = if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
        }
    }
}
