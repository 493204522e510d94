//! Container rows: config, status, timestamps, exit codes; names kept unique in the same transaction.

use super::{from_json, to_json, StateDb, CONTAINERS, NAMES};
use crate::error::{EngineError, Result};
use bollard::models::{ContainerConfig, HostConfig};
use redb::{ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};

/// A container's lifecycle status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerStatus {
    /// Created, never started.
    Created,
    /// Its process runs (possibly paused: see `RunState::paused`).
    Running,
    /// Waiting to be restarted by its restart policy.
    Restarting,
    /// Being removed; a crash here is finished by the next engine start.
    Removing,
    /// Its process ended.
    Exited,
    /// Could not be cleaned up.
    Dead,
}

impl ContainerStatus {
    /// Docker's name of the status.
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerStatus::Created => "created",
            ContainerStatus::Running => "running",
            ContainerStatus::Restarting => "restarting",
            ContainerStatus::Removing => "removing",
            ContainerStatus::Exited => "exited",
            ContainerStatus::Dead => "dead",
        }
    }
}

/// The running state of a container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// Lifecycle status.
    pub status: ContainerStatus,
    /// Frozen through the freezer cgroup.
    #[serde(default)]
    pub paused: bool,
    /// Host pid of the container's first process (0 when not running).
    pub pid: i64,
    /// Host pid of the monitor owning the container (0 when none).
    #[serde(default)]
    pub monitor_pid: i64,
    /// Last exit code.
    pub exit_code: i64,
    /// Last exit was an OOM kill.
    pub oom_killed: bool,
    /// Last start error.
    pub error: String,
    /// RFC 3339 of the last start (Docker's zero time when never).
    pub started_at: String,
    /// RFC 3339 of the last exit (Docker's zero time when never).
    pub finished_at: String,
    /// Restarts done by the restart policy.
    #[serde(default)]
    pub restart_count: i64,
    /// The user asked it to stop (restart policies must not undo that).
    #[serde(default)]
    pub stopped_by_user: bool,
}

/// Docker's "never" timestamp.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

impl Default for RunState {
    fn default() -> Self {
        RunState {
            status: ContainerStatus::Created,
            paused: false,
            pid: 0,
            monitor_pid: 0,
            exit_code: 0,
            oom_killed: false,
            error: String::new(),
            started_at: ZERO_TIME.into(),
            finished_at: ZERO_TIME.into(),
            restart_count: 0,
            stopped_by_user: false,
        }
    }
}

/// Everything the engine keeps about one container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerRecord {
    /// 64 hex.
    pub id: String,
    /// Unique name, without the leading `/`.
    pub name: String,
    /// RFC 3339 creation time.
    pub created: String,
    /// The image as the user named it.
    pub image: String,
    /// The image id (`sha256:...`).
    pub image_id: String,
    /// Effective config (image defaults merged with the request).
    pub config: ContainerConfig,
    /// Host config as requested.
    pub host_config: HostConfig,
    /// Process path (first argument).
    pub path: String,
    /// Remaining arguments.
    pub args: Vec<String>,
    /// Running state.
    pub state: RunState,
    /// Mounts as parsed at create (anonymous volumes named), prepared again at each start.
    #[serde(default)]
    pub mounts: Vec<volumes::MountRequest>,
    /// `NetworkingConfig.EndpointsConfig` as created (network name/id → aliases, addresses).
    #[serde(default)]
    pub endpoints: std::collections::HashMap<String, bollard::models::EndpointSettings>,
    /// `HostConfig.PortBindings` as typed requests, parsed once at create (published at every start).
    #[serde(default)]
    pub ports: Vec<netstack::PortRequest>,
}

impl StateDb {
    /// Inserts a new container; its name must be free (409 otherwise).
    pub fn insert_container(&self, rec: &ContainerRecord) -> Result<()> {
        // Lazy, then `sync`: durable before the answer, one fsync shared by concurrent creates.
        let tx = self.begin_lazy()?;
        {
            let mut names = tx.open_table(NAMES)?;
            if let Some(other) = names.get(rec.name.as_str())? {
                return Err(EngineError::Conflict(format!(
                    "Conflict. The container name \"/{}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                    rec.name,
                    other.value()
                )));
            }
            names.insert(rec.name.as_str(), rec.id.as_str())?;
            tx.open_table(CONTAINERS)?
                .insert(rec.id.as_str(), to_json(rec)?.as_slice())?;
        }
        tx.commit()?;
        self.sync()
    }

