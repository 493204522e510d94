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
    Err(std::io::Error::other("console socket message carried no file descriptor"))
}

/// Binds a unix socket `name` inside `dir` by its relative name (socket paths are limited to 108 bytes and
/// bundle paths can be longer). Changes the working directory for the moment: single-threaded callers only.
pub fn bind_in(dir: &std::path::Path, name: &str) -> std::io::Result<UnixListener> {
    let prev = std::env::current_dir()?;
    std::env::set_current_dir(dir)?;
    let _ = std::fs::remove_file(name);
    let res = UnixListener::bind(name);
    std::env::set_current_dir(prev)?;
    res
}
