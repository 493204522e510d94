//! The engine process: one per state root (flock), its socket, pid file and log file; foreground run,
//! detached start, stop and status.

use crate::config::EngineConfig;
use crate::engine::Engine;
use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Errors of the daemon's life cycle.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// Another engine holds this root.
    #[error("another berth engine is already running on {root} (pid {pid})")]
    AlreadyRunning {
        /// The root.
        root: PathBuf,
        /// Its pid, when known.
        pid: String,
    },
    /// The socket path answers for some other engine.
    #[error("socket {0} is already served by another engine")]
    SocketInUse(PathBuf),
    /// A file or process operation failed.
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    /// The engine failed while opening or serving.
    #[error("{0}")]
    Engine(#[from] crate::EngineError),
    /// A detached engine did not come up.
    #[error("the engine did not start: {0}")]
    StartFailed(String),
    /// Stopping the engine failed.
    #[error("{0}")]
    StopFailed(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DaemonError {
    let what = what.into();
    move |e| DaemonError::Io(what, e)
}

/// What `status` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The socket answers `/_ping`.
    pub answering: bool,
    /// Pid from the pid file, if that process is alive.
    pub pid: Option<i32>,
}

/// Runs the engine in the foreground until SIGTERM/SIGINT. Containers keep running after it ends.
pub fn run(config: &EngineConfig, monitor_exe: Option<PathBuf>) -> Result<(), DaemonError> {
    let config = &leave_working_dir(config)?;
    std::fs::create_dir_all(&config.root).map_err(io(format!("creating {}", config.root.display())))?;
    let _lock = lock_root(config)?;
    prepare_socket(&config.socket)?;
    write_pid_file(config)?;
    limit_malloc_arenas();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("berth-engine")
        // Blocking-pool threads of a burst (a stack's starts) end soon after it instead of keeping their stacks
        // and caches for the default 10 s.
        .thread_keep_alive(Duration::from_secs(2))
        // A stack's burst of starts queues its blocking steps (mounts, row writes, spawns) instead of making a
        // thread for each: on two cores 300 threads did the work no faster and kept ~80 KB each afterwards.
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .build()
        .map_err(io("starting the async runtime"))?;
    let result = rt.block_on(serve(config.clone(), monitor_exe));
    let _ = std::fs::remove_file(&config.socket);
    let _ = std::fs::remove_file(config.pid_file());
    rt.shutdown_timeout(Duration::from_secs(1));
    result
}

/// Makes the paths absolute and moves to `/`, as daemons do: containers are created by processes forked from
/// the engine, and a working directory removed under it (the folder `berth` was started from) made each
/// create fail with "failed to get cwd".
fn leave_working_dir(config: &EngineConfig) -> Result<EngineConfig, DaemonError> {
    let mut out = config.clone();
    if out.root.is_relative() || out.socket.is_relative() {
        let here = std::env::current_dir().map_err(io("reading the working directory".to_owned()))?;
        out.root = here.join(&out.root);
        out.socket = here.join(&out.socket);
    }
    std::env::set_current_dir("/").map_err(io("changing to /".to_owned()))?;
    Ok(out)
}

#[tracing::instrument(skip_all, fields(root = %config.root.display(), socket = %config.socket.display()), err)]
async fn serve(config: EngineConfig, monitor_exe: Option<PathBuf>) -> Result<(), DaemonError> {
    let socket = config.socket.clone();
    let engine = Engine::open(config, monitor_exe)?;
    if let Err(e) = engine.containers.runtime().mount_run_dir() {
        tracing::warn!("the bundles stay on disk: {e}");
    }
    crate::events::start_watchers(&engine);
    spawn_state_sync(&engine);
    engine.containers.recover().await?;
    let listener = tokio::net::UnixListener::bind(&socket).map_err(io(format!("binding {}", socket.display())))?;
    tracing::info!(socket = %socket.display(), "engine listening");
    let app = axum::ServiceExt::<axum::extract::Request>::into_make_service(crate::api::service(engine.clone()));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(io("serving the API"))?;
    crate::health::save_pending(&engine).await;
    if let Some(nets) = engine.networks.opened() {
        nets.settle_forgotten().await;
    }
    if let Err(e) = engine.db.sync() {
        tracing::warn!("making the last state changes durable: {e}");
    }
    release_run_dir(&engine);
    tracing::info!("engine stopped (containers keep running)");
    Ok(())
}

/// Unmounts the bundles' tmpfs when nothing needs it any more: no container runs and every exit is recorded
/// (an exit record not yet read lives there). Otherwise it stays for the monitors and the next engine.
fn release_run_dir(engine: &crate::Engine) {
    use crate::state::ContainerStatus as S;
    let pending = engine.db.containers().map_or(true, |rows| {
        rows.iter()
            .any(|r| matches!(r.state.status, S::Running | S::Restarting | S::Removing))
    });
    if pending {
        return;
    }
    if let Err(e) = engine.containers.runtime().release_run_dir() {
        tracing::warn!("unmounting the run dir: {e}");
    }
}

/// Threads for blocking work at most (tokio's default is 512). Generous beside the cores: blocking steps mostly
/// wait on the kernel, and long ones (a build's RUN, a copy stream) must not starve the rest.
const MAX_BLOCKING_THREADS: usize = 64;

/// Caps glibc's malloc arenas. glibc gives each thread that allocates its own arena (up to 8 per core): the
/// runtime's workers and every blocking-pool thread of a burst (a stack's creates and starts) kept one each, and
/// memory freed in one was not reused by the others, so the engine's RSS grew with the burst, not with its state.
fn limit_malloc_arenas() {
    // SAFETY: mallopt only changes allocator tuning; called before the runtime starts its threads.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, 2) };
}

/// How often, at most, the engine gives the heap freed since the last time back to the kernel.
const TRIM_GAP: Duration = Duration::from_secs(2);

/// Makes the state database's lazy commits durable every `SYNC_GAP` (one fsync for all changes meanwhile), and
/// every `TRIM_GAP` with changes meanwhile returns freed heap to the kernel (a burst such as a stack's `up`
/// leaves most of what it allocated free but kept by malloc).
fn spawn_state_sync(engine: &std::sync::Arc<crate::Engine>) {
    let db = engine.db.clone();
    tokio::spawn(async move {
        let (mut trimmed, mut last_trim) = (0, tokio::time::Instant::now());
        loop {
            tokio::time::sleep(crate::state::SYNC_GAP).await;
            let changes = db.changes();
            if changes != trimmed && last_trim.elapsed() >= TRIM_GAP {
                (trimmed, last_trim) = (changes, tokio::time::Instant::now());
                // SAFETY: malloc_trim only returns free heap pages to the kernel.
                let _ = tokio::task::spawn_blocking(|| unsafe { libc::malloc_trim(0) }).await;
            }
            if !db.unsynced() {
                continue;
            }
            let db = db.clone();
            if let Ok(Err(e)) = tokio::task::spawn_blocking(move || db.sync()).await {
                tracing::warn!("making state changes durable: {e}");
            }
        }
    });
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
}

/// Takes the root's lock (held for the process's life); a crashed engine's lock is released by the kernel.
fn lock_root(config: &EngineConfig) -> Result<Flock<File>, DaemonError> {
    let path = config.lock_file();
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io(format!("opening {}", path.display())))?;
    Flock::lock(f, FlockArg::LockExclusiveNonblock).map_err(|_| DaemonError::AlreadyRunning {
        root: config.root.clone(),
        pid: std::fs::read_to_string(config.pid_file())
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "?".into()),
    })
}