    /// One container by full id.
    pub fn container(&self, id: &str) -> Result<Option<ContainerRecord>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(CONTAINERS)?;
        let v = t.get(id)?;
        v.map(|g| from_json(g.value())).transpose()
    }

    /// Every container.
    pub fn containers(&self) -> Result<Vec<ContainerRecord>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(CONTAINERS)?;
        let mut out = Vec::new();
        for row in t.iter()? {
            let (_, v) = row?;
            out.push(from_json(v.value())?);
        }
        Ok(out)
    }

    /// Finds a container by full id, name (with or without `/`) or unique id prefix.
    pub fn resolve_container(&self, ident: &str) -> Result<ContainerRecord> {
        let not_found = || EngineError::NotFound(format!("No such container: {ident}"));
        if ident.is_empty() {
            return Err(not_found());
        }
        if let Some(rec) = self.container(ident)? {
            return Ok(rec);
        }
        let name = ident.strip_prefix('/').unwrap_or(ident);
        if let Some(id) = self.container_by_name(name)? {
            return self.container(&id)?.ok_or_else(not_found);
        }
        if !ident.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(not_found());
        }
        let mut found = self.containers()?.into_iter().filter(|c| c.id.starts_with(ident));
        match (found.next(), found.next()) {
            (Some(c), None) => Ok(c),
            (None, _) => Err(not_found()),
            (Some(_), Some(_)) => Err(EngineError::BadRequest(format!(
                "multiple containers found with id prefix {ident:?}"
            ))),
        }
    }

    /// The id a name belongs to.
    pub fn container_by_name(&self, name: &str) -> Result<Option<String>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(NAMES)?;
        let v = t.get(name)?;
        Ok(v.map(|g| g.value().to_owned()))
    }

    /// Applies `f` to a container's record atomically and returns the new record. The commit is lazy (see
    /// `StateDb::begin_lazy`): status, pids and exit codes are rebuilt from the runtime after a crash.
    pub fn update_container<F>(&self, id: &str, f: F) -> Result<ContainerRecord>
    where
        F: FnOnce(&mut ContainerRecord) -> Result<()>,
    {
        self.update_container_with(id, false, f)
    }

    /// As `update_container`, fsynced when `durable` (a change recovery could not rebuild).
    pub fn update_container_with<F>(&self, id: &str, durable: bool, f: F) -> Result<ContainerRecord>
    where
        F: FnOnce(&mut ContainerRecord) -> Result<()>,
    {
        let tx = self.begin_lazy()?;
        let rec = {
            let mut t = tx.open_table(CONTAINERS)?;
            let mut rec: ContainerRecord = match t.get(id)? {
                Some(g) => from_json(g.value())?,
                None => return Err(EngineError::NotFound(format!("No such container: {id}"))),
            };
            f(&mut rec)?;
            t.insert(id, to_json(&rec)?.as_slice())?;
            rec
        };
        tx.commit()?;
        if durable {
            self.sync()?;
        }
        Ok(rec)
    }

    /// Renames a container (the new name must be free).
    pub fn rename_container(&self, id: &str, new_name: &str) -> Result<()> {
        let tx = self.db.begin_write()?;
        {
            let mut names = tx.open_table(NAMES)?;
            if let Some(other) = names.get(new_name)? {
                return Err(EngineError::Conflict(format!(
                    "Error when allocating new name: Conflict. The container name \"/{new_name}\" is already in use by container \"{}\".",
                    other.value()
                )));
            }
            let mut t = tx.open_table(CONTAINERS)?;
            let mut rec: ContainerRecord = match t.get(id)? {
                Some(g) => from_json(g.value())?,
                None => return Err(EngineError::NotFound(format!("No such container: {id}"))),
            };
            names.remove(rec.name.as_str())?;
            names.insert(new_name, id)?;
            rec.name = new_name.to_owned();
            t.insert(id, to_json(&rec)?.as_slice())?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Deletes a container row and its name (durable on return; the fsync shared with concurrent removals).
    pub fn remove_container(&self, id: &str) -> Result<()> {
        let tx = self.begin_lazy()?;
        {
            let mut t = tx.open_table(CONTAINERS)?;
            let name = match t.remove(id)? {
                Some(g) => from_json::<ContainerRecord>(g.value())?.name,
                None => return Ok(()),
            };
            let mut names = tx.open_table(NAMES)?;
            names.remove(name.as_str())?;
        }
        tx.commit()?;
        self.sync()
    }
}
