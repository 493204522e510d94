//! Volume records and their users in the state database, kept consistent with the volume store's
//! directories: create/remove/prune for the API, record/release for the container service,
//! recover after a crash.

use crate::error::{EngineError, Result};
use crate::state::StateDb;
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use volumes::{ErrorKind, Volume, VolumeCatalog, VolumeName, VolumeStore};

/// Volume name → JSON `volumes::Volume`.
const VOLUMES: TableDefinition<&str, &[u8]> = TableDefinition::new("volumes");
/// Container id → JSON list of the volume names it uses.
const VOLUME_USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("volume_users");

/// The volume service of one engine: opens views over its rows and directories that share one change lock.
pub struct VolumeService {
    db: Arc<StateDb>,
    root: PathBuf,
    /// The store, made (its directory created and resolved) at the first use: every container's create, start
    /// and inspect opens a view, and each made it again (a mkdir and a path resolution).
    store: std::sync::OnceLock<VolumeStore>,
    /// Serialises changes (disk and database) so a concurrent create/remove never sees the other half-done.
    changes: Mutex<()>,
}

impl VolumeService {
    /// The volumes of the engine with state root `root` and database `db`.
    pub fn new(db: Arc<StateDb>, root: &Path) -> Arc<Self> {
        Arc::new(VolumeService {
            db,
            root: root.to_path_buf(),
            store: std::sync::OnceLock::new(),
            changes: Mutex::new(()),
        })
    }

    /// A view for one operation.
    pub fn open(&self) -> Result<Volumes<'_>> {
        let store = match self.store.get() {
            Some(store) => store.clone(),
            None => {
                let store = VolumeStore::new(&self.root).map_err(engine_error)?;
                self.store.get_or_init(|| store).clone()
            }
        };
        Ok(Volumes {
            db: &self.db,
            store,
            changes: &self.changes,
        })
    }
}

/// The engine's volumes: database rows plus the store's directories and mounts.
pub struct Volumes<'a> {
    db: &'a StateDb,
    store: VolumeStore,
    changes: &'a Mutex<()>,
}

/// Maps a volumes-crate error to the API's classes.
pub fn engine_error(e: volumes::Error) -> EngineError {
    match e.kind() {
        ErrorKind::BadInput => EngineError::BadRequest(e.to_string()),
        ErrorKind::NotFound => EngineError::NotFound(e.to_string()),
        ErrorKind::Conflict => EngineError::Conflict(e.to_string()),
        ErrorKind::Internal => EngineError::Internal(e.to_string()),
    }
}

fn decode<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T> {
    serde_json::from_slice(b).map_err(|e| EngineError::internal("decoding a volume record", e))
}

fn encode<T: serde::Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| EngineError::internal("encoding a volume record", e))
}

impl<'a> Volumes<'a> {
    fn lock(&self) -> std::sync::MutexGuard<'a, ()> {
        self.changes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The store (paths, mounts, prepare).
    pub fn store(&self) -> &VolumeStore {
        &self.store
    }

    /// One volume by name.
    pub fn get(&self, name: &str) -> Result<Option<Volume>> {
        let tx = self.db.db.begin_read()?;
        let t = match tx.open_table(VOLUMES) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let v = t.get(name)?;
        v.map(|g| decode(g.value())).transpose()
    }

    /// Every volume.
    pub fn all(&self) -> Result<Vec<Volume>> {
        let tx = self.db.db.begin_read()?;
        let t = match tx.open_table(VOLUMES) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        for row in t.iter()? {
            out.push(decode(row?.1.value())?);
        }
        Ok(out)
    }

    /// Volume name → ids of the containers using it.
    pub fn users(&self) -> Result<HashMap<VolumeName, Vec<String>>> {
        let tx = self.db.db.begin_read()?;
        let t = match tx.open_table(VOLUME_USERS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(HashMap::new()),
            Err(e) => return Err(e.into()),
        };
        let mut out: HashMap<VolumeName, Vec<String>> = HashMap::new();
        for row in t.iter()? {
            let (id, names) = row?;
            for name in decode::<Vec<VolumeName>>(names.value())? {
                out.entry(name).or_default().push(id.value().to_owned());
            }
        }
        Ok(out)
    }