/// Removes a stale socket (nobody answers on it); refuses one that answers.
fn prepare_socket(socket: &Path) -> Result<(), DaemonError> {
    if let Some(dir) = socket.parent() {
        std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    }
    if socket.exists() {
        if UnixStream::connect(socket).is_ok() {
            return Err(DaemonError::SocketInUse(socket.to_owned()));
        }
        tracing::info!(socket = %socket.display(), "removing a stale socket");
        std::fs::remove_file(socket).map_err(io(format!("removing stale socket {}", socket.display())))?;
    }
    Ok(())
}

fn write_pid_file(config: &EngineConfig) -> Result<(), DaemonError> {
    let path = config.pid_file();
    let tmp = path.with_extension("pid.tmp");
    std::fs::write(&tmp, format!("{}\n", std::process::id())).map_err(io(format!("writing {}", tmp.display())))?;
    std::fs::rename(&tmp, &path).map_err(io(format!("writing {}", path.display())))
}

/// Whether `/_ping` on the socket answers OK.
pub fn ping(socket: &Path) -> bool {
    let Ok(mut s) = UnixStream::connect(socket) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /_ping HTTP/1.0\r\nHost: berth\r\n\r\n").is_err() {
        return false;
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    buf.starts_with(b"HTTP/1.0 200") || buf.starts_with(b"HTTP/1.1 200")
}

