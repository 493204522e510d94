//! Exec: another process in a running container (Docker's exec), joined to its namespaces and cgroup through
//! libcontainer's tenant builder in a helper process (`berth __exec <bundle> <exec.json>`) whose stdio is the
//! exec's stdio and whose exit code is the process's (126/127 when it cannot be executed).

use super::{cgroups, executor, user, ExecStdio, ProcessSpec, Result, Runtime, RuntimeError};
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use nix::sys::wait::{waitpid, WaitStatus};
use oci_spec::runtime::{Process, Spec};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// What the exec helper runs (`<bundle>/exec-<n>.json`, removed by the helper once read).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecConfig {
    /// Container id.
    pub id: String,
    /// libcontainer's state root.
    pub lc_root: PathBuf,
    /// The process, based on the container's own (capabilities, rlimits) with the exec's args/env/cwd/user.
    pub process: Process,
    /// The host's cgroup v1 mount points (see [`cgroups::seed_v1_mount_points`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cgroup_mounts: Vec<PathBuf>,
    /// The container's seccomp profile, for a process that enters the container without libcontainer (the
    /// probe server, [`super::join`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp: Option<oci_spec::runtime::LinuxSeccomp>,
}

impl Runtime {
    /// Runs a process inside a running container (its namespaces and cgroup) through a helper process
    /// (`berth __exec`), wired to `stdio` (None = /dev/null). The returned child exits with the process's exit
    /// code (126/127 with Docker's message on its stderr when it cannot be executed). With `process.tty` the
    /// helper holds a pty and copies stdin/stdout through it. `process.user` None keeps the container's user.
    pub fn exec(&self, id: &str, process: &ProcessSpec, stdio: ExecStdio) -> Result<ExecProcess> {
        self.exec_with_console(id, process, stdio, None)
    }

    /// [`Runtime::exec`] with the terminal's initial size (rows, cols): applied inside the container before
    /// the process starts (OCI `consoleSize`), so a program that reads its size at once sees it.
    pub fn exec_with_console(
        &self,
        id: &str,
        process: &ProcessSpec,
        stdio: ExecStdio,
        console: Option<(u16, u16)>,
    ) -> Result<ExecProcess> {
        if !self.is_running(id) {
            return Err(RuntimeError::NotRunning(id.to_owned()));
        }
        if process.args.is_empty() {
            return Err(RuntimeError::InvalidSpec("exec: no command specified".into()));
        }
        let bundle = self.bundle_dir(id);
        let base = libcontainer::utils::load_spec(&bundle.join("config.json"))
            .map_err(|e| RuntimeError::io("reading the container's config.json", std::io::Error::other(e)))?;
        let proc = exec_process(&base, &bundle, process, console)?;
        let cfg = ExecConfig {
            id: id.to_owned(),
            lc_root: self.lc_root_of(id),
            process: proc,
            cgroup_mounts: cgroups::v1_mount_points(),
            seccomp: None,
        };
        let exec_id = format!("exec-{}", unique_suffix());
        let path = bundle.join(format!("{exec_id}.json"));
        let data =
            serde_json::to_vec(&cfg).map_err(|e| RuntimeError::io("encoding exec config", std::io::Error::other(e)))?;
        std::fs::write(&path, data).map_err(|e| RuntimeError::io(format!("writing {}", path.display()), e))?;
        let io = |fd: Option<OwnedFd>| {
            fd.map(std::process::Stdio::from)
                .unwrap_or_else(std::process::Stdio::null)
        };
        let (pid_r, pid_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| RuntimeError::io("creating the exec pid pipe", e.into()))?;
        let mut cmd = tokio::process::Command::new(&self.monitor_exe);
        cmd.arg("__exec")
            .arg(&bundle)
            .arg(&path)
            .env("BERTH_LOG", "off")
            .stdin(io(stdio.stdin))
            .stdout(io(stdio.stdout))
            .stderr(io(stdio.stderr));
        let raw_w = pid_w.as_raw_fd();
        // SAFETY: only async-signal-safe calls (dup2, fcntl) between fork and exec.
        unsafe {
            cmd.pre_exec(move || pass_fd_as(raw_w, PID_REPORT_FD));
        }
        let child = cmd.spawn().map_err(|e| {
            let _ = std::fs::remove_file(&path);
            RuntimeError::io(format!("spawning exec helper {}", self.monitor_exe.display()), e)
        })?;
        drop(pid_w);
        Ok(ExecProcess {
            child,
            exec_id,
            pid_report: pid_r,
        })
    }

