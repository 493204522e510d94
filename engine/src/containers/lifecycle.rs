//! Start, stop, kill, restart, pause, wait, remove, the exit watcher and crash recovery.

use super::create::now;
use super::{Action, ContainerEvent, Containers};
use crate::error::{EngineError, Result};
use crate::state::{ContainerRecord, ContainerStatus};
use runtime::{ExitRecord, RuntimeError, Signal};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// `POST /containers/{id}/wait?condition=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    /// Return at once if not running, else at the next exit.
    NotRunning,
    /// The next exit, even if not running now.
    NextExit,
    /// Once the container is removed.
    Removed,
}

impl FromStr for WaitCondition {
    type Err = EngineError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "" | "not-running" => Ok(WaitCondition::NotRunning),
            "next-exit" => Ok(WaitCondition::NextExit),
            "removed" => Ok(WaitCondition::Removed),
            other => Err(EngineError::BadRequest(format!(
                "invalid condition {other:?}: expected not-running, next-exit or removed"
            ))),
        }
    }
}

/// Parses `SIGTERM`, `TERM` or `15`.
pub fn parse_signal(s: &str) -> Result<Signal> {
    let bad = || EngineError::BadRequest(format!("invalid signal: {s}"));
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| bad());
    }
    let up = s.to_ascii_uppercase();
    let full = if up.starts_with("SIG") { up } else { format!("SIG{up}") };
    Signal::from_str(&full).map_err(|_| bad())
}

pub(super) fn runtime_err(e: RuntimeError) -> EngineError {
    match e {
        RuntimeError::StartFailed { message, .. } => EngineError::BadRequest(message),
        RuntimeError::InvalidSpec(m) => EngineError::BadRequest(format!("invalid container configuration: {m}")),
        RuntimeError::NotRunning(id) => EngineError::Conflict(format!("Container {id} is not running")),
        RuntimeError::NotBuilt(what) => {
            EngineError::NotImplemented(format!("not built yet in berth's runtime: {what}"))
        }
        other => EngineError::Internal(other.to_string()),
    }
}

/// Whether losing `stopped_by_user` in a crash would let the restart policy undo a stop (then the flag is
/// written durably; other containers' stops need no fsync).
fn keeps_restarting(rec: &ContainerRecord) -> bool {
    crate::restart::Policy::of(rec) != crate::restart::Policy::No
}

pub(super) fn is_running(rec: &ContainerRecord) -> bool {
    rec.state.status == ContainerStatus::Running
}

