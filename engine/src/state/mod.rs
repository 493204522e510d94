//! The engine's state database (redb): containers, names, images and tags, container health, each change one
//! transaction.

mod containers;
mod health;
mod images;

pub use containers::{ContainerRecord, ContainerStatus, RunState};
pub use images::{ImageRecord, LayerRecord};

use crate::error::{EngineError, Result};
use redb::{Database, ReadableDatabase, TableDefinition};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Container id → JSON `ContainerRecord`.
pub(crate) const CONTAINERS: TableDefinition<&str, &[u8]> = TableDefinition::new("containers");
/// Container name (without `/`) → container id.
pub(crate) const NAMES: TableDefinition<&str, &str> = TableDefinition::new("container_names");
/// Image id (`sha256:<hex>`) → JSON `ImageRecord`.
pub(crate) const IMAGES: TableDefinition<&str, &[u8]> = TableDefinition::new("images");
/// Fully qualified tag (`docker.io/library/busybox:latest`) → image id.
pub(crate) const TAGS: TableDefinition<&str, &str> = TableDefinition::new("image_tags");

/// The open state database.
pub struct StateDb {
    pub(crate) db: Database,
    /// Lazy write transactions begun so far (see [`StateDb::begin_lazy`]).
    begun: AtomicU64,
    /// Lazy transactions known durable: those begun before the last durable commit.
    synced: AtomicU64,
    /// One `sync` at a time; the others wait for it and usually find their commits durable (group commit).
    syncing: Mutex<()>,
}

/// The state database's page cache.
const STATE_CACHE_BYTES: usize = 4 << 20;

/// How often the daemon makes lazy commits durable (`StateDb::sync`).
pub const SYNC_GAP: std::time::Duration = std::time::Duration::from_millis(100);

impl StateDb {
    /// Opens (creating) the database file and its tables.
    pub fn open(path: &Path) -> Result<Self> {
        // redb caches up to 1 GiB by default, all of it in the engine's RSS; the state is a few MB and hot
        // pages stay cached.
        let db = Database::builder().set_cache_size(STATE_CACHE_BYTES).create(path)?;
        let tx = db.begin_write()?;
        {
            tx.open_table(CONTAINERS)?;
            tx.open_table(NAMES)?;
            tx.open_table(IMAGES)?;
            tx.open_table(TAGS)?;
            tx.open_table(health::HEALTH)?;
        }
        tx.commit()?;
        Ok(StateDb {
            db,
            begun: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            syncing: Mutex::new(()),
        })
    }

    /// A write transaction whose commit is not fsynced. An fsync per change serialised every create, start,
    /// stop and removal of a stack behind the disk (and held a runtime thread each). Two uses:
    /// - changes the next engine start rebuilds from the runtime's own records (a container's status, pids
    ///   and exit code: `Containers::recover` re-adopts running ones and reads exits from `exit.json`; health
    ///   comes back from the probes) stay lazy until the daemon's `sync` (every `SYNC_GAP`, and at shutdown);
    /// - changes that must be durable before the caller answers are followed by `sync`, which concurrent
    ///   callers share: one fsync covers every commit made before it (redb commits in order).
    pub(crate) fn begin_lazy(&self) -> Result<redb::WriteTransaction> {
        let mut tx = self.db.begin_write()?;
        tx.set_durability(redb::Durability::None)
            .map_err(|e| EngineError::internal("setting a commit's durability", e))?;
        self.begun.fetch_add(1, Ordering::AcqRel);
        Ok(tx)
    }

    /// Makes every lazy commit made before this call durable (one empty durable commit, shared by concurrent
    /// callers); nothing when they already are.
    pub fn sync(&self) -> Result<()> {
        let target = self.begun.load(Ordering::Acquire);
        let _one = self.syncing.lock().unwrap_or_else(|p| p.into_inner());
        if self.synced.load(Ordering::Acquire) >= target {
            return Ok(());
        }
        // Every lazy transaction begun so far has committed or aborted once this one begins (one writer).
        let covered = self.begun.load(Ordering::Acquire);
        self.db.begin_write()?.commit()?;
        self.synced.store(covered, Ordering::Release);
        Ok(())
    }

    /// How many lazy write transactions have begun so far (a change counter).
    pub fn changes(&self) -> u64 {
        self.begun.load(Ordering::Acquire)
    }

    /// Whether lazy commits wait for `sync`.
    pub fn unsynced(&self) -> bool {
        self.synced.load(Ordering::Acquire) < self.begun.load(Ordering::Acquire)
    }

    /// Row counts per table (used by leak tests and `/info`).
    pub fn counts(&self) -> Result<TableCounts> {
        use redb::ReadableTableMetadata;
        let tx = self.db.begin_read()?;
        Ok(TableCounts {
            containers: tx.open_table(CONTAINERS)?.len()?,
            names: tx.open_table(NAMES)?.len()?,
            images: tx.open_table(IMAGES)?.len()?,
            tags: tx.open_table(TAGS)?.len()?,
        })
    }
}

/// Number of rows in each table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct TableCounts {
    /// Container rows.
    pub containers: u64,
    /// Name rows.
    pub names: u64,
    /// Image rows.
    pub images: u64,
    /// Tag rows.
    pub tags: u64,
}

impl Drop for StateDb {
    fn drop(&mut self) {
        if let Err(e) = self.sync() {
            tracing::warn!("making the last state changes durable: {e}");
        }
    }
}

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| EngineError::internal("encoding a state record", e))
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T> {
    serde_json::from_slice(b).map_err(|e| EngineError::internal("decoding a state record", e))
}
