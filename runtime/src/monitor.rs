//! The per-container monitor process (`berth __monitor <bundle>`): small and single-threaded (no tokio).
//! It detaches (fork + setsid, so it survives the engine), starts the container through libcontainer, reports
//! the start result on its stdout (one JSON line), then holds the container's stdio, writes the log file,
//! reaps the container as its parent (and child subreaper), records the exit status and OOM, cleans up the
//! libcontainer state, cgroups and rootfs mount, and exits.

use super::exit::ExitRecord;
use super::logdriver::{LogConfig, LogDriver};
use super::logfile::{LineSplitter, LogStream, LogWriter, LOG_FILE};
use super::logrotate::Rotation;
use super::{cgroups, executor, rootfs};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::Container;
use libcontainer::syscall::syscall::SyscallType;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, pipe2, setsid, ForkResult, Pid};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What the monitor needs besides the OCI bundle (`<bundle>/monitor.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MonitorConfig {
    /// Container id (also the libcontainer id).
    pub id: String,
    /// libcontainer's state root.
    pub lc_root: PathBuf,
    /// The container has a terminal.
    pub tty: bool,
    /// Feed stdin from the `<bundle>/stdin` FIFO.
    pub open_stdin: bool,
    /// The container sees EOF once the engine's writer (the first attach) lets go; otherwise the monitor keeps
    /// a writer of its own so stdin stays open across attaches and engine restarts.
    #[serde(default)]
    pub stdin_once: bool,
    /// Log driver and rotation.
    #[serde(default)]
    pub log: LogConfig,
    /// The container's log file (on disk, next to its writable layer); empty in configs of older engines,
    /// which kept it in the bundle.
    #[serde(default, skip_serializing_if = "is_empty_path")]
    pub log_path: PathBuf,
    /// Switch the OOM killer off in the container's memory cgroup (v1's `memory.oom_control`, which
    /// libcontainer does not write); told here so the monitor need not parse config.json a second time.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_oom_killer: bool,
    /// The host's cgroup v1 mount points (see [`super::cgroups::seed_v1_mount_points`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cgroup_mounts: Vec<PathBuf>,
}

fn is_empty_path(p: &std::path::Path) -> bool {
    p.as_os_str().is_empty()
}

/// File names inside the bundle.
pub const CONFIG_FILE: &str = "monitor.json";
/// The monitor's pid.
pub const MONITOR_PID_FILE: &str = "monitor.pid";
/// The container's PID 1 (host pid) while it runs.
pub const CONTAINER_PID_FILE: &str = "container.pid";

/// The start result the monitor prints on its stdout.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum StartReport {
    /// The container process runs.
    Started {
        /// Host pid of PID 1.
        pid: i32,
        /// Pid of the monitor.
        monitor_pid: i32,
    },
    /// It could not be started.
    Failed {
        /// Docker-style message.
        message: String,
        /// Docker exit code for the failure (125 runtime error, 126, 127).
        exit_code: i32,
    },
}

/// Entry point of `berth __monitor <bundle>`; returns the process exit code.
pub fn main(bundle: &Path) -> i32 {
    // SAFETY: the monitor is single-threaded at this point (no runtime, no threads spawned).
    match unsafe { fork() } {
        Ok(ForkResult::Parent { .. }) => 0,
        Ok(ForkResult::Child) => detached_main(bundle),
        Err(e) => {
            report(&StartReport::Failed {
                message: format!("forking the monitor: {e}"),
                exit_code: 125,
            });
            1
        }
    }
}

/// The monitor in a process of its own (forked by `main` or by the [`super::zygote`]): a new session, so it
/// survives the engine; returns the process exit code.
pub fn detached_main(bundle: &Path) -> i32 {
    let _ = setsid();
    run(bundle)
}

fn report(r: &StartReport) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer(&mut out, r);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

/// After reporting, stdin/stdout go to /dev/null so the engine's pipe sees EOF and nothing blocks on it.
fn detach_stdio() {
    if let Ok(null) = File::options().read(true).write(true).open("/dev/null") {
        let _ = nix::unistd::dup2(null.as_raw_fd(), 0);
        let _ = nix::unistd::dup2(null.as_raw_fd(), 1);
    }
}

fn run(bundle: &Path) -> i32 {
    let cfg: MonitorConfig = match std::fs::read(bundle.join(CONFIG_FILE))
        .map_err(|e| e.to_string())
        .and_then(|d| serde_json::from_slice(&d).map_err(|e| e.to_string()))
    {
        Ok(c) => c,
        Err(e) => {
            report(&StartReport::Failed {
                message: format!("reading monitor config: {e}"),
                exit_code: 125,
            });
            return 1;
        }
    };
    match Monitor::start(bundle, &cfg) {
        Ok(mut m) => {
            report(&StartReport::Started {
                pid: m.pid.as_raw(),
                monitor_pid: std::process::id() as i32,
            });
            detach_stdio();
            // Hand back what start-up allocated (spec parsing, libcontainer): the monitor idles for the
            // container's whole life, so the heap it keeps is paid once per container.
            // SAFETY: malloc_trim only returns free heap memory to the kernel.
            unsafe { libc::malloc_trim(0) };
            let code = m.supervise();
            m.finish(code);
            0
        }
        Err((message, exit_code)) => {
            cleanup(bundle, &cfg);
            let _ = std::fs::remove_file(bundle.join(MONITOR_PID_FILE));
            report(&StartReport::Failed { message, exit_code });
            1
        }
    }
}

/// Container output sources held by the monitor.
enum Output {
    Pipes {
        out: OwnedFd,
        err: OwnedFd,
    },
    Tty {
        master: OwnedFd,
        stdin: Option<File>,
        ctl: Option<std::os::unix::net::UnixListener>,
    },
}

/// Control socket of a tty container (resize requests), inside the bundle.
pub const CONTROL_SOCKET: &str = "ctl.sock";

struct Monitor {
    bundle: PathBuf,
    cfg: MonitorConfig,
    container: Container,
    pid: Pid,
    output: Output,
    sigfd: SignalFd,
    /// Held for the container's life so its stdin stays open between attaches (see [`open_stdin`]).
    _stdin_keeper: Option<File>,
    /// `<bundle>/probe.sock`: each connection gets a probe server (see [`super::probe`]).
    probe: Option<std::os::unix::net::UnixListener>,
}

type StartError = (String, i32);

impl Monitor {
    fn start(bundle: &Path, cfg: &MonitorConfig) -> Result<Self, StartError> {
        let e125 = |what: &str, e: &dyn std::fmt::Display| (format!("{what}: {e}"), 125);
        nix::sys::prctl::set_child_subreaper(true).map_err(|e| e125("becoming child subreaper", &e))?;
        std::fs::write(bundle.join(MONITOR_PID_FILE), std::process::id().to_string())
            .map_err(|e| e125("writing monitor.pid", &e))?;
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGCHLD);
        mask.add(Signal::SIGPIPE);
        mask.add(Signal::SIGHUP);
        mask.thread_block().map_err(|e| e125("blocking SIGCHLD", &e))?;
        let mut chld = SigSet::empty();
        chld.add(Signal::SIGCHLD);
        let sigfd = SignalFd::new(&chld).map_err(|e| e125("signalfd", &e))?;

        super::cgroups::seed_v1_mount_points(&cfg.cgroup_mounts);
        super::seccomp::use_bundle_program(bundle);
        let builder = ContainerBuilder::new(cfg.id.clone(), SyscallType::default())
            .with_executor(executor::DockerExecutor)
            .with_root_path(&cfg.lc_root)
            .map_err(|e| e125("libcontainer root", &e))?;
        let (builder, pending, stdin_keeper) = Self::wire_stdio(builder, bundle, cfg)?;
        let mut container = builder
            .as_init(bundle)
            .with_systemd(false)
            .with_detach(true)
            .build()
            .map_err(|e| start_error(&e))?;
        let output = pending.finish(bundle).map_err(|e| e125("receiving the terminal", &e))?;
        if let Err(e) = Self::after_create(bundle, cfg) {
            let _ = container.delete(true);
            return Err(e125("applying cgroup settings", &e));
        }
        if let Err(e) = container.start() {
            let _ = container.delete(true);
            return Err(start_error(&e));
        }
        let pid = container
            .pid()
            .ok_or_else(|| ("container has no pid after start".to_owned(), 125))?;
        let _ = std::fs::write(bundle.join(CONTAINER_PID_FILE), pid.as_raw().to_string());
        // Without it probes run as execs: no reason to fail the start.
        let probe = super::tty::bind_in(bundle, super::probe::PROBE_SOCKET).ok();
        if let Some(l) = &probe {
            let _ = l.set_nonblocking(true);
        }
        Ok(Self {
            bundle: bundle.to_owned(),
            cfg: cfg.clone(),
            container,
            pid,
            output,
            sigfd,
            _stdin_keeper: stdin_keeper,
            probe,
        })
    }

    /// Cgroup settings libcontainer leaves out, written between create and start (the workload has not run).
    fn after_create(bundle: &Path, cfg: &MonitorConfig) -> std::io::Result<()> {
        if cfg.disable_oom_killer {
            cgroups::disable_oom_killer(&cgroups::rel_of(bundle, &cfg.id))?;
        }
        Ok(())
    }

    fn wire_stdio(
        builder: ContainerBuilder,
        bundle: &Path,
        cfg: &MonitorConfig,
    ) -> Result<(ContainerBuilder, PendingOutput, Option<File>), StartError> {
        let e125 = |what: &str, e: &dyn std::fmt::Display| (format!("{what}: {e}"), 125);
        let (stdin, keeper) = open_stdin(bundle, cfg).map_err(|e| e125("opening stdin", &e))?;
        if cfg.tty {
            let sock = bundle.join("console.sock");
            let listener = super::tty::bind_in(bundle, "console.sock").map_err(|e| e125("console socket", &e))?;
            let stdin = cfg.open_stdin.then(|| File::from(stdin));
            return Ok((
                builder.with_console_socket(Some(&sock)),
                PendingOutput::Tty { listener, stdin },
                keeper,
            ));
        }
        let (out_r, out_w) = pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| e125("pipe", &e))?;
        let (err_r, err_w) = pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| e125("pipe", &e))?;
        let builder = builder.with_stdin(stdin).with_stdout(out_w).with_stderr(err_w);
        Ok((builder, PendingOutput::Pipes { out: out_r, err: err_r }, keeper))
    }

    /// Copies output to the log and reaps children until the container's PID 1 exits; returns its exit code.
    fn supervise(&mut self) -> i32 {
        let log_path = if self.cfg.log_path.as_os_str().is_empty() {
            self.bundle.join(LOG_FILE)
        } else {
            self.cfg.log_path.clone()
        };
        let mut log = LogWriter::open_with(&log_path, rotation(&self.cfg.log), self.cfg.log.attrs.clone()).ok();
        let mut out = LineSplitter::new(LogStream::Stdout);
        let mut err = LineSplitter::new(LogStream::Stderr);
        let mut open = [true, true];
        let mut exit_code: Option<i32> = None;
        let mut drain_deadline: Option<Instant> = None;
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            if exit_code.is_some() && (open == [false, false] || drain_deadline.is_some_and(|d| Instant::now() > d)) {
                break;
            }
            let (src0, src1, stdin) = match &self.output {
                Output::Pipes { out, err } => (out.as_fd(), Some(err.as_fd()), None),
                Output::Tty { master, stdin, .. } => (master.as_fd(), None, stdin.as_ref().map(|f| f.as_fd())),
            };
            let ctl = match &self.output {
                Output::Tty { ctl: Some(l), .. } => Some(l.as_fd()),
                _ => None,
            };
            let mut fds = vec![PollFd::new(self.sigfd.as_fd(), PollFlags::POLLIN)];
            let idx0 = open[0].then(|| {
                fds.push(PollFd::new(src0, PollFlags::POLLIN));
                fds.len() - 1
            });
            let idx1 = src1.filter(|_| open[1]).map(|fd| {
                fds.push(PollFd::new(fd, PollFlags::POLLIN));
                fds.len() - 1
            });
            let idx_in = stdin.map(|fd| {
                fds.push(PollFd::new(fd, PollFlags::POLLIN));
                fds.len() - 1
            });
            let idx_ctl = ctl.map(|fd| {
                fds.push(PollFd::new(fd, PollFlags::POLLIN));
                fds.len() - 1
            });
            let idx_probe = self.probe.as_ref().filter(|_| exit_code.is_none()).map(|l| {
                fds.push(PollFd::new(l.as_fd(), PollFlags::POLLIN));
                fds.len() - 1
            });
            let timeout = if exit_code.is_some() {
                PollTimeout::from(50u16)
            } else {
                PollTimeout::NONE
            };
            if let Err(e) = poll(&mut fds, timeout) {
                if e != nix::errno::Errno::EINTR {
                    eprintln!("monitor: poll: {e}");
                    std::thread::sleep(Duration::from_millis(10));
                }
                continue;
            }
            let ready = |i: Option<usize>| i.and_then(|i| fds[i].revents()).is_some_and(|r| !r.is_empty());
            let (r_sig, r0, r1, r_in, r_ctl) =
                (ready(Some(0)), ready(idx0), ready(idx1), ready(idx_in), ready(idx_ctl));
            let r_probe = ready(idx_probe);
            drop(fds);
            if r_probe {
                self.start_probe_server();
            }
            if r_sig {
                let _ = self.sigfd.read_signal();
                if let Some(code) = self.reap() {
                    exit_code = Some(code);
                    drain_deadline = Some(Instant::now() + Duration::from_millis(500));
                    if matches!(self.output, Output::Tty { .. }) {
                        open[1] = false;
                    }
                }
            }
            if r0 {
                let fd = match &self.output {
                    Output::Pipes { out, .. } => out.as_raw_fd(),
                    Output::Tty { master, .. } => master.as_raw_fd(),
                };
                open[0] = pump(fd, &mut buf, &mut out, log.as_mut());
            }
            if r1 {
                if let Output::Pipes { err: e, .. } = &self.output {
                    open[1] = pump(e.as_raw_fd(), &mut buf, &mut err, log.as_mut());
                }
            }
            if r_in {
                self.forward_stdin(&mut buf);
            }
            if r_ctl {
                if let Output::Tty {
                    master, ctl: Some(l), ..
                } = &self.output
                {
                    super::tty::serve_control(l, master);
                }
            }
            if let Output::Tty { .. } = self.output {
                open[1] = false;
            }
        }
        for s in [&mut out, &mut err] {
            if let (Some(rec), Some(l)) = (s.finish(), log.as_mut()) {
                let _ = l.write(&rec);
            }
        }
        exit_code.unwrap_or(255)
    }

    /// Reaps every exited child; returns the container's exit code when PID 1 was among them.
    fn reap(&self) -> Option<i32> {
        let mut code = None;
        loop {
            match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(p, c)) if p == self.pid => code = Some(c),
                Ok(WaitStatus::Signaled(p, s, _)) if p == self.pid => code = Some(128 + s as i32),
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => {}
            }
        }
        code
    }

    /// Starts a probe server on an accepted connection (its stdin and stdout): a fork of this monitor straight
    /// into the container's pid namespace, not a new `berth __probe` exec, which cost each container a load of
    /// the whole berth executable. [`Monitor::reap`] reaps it.
    fn start_probe_server(&self) {
        let Some(l) = &self.probe else { return };
        let Ok((conn, _)) = l.accept() else { return };
        let _ = conn.set_nonblocking(false);
        let config = self.bundle.join(super::probe::PROBE_CONFIG);
        match super::join::fork_into(self.pid.as_raw()) {
            Ok(super::join::Side::Inside(target)) => {
                let code = probe_server(conn.as_fd(), &config, self.pid.as_raw(), target);
                // SAFETY: ends the child without running the monitor's exit paths (its state is the parent's).
                unsafe { libc::_exit(code) }
            }
            Ok(super::join::Side::Outside) => {}
            Err(e) => eprintln!("monitor: starting the probe server: {e}"),
        }
    }

    fn forward_stdin(&mut self, buf: &mut [u8]) {
        let Output::Tty { master, stdin, .. } = &mut self.output else {
            return;
        };
        let Some(f) = stdin else { return };
        match nix::unistd::read(f.as_raw_fd(), buf) {
            Ok(0) | Err(_) => *stdin = None,
            Ok(n) => {
                let _ = nix::unistd::write(&*master, &buf[..n]);
            }
        }
    }

    /// Records the exit, then removes libcontainer state, cgroups and the rootfs mount.
    fn finish(mut self, exit_code: i32) {
        let oom_killed = cgroups::oom_kills(&cgroups::rel_of(&self.bundle, &self.cfg.id)) > 0;
        let _ = std::fs::remove_file(self.bundle.join(CONTAINER_PID_FILE));
        let _ = std::fs::remove_file(self.bundle.join(CONTROL_SOCKET));
        let _ = std::fs::remove_file(self.bundle.join(super::probe::PROBE_SOCKET));
        let _ = std::fs::remove_file(self.bundle.join(super::probe::PROBE_CONFIG));
        if let Err(e) = self.container.delete(true) {
            eprintln!("monitor: deleting libcontainer state: {e}");
        }
        cleanup(&self.bundle, &self.cfg);
        let rec = ExitRecord {
            exit_code,
            oom_killed,
            finished_at: chrono::Utc::now(),
            error: None,
        };
        if let Err(e) = rec.write(&self.bundle) {
            eprintln!("monitor: {e}");
        }
        let _ = std::fs::remove_file(self.bundle.join(MONITOR_PID_FILE));
    }
}

/// Output wiring decided before build; the tty master only exists after it.
enum PendingOutput {
    Pipes {
        out: OwnedFd,
        err: OwnedFd,
    },
    Tty {
        listener: std::os::unix::net::UnixListener,
        stdin: Option<File>,
    },
}

impl PendingOutput {
    fn finish(self, bundle: &Path) -> std::io::Result<Output> {
        match self {
            PendingOutput::Pipes { out, err } => Ok(Output::Pipes { out, err }),
            PendingOutput::Tty { listener, stdin } => {
                let master = super::tty::receive_master(&listener)?;
                let _ = std::fs::remove_file(bundle.join("console.sock"));
                let ctl = super::tty::bind_in(bundle, CONTROL_SOCKET).ok();
                if let Some(l) = &ctl {
                    l.set_nonblocking(true)?;
                }
                Ok(Output::Tty { master, stdin, ctl })
            }
        }
    }
}

/// The container's stdin: /dev/null (which libcontainer's init swaps for the container's own, read-write), or
/// the read end of the stdin FIFO plus, unless `stdin_once`, a writer the monitor keeps so the reader never sees
/// EOF between attaches.
fn open_stdin(bundle: &Path, cfg: &MonitorConfig) -> std::io::Result<(OwnedFd, Option<File>)> {
    if !cfg.open_stdin {
        return Ok((File::open("/dev/null")?.into(), None));
    }
    use std::os::unix::fs::OpenOptionsExt;
    let fifo = bundle.join("stdin");
    // Non-blocking so opening does not wait for a writer; blocking again for the workload, which expects it.
    let reader = File::options().read(true).custom_flags(libc::O_NONBLOCK).open(&fifo)?;
    let flags = nix::fcntl::fcntl(reader.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFL)?;
    let flags = nix::fcntl::OFlag::from_bits_truncate(flags) - nix::fcntl::OFlag::O_NONBLOCK;
    nix::fcntl::fcntl(reader.as_raw_fd(), nix::fcntl::FcntlArg::F_SETFL(flags))?;
    let keeper = if cfg.stdin_once {
        None
    } else {
        Some(File::options().write(true).open(&fifo)?)
    };
    Ok((reader.into(), keeper))
}

/// Reads what is there from `fd` into the log; false at EOF (or a closed tty: EIO).
fn pump(fd: i32, buf: &mut [u8], split: &mut LineSplitter, log: Option<&mut LogWriter>) -> bool {
    match nix::unistd::read(fd, buf) {
        Ok(0) => false,
        Ok(n) => {
            if let Some(l) = log {
                for rec in split.push(&buf[..n]) {
                    let _ = l.write(&rec);
                }
            }
            true
        }
        Err(nix::errno::Errno::EINTR) | Err(nix::errno::Errno::EAGAIN) => true,
        Err(_) => false,
    }
}

/// The writer's rotation. With the `none` driver the file only feeds live `attach` (logs refuses to read it):
/// one small file, replaced as it fills.
fn rotation(log: &LogConfig) -> Rotation {
    match log.driver {
        LogDriver::None => Rotation {
            max_size: Some(1 << 20),
            max_file: 1,
            compress: false,
        },
        LogDriver::JsonFile | LogDriver::Local => Rotation {
            max_size: log.max_size,
            max_file: log.max_file.max(1),
            compress: log.compress,
        },
    }
}

/// Turns a libcontainer build/start error into a Docker-style message and exit code.
fn start_error(e: &dyn std::error::Error) -> StartError {
    let mut text = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        text.push_str(": ");
        text.push_str(&s.to_string());
        src = s.source();
    }
    match executor::parse_error(&text) {
        Some((code, msg)) => (msg, code),
        None => (format!("failed to create the container: {text}"), 125),
    }
}

/// Best-effort removal of what a container leaves behind on the host (not the bundle itself).
pub(crate) fn cleanup(bundle: &Path, cfg: &MonitorConfig) {
    let lc_dir = cfg.lc_root.join(&cfg.id);
    if lc_dir.exists() {
        let _ = std::fs::remove_dir_all(&lc_dir);
    }
    if let Err(e) = cgroups::remove(&cgroups::rel_of(bundle, &cfg.id)) {
        eprintln!("monitor: {e}");
    }
    if let Err(e) = rootfs::unmount(&bundle.join("rootfs")) {
        eprintln!("monitor: {e}");
    }
    // A shareable /dev/shm goes with its container, as on dockerd (joiners keep their own bind of it).
    if let Err(e) = rootfs::unmount(&rootfs::shm_dir(bundle)) {
        eprintln!("monitor: {e}");
    }
}

/// The forked probe server: the connection as stdin and stdout, /dev/null as stderr, the container's pidfd
/// (`target`) as descriptor 3 and none of the monitor's other descriptors, a fresh signal mask; then the server
/// proper. Returns its exit code when it cannot start.
fn probe_server(conn: std::os::fd::BorrowedFd, config: &Path, pid: i32, target: OwnedFd) -> i32 {
    let _ = SigSet::empty().thread_set_mask();
    let Ok(null) = File::options().read(true).write(true).open("/dev/null") else {
        return 125;
    };
    // The close_range below closes them (and the connection's own descriptor) once they are copied.
    let (null, raw) = (std::os::fd::IntoRawFd::into_raw_fd(null), conn.as_raw_fd());
    let target = std::os::fd::IntoRawFd::into_raw_fd(target);
    // SAFETY: plain descriptor calls on descriptors this process owns; descriptor 3 is owned below.
    let target = unsafe {
        if libc::dup2(raw, 0) < 0 || libc::dup2(raw, 1) < 0 || libc::dup2(null, 2) < 0 || libc::dup2(target, 3) < 0 {
            return 125;
        }
        libc::syscall(libc::SYS_close_range, 4u32, u32::MAX, 0u32);
        <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(3)
    };
    super::probe::server_main(config, pid, &target)
}
