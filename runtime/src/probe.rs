//! Health probes from a process kept inside the container, so a probe costs about what its own command costs.
//!
//! A new exec per probe (`berth __exec`: a helper process, libcontainer's tenant set-up, seccomp compiled
//! again) costs ~10 ms of CPU; 100 containers probing every second kept two cores half busy. Instead the engine
//! connects once to the monitor's `<bundle>/probe.sock`; the monitor forks the server straight into the
//! container's pid namespace with the connection as its stdin/stdout, and the server enters the rest of the
//! container exactly as an exec would be set up (cgroups, namespaces, user, capabilities, seccomp,
//! environment, cwd: [`super::join`], by hand, as libcontainer's tenant set-up cost more than the container's
//! own start). It answers probe requests (one JSON line each), starting each probe's command with posix_spawn
//! (a vfork and exec). The monitor (its parent) reaps it; it ends when the engine closes the connection or the
//! container's PID 1 exits.

use super::exec::ExecConfig;
use super::join;
use super::{executor, ProcessSpec, Result, Runtime, RuntimeError};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use std::ffi::CString;
use std::io::{BufRead, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

/// The monitor's listening socket inside the bundle.
pub const PROBE_SOCKET: &str = "probe.sock";
/// The probe server's process (an exec config) inside the bundle, written by the engine before it connects.
pub const PROBE_CONFIG: &str = "probe.json";

/// One probe to run (one JSON line from the engine).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProbeRequest {
    /// argv of the probe's command.
    pub args: Vec<String>,
    /// Killed after this long.
    pub timeout_ms: u64,
    /// Output bytes kept.
    pub limit: usize,
}

/// A probe's outcome (one JSON line back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeReply {
    /// Exit code (128 + signal when killed by one); None when the timeout killed it.
    pub exit_code: Option<i64>,
    /// Combined stdout and stderr, at most the request's limit.
    pub output: String,
}

/// The engine's end of a container's probe server.
pub struct ProbeSession {
    write: tokio::net::unix::OwnedWriteHalf,
    read: tokio::io::BufReader<tokio::net::unix::OwnedReadHalf>,
}

impl Runtime {
    /// Connects to the probe server of a running container, started as `process` (user, env, cwd: those of an
    /// exec with the same settings). Fails when the container is not running or its monitor has no probe
    /// socket (a monitor of an older berth); the caller then runs probes as execs.
    pub async fn probe_session(&self, id: &str, process: &ProcessSpec) -> Result<ProbeSession> {
        if !self.is_running(id) {
            return Err(RuntimeError::NotRunning(id.to_owned()));
        }
        let bundle = self.bundle_dir(id);
        let (process, seccomp) = super::exec::process_for(&bundle, process)?;
        let cfg = ExecConfig {
            id: id.to_owned(),
            lc_root: self.lc_root_of(id),
            process,
            cgroup_mounts: Vec::new(),
            seccomp,
        };
        let data = serde_json::to_vec(&cfg)
            .map_err(|e| RuntimeError::io("encoding probe config", std::io::Error::other(e)))?;
        let path = bundle.join(PROBE_CONFIG);
        std::fs::write(&path, data).map_err(|e| RuntimeError::io(format!("writing {}", path.display()), e))?;
        // Through the directory's descriptor: a deep state root makes the socket's path longer than sun_path.
        let dir =
            std::fs::File::open(&bundle).map_err(|e| RuntimeError::io(format!("opening {}", bundle.display()), e))?;
        let short = format!("/proc/self/fd/{}/{PROBE_SOCKET}", dir.as_raw_fd());
        let stream = tokio::net::UnixStream::connect(short)
            .await
            .map_err(|e| RuntimeError::io("connecting to the monitor's probe socket", e))?;
        drop(dir);
        let (read, write) = stream.into_split();
        Ok(ProbeSession {
            write,
            read: tokio::io::BufReader::new(read),
        })
    }
}

impl ProbeSession {
    /// Runs one probe; an error means the server is gone (the container stopped, or it could not start).
    pub async fn run(&mut self, args: &[String], timeout: Duration, limit: usize) -> std::io::Result<ProbeReply> {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
        let req = ProbeRequest {
            args: args.to_vec(),
            timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            limit,
        };
        let mut line = serde_json::to_vec(&req).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.write.write_all(&line).await?;
        let mut answer = String::new();
        // The server runs inside the container, where its user can tamper with it: the reply is read up to
        // what `limit` bytes of output can encode as JSON (6 bytes for an escaped control byte), never more.
        let cap = (limit as u64).saturating_mul(6).saturating_add(REPLY_OVERHEAD);
        let mut capped = (&mut self.read).take(cap);
        let read = capped.read_line(&mut answer);
        match tokio::time::timeout(timeout + Duration::from_secs(5), read).await {
            Ok(Ok(0)) => Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "probe server closed",
            )),
            Ok(Ok(_)) if !answer.ends_with('\n') => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("probe reply longer than {cap} bytes"),
            )),
            Ok(Ok(_)) => {
                let mut reply: ProbeReply = serde_json::from_str(&answer).map_err(std::io::Error::other)?;
                truncate_at_char(&mut reply.output, limit);
                Ok(reply)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "probe server did not answer",
            )),
        }
    }
}