impl Containers {
    /// Starts a created or exited container.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn start(self: &Arc<Self>, ident: &str) -> Result<()> {
        let rec = self.resolve(ident)?;
        let lock = self.lock_of(&rec.id);
        let _g = lock.lock().await;
        let rec = self.resolve(&rec.id)?;
        let result = self.start_locked(&rec).await;
        let failed = matches!(&result, Err(e) if !matches!(e, EngineError::NotModified(_)));
        if failed && rec.host_config.auto_remove == Some(true) {
            // `docker run --rm` waits for the removal even when the start fails.
            if let Err(re) = self.finish_remove(&rec.id, true).await {
                tracing::warn!(container = %rec.id, "auto-remove after a failed start: {re}");
            }
        }
        result
    }

    async fn start_locked(self: &Arc<Self>, rec: &ContainerRecord) -> Result<()> {
        let rec = rec.clone();
        match rec.state.status {
            ContainerStatus::Running => return Err(EngineError::NotModified("container already started".into())),
            ContainerStatus::Removing | ContainerStatus::Dead => {
                return Err(EngineError::Conflict(format!(
                    "container {} is marked for removal and cannot be started",
                    rec.id
                )))
            }
            _ => {}
        }
        let mut spec = self.build_spec(&rec)?;
        spec.process.env.extend(self.link_env(&rec).await?);
        // The network first: a refused port or unknown network leaves nothing mounted.
        self.setup_network(&rec, &mut spec).await?;
        // Mounts and copy-up block for milliseconds: off the async workers, which carry every other start's
        // netlink replies and API calls.
        let prepared = {
            let paths = self.runtime.paths(&rec.id);
            let (me, lower, mounts) = (self.clone(), spec.lower_dirs.clone(), rec.mounts.clone());
            tokio::task::spawn_blocking(move || me.mount_rootfs(&paths, &lower, &mounts))
                .await
                .map_err(|e| EngineError::internal("mounting the container's root filesystem", e))
                .and_then(|r| r)
        };
        let prepared = match prepared {
            Ok(p) => p,
            Err(e) => {
                self.teardown_network(&rec.id).await;
                return Err(e);
            }
        };
        spec.mounts = prepared.binds;
        spec.tmpfs = prepared.tmpfs;
        let rt = self.runtime.clone();
        let started = tokio::task::spawn_blocking(move || rt.start(&spec))
            .await
            .map_err(|e| EngineError::internal("starting the container", e))?;
        if let Ok(vols) = self.volumes() {
            if let Err(e) = crate::volumes::container::after_start(&vols, &prepared.pins) {
                tracing::warn!(container = %rec.id, "releasing pinned subpaths: {e}");
            }
        }
        let started = match started {
            Ok(s) => s,
            Err(e) => {
                self.teardown_network(&rec.id).await;
                let (msg, code) = match &e {
                    RuntimeError::StartFailed { message, exit_code } => (message.clone(), *exit_code as i64),
                    other => (other.to_string(), 128),
                };
                self.db.update_container(&rec.id, |r| {
                    r.state.error = msg.clone();
                    r.state.exit_code = code;
                    Ok(())
                })?;
                return Err(runtime_err(e));
            }
        };
        self.db.update_container(&rec.id, |r| {
            r.state.status = ContainerStatus::Running;
            r.state.paused = false;
            r.state.pid = started.pid as i64;
            r.state.monitor_pid = started.monitor_pid as i64;
            r.state.exit_code = 0;
            r.state.oom_killed = false;
            r.state.error.clear();
            r.state.started_at = started.started_at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
            r.state.stopped_by_user = false;
            Ok(())
        })?;
        self.emit(&rec.id, Action::Start, None);
        self.watch_exit(rec.id.clone());
        Ok(())
    }

    /// Mounts the container's root filesystem, then its volumes (copy-up reads the mounted rootfs, and the
    /// runtime finds it mounted). On error nothing stays mounted.
    fn mount_rootfs(
        &self,
        paths: &runtime::rootfs::BundlePaths,
        lower: &[std::path::PathBuf],
        mounts: &[volumes::MountRequest],
    ) -> Result<crate::volumes::container::StartMounts> {
        paths
            .create()
            .and_then(|_| runtime::rootfs::mount_overlay(paths, lower))
            .map_err(runtime_err)?;
        let prepared = self
            .volumes()
            .and_then(|vols| crate::volumes::container::on_start(&vols, mounts, &paths.rootfs));
        if prepared.is_err() {
            let _ = runtime::rootfs::unmount(&paths.rootfs);
        }
        prepared
    }

    /// Spawns the task that records the container's exit when its monitor ends.
    pub(crate) fn watch_exit(self: &Arc<Self>, id: String) {
        let me = self.clone();
        tokio::spawn(async move {
            let record = me.runtime.wait_monitor(&id).await;
            me.on_exit(&id, record).await;
        });
    }

    async fn on_exit(self: &Arc<Self>, id: &str, record: runtime::Result<ExitRecord>) {
        let (code, oom, finished, error) = match record {
            Ok(r) => (
                r.exit_code as i64,
                r.oom_killed,
                r.finished_at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
                r.error,
            ),
            Err(e) => (255, false, now(), Some(format!("lost the container's monitor: {e}"))),
        };
        // Before the row says exited, so a start that follows never meets a teardown in progress.
        self.teardown_network(id).await;
        let updated = self.db.update_container(id, |r| {
            if r.state.status == ContainerStatus::Running {
                // Marked in the same write as the exit, as dockerd does: a `wait` that returns on this exit
                // already finds the container restarting (and `rm` refused), not a window where it is exited.
                r.state.status = if crate::restart::will_restart(r, code) {
                    ContainerStatus::Restarting
                } else {
                    ContainerStatus::Exited
                };
            }
            r.state.paused = false;
            r.state.pid = 0;
            r.state.monitor_pid = 0;
            r.state.exit_code = code;
            r.state.oom_killed = oom;
            r.state.finished_at = finished.clone();
            if let Some(e) = &error {
                r.state.error = e.clone();
            }
            Ok(())
        });
        if let Ok(rec) = &updated {
            self.unmount_unused_volumes(rec);
        }
        tracing::info!(container = id, exit_code = code, "container exited");
        self.emit(id, Action::Die, Some(code));
        if let Ok(rec) = updated {
            if rec.host_config.auto_remove == Some(true) {
                if let Err(e) = self.remove_with_volumes(id, true, true).await {
                    tracing::warn!(container = id, "auto-remove failed: {e}");
                }
            }
        }
    }

    /// Unmounts the local-driver volumes of an exited container that no running container still uses.
    fn unmount_unused_volumes(&self, rec: &ContainerRecord) {
        // Only a container with volumes needs the others' (a scan of every row, N² over a `down`).
        if !rec.mounts.iter().any(|m| m.volume().is_some()) {
            return;
        }
        let (Ok(all), Ok(vols)) = (self.db.containers(), self.volumes()) else {
            return;
        };
        let running: Vec<&[volumes::MountRequest]> = all
            .iter()
            .filter(|c| c.id != rec.id && is_running(c))
            .map(|c| c.mounts.as_slice())
            .collect();
        if let Err(e) = crate::volumes::container::on_stop(&vols, &rec.mounts, &running) {
            tracing::warn!(container = %rec.id, "unmounting volumes: {e}");
        }
    }

    /// Graceful stop: the stop signal, `timeout` seconds of grace (None: the container's StopTimeout or 10),
    /// then SIGKILL.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn stop(&self, ident: &str, timeout: Option<i64>, signal: Option<&str>) -> Result<()> {
        let rec = self.resolve(ident)?;
        let lock = self.lock_of(&rec.id);
        let _g = lock.lock().await;
        let rec = self.resolve(&rec.id)?;
        if !is_running(&rec) {
            // A stop during a restart policy's back-off cancels the pending restart.
            self.db.update_container_with(&rec.id, keeps_restarting(&rec), |r| {
                r.state.stopped_by_user = true;
                Ok(())
            })?;
            return Err(EngineError::NotModified("container already stopped".into()));
        }
        let sig = match signal.or(rec.config.stop_signal.as_deref()) {
            Some(s) => parse_signal(s)?,
            None => Signal::SIGTERM,
        };
        let grace = timeout.or(rec.config.stop_timeout).unwrap_or(10);
        self.db.update_container_with(&rec.id, keeps_restarting(&rec), |r| {
            r.state.stopped_by_user = true;
            Ok(())
        })?;
        let mut events = self.subscribe();
        if rec.state.paused {
            let _ = self.runtime.resume(&rec.id);
        }
        self.signal_and_wait(&rec.id, sig, &mut events, grace).await?;
        self.emit(&rec.id, Action::Stop, None);
        Ok(())
    }

    async fn signal_and_wait(
        &self,
        id: &str,
        sig: Signal,
        events: &mut tokio::sync::broadcast::Receiver<ContainerEvent>,
        grace: i64,
    ) -> Result<()> {
        if let Err(e) = self.runtime.signal(id, sig) {
            // No process to signal: it exited (or its monitor died with an engine crash) before the row caught up.
            // The exit watcher records that in a moment: wait for it (bounded, as recovery records a crash's), so
            // a restart's start that follows finds the container exited, not still running.
            if !self.running_now(id)? || matches!(e, RuntimeError::NotRunning(_)) {
                self.wait_die(id, events, Duration::from_secs(5)).await?;
                return Ok(());
            }
            return Err(runtime_err(e));
        }
        self.emit(id, Action::Kill, None);
        let grace = Duration::from_secs(grace.max(0) as u64);
        if grace.is_zero() || !self.wait_die(id, events, grace).await? {
            if sig != Signal::SIGKILL {
                let _ = self.runtime.signal(id, Signal::SIGKILL);
                self.emit(id, Action::Kill, None);
            }
            if !self.wait_die(id, events, Duration::from_secs(30)).await? {
                return Err(EngineError::Internal(format!(
                    "container {id} did not exit after SIGKILL"
                )));
            }
        }
        Ok(())
    }

    fn running_now(&self, id: &str) -> Result<bool> {
        Ok(self.db.container(id)?.is_some_and(|r| is_running(&r)))
    }

    /// Waits up to `limit` for the container's `Die`; true when it is not running (any more).
    async fn wait_die(
        &self,
        id: &str,
        events: &mut tokio::sync::broadcast::Receiver<ContainerEvent>,
        limit: Duration,
    ) -> Result<bool> {
        let deadline = tokio::time::Instant::now() + limit;
        if !self.running_now(id)? {
            return Ok(true);
        }
        // The row is read again only when events were lost: every stop of a `down` hears every other
        // container's events, and a read per event made N stops cost N² row decodes.
        loop {
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Err(_) => return Ok(!self.running_now(id)?),
                Ok(Ok(ev)) if ev.id == id && matches!(ev.action, Action::Die | Action::Destroy) => return Ok(true),
                Ok(Ok(_)) => {}
                Ok(Err(RecvError::Lagged(_))) => {
                    if !self.running_now(id)? {
                        return Ok(true);
                    }
                }
                Ok(Err(RecvError::Closed)) => return Ok(!self.running_now(id)?),
            }
        }
    }

    /// Sends a signal (default SIGKILL); with SIGKILL, returns once the container has exited.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn kill(&self, ident: &str, signal: Option<&str>) -> Result<()> {
        let rec = self.resolve(ident)?;
        if !is_running(&rec) {
            return Err(EngineError::Conflict(format!(
                "Cannot kill container: {}: Container {} is not running",
                ident, rec.id
            )));
        }
        let sig = signal
            .filter(|s| !s.is_empty())
            .map(parse_signal)
            .transpose()?
            .unwrap_or(Signal::SIGKILL);
        let mut events = self.subscribe();
        self.runtime.signal(&rec.id, sig).map_err(runtime_err)?;
        self.emit(&rec.id, Action::Kill, None);
        if sig == Signal::SIGKILL {
            self.wait_die(&rec.id, &mut events, Duration::from_secs(30)).await?;
        }
        Ok(())
    }

    /// Stops (if running) then starts.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn restart(self: &Arc<Self>, ident: &str, timeout: Option<i64>, signal: Option<&str>) -> Result<()> {
        match self.stop(ident, timeout, signal).await {
            Ok(()) | Err(EngineError::NotModified(_)) => {}
            Err(e) => return Err(e),
        }
        self.start(ident).await
    }

    /// Freezes a running container.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn pause(&self, ident: &str) -> Result<()> {
        let rec = self.resolve(ident)?;
        if !is_running(&rec) {
            return Err(EngineError::Conflict(format!("Container {} is not running", rec.id)));
        }
        if rec.state.paused {
            return Err(EngineError::Conflict(format!("Container {} is already paused", rec.id)));
        }
        self.runtime.pause(&rec.id).map_err(runtime_err)?;
        // Durable: recovery does not read the freezer back.
        self.db.update_container_with(&rec.id, true, |r| {
            r.state.paused = true;
            Ok(())
        })?;
        self.emit(&rec.id, Action::Pause, None);
        Ok(())
    }

    /// Thaws a paused container.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn unpause(&self, ident: &str) -> Result<()> {
        let rec = self.resolve(ident)?;
        if !rec.state.paused {
            return Err(EngineError::Conflict(format!("Container {} is not paused", rec.id)));
        }
        self.runtime.resume(&rec.id).map_err(runtime_err)?;
        self.db.update_container_with(&rec.id, true, |r| {
            r.state.paused = false;
            Ok(())
        })?;
        self.emit(&rec.id, Action::Unpause, None);
        Ok(())
    }

    /// Resizes the terminal of a running tty container.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub fn resize(&self, ident: &str, rows: u16, cols: u16) -> Result<()> {
        let rec = self.resolve(ident)?;
        if !is_running(&rec) {
            return Err(EngineError::Conflict(format!("Container {} is not running", rec.id)));
        }
        self.runtime.resize(&rec.id, rows, cols).map_err(runtime_err)
    }

    /// Renames a container.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub fn rename(&self, ident: &str, new_name: &str) -> Result<()> {
        let rec = self.resolve(ident)?;
        let name = super::create::valid_name_pub(new_name)?;
        self.db.rename_container(&rec.id, &name)?;
        self.emit(&rec.id, Action::Rename, None);
        Ok(())
    }

    /// Removes a container; a running one only with `force` (killed first).
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn remove(&self, ident: &str, force: bool) -> Result<()> {
        self.remove_with_volumes(ident, force, false).await
    }

    /// Removes a container; `volumes` (`docker rm -v`) also removes its anonymous volumes.
    pub async fn remove_with_volumes(&self, ident: &str, force: bool, volumes: bool) -> Result<()> {
        let rec = self.resolve(ident)?;
        let lock = self.lock_of(&rec.id);
        let _g = lock.lock().await;
        let Some(rec) = self.db.container(&rec.id)? else {
            return Ok(());
        };
        if rec.state.status == ContainerStatus::Restarting && !force {
            return Err(EngineError::Conflict(format!(
                "You cannot remove a restarting container {}. Stop the container before attempting removal or force remove",
                rec.id
            )));
        }
        if is_running(&rec) {
            if !force {
                return Err(EngineError::Conflict(format!(
                    "You cannot remove a running container {}. Stop the container before attempting removal or force remove",
                    rec.id
                )));
            }
            let mut events = self.subscribe();
            self.signal_and_wait(&rec.id, Signal::SIGKILL, &mut events, 0).await?;
        }
        self.finish_remove(&rec.id, volumes).await
    }

    /// Marks the row, removes the runtime objects, then the row: a crash in between is finished by `recover`.
    async fn finish_remove(&self, id: &str, volumes: bool) -> Result<()> {
        self.db.update_container(id, |r| {
            r.state.status = ContainerStatus::Removing;
            Ok(())
        })?;
        // The mark is durable before anything goes, so a crash midway is finished by `recover`.
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.sync())
            .await
            .map_err(|e| EngineError::internal("storing the removal mark", e))??;
        let rt = self.runtime.clone();
        let owned = id.to_owned();
        let res = tokio::task::spawn_blocking(move || rt.remove(&owned))
            .await
            .map_err(|e| EngineError::internal("removing the container", e))?;
        if let Err(e) = res {
            self.db.update_container(id, |r| {
                r.state.status = ContainerStatus::Dead;
                r.state.error = e.to_string();
                Ok(())
            })?;
            return Err(EngineError::Internal(format!("removing container {id}: {e}")));
        }
        if let Some(rec) = self.db.container(id)? {
            let vols = self.volumes()?;
            crate::volumes::container::on_remove(&vols, id, &rec.mounts, volumes)?;
        }
        // The row must go (and `destroy` be told: attached clients wait for it) even when the network service is
        // down; what it still holds of this container is removed as an orphan at the next engine start.
        if let Err(e) = self.forget_network(id).await {
            tracing::warn!(container = %id, "network leftovers kept until the next engine start: {e}");
        }
        self.db.remove_container(id)?;
        self.forget_lock(id);
        self.emit(id, Action::Destroy, None);
        Ok(())
    }

    /// Waits for `condition`; returns the exit code.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn wait(&self, ident: &str, condition: WaitCondition) -> Result<i64> {
        let mut events = self.subscribe();
        let rec = self.resolve(ident)?;
        let id = rec.id.clone();
        let mut code = rec.state.exit_code;
        if condition == WaitCondition::NotRunning && !is_running(&rec) {
            return Ok(code);
        }
        loop {
            match events.recv().await {
                Ok(ev) if ev.id == id => match ev.action {
                    Action::Die => {
                        code = ev.exit_code.unwrap_or(code);
                        if condition != WaitCondition::Removed {
                            return Ok(code);
                        }
                    }
                    Action::Destroy => return Ok(code),
                    _ => {}
                },
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => match self.db.container(&id)? {
                    None => return Ok(code),
                    Some(r) if condition == WaitCondition::NotRunning && !is_running(&r) => {
                        return Ok(r.state.exit_code)
                    }
                    Some(r) => code = r.state.exit_code,
                },
                Err(RecvError::Closed) => return Err(EngineError::Internal("the engine is shutting down".into())),
            }
        }
    }

    /// Crash recovery at engine start: finish interrupted removals, drop bundles without a row,
    /// re-adopt running containers through their monitors and record exits that happened meanwhile.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub async fn recover(self: &Arc<Self>) -> Result<()> {
        // Networks come back (bridges, rules, DNS) and a crash's leftovers go, before any container.
        if let Err(e) = self.networks().await {
            tracing::warn!("the network service could not start: {e}");
        }
        let records = self.db.containers()?;
        let known: std::collections::HashSet<&str> = records.iter().map(|r| r.id.as_str()).collect();
        for bundle in self.runtime.bundles().map_err(runtime_err)? {
            if !known.contains(bundle.as_str()) {
                tracing::info!(container = %bundle, "removing a half-made bundle");
                self.runtime.remove(&bundle).map_err(runtime_err)?;
            }
        }
        for rec in records {
            match rec.state.status {
                ContainerStatus::Removing | ContainerStatus::Dead => {
                    if let Err(e) = self.finish_remove(&rec.id, false).await {
                        tracing::warn!(container = %rec.id, "could not finish removal: {e}");
                    }
                }
                _ if self.runtime.is_running(&rec.id) => {
                    self.adopt(&rec)?;
                    self.readopt_network(&rec).await;
                }
                ContainerStatus::Running | ContainerStatus::Restarting => self.watch_exit(rec.id.clone()),
                _ => {}
            }
        }
        Ok(())
    }

    fn adopt(self: &Arc<Self>, rec: &ContainerRecord) -> Result<()> {
        let pid = self.runtime.container_pid(&rec.id).unwrap_or(0) as i64;
        let monitor = self.runtime.monitor_pid(&rec.id).unwrap_or(0) as i64;
        self.db.update_container(&rec.id, |r| {
            r.state.status = ContainerStatus::Running;
            if pid != 0 {
                r.state.pid = pid;
            }
            r.state.monitor_pid = monitor;
            Ok(())
        })?;
        tracing::info!(container = %rec.id, "re-adopted a running container");
        self.watch_exit(rec.id.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_and_conditions() {
        assert_eq!(parse_signal("TERM").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("sigkill").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("2").unwrap(), Signal::SIGINT);
        assert!(parse_signal("NOPE").is_err());
        assert_eq!("removed".parse::<WaitCondition>().unwrap(), WaitCondition::Removed);
        assert!("soon".parse::<WaitCondition>().is_err());
    }
}
