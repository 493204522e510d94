//! A libcontainer workload executor whose start errors read like Docker's and carry Docker's exit codes
//! (127: not found, 126: not executable), so the engine can report them as `docker run` does.

use libcontainer::oci_spec::runtime::Spec;
use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Marks our message inside libcontainer's error chain: `berth-exec-error:<code>:<message>`.
pub const MARKER: &str = "berth-exec-error:";

/// Validates the executable like Docker, then execs with libcontainer's default executor.
#[derive(Clone, Default)]
pub struct DockerExecutor;

impl Executor for DockerExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        reset_signals();
        apply_console_size(spec);
        DefaultExecutor {}.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        let Some(process) = spec.process() else {
            return Err(ExecutorValidationError::ArgValidationError(format!(
                "{MARKER}126:no process in spec"
            )));
        };
        let Some(arg0) = process.args().as_ref().and_then(|a| a.first()) else {
            return Err(ExecutorValidationError::ArgValidationError(format!(
                "{MARKER}126:no command specified"
            )));
        };
        let path = process
            .env()
            .as_ref()
            .and_then(|env| env.iter().find_map(|e| e.strip_prefix("PATH=")).map(str::to_owned))
            .unwrap_or_else(|| super::spec::DEFAULT_PATH.to_owned());
        check(arg0, &path)
            .map(drop)
            .map_err(|(code, msg)| ExecutorValidationError::ArgValidationError(format!("{MARKER}{code}:{msg}")))
    }
}

/// Gives the workload the signal state a fresh process has. Blocked masks and ignored dispositions survive
/// execve, and the monitor blocks SIGCHLD/SIGPIPE/SIGHUP while Rust's runtime ignores SIGPIPE: left as they are,
/// `yes | head` in the container would see EPIPE instead of dying, and a shell would never see SIGCHLD.
pub(crate) fn reset_signals() {
    // SAFETY: runs in the container's init right before execve; nothing in this process relies on handlers any more.
    unsafe {
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        // The raw syscall, because libc refuses to touch the two real-time signals it reserves (32, 33).
        let default = [0u64; 4]; // kernel struct sigaction: handler SIG_DFL, flags, restorer, mask
        for sig in 1..=64 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    sig,
                    default.as_ptr(),
                    std::ptr::null_mut::<u64>(),
                    8,
                );
            }
        }
    }
}

/// Sets the terminal's size from the process's `consoleSize` on our stdin (the pty slave by now), as runc does
/// before exec: libcontainer sends the pty master and goes on, so a size set from outside comes too late for a
/// process that asks at once (`stty size`).
fn apply_console_size(spec: &Spec) {
    let Some(p) = spec.process() else { return };
    let (Some(true), Some(size)) = (p.terminal(), p.console_size()) else {
        return;
    };
    let ws = libc::winsize {
        ws_row: size.height().min(u64::from(u16::MAX)) as u16,
        ws_col: size.width().min(u64::from(u16::MAX)) as u16,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    if ws.ws_row == 0 || ws.ws_col == 0 {
        return;
    }
    // SAFETY: TIOCSWINSZ reads a winsize struct we own for the duration of the call; fd 0 is the terminal.
    unsafe { libc::ioctl(0, libc::TIOCSWINSZ, &ws) };
}

/// The program `arg0` names (looked up in `path_var`), or Docker's exit code and message when it cannot be
/// executed.
pub(crate) fn check(arg0: &str, path_var: &str) -> Result<PathBuf, (i32, String)> {
    if !arg0.contains('/') {
        // A PATH entry counts only as an executable file, so what is found needs no second look.
        return path_var
            .split(':')
            .map(|d| Path::new(if d.is_empty() { "." } else { d }).join(arg0))
            .find(|c| is_exec_file(c))
            .ok_or_else(|| (127, format!("exec: \"{arg0}\": executable file not found in $PATH")));
    }
    match std::fs::metadata(arg0) {
        Ok(m) if m.is_file() && m.permissions().mode() & 0o111 != 0 => Ok(PathBuf::from(arg0)),
        Ok(_) => Err((126, format!("exec: \"{arg0}\": permission denied"))),
        Err(e) => Err((127, format!("exec: \"{arg0}\": stat {arg0}: {}", io_text(&e)))),
    }
}

fn is_exec_file(p: &Path) -> bool {
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

fn io_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => e.to_string(),
    }
}

/// Finds our marker in a libcontainer error text: (exit code, Docker-style message).
pub fn parse_error(text: &str) -> Option<(i32, String)> {
    let rest = &text[text.find(MARKER)? + MARKER.len()..];
    let (code, msg) = rest.split_once(':')?;
    Some((code.parse().ok()?, msg.trim_end_matches(['"', ')', '\'']).to_owned()))
}
