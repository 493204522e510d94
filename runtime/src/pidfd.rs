//! Waiting for a process that is not our child (a monitor started by an earlier engine) through a pidfd.

use std::os::fd::{FromRawFd, OwnedFd};

/// Opens a pidfd for `pid`.
pub fn open(pid: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the descriptor was just created for us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Resolves when the process behind `fd` has exited (the pidfd turns readable).
pub async fn exited(fd: OwnedFd) -> std::io::Result<()> {
    // SAFETY: the AsyncFd owns the pidfd for its whole life; nothing else registers or closes it.
    let afd = unsafe { tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let _guard = afd.readable().await?;
    Ok(())
}

/// Blocks until the process behind `fd` has exited or `timeout` passed; true when it exited.
pub fn wait_blocking(fd: &OwnedFd, timeout: std::time::Duration) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    matches!(poll(&mut fds, PollTimeout::from(ms)), Ok(n) if n > 0)
}