/// The pid in the pid file, when that process is alive.
pub fn running_pid(config: &EngineConfig) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(config.pid_file()).ok()?.trim().parse().ok()?;
    let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
    alive.then_some(pid)
}

/// The engine's status.
pub fn status(config: &EngineConfig) -> Status {
    Status {
        answering: ping(&config.socket),
        pid: running_pid(config),
    }
}

/// Starts a detached engine (`<exe> engine run`, own session, output to `<root>/engine.log`) and returns its pid
/// once the socket answers. If an engine already answers, returns None.
pub fn start_detached(config: &EngineConfig, exe: &Path, timeout: Duration) -> Result<Option<u32>, DaemonError> {
    if ping(&config.socket) {
        return Ok(None);
    }
    std::fs::create_dir_all(&config.root).map_err(io(format!("creating {}", config.root.display())))?;
    let log_path = config.log_file();
    let log = File::options()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(io(format!("opening {}", log_path.display())))?;
    let log2 = log.try_clone().map_err(io("duplicating the log file"))?;
    let mut cmd = Command::new(exe);
    cmd.args(["engine", "run"])
        .env("BERTH_ROOT", &config.root)
        .env("BERTH_HOST", format!("unix://{}", config.socket.display()))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    // SAFETY: setsid is async-signal-safe; it detaches the engine from our terminal and process group.
    unsafe {
        cmd.pre_exec(|| nix::unistd::setsid().map(|_| ()).map_err(std::io::Error::from));
    }
    let mut child = cmd.spawn().map_err(io(format!("starting {}", exe.display())))?;
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if ping(&config.socket) {
            return Ok(Some(child.id()));
        }
        if let Ok(Some(st)) = child.try_wait() {
            return Err(DaemonError::StartFailed(format!(
                "it exited ({st}); see {}:\n{}",
                log_path.display(),
                log_tail(&log_path)
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(DaemonError::StartFailed(format!(
        "no answer on {} after {timeout:?}; see {}",
        config.socket.display(),
        log_path.display()
    )))
}

fn log_tail(path: &Path) -> String {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}

/// Stops the engine (SIGTERM, then SIGKILL after `timeout`); containers keep running. Ok(false) when none ran.
pub fn stop(config: &EngineConfig, timeout: Duration) -> Result<bool, DaemonError> {
    use nix::sys::signal::{kill, Signal};
    let Some(pid) = running_pid(config) else {
        return Ok(false);
    };
    let pid = nix::unistd::Pid::from_raw(pid);
    kill(pid, Signal::SIGTERM).map_err(|e| DaemonError::StopFailed(format!("signalling engine pid {pid}: {e}")))?;
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if kill(pid, None).is_err() {
            return Ok(true);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = kill(pid, Signal::SIGKILL);
    std::thread::sleep(Duration::from_millis(100));
    let _ = std::fs::remove_file(&config.socket);
    let _ = std::fs::remove_file(config.pid_file());
    Ok(true)
}

/// Removes a stopped engine's host networking (bridges, veths, namespace files, nft rules, its
/// registration) for a throwaway root; refuses while the engine or one of its containers runs.
/// Returns how many objects went.
pub fn purge(config: &EngineConfig) -> crate::Result<usize> {
    crate::networks::purge(config)
}