/// Bytes of a reply line beyond its output (the JSON keys, the exit code, the newline).
const REPLY_OVERHEAD: u64 = 256;

/// Cuts `s` to at most `limit` bytes on a character boundary (the lossy UTF-8 decoding of `limit` bytes can
/// be longer than `limit`).
fn truncate_at_char(s: &mut String, limit: usize) {
    if s.len() <= limit {
        return;
    }
    let mut end = limit;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
}

/// The probe server's process name (its command line is its monitor's, which forked it).
const SERVER_NAME: &std::ffi::CStr = c"berth-probe";

/// Whether host pid `pid` is a probe server: named [`SERVER_NAME`] with its monitor's command line, or (started
/// by a monitor of an older berth, still running) with that berth's helper's `... __probe <bundle> ...`.
pub fn is_probe_server(pid: i32) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    match cmdline.split(|b| *b == 0).nth(1) {
        Some(b"__probe") => true,
        Some(b"__monitor") => {
            std::fs::read(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim_ascii_end() == SERVER_NAME.to_bytes())
        }
        _ => false,
    }
}

/// The probe server's start, in a child the monitor forked into the pid namespace of host pid `pid`
/// ([`join::fork_into`]; `target` its pidfd), stdin/stdout the engine's connection: joins the rest of the container and becomes
/// the probe's process ([`join::join_rest`], [`join::become_process`]), then serves. Prints why not and
/// returns 125 when it cannot.
pub fn server_main(config: &Path, pid: i32, target: &OwnedFd) -> i32 {
    let cfg: ExecConfig = match std::fs::read(config)
        .map_err(|e| e.to_string())
        .and_then(|d| serde_json::from_slice(&d).map_err(|e| e.to_string()))
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("berth probe: reading {}: {e}", config.display());
            return 125;
        }
    };
    let joined = join::join_rest(pid, target).and_then(|()| join::become_process(&cfg.process, cfg.seccomp.as_ref()));
    if let Err(e) = joined {
        eprintln!("berth probe: starting the probe server: {e}");
        return 125;
    }
    run_server()
}

/// The server proper, inside the container as the probes' process: serves until the engine hangs up.
fn run_server() -> ! {
    executor::reset_signals();
    let _ = nix::sys::prctl::set_name(SERVER_NAME);
    // Only stdio stays open, as after an exec (close-on-exec descriptors gone).
    // SAFETY: closes descriptors of this process only; nothing here holds one above stderr.
    unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    serve();
    std::process::exit(0);
}

/// Answers requests on stdin until it closes.
fn serve() {
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    let mut line = String::new();
    loop {
        line.clear();
        match stdin.lock().read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let reply = match serde_json::from_str::<ProbeRequest>(&line) {
            Ok(req) => match run_one(&req) {
                Some(r) => r,
                None => return,
            },
            Err(e) => ProbeReply {
                exit_code: Some(125),
                output: format!("berth probe: bad request: {e}"),
            },
        };
        let Ok(mut text) = serde_json::to_vec(&reply) else {
            return;
        };
        text.push(b'\n');
        if out.write_all(&text).and_then(|()| out.flush()).is_err() {
            return;
        }
    }
}

/// Runs one probe: checks the command as an exec would (Docker's 126/127 messages), spawns it, collects
/// output until EOF, kills its process group at the timeout. None when the engine hung up meanwhile.
fn run_one(req: &ProbeRequest) -> Option<ProbeReply> {
    let Some(arg0) = req.args.first() else {
        return Some(failed(126, "exec: no command specified"));
    };
    let path = std::env::var("PATH").unwrap_or_else(|_| super::spec::DEFAULT_PATH.to_owned());
    let program = match executor::check(arg0, &path) {
        Ok(found) => CString::new(found.into_os_string().into_encoded_bytes()).unwrap_or_default(),
        Err((code, msg)) => return Some(failed(code, &msg)),
    };
    let argv: Vec<CString> = req
        .args
        .iter()
        .map(|a| CString::new(a.as_bytes()).unwrap_or_default())
        .collect();
    let Ok((r, w)) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) else {
        return Some(failed(126, "creating the probe's output pipe failed"));
    };
    let child = match spawn(&program, &argv, &w) {
        Ok(child) => child,
        Err(e @ (nix::errno::Errno::EAGAIN | nix::errno::Errno::ENOMEM)) => {
            return Some(failed(126, &format!("fork: {e}")))
        }
        // The command could not be executed after all: what a forked child's failed exec reported.
        Err(_) => return Some(reply(Some(127), Vec::new())),
    };
    drop(w);
    let deadline = Instant::now() + Duration::from_millis(req.timeout_ms);
    collect(child, &r, req.limit, deadline)
}