    /// The home directory of `user` (Docker user syntax) in a running container: its /etc/passwd entry's, "/"
    /// when it has none. What runc gives an exec as HOME when the container's config sets none.
    pub fn home_of(&self, id: &str, user: &str) -> Result<String> {
        user::resolve(&self.bundle_dir(id).join("rootfs"), Some(user), &[]).map(|u| u.home)
    }

    /// Resizes the terminal of a running tty exec.
    pub fn resize_exec(&self, id: &str, exec_id: &str, rows: u16, cols: u16) -> Result<()> {
        if !exec_id.starts_with("exec-") || !exec_id[5..].bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(RuntimeError::InvalidSpec(format!("bad exec id {exec_id:?}")));
        }
        let ctl = self.bundle_dir(id).join(format!("{exec_id}.ctl"));
        if !ctl.exists() {
            return Err(RuntimeError::NotRunning(format!(
                "{id} exec {exec_id} (or it has no terminal)"
            )));
        }
        super::tty::send_resize(&ctl, rows, cols).map_err(|e| RuntimeError::io(format!("resizing exec {exec_id}"), e))
    }
}

/// A running exec: the helper process (exits with the process's code) and its id for [`Runtime::resize_exec`].
#[derive(Debug)]
pub struct ExecProcess {
    /// The `berth __exec` helper; its exit code is the exec'd process's.
    pub child: tokio::process::Child,
    /// Id of this exec inside the container's bundle.
    pub exec_id: String,
    /// Read end of the helper's pid report: the exec'd process's host pid as decimal text, then EOF (EOF
    /// alone when it never started). See [`read_pid_report`].
    pub pid_report: OwnedFd,
}

/// The descriptor number on which the helper reports the exec'd process's pid.
const PID_REPORT_FD: i32 = 3;

/// In a forked child: makes `fd` available as `target` across exec.
fn pass_fd_as(fd: i32, target: i32) -> std::io::Result<()> {
    // SAFETY: plain descriptor syscalls on descriptors this process owns.
    let rc = unsafe {
        if fd == target {
            libc::fcntl(fd, libc::F_SETFD, 0)
        } else {
            libc::dup2(fd, target)
        }
    };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Reads the helper's pid report (blocking until the helper has started the process or given up).
pub async fn read_pid_report(fd: OwnedFd) -> Option<i64> {
    use tokio::io::AsyncReadExt;
    let mut r = tokio::net::unix::pipe::Receiver::from_owned_fd(fd).ok()?;
    let mut text = String::new();
    r.read_to_string(&mut text).await.ok()?;
    text.trim().parse().ok().filter(|p: &i64| *p > 0)
}

/// The process an exec with `p`'s settings would run in the container of `bundle` (its config.json's, with the
/// exec's args, env, cwd and user), and the container's seccomp profile.
pub(crate) fn process_for(
    bundle: &Path,
    p: &ProcessSpec,
) -> Result<(Process, Option<oci_spec::runtime::LinuxSeccomp>)> {
    let base = libcontainer::utils::load_spec(&bundle.join("config.json"))
        .map_err(|e| RuntimeError::io("reading the container's config.json", std::io::Error::other(e)))?;
    let seccomp = base.linux().as_ref().and_then(|l| l.seccomp().clone());
    Ok((exec_process(&base, bundle, p, None)?, seccomp))
}

fn exec_process(base: &Spec, bundle: &Path, p: &ProcessSpec, console: Option<(u16, u16)>) -> Result<Process> {
    let mut proc = base
        .process()
        .clone()
        .ok_or_else(|| RuntimeError::InvalidSpec("container spec has no process".into()))?;
    proc.set_args(Some(p.args.clone()));
    let mut env: Vec<String> = proc.env().clone().unwrap_or_default();
    for e in &p.env {
        let key = e.split('=').next().unwrap_or_default();
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(e.clone());
    }
    if p.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    proc.set_env(Some(env));
    if let Some(cwd) = p.cwd.as_deref().filter(|c| !c.is_empty()) {
        proc.set_cwd(PathBuf::from(cwd));
    }
    if p.user.as_deref().is_some_and(|u| !u.is_empty()) || !p.additional_groups.is_empty() {
        let u = user::resolve(&bundle.join("rootfs"), p.user.as_deref(), &p.additional_groups)?;
        let mut ou = proc.user().clone();
        ou.set_uid(u.uid);
        ou.set_gid(u.gid);
        ou.set_additional_gids(Some(u.additional_gids));
        proc.set_user(ou);
    }
    if p.privileged {
        // dockerd's privileged exec asks for every capability; joining a container whose bounding set is smaller
        // then fails ("unable to apply caps"), as it does there.
        let all = super::caps::ALL_CAPS;
        let caps = serde_json::json!({"bounding": all, "effective": all, "permitted": all});
        proc.set_capabilities(Some(
            serde_json::from_value(caps).map_err(|e| RuntimeError::InvalidSpec(format!("capabilities: {e}")))?,
        ));
    }
    proc.set_terminal(Some(p.tty));
    let size = console.filter(|_| p.tty).and_then(|(rows, cols)| {
        oci_spec::runtime::BoxBuilder::default()
            .height(u64::from(rows))
            .width(u64::from(cols))
            .build()
            .ok()
    });
    proc.set_console_size(size);
    Ok(proc)
}

fn unique_suffix() -> String {
    let mut b = [0u8; 8];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(&mut b);
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Entry point of `berth __exec <bundle> <exec.json>`: returns the exec'd process's exit code.
pub fn helper_main(bundle: &Path, config: &Path) -> i32 {
    let report = take_pid_report_fd();
    let cfg: ExecConfig = match std::fs::read(config)
        .map_err(|e| e.to_string())
        .and_then(|d| serde_json::from_slice(&d).map_err(|e| e.to_string()))
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("berth exec: reading {}: {e}", config.display());
            return 125;
        }
    };
    let proc_path = bundle.join(format!("{}.process.json", cfg_stem(config)));
    let written = serde_json::to_vec(&cfg.process)
        .map_err(|e| e.to_string())
        .and_then(|d| std::fs::write(&proc_path, d).map_err(|e| e.to_string()));
    let _ = std::fs::remove_file(config);
    if let Err(e) = written {
        eprintln!("berth exec: {e}");
        return 125;
    }
    let tty = cfg.process.terminal().unwrap_or(false);
    let code = run_tenant(bundle, &cfg, &proc_path, tty, report);
    let _ = std::fs::remove_file(&proc_path);
    code
}

