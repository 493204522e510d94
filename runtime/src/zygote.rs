//! The monitor zygote (`berth __zygote`): one small single-threaded process per engine that forks the
//! per-container monitors. Exec'ing `berth __monitor` for each container paid the whole program start each time
//! (execve, the dynamic loader and its CPUID probing, relocating a large binary, then the daemonizing parent's
//! exit); a fork of a process that already did all that costs a page-table copy. Each fork is given the command
//! line `berth __monitor <bundle>`, so it looks and is recognised exactly like an exec'd monitor.
//!
//! Protocol on a `SOCK_SEQPACKET` pair: the zygote sends one byte when ready; each request is the bundle path
//! with two descriptors (the write end of the start-report pipe, the monitor's log file), which the fork takes
//! as its stdout and stderr. The zygote exits when the engine's end closes.

use super::monitor;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{signal, SigHandler, Signal};
use nix::sys::socket::{
    recvmsg, sendmsg, setsockopt, socketpair, sockopt, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use nix::sys::time::TimeVal;
use nix::unistd::{fork, ForkResult};
use std::io::{IoSlice, IoSliceMut, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

/// The command-line mode of the zygote.
pub const MODE: &str = "__zygote";

/// How long a new zygote may take to say it is ready.
const READY_WITHIN_SECS: i64 = 10;

/// Longest bundle path a request carries.
const MAX_REQUEST: usize = 4096;

/// The engine's handle on its zygote, started on first use and again if it died.
#[derive(Debug)]
pub struct Zygote {
    exe: PathBuf,
    conn: Mutex<Conn>,
}

#[derive(Debug)]
enum Conn {
    NotStarted,
    Running {
        sock: OwnedFd,
        child: std::process::Child,
    },
    /// The zygote could not start here: monitors are exec'd instead.
    Unavailable,
}

/// Why a monitor could not be forked by the zygote; the caller execs the monitor instead.
#[derive(Debug)]
pub struct Unavailable;

impl Zygote {
    /// A handle for zygotes of `exe` (not started yet).
    pub fn new(exe: PathBuf) -> Self {
        Self {
            exe,
            conn: Mutex::new(Conn::NotStarted),
        }
    }

    /// Has the zygote fork a monitor for `bundle` with `report` as its stdout and `log` as its stderr.
    pub fn spawn_monitor(&self, bundle: &Path, report: BorrowedFd, log: BorrowedFd) -> Result<(), Unavailable> {
        if !fits(&self.exe, bundle) {
            return Err(Unavailable);
        }
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        // A zygote that died (killed by hand, OOM) is replaced once before giving up on it.
        for _ in 0..2 {
            if matches!(*conn, Conn::NotStarted) {
                *conn = self.start();
            }
            match &*conn {
                Conn::Running { sock, .. } => match send_request(sock, bundle, report, log) {
                    Ok(()) => return Ok(()),
                    Err(e) => tracing::warn!("the monitor zygote is gone ({e}); starting another"),
                },
                _ => return Err(Unavailable),
            }
            reset(&mut conn);
        }
        Err(Unavailable)
    }

    /// True when the zygote died (it is reaped and replaced at the next request). A request sent just as it
    /// died is lost with it: the caller sees its report pipe close with no report and asks again. The zygote's
    /// end of the socket closes no later than that pipe (descriptors still in flight are dropped with the
    /// socket; the zygote's own close in ascending order, the socket first), so a hang-up there is certain
    /// while the process may not be a zombie yet.
    pub fn died(&self) -> bool {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let Conn::Running { sock, child } = &mut *conn else {
            return false;
        };
        let mut fds = [PollFd::new(sock.as_fd(), PollFlags::empty())];
        let hung_up = poll(&mut fds, PollTimeout::ZERO).is_ok_and(|n| n > 0)
            && fds[0].revents().is_some_and(|r| r.contains(PollFlags::POLLHUP));
        if !hung_up && matches!(child.try_wait(), Ok(None)) {
            return false;
        }
        reset(&mut conn);
        true
    }

    fn start(&self) -> Conn {
        match self.try_start() {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!("monitors are exec'd one by one: the monitor zygote did not start ({e})");
                Conn::Unavailable
            }
        }
    }

    fn try_start(&self) -> std::io::Result<Conn> {
        let (ours, theirs) = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)?;
        let mut child = Command::new(&self.exe)
            .arg(MODE)
            .arg(" ".repeat(CMDLINE_ROOM))
            .stdin(Stdio::from(theirs))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?;
        // A zygote that hangs before it is ready must not hang the engine's first start.
        let timeout = |secs| setsockopt(&ours, sockopt::ReceiveTimeout, &TimeVal::new(secs, 0));
        timeout(READY_WITHIN_SECS)?;
        let mut ready = [0u8; 1];
        match nix::sys::socket::recv(ours.as_raw_fd(), &mut ready, MsgFlags::empty()) {
            Ok(1) => {
                timeout(0)?;
                Ok(Conn::Running { sock: ours, child })
            }
            other => {
                let _ = child.kill();
                let status = child.wait()?;
                Err(std::io::Error::other(format!(
                    "it exited ({status}) before it was ready: {other:?}"
                )))
            }
        }
    }
}