    /// Creates a volume, or returns the existing one of that name (as Docker does). The bool says
    /// whether it was created now.
    #[tracing::instrument(skip(self, labels, options), err(level = "debug"))]
    pub fn create(
        &self,
        name: Option<VolumeName>,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
    ) -> Result<(Volume, bool)> {
        let _g = self.lock();
        if let Some(existing) = name.as_ref().map(|n| self.get(n.as_str())).transpose()?.flatten() {
            return Ok((existing, false));
        }
        let vol = self.store.create(name, labels, options).map_err(engine_error)?;
        if let Err(e) = self.put(std::slice::from_ref(&vol), None) {
            let _ = self.store.remove(&vol.name);
            return Err(e);
        }
        Ok((vol, true))
    }

    /// Inserts volume rows and (optionally) a container's list of used volumes, in one transaction.
    fn put(&self, vols: &[Volume], user: Option<(&str, &[VolumeName])>) -> Result<()> {
        let tx = self.db.db.begin_write()?;
        {
            let mut t = tx.open_table(VOLUMES)?;
            for v in vols {
                t.insert(v.name.as_str(), encode(v)?.as_slice())?;
            }
            let mut u = tx.open_table(VOLUME_USERS)?;
            if let Some((id, names)) = user {
                u.insert(id, encode(&names)?.as_slice())?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Removes a volume; refused (409) while a container uses it, also with `force` (as Docker);
    /// `force` makes a missing volume not an error.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub fn remove(&self, name: &str, force: bool) -> Result<()> {
        let _g = self.lock();
        let Some(vol) = self.get(name)? else {
            return if force {
                Ok(())
            } else {
                Err(EngineError::NotFound(format!("get {name}: no such volume")))
            };
        };
        if let Some(ids) = self.users()?.get(&vol.name).filter(|ids| !ids.is_empty()) {
            let short: Vec<&str> = ids.iter().map(|i| &i[..i.len().min(12)]).collect();
            return Err(EngineError::Conflict(format!(
                "remove {name}: volume is in use - [{}]",
                short.join(", ")
            )));
        }
        self.remove_unlocked(&vol.name)
    }

    /// Deletes the directory, then the row (a crash in between leaves a row `recover` drops).
    fn remove_unlocked(&self, name: &VolumeName) -> Result<()> {
        match self.store.remove(name) {
            Ok(()) | Err(volumes::Error::NotFound(_)) => {}
            Err(e) => return Err(engine_error(e)),
        }
        let tx = self.db.db.begin_write()?;
        tx.open_table(VOLUMES)?.remove(name.as_str())?;
        tx.commit()?;
        Ok(())
    }

    /// Removes unused volumes that `select` picks; returns names and bytes reclaimed.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub fn prune(&self, select: impl Fn(&Volume) -> bool) -> Result<(Vec<String>, u64)> {
        let _g = self.lock();
        let users = self.users()?;
        let mut removed = Vec::new();
        let mut space = 0;
        for vol in self.all()? {
            if users.get(&vol.name).is_some_and(|u| !u.is_empty()) || !select(&vol) {
                continue;
            }
            space += self.store.usage(&vol.name).unwrap_or(0);
            self.remove_unlocked(&vol.name)?;
            removed.push(vol.name.to_string());
        }
        Ok((removed, space))
    }

    /// For the container service: records volumes `prepare` created and the volumes a container uses.
    pub fn record_use(&self, container_id: &str, created: &[Volume], used: &[VolumeName]) -> Result<()> {
        // A container without volumes has no row (`release` and `users` read none as empty): no commit, no fsync.
        if created.is_empty() && used.is_empty() {
            return Ok(());
        }
        let _g = self.lock();
        self.put(created, Some((container_id, used)))
    }

    /// For the container service: forgets a removed container's use; returns the volumes it used.
    pub fn release(&self, container_id: &str) -> Result<Vec<VolumeName>> {
        let _g = self.lock();
        if !self.has_user_row(container_id)? {
            return Ok(Vec::new());
        }
        let tx = self.db.db.begin_write()?;
        let names = {
            let mut u = tx.open_table(VOLUME_USERS)?;
            let old = u.remove(container_id)?;
            old.map(|g| decode::<Vec<VolumeName>>(g.value()))
                .transpose()?
                .unwrap_or_default()
        };
        tx.commit()?;
        Ok(names)
    }

    /// Whether a container has a row of used volumes (a read, so removing a container without volumes writes nothing).
    fn has_user_row(&self, container_id: &str) -> Result<bool> {
        let tx = self.db.db.begin_read()?;
        let t = match tx.open_table(VOLUME_USERS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        Ok(t.get(container_id)?.is_some())
    }

    /// After a crash: drops rows whose directory is gone, deletes directories with no row
    /// (half-made or half-removed), and unmounts local-driver volumes no container uses.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub fn recover(&self) -> Result<()> {
        let _g = self.lock();
        let rows = self.all()?;
        let (kept, gone): (Vec<_>, Vec<_>) = rows.into_iter().partition(|v| self.store.exists(&v.name));
        if !gone.is_empty() {
            let tx = self.db.db.begin_write()?;
            {
                let mut t = tx.open_table(VOLUMES)?;
                for v in &gone {
                    tracing::warn!(volume = %v.name, "volume directory missing; dropping its record");
                    t.remove(v.name.as_str())?;
                }
            }
            tx.commit()?;
        }
        let known: HashSet<VolumeName> = kept.into_iter().map(|v| v.name).collect();
        self.store.remove_orphans(&known).map_err(engine_error)?;
        self.store.clear_pins().map_err(engine_error)?;
        let in_use: HashSet<VolumeName> = self.users()?.into_keys().collect();
        self.store.unmount_unused(&in_use).map_err(engine_error)?;
        Ok(())
    }
}

impl VolumeCatalog for Volumes<'_> {
    fn get(&self, name: &VolumeName) -> Option<Volume> {
        Volumes::get(self, name.as_str()).ok().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, Arc<VolumeService>) {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(StateDb::open(&dir.path().join("state.redb")).unwrap());
        let service = VolumeService::new(db, dir.path());
        (dir, service)
    }