fn failed(code: i32, msg: &str) -> ProbeReply {
    ProbeReply {
        exit_code: Some(i64::from(code)),
        output: format!("OCI runtime exec failed: {msg}\n"),
    }
}

/// Starts the probe's command in its own process group (so the timeout kills the whole probe), output to the
/// pipe, stdin from /dev/null. posix_spawn (a vfork, sharing this process's memory until the exec) rather
/// than fork: copying the server's page tables and the copy-on-write faults after it cost more than the
/// probe's own command. `program` is what [`executor::check`] found, so PATH is not searched again.
fn spawn(program: &CString, argv: &[CString], w: &OwnedFd) -> Result<Pid, nix::errno::Errno> {
    extern "C" {
        static environ: *const *mut libc::c_char;
    }
    let mut ptrs: Vec<*mut libc::c_char> = argv.iter().map(|a| a.as_ptr().cast_mut()).collect();
    ptrs.push(std::ptr::null_mut());
    let mut pid: libc::pid_t = 0;
    // SAFETY: attr and actions are initialised before use and destroyed after; argv and the environment are
    // NUL-terminated arrays of C strings that outlive the call.
    let rc = unsafe {
        let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
        let mut actions: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        libc::posix_spawnattr_init(&mut attr);
        libc::posix_spawn_file_actions_init(&mut actions);
        libc::posix_spawnattr_setflags(&mut attr, libc::POSIX_SPAWN_SETPGROUP as libc::c_short);
        libc::posix_spawnattr_setpgroup(&mut attr, 0);
        libc::posix_spawn_file_actions_adddup2(&mut actions, w.as_raw_fd(), 1);
        libc::posix_spawn_file_actions_adddup2(&mut actions, w.as_raw_fd(), 2);
        libc::posix_spawn_file_actions_addopen(&mut actions, 0, c"/dev/null".as_ptr(), libc::O_RDONLY, 0);
        let rc = libc::posix_spawn(&mut pid, program.as_ptr(), &actions, &attr, ptrs.as_ptr(), environ);
        libc::posix_spawn_file_actions_destroy(&mut actions);
        libc::posix_spawnattr_destroy(&mut attr);
        rc
    };
    match rc {
        0 => Ok(Pid::from_raw(pid)),
        e => Err(nix::errno::Errno::from_raw(e)),
    }
}

/// Reads the probe's output until EOF (or the deadline) and reaps it.
fn collect(child: Pid, r: &OwnedFd, limit: usize, deadline: Instant) -> Option<ProbeReply> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let stdin = std::io::stdin();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Some(timed_out(child, out));
        }
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [
            PollFd::new(r.as_fd(), PollFlags::POLLIN),
            PollFd::new(stdin.as_fd(), PollFlags::empty()),
        ];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return Some(timed_out(child, out)),
            Ok(_) => {}
        }
        let hung_up = fds[1].revents().is_some_and(|e| !e.is_empty());
        if hung_up {
            timed_out(child, out);
            return None;
        }
        match nix::unistd::read(r.as_raw_fd(), &mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n.min(limit.saturating_sub(out.len()))]),
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => break,
        }
    }
    Some(reap(child, out, deadline))
}

/// Waits for the probe after its output closed; at the deadline it is killed.
fn reap(child: Pid, out: Vec<u8>, deadline: Instant) -> ProbeReply {
    let mut pause = Duration::from_micros(200);
    loop {
        let code = match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, c)) => Some(i64::from(c)),
            Ok(WaitStatus::Signaled(_, s, _)) => Some(128 + s as i64),
            Ok(_) => None,
            Err(_) => Some(-1),
        };
        if let Some(c) = code {
            return reply(Some(c), out);
        }
        if Instant::now() >= deadline {
            return timed_out(child, out);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

fn timed_out(child: Pid, out: Vec<u8>) -> ProbeReply {
    let _ = kill(Pid::from_raw(-child.as_raw()), Signal::SIGKILL);
    let _ = kill(child, Signal::SIGKILL);
    let _ = waitpid(child, None);
    reply(None, out)
}

fn reply(exit_code: Option<i64>, out: Vec<u8>) -> ProbeReply {
    ProbeReply {
        exit_code,
        output: String::from_utf8_lossy(&out).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::truncate_at_char;

    #[test]
    fn output_is_cut_on_a_character_boundary() {
        let mut s = "ab\u{fffd}\u{fffd}".to_owned();
        truncate_at_char(&mut s, 4);
        assert_eq!(s, "ab");
        let mut short = "ok".to_owned();
        truncate_at_char(&mut short, 4096);
        assert_eq!(short, "ok");
    }
}