impl Drop for Zygote {
    /// Closing the socket ends the zygote (its monitors live on); it is reaped here so no zombie stays behind.
    fn drop(&mut self) {
        let conn = std::mem::replace(self.conn.get_mut().unwrap_or_else(|p| p.into_inner()), Conn::NotStarted);
        if let Conn::Running { sock, mut child } = conn {
            drop(sock);
            let _ = child.wait();
        }
    }
}

/// Ends and reaps a zygote that failed us; the next request starts another.
fn reset(conn: &mut Conn) {
    if let Conn::Running { mut child, .. } = std::mem::replace(conn, Conn::NotStarted) {
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn send_request(sock: &OwnedFd, bundle: &Path, report: BorrowedFd, log: BorrowedFd) -> nix::Result<()> {
    let fds = [report.as_raw_fd(), log.as_raw_fd()];
    let iov = [IoSlice::new(bundle.as_os_str().as_bytes())];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::MSG_NOSIGNAL, None).map(drop)
}

/// Entry point of `berth __zygote` (its stdin is the request socket); returns the process exit code.
pub fn main() -> i32 {
    // The request socket moves off stdin, which the forks get as /dev/null.
    let sock = match nix::fcntl::fcntl(0, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(3)) {
        // SAFETY: F_DUPFD_CLOEXEC returned a new descriptor that nothing else owns.
        Ok(fd) => unsafe { OwnedFd::from_raw_fd(fd) },
        Err(_) => return 2,
    };
    let null = std::fs::File::open("/dev/null");
    if null
        .map_err(|_| nix::errno::Errno::ENOENT)
        .and_then(|f| redirect(f, 0))
        .is_err()
    {
        return 2;
    }
    // Checked here once, so an engine whose zygote cannot rename its forks execs its monitors instead of
    // forking ones that would not be recognised.
    let argv0 = std::env::args_os().next().unwrap_or_else(|| "berth".into());
    if arg_area().is_none_or(|a| a.len() < CMDLINE_ROOM) || set_cmdline(&[argv0.as_bytes(), MODE.as_bytes()]).is_err() {
        return 3;
    }
    // Forks are reaped by the kernel; each fork restores the default before it starts its container.
    // SAFETY: no handler is installed, only the disposition changes.
    if unsafe { signal(Signal::SIGCHLD, SigHandler::SigIgn) }.is_err() {
        return 2;
    }
    // libcontainer's processes (monitor, intermediate, init, each probe server's too) look through /proc with
    // pathrs, which mounts a private procfs instance (fsopen, fsconfig, fsmount) the first time a process asks
    // and caches it for that process. Asked here once, the cached handle is every fork's (a detached mount,
    // close-on-exec, in no mount namespace; inits close or exec it away before the workload runs).
    let _ = pathrs::procfs::ProcfsHandle::new();
    if nix::sys::socket::send(sock.as_raw_fd(), b"r", MsgFlags::MSG_NOSIGNAL).is_err() {
        return 2;
    }
    serve(&sock, argv0.as_bytes())
}

/// One request: the bundle and the two descriptors.
struct Request {
    bundle: PathBuf,
    report: OwnedFd,
    log: OwnedFd,
}

/// What one read of the socket brought.
enum Received {
    Request(Request),
    /// Not a bundle with two descriptors (the descriptors that came are closed, so the engine sees no report).
    Malformed,
    /// The engine closed its end.
    Closed,
}

fn serve(sock: &OwnedFd, argv0: &[u8]) -> i32 {
    loop {
        match receive(sock) {
            Ok(Received::Request(req)) => fork_monitor(sock, argv0, req),
            Ok(Received::Malformed) | Err(nix::errno::Errno::EINTR) => continue,
            // The engine stopped, and so does its zygote (the monitors live on).
            Ok(Received::Closed) => return 0,
            Err(_) => return 1,
        }
    }
}

fn receive(sock: &OwnedFd) -> nix::Result<Received> {
    let mut buf = vec![0u8; MAX_REQUEST];
    let mut space = nix::cmsg_space!([RawFd; 2]);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<()>(sock.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)?;
    let len = msg.bytes;
    let mut fds: Vec<OwnedFd> = Vec::new();
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(raw) = c {
            // SAFETY: SCM_RIGHTS installed these descriptors in this process for us alone.
            fds.extend(raw.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
        }
    }
    if len == 0 && fds.is_empty() {
        return Ok(Received::Closed);
    }
    let mut fds = fds.into_iter();
    Ok(match (fds.next(), fds.next(), fds.next()) {
        (Some(report), Some(log), None) if len > 0 => Received::Request(Request {
            bundle: PathBuf::from(std::ffi::OsStr::from_bytes(&buf[..len])),
            report,
            log,
        }),
        _ => Received::Malformed,
    })
}

fn fork_monitor(sock: &OwnedFd, argv0: &[u8], req: Request) {
    // SAFETY: the zygote is single-threaded; the fork runs the monitor, which is written for a fresh process.
    match unsafe { fork() } {
        Ok(ForkResult::Parent { .. }) => {}
        Ok(ForkResult::Child) => {
            // Neither the monitor nor its container keeps the zygote's end; exit() runs no destructor, so this
            // is its only close.
            let _ = nix::unistd::close(sock.as_raw_fd());
            std::process::exit(monitor_child(argv0, req));
        }
        Err(e) => {
            let mut out = std::fs::File::from(req.report);
            let failed = monitor::StartReport::Failed {
                message: format!("forking the monitor: {e}"),
                exit_code: 125,
            };
            let _ = serde_json::to_writer(&mut out, &failed);
            let _ = out.write_all(b"\n");
        }
    }
}

fn monitor_child(argv0: &[u8], req: Request) -> i32 {
    let bundle = req.bundle.as_os_str().as_bytes();
    if set_cmdline(&[argv0, b"__monitor", bundle]).is_err()
        || redirect(std::fs::File::from(req.report), 1).is_err()
        || redirect(std::fs::File::from(req.log), 2).is_err()
    {
        return 1;
    }
    // SAFETY: restoring the default disposition; the monitor reaps its container through a signalfd.
    let _ = unsafe { signal(Signal::SIGCHLD, SigHandler::SigDfl) };
    monitor::detached_main(&req.bundle)
}

/// Moves `file` onto descriptor `target`.
fn redirect(file: std::fs::File, target: RawFd) -> nix::Result<()> {
    if file.as_raw_fd() == target {
        std::mem::forget(file);
        return Ok(());
    }
    nix::unistd::dup2(file.as_raw_fd(), target).map(drop)
}

/// Room for a fork's command line: the zygote is started with a blank argument this long, and each fork writes
/// its own command line over the zygote's; a monitor whose path would not fit is exec'd instead (setting it elsewhere, `PR_SET_MM`, takes CAP_SYS_RESOURCE, which
/// container hosts often drop).
const CMDLINE_ROOM: usize = 1024;

/// Whether a monitor's command line for `bundle` fits the room the zygote has.
fn fits(exe: &Path, bundle: &Path) -> bool {
    exe.as_os_str().len() + "__monitor".len() + bundle.as_os_str().len() + 3 <= CMDLINE_ROOM
}

/// Writes `args` over this process's command line (`/proc/<pid>/cmdline`, what `ps` and the monitor checks
/// read), padding the rest with NULs.
fn set_cmdline(args: &[&[u8]]) -> Result<(), ()> {
    let area = arg_area().ok_or(())?;
    let need: usize = args.iter().map(|a| a.len() + 1).sum();
    if need > area.len() {
        return Err(());
    }
    area.fill(0);
    let mut at = 0;
    for a in args {
        area[at..at + a.len()].copy_from_slice(a);
        at += a.len() + 1;
    }
    Ok(())
}

/// The memory of this process's arguments, `arg_start..arg_end` of `/proc/self/stat`.
fn arg_area() -> Option<&'static mut [u8]> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, from field 3 (state); arg_start and arg_end are fields 48 and 49.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let start: usize = fields.get(48 - 3)?.parse().ok()?;
    let end: usize = fields.get(49 - 3)?.parse().ok()?;
    if start == 0 || end <= start {
        return None;
    }
    // SAFETY: the kernel placed the argument strings there at exec, in this process's writable stack mapping;
    // the zygote and its forks are single-threaded and only read them again through this slice or
    // std::env::args (which reads a copy's worth and sees the new strings).
    Some(unsafe { std::slice::from_raw_parts_mut(start as *mut u8, end - start) })
}
