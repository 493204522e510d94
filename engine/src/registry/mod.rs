//! Registries: pull and push over the registry v2 API (`oci-client`), credentials, settings
//! (insecure registries, mirrors), resumable shared layer downloads and Docker-style progress.

pub mod client;
pub mod download;
pub mod manifest;
pub mod progress;
pub mod pull;
pub mod push;
pub mod remote;
pub mod save;
pub mod settings;

pub use imageref::credentials as auth;
pub use imageref::Credentials;
pub use manifest::Platform;
pub use progress::{Progress, ProgressMessage};
pub use pull::{PullRequest, Pulled};
pub use settings::RegistrySettings;

use crate::error::Result;
use crate::images::ImageStore;
use crate::state::StateDb;
use download::Downloads;
use std::path::Path;
use std::sync::Arc;

/// The registry side of one engine.
pub struct Registry {
    store: Arc<ImageStore>,
    db: Arc<StateDb>,
    settings: RegistrySettings,
    downloads: Arc<Downloads>,
}

impl Registry {
    /// Opens the registry service of the engine at `root` (reads its settings file).
    pub fn open(root: &Path, store: Arc<ImageStore>, db: Arc<StateDb>) -> Result<Arc<Self>> {
        let settings = RegistrySettings::load(root)?;
        let downloads = Downloads::open(root, store.clone())?;
        Ok(Arc::new(Registry {
            store,
            db,
            settings,
            downloads,
        }))
    }

    /// The settings in force.
    pub fn settings(&self) -> &RegistrySettings {
        &self.settings
    }

    /// Drops downloads no pull is using; returns the bytes freed.
    pub fn clear_downloads(&self) -> Result<u64> {
        self.downloads.clear_idle()
    }
}
