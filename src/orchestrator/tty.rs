//! The user's terminal during `exec`/`run` with a TTY: raw mode for the session, and its window size
//! (sent to the engine at start and on every SIGWINCH).

use anyhow::{Context, Result};
use nix::sys::termios::{self, SetArg, Termios};
use std::io::IsTerminal;
use std::os::fd::AsFd;

/// Whether a session should get a TTY: not disabled, not detached, and stdin is a terminal (as docker compose).
pub fn wanted(no_tty: bool, detach: bool) -> bool {
    !no_tty && !detach && std::io::stdin().is_terminal()
}

/// Puts stdin's terminal in raw mode; the previous settings come back on drop.
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// Enters raw mode.
    pub fn enter() -> Result<RawMode> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd()).context("reading the terminal's settings")?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).context("setting the terminal to raw mode")?;
        Ok(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSADRAIN, &self.saved);
    }
}

nix::ioctl_read_bad!(window_size, nix::libc::TIOCGWINSZ, nix::libc::winsize);

/// The terminal's (rows, columns), when stdout or stdin is a terminal that knows it.
pub fn size() -> Option<(u16, u16)> {
    use std::os::fd::AsRawFd;
    let fds = [std::io::stdout().as_raw_fd(), std::io::stdin().as_raw_fd()];
    fds.into_iter().find_map(|fd| {
        let mut ws = nix::libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCGWINSZ writes one winsize into the struct we own; a non-terminal fd fails with ENOTTY.
        let ok = unsafe { window_size(fd, &mut ws) }.is_ok();
        (ok && ws.ws_row > 0 && ws.ws_col > 0).then_some((ws.ws_row, ws.ws_col))
    })
}

/// Calls `resize(rows, cols)` now and on every window change until the returned task is aborted.
pub fn follow_size<F, Fut>(resize: F) -> Result<tokio::task::JoinHandle<()>>
where
    F: Fn(u16, u16) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let mut changes = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
        .context("listening for terminal size changes")?;
    Ok(tokio::spawn(async move {
        loop {
            if let Some((rows, cols)) = size() {
                resize(rows, cols).await;
            }
            if changes.recv().await.is_none() {
                return;
            }
        }
    }))
}
