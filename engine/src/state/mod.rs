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
}

impl StateDb {
    /// Opens (creating) the database file and its tables.
    pub fn open(path: &Path) -> Result<Self> {
        let db = Database::create(path)?;
        let tx = db.begin_write()?;
        {
            tx.open_table(CONTAINERS)?;
            tx.open_table(NAMES)?;
            tx.open_table(IMAGES)?;
            tx.open_table(TAGS)?;
            tx.open_table(health::HEALTH)?;
        }
        tx.commit()?;
        Ok(StateDb { db })
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

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| EngineError::internal("encoding a state record", e))
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T> {
    serde_json::from_slice(b).map_err(|e| EngineError::internal("decoding a state record", e))
}
