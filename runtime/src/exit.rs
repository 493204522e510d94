//! The exit record the monitor writes when the container ends (`<bundle>/exit.json`).

use super::{Result, RuntimeError};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// File name of the exit record inside the bundle.
pub const EXIT_FILE: &str = "exit.json";

/// How a container ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRecord {
    /// Exit code as Docker reports it (128+signal when killed by a signal).
    pub exit_code: i32,
    /// The kernel's OOM killer killed a process of the container.
    pub oom_killed: bool,
    /// When the container process ended.
    pub finished_at: chrono::DateTime<chrono::Utc>,
    /// Set when the monitor could not start or lost the container (Docker's State.Error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ExitRecord {
    /// Writes the record atomically (temp file + rename) so readers never see half a record.
    pub fn write(&self, bundle: &Path) -> Result<()> {
        let tmp = bundle.join(".exit.json.tmp");
        let data =
            serde_json::to_vec(self).map_err(|e| RuntimeError::io("encoding exit record", std::io::Error::other(e)))?;
        std::fs::write(&tmp, data).map_err(|e| RuntimeError::io(format!("writing {}", tmp.display()), e))?;
        std::fs::rename(&tmp, bundle.join(EXIT_FILE))
            .map_err(|e| RuntimeError::io(format!("renaming {}", tmp.display()), e))
    }

    /// Reads the record of a bundle; None when the container has not ended (or the file is unreadable).
    pub fn read(bundle: &Path) -> Option<Self> {
        let data = std::fs::read(bundle.join(EXIT_FILE)).ok()?;
        serde_json::from_slice(&data).ok()
    }
}
