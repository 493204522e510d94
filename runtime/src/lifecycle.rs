//! Runtime operations on one container: start (through the monitor), signal, wait, pause, remove.

use super::monitor::{MonitorConfig, StartReport, CONFIG_FILE, CONTAINER_PID_FILE, MONITOR_PID_FILE};
use super::rootfs::{self, BundlePaths};
use super::spec::{self as ocispec, SpecInputs};
use super::*;
use std::io::BufRead;
use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::time::Duration;

impl Runtime {
    /// Mounts the rootfs, writes the OCI bundle, spawns the detached monitor (setsid; survives the engine) and
    /// returns once the container's process runs, or the start error (`StartFailed` with 126/127 semantics).
    /// Blocking: call it from `spawn_blocking` in async code. Restarting a stopped container reuses its bundle
    /// (the upper dir keeps the container's file changes).
    #[tracing::instrument(skip_all, fields(id = %spec.id))]
    pub fn start(&self, spec: &ContainerSpec) -> Result<Started> {
        check_id(&spec.id)?;
        if self.monitor_pid(&spec.id).is_some() {
            return Err(RuntimeError::AlreadyExists(spec.id.clone()));
        }
        self.move_legacy_bundle(&spec.id)?;
        let paths = self.paths(&spec.id);
        // Container ids are never reused, so a container whose bundle has no cgroup path yet (written below,
        // before anything is spawned) was never started: nothing of an earlier run can be left, and the first
        // start is spared a scan of every cgroup hierarchy. The bundle dir itself is no sign: the engine makes it
        // to mount the rootfs and the volumes before it calls this.
        let restart = paths.dir.join(cgroups::PATH_FILE).exists();
        paths.create()?;
        if restart {
            for stale in [exit::EXIT_FILE, CONTAINER_PID_FILE, MONITOR_PID_FILE] {
                let _ = std::fs::remove_file(paths.dir.join(stale));
            }
            // A crashed earlier run (monitor killed) may have left processes, libcontainer state or cgroups.
            self.kill_everything(&spec.id);
            let _ = cgroups::remove(&cgroups::rel_of(&paths.dir, &spec.id));
        }
        let rel = cgroups::rel_path(&spec.id, spec.cgroup_parent.as_deref());
        std::fs::write(paths.dir.join(cgroups::PATH_FILE), &rel)
            .map_err(|e| RuntimeError::io("writing the cgroup path", e))?;
        let _ = std::fs::remove_dir_all(self.lc_root().join(&spec.id));
        rootfs::mount_overlay(&paths, &spec.lower_dirs)?;
        let mut res = Ok(());
        if spec.shm == ShmMode::Shareable {
            let size = spec
                .resources
                .shm_size
                .filter(|s| *s > 0)
                .unwrap_or(ocispec::DEFAULT_SHM);
            res = rootfs::mount_shm(&paths.shm, size);
        }
        let res = res.and_then(|()| self.prepare_and_spawn(spec, &paths));
        if res.is_err() {
            let _ = rootfs::unmount(&paths.shm);
            let _ = rootfs::unmount(&paths.rootfs);
        }
        res
    }

    fn prepare_and_spawn(&self, spec: &ContainerSpec, paths: &BundlePaths) -> Result<Started> {
        rootfs::write_etc_files(paths, spec)?;
        let rel = cgroups::rel_of(&paths.dir, &spec.id);
        let user = user::resolve(
            &paths.rootfs,
            spec.process.user.as_deref(),
            &spec.process.additional_groups,
        )?;
        let init = if spec.init { Some(find_init()?) } else { None };
        let inputs = SpecInputs {
            user: &user,
            etc_dir: &paths.etc,
            init_binary: init.as_deref(),
            cgroups: cgroups::CgroupVersion::detect(),
            cgroup_rel: &rel,
            shm_dir: &paths.shm,
        };
        let oci = ocispec::build(spec, &inputs)?;
        let cfg_path = paths.dir.join("config.json");
        oci.save(&cfg_path)
            .map_err(|e| RuntimeError::io(format!("writing {}", cfg_path.display()), std::io::Error::other(e)))?;
        let profile = oci.linux().as_ref().and_then(|l| l.seccomp().as_ref());
        self.seccomp_programs
            .write_for(&paths.dir, profile)
            .map_err(|e| RuntimeError::io("writing the seccomp program", e))?;
        if spec.process.open_stdin {
            self.ensure_stdin_fifo(&spec.id)?;
        }
        let mcfg = MonitorConfig {
            id: spec.id.clone(),
            lc_root: self.lc_root(),
            tty: spec.process.tty,
            open_stdin: spec.process.open_stdin,
            stdin_once: spec.process.stdin_once,
            log: spec.log.clone(),
            log_path: self.log_path(&spec.id),
            disable_oom_killer: oci
                .linux()
                .as_ref()
                .and_then(|l| l.resources().as_ref())
                .and_then(|r| r.memory().as_ref())
                .and_then(|m| m.disable_oom_killer())
                .unwrap_or(false),
            cgroup_mounts: cgroups::v1_mount_points(),
        };
        let data = serde_json::to_vec(&mcfg)
            .map_err(|e| RuntimeError::io("encoding monitor config", std::io::Error::other(e)))?;
        std::fs::write(paths.dir.join(CONFIG_FILE), data).map_err(|e| RuntimeError::io("writing monitor config", e))?;
        self.spawn_monitor(&paths.dir)
    }