    fn name(n: &str) -> VolumeName {
        VolumeName::new(n).unwrap()
    }

    #[test]
    fn create_is_idempotent_and_remove_respects_users() {
        let (_dir, service) = setup();
        let vols = service.open().unwrap();
        let (v, made) = vols
            .create(Some(name("data")), BTreeMap::new(), BTreeMap::new())
            .unwrap();
        assert!(made && v.mountpoint.is_dir());
        let (again, made) = vols
            .create(Some(name("data")), BTreeMap::new(), BTreeMap::new())
            .unwrap();
        assert!(!made);
        assert_eq!(again, v);
        vols.record_use("c1", &[], &[name("data")]).unwrap();
        let e = vols.remove("data", true).unwrap_err();
        assert!(
            matches!(e, EngineError::Conflict(ref m) if m == "remove data: volume is in use - [c1]"),
            "{e}"
        );
        assert_eq!(vols.prune(|_| true).unwrap().0, Vec::<String>::new());
        assert_eq!(vols.release("c1").unwrap(), vec![name("data")]);
        vols.remove("data", false).unwrap();
        assert!(!v.mountpoint.exists());
        assert!(vols.get("data").unwrap().is_none());
        assert!(matches!(vols.remove("data", false), Err(EngineError::NotFound(_))));
        vols.remove("data", true).unwrap();
    }

    #[test]
    fn recover_reconciles_rows_and_directories() {
        let (_dir, service) = setup();
        let vols = service.open().unwrap();
        let (kept, _) = vols
            .create(Some(name("kept")), BTreeMap::new(), BTreeMap::new())
            .unwrap();
        let (lost, _) = vols
            .create(Some(name("lost")), BTreeMap::new(), BTreeMap::new())
            .unwrap();
        // A crash between removing a directory and its row, and between making a directory and its row.
        std::fs::remove_dir_all(lost.mountpoint.parent().unwrap()).unwrap();
        let stray = vols
            .store()
            .create(Some(name("stray")), BTreeMap::new(), BTreeMap::new())
            .unwrap();
        std::fs::create_dir_all(vols.store().dir().join(".tmp-crash/_data")).unwrap();
        vols.recover().unwrap();
        let names: Vec<String> = vols.all().unwrap().into_iter().map(|v| v.name.to_string()).collect();
        assert_eq!(names, ["kept"]);
        assert!(kept.mountpoint.is_dir());
        assert!(!stray.mountpoint.exists());
        assert_eq!(vols.store().list().unwrap(), vec![name("kept")]);
        assert!(vols.store().orphans(&HashSet::from([name("kept")])).unwrap().is_empty());
    }
}
