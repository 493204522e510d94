//! Docker's execs: records of processes started in running containers (`/containers/{id}/exec`), their
//! stdio pipes and exit codes, and a captured run used by health probes.

use crate::error::{EngineError, Result};
use crate::state::{ContainerRecord, ContainerStatus};
use runtime::{ExecStdio, ProcessSpec, Runtime};
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// What `POST /containers/{id}/exec` asked for.
#[derive(Debug, Clone)]
pub struct ExecRequest {
    /// The process (args, env, cwd, user, tty).
    pub process: ProcessSpec,
    /// Feed the client's input to the process.
    pub attach_stdin: bool,
    /// Send its stdout to the client.
    pub attach_stdout: bool,
    /// Send its stderr to the client.
    pub attach_stderr: bool,
    /// Initial terminal size (rows, cols).
    pub console_size: Option<(u16, u16)>,
    /// The key sequence that detaches the client from the exec's input and output (the process goes on).
    pub detach_keys: Vec<u8>,
}

/// One exec as inspect reports it.
#[derive(Debug, Clone)]
pub struct ExecEntry {
    /// Exec id (64 hex).
    pub id: String,
    /// Container id.
    pub container_id: String,
    /// The request.
    pub request: ExecRequest,
    /// The runtime's id of the running exec (for resize).
    pub runtime_exec_id: Option<String>,
    /// Host pid of the exec'd process (0 until it started; kept after it exits, as Docker does).
    pub pid: i64,
    /// Started and not yet exited.
    pub running: bool,
    /// Exit code once exited.
    pub exit_code: Option<i64>,
    /// Has been started (an exec starts once).
    pub started: bool,
}

/// The pipe ends the API copies between the client and a started exec.
pub struct ExecPipes {
    /// Writes to the process's stdin (when attached).
    pub stdin: Option<OwnedFd>,
    /// Reads its stdout (terminal output with tty).
    pub stdout: Option<OwnedFd>,
    /// Reads its stderr (None with tty).
    pub stderr: Option<OwnedFd>,
    /// Becomes Some(exit code) when the process has exited and the code is recorded.
    pub exited: watch::Receiver<Option<i64>>,
}

/// All execs of one engine.
pub struct Execs {
    runtime: Runtime,
    entries: Mutex<HashMap<String, ExecEntry>>,
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| EngineError::internal("creating an exec pipe", e))
}

fn check_running(rec: &ContainerRecord) -> Result<()> {
    if rec.state.status != ContainerStatus::Running {
        return Err(EngineError::Conflict(format!("container {} is not running", rec.id)));
    }
    if rec.state.paused {
        return Err(EngineError::Conflict(format!(
            "container {} is paused, unpause the container before exec",
            rec.id
        )));
    }
    Ok(())
}

