//! `POST /containers/prune` and the sizes `system df` reports: stopped containers go, filtered by `until`
//! and `label`/`label!`, and the space their writable layers held is counted.

use super::Containers;
use crate::error::Result;
use crate::state::{ContainerRecord, ContainerStatus};
use std::collections::HashMap;
use std::path::Path;

impl Containers {
    /// Removes the stopped containers the filters select; returns their ids and the bytes freed.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn prune(&self, filters: &HashMap<String, Vec<String>>) -> Result<(Vec<String>, u64)> {
        let now = chrono::Utc::now();
        let mut removed = Vec::new();
        let mut space = 0;
        for rec in self.db.containers()? {
            if !self.prunable(&rec, filters, now)? {
                continue;
            }
            let size = self.size_rw(&rec.id);
            match self.remove(&rec.id, false).await {
                Ok(()) => {
                    removed.push(rec.id);
                    space += size;
                }
                // Started (or removed) meanwhile: not this prune's to take.
                Err(e) => tracing::debug!(container = %rec.id, "prune skipped it: {e}"),
            }
        }
        Ok((removed, space))
    }

    fn prunable(
        &self,
        rec: &ContainerRecord,
        filters: &HashMap<String, Vec<String>>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool> {
        if !matches!(
            rec.state.status,
            ContainerStatus::Created | ContainerStatus::Exited | ContainerStatus::Dead
        ) {
            return Ok(false);
        }
        let created = chrono::DateTime::parse_from_rfc3339(&rec.created)
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or(now);
        let labels = rec.config.labels.clone().unwrap_or_default();
        Ok(crate::filters::labels_match(filters, &labels) && crate::filters::until_matches(filters, created, now)?)
    }

    /// Bytes in the container's writable layer (its overlay upper dir).
    pub fn size_rw(&self, id: &str) -> u64 {
        dir_size(&self.runtime.paths(id).upper)
    }
}

/// Bytes of the regular files under `dir` (not following symlinks; unreadable parts count as nothing).
pub fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}