/// fd 3 when the engine passed one (a pipe), marked close-on-exec so the container never inherits it.
fn take_pid_report_fd() -> Option<std::fs::File> {
    use std::os::fd::FromRawFd;
    // SAFETY: F_GETFD only inspects the descriptor table.
    if unsafe { libc::fcntl(PID_REPORT_FD, libc::F_GETFD) } < 0 {
        return None;
    }
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes into the stat buffer we own.
    if unsafe { libc::fstat(PID_REPORT_FD, &mut st) } < 0 || st.st_mode & libc::S_IFMT != libc::S_IFIFO {
        return None;
    }
    // SAFETY: fd 3 is open, a pipe, and nothing else in this process owns it.
    unsafe { libc::fcntl(PID_REPORT_FD, libc::F_SETFD, libc::FD_CLOEXEC) };
    Some(unsafe { std::fs::File::from_raw_fd(PID_REPORT_FD) })
}

/// Whether the exec's working directory is missing in the container (read through its init's root, for the
/// message only).
fn cwd_missing(bundle: &Path, cwd: &Path) -> bool {
    let Some(pid) = std::fs::read_to_string(bundle.join(super::monitor::CONTAINER_PID_FILE))
        .ok()
        .and_then(|p| p.trim().parse::<u32>().ok())
    else {
        return false;
    };
    let inside = Path::new("/proc")
        .join(pid.to_string())
        .join("root")
        .join(cwd.strip_prefix("/").unwrap_or(cwd));
    matches!(inside.symlink_metadata(), Err(e) if e.kind() == std::io::ErrorKind::NotFound)
}

