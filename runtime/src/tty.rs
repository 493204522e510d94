//! Receiving the pty master that libcontainer sends over the console socket.

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, UnixAddr};
use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;

/// Accepts libcontainer's connection and returns the pty master it passes (SCM_RIGHTS).
pub fn receive_master(listener: &UnixListener) -> std::io::Result<OwnedFd> {
    let (conn, _) = listener.accept()?;
    let mut buf = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<UnixAddr>(conn.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::empty())
        .map_err(std::io::Error::from)?;
    for c in msg.cmsgs().map_err(std::io::Error::from)? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(&fd) = fds.first() {
                // SAFETY: the kernel just installed this descriptor for us; nobody else owns it.
                return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    Err(std::io::Error::other(
        "console socket message carried no file descriptor",
    ))
}

/// Binds a unix socket `name` inside `dir` through /proc/self/fd/<dir> (socket paths are limited to 108 bytes
/// and bundle paths can be longer).
pub fn bind_in(dir: &std::path::Path, name: &str) -> std::io::Result<UnixListener> {
    let dirfd = std::fs::File::open(dir)?;
    let short = std::path::Path::new(&format!("/proc/self/fd/{}", dirfd.as_raw_fd())).to_path_buf();
    // Bound under a temporary name and renamed once listening: a client that sees the name never meets a
    // socket that is bound but not yet listening (ECONNREFUSED).
    let temp = format!(".{name}.{}", std::process::id());
    let _ = std::fs::remove_file(short.join(&temp));
    let listener = UnixListener::bind(short.join(&temp))?;
    if let Err(e) = std::fs::rename(short.join(&temp), short.join(name)) {
        let _ = std::fs::remove_file(short.join(&temp));
        return Err(e);
    }
    Ok(listener)
}

/// Sets the terminal size of a pty (master or slave).
pub fn set_winsize(fd: &impl std::os::fd::AsRawFd, rows: u16, cols: u16) -> std::io::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize struct we own for the duration of the call.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Asks the process serving the control socket at `path` to resize its terminal ("resize <rows> <cols>").
pub fn send_resize(path: &std::path::Path, rows: u16, cols: u16) -> std::io::Result<()> {
    use std::io::{Read, Write};
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("control socket path has no directory"))?;
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("control socket path has no name"))?;
    // Connect through /proc/self/fd/<dir> so long bundle paths fit in sun_path (thread-safe, unlike chdir).
    let dirfd = std::fs::File::open(dir)?;
    let short = std::path::Path::new(&format!("/proc/self/fd/{}", dirfd.as_raw_fd())).join(name);
    let mut conn = std::os::unix::net::UnixStream::connect(&short)?;
    conn.set_read_timeout(Some(std::time::Duration::from_secs(2)))?;
    conn.write_all(format!("resize {rows} {cols}\n").as_bytes())?;
    let mut reply = String::new();
    conn.read_to_string(&mut reply)?;
    if reply.trim() == "ok" {
        Ok(())
    } else {
        Err(std::io::Error::other(format!("resize refused: {}", reply.trim())))
    }
}

/// Serves one control connection: reads "resize <rows> <cols>" and applies it to `master`.
pub fn serve_control(listener: &UnixListener, master: &impl std::os::fd::AsRawFd) {
    use std::io::{Read, Write};
    let Ok((mut conn, _)) = listener.accept() else { return };
    let _ = conn.set_read_timeout(Some(std::time::Duration::from_millis(200)));
    let mut buf = [0u8; 64];
    let n = conn.read(&mut buf).unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]);
    let mut it = text.split_whitespace();
    let reply = match (
        it.next(),
        it.next().and_then(|r| r.parse().ok()),
        it.next().and_then(|c| c.parse().ok()),
    ) {
        (Some("resize"), Some(rows), Some(cols)) => match set_winsize(master, rows, cols) {
            Ok(()) => "ok".to_owned(),
            Err(e) => format!("error {e}"),
        },
        _ => "error bad request".to_owned(),
    };
    let _ = conn.write_all(reply.as_bytes());
}
