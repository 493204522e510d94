//! The volume record the engine keeps in its database and shows in the API.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::name::VolumeName;

/// Label Docker (23+) puts on anonymous volumes; `docker rm -v` and `volume prune` look for it.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// The only volume driver berth has.
pub const LOCAL_DRIVER: &str = "local";

/// Where a volume is visible: berth volumes are local to this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// One machine.
    #[default]
    Local,
}

/// A named volume: the engine stores this value; the store owns its directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    /// Validated name.
    pub name: VolumeName,
    /// Always `local`.
    pub driver: String,
    /// User labels.
    pub labels: BTreeMap<String, String>,
    /// Local-driver options (`type`, `device`, `o`).
    pub options: BTreeMap<String, String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Host path of the data: `<root>/volumes/<name>/_data`.
    pub mountpoint: PathBuf,
    /// Always local.
    pub scope: Scope,
}

impl Volume {
    /// Whether the volume was made for a container's anonymous mount.
    pub fn is_anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_LABEL)
    }
}

/// Looks volumes up by name: the engine implements it over its database.
pub trait VolumeCatalog {
    /// The volume of that name, if one exists.
    fn get(&self, name: &VolumeName) -> Option<Volume>;
}

impl VolumeCatalog for BTreeMap<VolumeName, Volume> {
    fn get(&self, name: &VolumeName) -> Option<Volume> {
        BTreeMap::get(self, name).cloned()
    }
}

impl VolumeCatalog for std::collections::HashMap<VolumeName, Volume> {
    fn get(&self, name: &VolumeName) -> Option<Volume> {
        std::collections::HashMap::get(self, name).cloned()
    }
}