fn run_tenant(bundle: &Path, cfg: &ExecConfig, proc_path: &Path, tty: bool, report: Option<std::fs::File>) -> i32 {
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        eprintln!("berth exec: {what}: {e}");
        125
    };
    cgroups::seed_v1_mount_points(&cfg.cgroup_mounts);
    super::seccomp::use_bundle_program(bundle);
    let mut builder = match ContainerBuilder::new(cfg.id.clone(), SyscallType::default())
        .with_executor(executor::DockerExecutor)
        .with_root_path(&cfg.lc_root)
    {
        Ok(b) => b,
        Err(e) => return fail("libcontainer root", &e),
    };
    let mut listener = None;
    let stem = cfg_stem(proc_path);
    let sock_name = format!("{stem}.sock");
    let sock = bundle.join(&sock_name);
    let ctl_path = bundle.join(format!("{stem}.ctl"));
    if tty {
        match super::tty::bind_in(bundle, &sock_name) {
            Ok(l) => listener = Some(l),
            Err(e) => return fail("console socket", &e),
        }
        builder = builder.with_console_socket(Some(&sock));
    } else {
        let dup = |fd: std::os::fd::BorrowedFd| fd.try_clone_to_owned();
        match (
            dup(std::io::stdin().as_fd()),
            dup(std::io::stdout().as_fd()),
            dup(std::io::stderr().as_fd()),
        ) {
            (Ok(i), Ok(o), Ok(e)) => builder = builder.with_stdin(i).with_stdout(o).with_stderr(e),
            _ => return fail("duplicating stdio", &"dup failed"),
        }
    }
    let built = builder
        .as_tenant()
        .with_process(Some(proc_path))
        .with_detach(tty)
        .build();
    let pid = match built {
        Ok(pid) => {
            if let Some(mut f) = report {
                use std::io::Write;
                let _ = write!(f, "{pid}");
            }
            pid
        }
        Err(e) => {
            let _ = std::fs::remove_file(&sock);
            let text = error_chain(&e);
            // dockerd answers 126 for any exec that cannot start (127 is only for `docker run`'s process).
            let mut msg = executor::parse_error(&text).map_or(text, |(_, msg)| msg);
            let cwd = cfg.process.cwd();
            if cwd_missing(bundle, cwd) {
                // libcontainer reports only a failed system call; runc names the directory.
                msg = format!(
                    "chdir to cwd ({:?}) set in config.json failed: no such file or directory",
                    cwd
                );
            }
            // dockerd's message ends the way its stream writes it, with CRLF.
            eprint!("OCI runtime exec failed: exec failed: unable to start container process: {msg}: unknown\r\n");
            return 126;
        }
    };
    if let Some(l) = listener {
        let master = super::tty::receive_master(&l);
        let _ = std::fs::remove_file(&sock);
        match master {
            Ok(m) => {
                let ctl = super::tty::bind_in(bundle, &format!("{stem}.ctl")).ok();
                if let Some(c) = &ctl {
                    let _ = c.set_nonblocking(true);
                }
                pump_tty(&m, ctl.as_ref());
                let _ = std::fs::remove_file(&ctl_path);
            }
            Err(e) => eprintln!("berth exec: receiving the terminal: {e}"),
        }
    }
    match waitpid(pid, None) {
        Ok(WaitStatus::Exited(_, c)) => c,
        Ok(WaitStatus::Signaled(_, s, _)) => 128 + s as i32,
        _ => 125,
    }
}

/// Copies our stdin to the pty and the pty to our stdout until the terminal closes.
fn pump_tty(master: &OwnedFd, ctl: Option<&std::os::unix::net::UnixListener>) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let stdin = std::io::stdin();
    let mut stdin_open = true;
    let mut buf = [0u8; 16 * 1024];
    loop {
        let mut fds = vec![PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        let idx_in = stdin_open.then(|| {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        let idx_ctl = ctl.map(|c| {
            fds.push(PollFd::new(c.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        if poll(&mut fds, PollTimeout::NONE).is_err() {
            continue;
        }
        let ready = |i: usize| fds.get(i).and_then(|f| f.revents()).is_some_and(|r| !r.is_empty());
        let (m_ready, in_ready) = (ready(0), idx_in.is_some_and(ready));
        let ctl_ready = idx_ctl.is_some_and(ready);
        drop(fds);
        if m_ready {
            match nix::unistd::read(master.as_raw_fd(), &mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    let _ = nix::unistd::write(std::io::stdout(), &buf[..n]);
                }
            }
        }
        if ctl_ready {
            if let Some(c) = ctl {
                super::tty::serve_control(c, master);
            }
        }
        if in_ready {
            match nix::unistd::read(stdin.as_raw_fd(), &mut buf) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(n) => {
                    let _ = nix::unistd::write(master, &buf[..n]);
                }
            }
        }
    }
}

/// "exec-<hex>" from ".../exec-<hex>.json" or ".../exec-<hex>.process.json".
fn cfg_stem(p: &Path) -> String {
    let name = p
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.split('.').next().unwrap_or("exec").to_owned()
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        text.push_str(": ");
        text.push_str(&s.to_string());
        src = s.source();
    }
    text
}