impl Execs {
    /// An empty store over `runtime`.
    pub fn new(runtime: Runtime) -> Arc<Self> {
        Arc::new(Execs {
            runtime,
            entries: Mutex::new(HashMap::new()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ExecEntry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers an exec in a running container; returns its id.
    #[tracing::instrument(skip(self, rec, request), fields(container = %rec.id))]
    pub fn create(&self, rec: &ContainerRecord, request: ExecRequest) -> Result<String> {
        check_running(rec)?;
        if request.process.args.is_empty() {
            return Err(EngineError::BadRequest("No exec command specified".into()));
        }
        let id = crate::containers::new_id();
        let entry = ExecEntry {
            id: id.clone(),
            container_id: rec.id.clone(),
            request,
            runtime_exec_id: None,
            pid: 0,
            running: false,
            exit_code: None,
            started: false,
        };
        self.lock().insert(id.clone(), entry);
        Ok(id)
    }

    /// The exec with this id.
    pub fn get(&self, id: &str) -> Result<ExecEntry> {
        self.lock()
            .get(id)
            .cloned()
            .ok_or_else(|| EngineError::NotFound(format!("No such exec instance: {id}")))
    }

    /// Forgets the execs of a removed container.
    pub fn forget_container(&self, container_id: &str) {
        self.lock().retain(|_, e| e.container_id != container_id);
    }

    /// Starts the exec; `detach` runs it with no stdio. The caller copies the returned pipes.
    #[tracing::instrument(skip(self, rec), fields(container = %rec.id))]
    /// `console` (rows, cols) overrides the size given at create.
    pub fn start(
        self: &Arc<Self>,
        rec: &ContainerRecord,
        id: &str,
        detach: bool,
        console: Option<(u16, u16)>,
    ) -> Result<ExecPipes> {
        check_running(rec)?;
        let req = {
            let mut map = self.lock();
            let e = map
                .get_mut(id)
                .ok_or_else(|| EngineError::NotFound(format!("No such exec instance: {id}")))?;
            if e.started {
                return Err(EngineError::Conflict(format!(
                    "Error: Exec command {id} has already run"
                )));
            }
            e.started = true;
            e.request.clone()
        };
        let tty = req.process.tty;
        let (mut pipes_in, mut stdio) = (
            ExecPipesHalf::default(),
            ExecStdio {
                stdin: None,
                stdout: None,
                stderr: None,
            },
        );
        if !detach {
            if req.attach_stdin {
                let (r, w) = pipe()?;
                stdio.stdin = Some(r);
                pipes_in.stdin = Some(w);
            }
            if req.attach_stdout || tty {
                let (r, w) = pipe()?;
                stdio.stdout = Some(w);
                pipes_in.stdout = Some(r);
            }
            if req.attach_stderr && !tty {
                let (r, w) = pipe()?;
                stdio.stderr = Some(w);
                pipes_in.stderr = Some(r);
            }
        }
        let console = console.or(req.console_size).filter(|_| tty);
        let proc = self
            .runtime
            .exec_with_console(&rec.id, &req.process, stdio, console)
            .map_err(|e| match e {
                runtime::RuntimeError::NotRunning(_) => {
                    EngineError::Conflict(format!("container {} is not running", rec.id))
                }
                // As dockerd: an exec that cannot start (an unknown user) has run, with 126, and says why.
                runtime::RuntimeError::StartFailed { message, exit_code } => {
                    self.finished(id, i64::from(exit_code));
                    EngineError::Internal(message)
                }
                other => {
                    self.finished(id, 126);
                    EngineError::Internal(format!("starting exec: {other}"))
                }
            })?;
        let (tx, rx) = watch::channel(None);
        {
            let mut map = self.lock();
            if let Some(e) = map.get_mut(id) {
                e.running = true;
                e.runtime_exec_id = Some(proc.exec_id.clone());
            }
        }
        let me = self.clone();
        let exec_id = id.to_owned();
        let mut child = proc.child;
        let (pid_tx, pid_rx) = tokio::sync::oneshot::channel();
        let (me2, exec_id2) = (self.clone(), id.to_owned());
        tokio::spawn(async move {
            // Docker reports the exec'd process's host pid, which only the helper knows.
            let pid = runtime::exec::read_pid_report(proc.pid_report).await;
            if let (Some(pid), Some(e)) = (pid, me2.lock().get_mut(&exec_id2)) {
                e.pid = pid;
            }
            let _ = pid_tx.send(());
        });
        tokio::spawn(async move {
            let _ = pid_rx.await;
            let code = match child.wait().await {
                Ok(st) => st.code().map(i64::from).unwrap_or_else(|| {
                    128 + i64::from(std::os::unix::process::ExitStatusExt::signal(&st).unwrap_or(9))
                }),
                Err(_) => 126,
            };
            if let Some(e) = me.lock().get_mut(&exec_id) {
                e.running = false;
                e.exit_code = Some(code);
            }
            tracing::debug!(exec = %exec_id, exit_code = code, "exec exited");
            let _ = tx.send(Some(code));
        });
        Ok(ExecPipes {
            stdin: pipes_in.stdin,
            stdout: pipes_in.stdout,
            stderr: pipes_in.stderr,
            exited: rx,
        })
    }

    /// Records that exec `id` ended with `code` without running (it could not start).
    fn finished(&self, id: &str, code: i64) {
        if let Some(e) = self.lock().get_mut(id) {
            e.running = false;
            e.exit_code = Some(code);
        }
    }

    /// Resizes a running tty exec (retried briefly: the terminal exists only once the helper holds it).
    pub fn resize(&self, id: &str, rows: u16, cols: u16) -> Result<()> {
        let e = self.get(id)?;
        if !e.request.process.tty {
            return Ok(());
        }
        match &e.runtime_exec_id {
            Some(rid) if e.running => {
                self.resize_soon(&e.container_id, rid, rows, cols);
                Ok(())
            }
            _ => Err(EngineError::Conflict(format!("exec {id} is not running"))),
        }
    }

    fn resize_soon(&self, container: &str, rid: &str, rows: u16, cols: u16) {
        let (rt, c, r) = (self.runtime.clone(), container.to_owned(), rid.to_owned());
        tokio::spawn(async move {
            for _ in 0..40 {
                if rt.resize_exec(&c, &r, rows, cols).is_ok() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        });
    }
}

#[derive(Default)]
struct ExecPipesHalf {
    stdin: Option<OwnedFd>,
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
}

/// Result of a captured run (health probes).
#[derive(Debug, Clone)]
pub struct Captured {
    /// Exit code; None when it timed out (and was killed).
    pub exit_code: Option<i64>,
    /// Combined stdout and stderr, cut at `limit` bytes.
    pub output: String,
}

/// Runs `process` in the container, collecting up to `limit` bytes of output; kills it at `timeout`.
pub async fn run_captured(
    runtime: &Runtime,
    container: &str,
    process: &ProcessSpec,
    timeout: Duration,
    limit: usize,
) -> Result<Captured> {
    use tokio::io::AsyncReadExt;
    let (r, w) = pipe()?;
    let w2 = w
        .try_clone()
        .map_err(|e| EngineError::internal("duplicating a pipe", e))?;
    let stdio = ExecStdio {
        stdin: None,
        stdout: Some(w),
        stderr: Some(w2),
    };
    let proc = runtime
        .exec(container, process, stdio)
        .map_err(|e| EngineError::Internal(format!("exec: {e}")))?;
    let mut proc = ReapOnDrop(Some(proc.child));
    let mut reader = tokio::net::unix::pipe::Receiver::from_owned_fd(r)
        .map_err(|e| EngineError::internal("reading exec output", e))?;
    let mut out = Vec::new();
    let collect = async {
        let mut buf = [0u8; 4096];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let room = limit.saturating_sub(out.len());
                    out.extend_from_slice(&buf[..n.min(room)]);
                }
            }
        }
        match proc.0.as_mut() {
            Some(c) => c.wait().await,
            None => Err(std::io::Error::other("exec helper already reaped")),
        }
    };
    let res = tokio::time::timeout(timeout, collect).await;
    let exit_code = match res {
        Ok(Ok(st)) => Some(st.code().map(i64::from).unwrap_or(137)),
        Ok(Err(_)) => Some(126),
        Err(_) => {
            if let Some(c) = proc.0.as_mut() {
                kill_exec_tree(c).await;
            }
            None
        }
    };
    Ok(Captured {
        exit_code,
        output: String::from_utf8_lossy(&out).into_owned(),
    })
}

/// Owns a probe's helper: when the probe is abandoned (its loop aborted), the helper is killed and reaped
/// instead of left as a zombie.
struct ReapOnDrop(Option<tokio::process::Child>);

impl Drop for ReapOnDrop {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            if matches!(c.try_wait(), Ok(Some(_))) {
                return;
            }
            let _ = c.start_kill();
            if let Ok(h) = tokio::runtime::Handle::try_current() {
                h.spawn(async move {
                    let _ = c.wait().await;
                });
            }
        }
    }
}

/// Kills a timed-out exec: the process inside the container first (the helper's descendants), then the helper.
async fn kill_exec_tree(child: &mut tokio::process::Child) {
    if let Some(pid) = child.id() {
        for p in descendants(pid as i32) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), nix::sys::signal::Signal::SIGKILL);
        }
    }
    let _ = child.kill().await;
    let _ = child.wait().await;
}

/// Pids below `pid` (via /proc/<pid>/task/*/children), deepest last.
pub fn descendants(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for t in tasks.flatten() {
            let kids = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
            for k in kids.split_whitespace().filter_map(|k| k.parse::<i32>().ok()) {
                out.push(k);
                todo.push(k);
            }
        }
    }
    out
}
