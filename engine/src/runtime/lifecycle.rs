//! Runtime operations on one container: start (through the monitor), signal, wait, pause, remove, exec.

use super::*;

impl Runtime {
    /// Mounts the rootfs, writes the OCI bundle, spawns the detached monitor (setsid; survives the engine) and
    /// returns once the container's process runs, or the start error (`StartFailed` with 126/127 semantics).
    /// Blocking: call it from `spawn_blocking` in async code. Restarting a stopped container reuses its bundle
    /// (the upper dir keeps the container's file changes).
    pub fn start(&self, spec: &ContainerSpec) -> Result<Started> {
        let _ = spec;
        Err(RuntimeError::NotBuilt("start"))
    }

    /// Sends a signal to the container's PID 1.
    pub fn signal(&self, id: &str, sig: Signal) -> Result<()> {
        let _ = (id, sig);
        Err(RuntimeError::NotBuilt("signal"))
    }

    /// The exit record the monitor wrote when the container ended (None while running or never started).
    pub fn exit_record(&self, id: &str) -> Option<ExitRecord> {
        ExitRecord::read(&self.bundle_dir(id))
    }

    /// Resolves when the monitor of `id` has exited (pidfd; works for monitors of a previous engine too) and
    /// returns its exit record. Errors with `NotRunning` when no monitor runs and no record exists.
    pub async fn wait_monitor(&self, id: &str) -> Result<ExitRecord> {
        let _ = id;
        Err(RuntimeError::NotBuilt("wait_monitor"))
    }

    /// The monitor's pid when it is alive.
    pub fn monitor_pid(&self, id: &str) -> Option<i32> {
        let _ = id;
        None
    }

    /// Host pid of the container's PID 1 while it runs.
    pub fn container_pid(&self, id: &str) -> Option<i32> {
        let _ = id;
        None
    }

    /// Whether the container's monitor (and so the container) is alive.
    pub fn is_running(&self, id: &str) -> bool {
        self.monitor_pid(id).is_some()
    }

    /// Freezes every process of the container (freezer cgroup).
    pub fn pause(&self, id: &str) -> Result<()> {
        let _ = id;
        Err(RuntimeError::NotBuilt("pause"))
    }

    /// Thaws a paused container.
    pub fn resume(&self, id: &str) -> Result<()> {
        let _ = id;
        Err(RuntimeError::NotBuilt("resume"))
    }

    /// Kills what is left (monitor, processes), unmounts the rootfs, deletes libcontainer state and the cgroups,
    /// removes the bundle. Idempotent: removing an unknown id is Ok.
    pub fn remove(&self, id: &str) -> Result<()> {
        let _ = id;
        Err(RuntimeError::NotBuilt("remove"))
    }

    /// Ids of the bundles on disk (crash recovery: the engine removes those it has no state row for).
    pub fn bundles(&self) -> Result<Vec<String>> {
        let rd = match std::fs::read_dir(&self.root) {
            Ok(rd) => rd,
            Err(e) => return Err(RuntimeError::io(format!("listing {}", self.root.display()), e)),
        };
        Ok(rd
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()))
            .collect())
    }

    /// Runs a process inside a running container (its namespaces and cgroup) through a helper process
    /// (`berth __exec`), wired to `stdio`; the returned child exits with the process's exit code
    /// (126/127 when it cannot be executed).
    pub fn exec(&self, id: &str, process: &ProcessSpec, stdio: ExecStdio) -> Result<tokio::process::Child> {
        let _ = (id, process, stdio);
        Err(RuntimeError::NotBuilt("exec"))
    }
}