    fn spawn_monitor(&self, bundle: &Path) -> Result<Started> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(bundle.join("monitor.log"))
            .map_err(|e| RuntimeError::io("opening monitor.log", e))?;
        let line = self.monitor_report(bundle, log)?;
        match serde_json::from_str::<StartReport>(line.trim()) {
            Ok(StartReport::Started { pid, monitor_pid }) => Ok(Started {
                pid,
                monitor_pid,
                started_at: chrono::Utc::now(),
            }),
            Ok(StartReport::Failed { message, exit_code }) => Err(RuntimeError::StartFailed { message, exit_code }),
            Err(_) => {
                let log = std::fs::read_to_string(bundle.join("monitor.log")).unwrap_or_default();
                let tail: String = log
                    .lines()
                    .rev()
                    .take(5)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join("\n");
                Err(RuntimeError::StartFailed {
                    message: format!("the container monitor did not report a start: {tail}"),
                    exit_code: 125,
                })
            }
        }
    }

    /// Starts the monitor (forked by the zygote, or exec'd where the zygote is unavailable) and reads its start
    /// report, one JSON line.
    fn monitor_report(&self, bundle: &Path, log: std::fs::File) -> Result<String> {
        for _ in 0..2 {
            let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
                .map_err(|e| RuntimeError::errno("creating the monitor's report pipe", e))?;
            if self.zygote.spawn_monitor(bundle, write.as_fd(), log.as_fd()).is_err() {
                break;
            }
            drop(write);
            let mut line = String::new();
            let _ = std::io::BufReader::new(std::fs::File::from(read)).read_line(&mut line);
            if !line.is_empty() || !self.zygote.died() {
                return Ok(line);
            }
        }
        self.exec_monitor(bundle, log)
    }

    fn exec_monitor(&self, bundle: &Path, log: std::fs::File) -> Result<String> {
        let mut child = Command::new(&self.monitor_exe)
            .arg("__monitor")
            .arg(bundle)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| RuntimeError::io(format!("spawning monitor {}", self.monitor_exe.display()), e))?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = std::io::BufReader::new(out).read_line(&mut line);
        }
        let _ = child.wait();
        Ok(line)
    }

    /// Sends a signal to the container's PID 1.
    pub fn signal(&self, id: &str, sig: Signal) -> Result<()> {
        let pid = self
            .container_pid(id)
            .ok_or_else(|| RuntimeError::NotRunning(id.to_owned()))?;
        match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig) {
            Ok(()) => Ok(()),
            Err(nix::errno::Errno::ESRCH) => Err(RuntimeError::NotRunning(id.to_owned())),
            Err(e) => Err(RuntimeError::errno(format!("sending {sig} to container {id}"), e)),
        }
    }

    /// The exit record the monitor wrote when the container ended (None while running or never started).
    pub fn exit_record(&self, id: &str) -> Option<ExitRecord> {
        ExitRecord::read(&self.bundle_dir(id))
    }

    /// Resolves when the monitor of `id` has exited (pidfd; works for monitors of a previous engine too) and
    /// returns its exit record. Errors with `NotRunning` when no monitor runs and no record exists.
    pub async fn wait_monitor(&self, id: &str) -> Result<ExitRecord> {
        if let Some(pid) = self.monitor_pid(id) {
            if let Ok(fd) = pidfd::open(pid) {
                // The pid may have been reused between reading the file and opening the pidfd.
                if self.monitor_pid(id) == Some(pid) {
                    pidfd::exited(fd)
                        .await
                        .map_err(|e| RuntimeError::io("waiting for the monitor", e))?;
                }
            }
        }
        match self.exit_record(id) {
            Some(r) => Ok(r),
            None if self.bundle_dir(id).join(MONITOR_PID_FILE).exists() => Ok(ExitRecord {
                exit_code: 255,
                oom_killed: false,
                finished_at: chrono::Utc::now(),
                error: Some("the container monitor died without recording an exit status".into()),
            }),
            None => Err(RuntimeError::NotRunning(id.to_owned())),
        }
    }

    /// The monitor's pid when it is alive (checked against /proc so a reused pid is not mistaken for it).
    pub fn monitor_pid(&self, id: &str) -> Option<i32> {
        let bundle = self.bundle_dir(id);
        let pid: i32 = std::fs::read_to_string(bundle.join(MONITOR_PID_FILE))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
        let is_ours =
            args.iter().any(|a| *a == b"__monitor") && args.iter().any(|a| *a == bundle.as_os_str().as_encoded_bytes());
        let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| s.rsplit(')').next().is_some_and(|r| r.trim_start().starts_with('Z')))
            .unwrap_or(true);
        (is_ours && !zombie).then_some(pid)
    }

    /// Host pid of the container's PID 1 while it runs.
    pub fn container_pid(&self, id: &str) -> Option<i32> {
        self.monitor_pid(id)?;
        std::fs::read_to_string(self.bundle_dir(id).join(CONTAINER_PID_FILE))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Whether the container's monitor (and so the container) is alive.
    pub fn is_running(&self, id: &str) -> bool {
        self.container_pid(id).is_some()
    }

    fn lc_container(&self, id: &str) -> Result<libcontainer::container::Container> {
        if !self.is_running(id) {
            return Err(RuntimeError::NotRunning(id.to_owned()));
        }
        libcontainer::container::Container::load(self.lc_root_of(id).join(id))
            .map_err(|e| RuntimeError::Libcontainer(e.to_string()))
    }

    /// Resizes the terminal of a container started with `tty`.
    pub fn resize(&self, id: &str, rows: u16, cols: u16) -> Result<()> {
        if !self.is_running(id) {
            return Err(RuntimeError::NotRunning(id.to_owned()));
        }
        let ctl = self.bundle_dir(id).join(super::monitor::CONTROL_SOCKET);
        if !ctl.exists() {
            return Err(RuntimeError::InvalidSpec(format!(
                "container {id} has no terminal to resize"
            )));
        }
        super::tty::send_resize(&ctl, rows, cols)
            .map_err(|e| RuntimeError::io(format!("resizing the terminal of {id}"), e))
    }

    /// Freezes every process of the container (freezer cgroup).
    pub fn pause(&self, id: &str) -> Result<()> {
        self.lc_container(id)?
            .pause()
            .map_err(|e| RuntimeError::Libcontainer(format!("pausing {id}: {e}")))
    }

    /// Thaws a paused container.
    pub fn resume(&self, id: &str) -> Result<()> {
        self.lc_container(id)?
            .resume()
            .map_err(|e| RuntimeError::Libcontainer(format!("resuming {id}: {e}")))
    }

    /// Kills what is left (container, monitor), unmounts the rootfs, deletes libcontainer state and the cgroups,
    /// removes the bundle. Idempotent: removing an unknown id is Ok.
    #[tracing::instrument(skip(self))]
    pub fn remove(&self, id: &str) -> Result<()> {
        check_id(id)?;
        self.kill_everything(id);
        let lc_dir = self.lc_root_of(id).join(id);
        if lc_dir.exists() {
            std::fs::remove_dir_all(&lc_dir)
                .map_err(|e| RuntimeError::io(format!("removing {}", lc_dir.display()), e))?;
        }
        let paths = self.paths(id);
        cgroups::remove(&cgroups::rel_of(&paths.dir, id)).map_err(|e| RuntimeError::io("removing cgroups", e))?;
        rootfs::unmount(&paths.rootfs)?;
        rootfs::unmount(&paths.shm)?;
        // The data dir goes after the bundle: a removal cut short leaves the bundle, which recovery lists.
        if paths.dir != paths.data {
            trash(&self.run, &paths.dir, id)?;
        }
        trash(&self.root, &paths.data, id)
    }

    /// A stopped container whose bundle an engine before the run dir left in its data dir: everything but the
    /// writable layer and the log goes (the start writes a fresh bundle in the run dir).
    fn move_legacy_bundle(&self, id: &str) -> Result<()> {
        if !self.is_legacy(id) {
            return Ok(());
        }
        let old = self.paths(id);
        rootfs::unmount(&old.rootfs)?;
        rootfs::unmount(&old.shm)?;
        let _ = std::fs::remove_dir_all(self.lc_root_of(id).join(id));
        let keep = |name: &str| ["upper", "work"].contains(&name) || name.starts_with("container.log");
        let rd =
            std::fs::read_dir(&old.data).map_err(|e| RuntimeError::io(format!("listing {}", old.data.display()), e))?;
        for entry in rd.flatten() {
            if keep(&entry.file_name().to_string_lossy()) {
                continue;
            }
            let p = entry.path();
            let gone = if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
            gone.map_err(|e| RuntimeError::io(format!("removing {}", p.display()), e))?;
        }
        Ok(())
    }

    /// SIGKILLs the container and waits for its monitor to finish its own cleanup; then kills what remains.
    fn kill_everything(&self, id: &str) {
        if let Some(mpid) = self.monitor_pid(id) {
            let _ = self.signal(id, Signal::SIGKILL);
            let exited = pidfd::open(mpid)
                .map(|fd| pidfd::wait_blocking(&fd, Duration::from_secs(5)))
                .unwrap_or(true);
            if !exited {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(mpid), Signal::SIGKILL);
            }
        }
        let rel = cgroups::rel_of(&self.bundle_dir(id), id);
        for _ in 0..100 {
            let pids = cgroups::pids(&rel);
            if pids.is_empty() {
                break;
            }
            for p in pids {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), Signal::SIGKILL);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Ids of the containers with a bundle or a data dir (crash recovery: the engine removes those it has no
    /// state row for).
    pub fn bundles(&self) -> Result<Vec<String>> {
        let mut ids = std::collections::BTreeSet::new();
        for dir in [&self.run, &self.root] {
            let rd = std::fs::read_dir(dir).map_err(|e| RuntimeError::io(format!("listing {}", dir.display()), e))?;
            ids.extend(
                rd.filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter(|n| check_id(n).is_ok()),
            );
        }
        Ok(ids.into_iter().collect())
    }
}

/// Moves `dir` (a container's, in `root`) out of the way and deletes it in the background: deleting an upper dir
/// can take tens of ms, and the rename is atomic, so the id is free at once. Runtime::new purges trash a crash
/// left behind.
fn trash(root: &Path, dir: &Path, id: &str) -> Result<()> {
    let trash = root.join(format!("{TRASH_PREFIX}{id}-{}", std::process::id()));
    match std::fs::rename(dir, &trash) {
        Ok(()) => {
            std::thread::spawn(move || std::fs::remove_dir_all(&trash));
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(RuntimeError::io(format!("removing {}", dir.display()), e)),
    }
}

/// Name prefix of removed bundles awaiting deletion.
pub(crate) const TRASH_PREFIX: &str = ".trash-";

/// Deletes removed bundles a previous process did not finish deleting (in the background).
pub(crate) fn purge_trash(root: &Path) {
    let Ok(rd) = std::fs::read_dir(root) else { return };
    let trash: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(TRASH_PREFIX))
        .map(|e| e.path())
        .collect();
    if !trash.is_empty() {
        std::thread::spawn(move || trash.iter().for_each(|t| drop(std::fs::remove_dir_all(t))));
    }
}

/// Container ids are 64 lowercase hex digits (they name directories and cgroups).
pub(super) fn check_id(id: &str) -> Result<()> {
    if id.len() == 64 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        Ok(())
    } else {
        Err(RuntimeError::InvalidSpec(format!(
            "container id {id:?} is not 64 lowercase hex digits"
        )))
    }
}

/// The init binary: `BERTH_INIT_PATH`, else Debian's static tini, else docker-init.
fn find_init() -> Result<PathBuf> {
    let candidates: Vec<PathBuf> = std::env::var_os("BERTH_INIT_PATH")
        .map(PathBuf::from)
        .into_iter()
        .chain(
            [
                "/usr/bin/tini-static",
                "/usr/bin/docker-init",
                "/usr/libexec/docker/docker-init",
            ]
            .map(PathBuf::from),
        )
        .collect();
    candidates.into_iter().find(|p| p.is_file()).ok_or_else(|| {
        RuntimeError::InvalidSpec(
            "init: true needs a static init binary: install Debian's tini (tini-static) or set BERTH_INIT_PATH".into(),
        )
    })
}
