//! Health rows: container id → JSON `State.Health` (status, failing streak, last probe results), so a
//! container's health survives an engine restart.

use super::{from_json, to_json, StateDb};
use crate::error::Result;
use bollard::models::Health;
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use std::collections::HashMap;

/// Container id → JSON `Health`.
pub(crate) const HEALTH: TableDefinition<&str, &[u8]> = TableDefinition::new("container_health");

impl StateDb {
    /// Writes (`Some`) or deletes (`None`) health rows, all in one transaction.
    pub fn put_health(&self, rows: &[(String, Option<Health>)]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        // Lazy (`begin_lazy`): after a crash the probes rebuild health within an interval; a clean stop syncs.
        let tx = self.begin_lazy()?;
        {
            let mut t = tx.open_table(HEALTH)?;
            for (id, h) in rows {
                match h {
                    Some(h) => {
                        t.insert(id.as_str(), to_json(h)?.as_slice())?;
                    }
                    None => {
                        t.remove(id.as_str())?;
                    }
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Every stored health row.
    pub fn all_health(&self) -> Result<HashMap<String, Health>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(HEALTH)?;
        let mut out = HashMap::new();
        for row in t.iter()? {
            let (k, v) = row?;
            out.insert(k.value().to_owned(), from_json(v.value())?);
        }
        Ok(out)
    }
}
