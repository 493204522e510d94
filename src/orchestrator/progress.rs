//! Progress output per resource: live spinners on a terminal, one plain line per change otherwise.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// How progress is shown (`--progress`, `COMPOSE_PROGRESS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ProgressMode {
    /// Live on a terminal, plain lines otherwise.
    #[default]
    Auto,
    /// Live, whatever stderr is.
    Tty,
    /// One line per change.
    Plain,
    /// One JSON object per change (`{"id":"Container x","status":"Started"}`).
    Json,
    /// Nothing.
    Quiet,
}

impl std::str::FromStr for ProgressMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "auto" => Self::Auto,
            "tty" => Self::Tty,
            "plain" => Self::Plain,
            "json" => Self::Json,
            "quiet" => Self::Quiet,
            _ => {
                return Err(format!(
                    "unsupported progress output {s:?}: expected auto, tty, plain, json or quiet"
                ))
            }
        })
    }
}

/// When terminal escapes (colours, live views) are used (`--ansi`, `COMPOSE_ANSI`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Ansi {
    /// When the output is a terminal.
    #[default]
    Auto,
    /// Never.
    Never,
    /// Always.
    Always,
}

impl std::str::FromStr for Ansi {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "auto" => Self::Auto,
            "never" => Self::Never,
            "always" => Self::Always,
            _ => {
                return Err(format!(
                    "unsupported --ansi value {s:?}: expected never, always or auto"
                ))
            }
        })
    }
}

static OUTPUT: OnceLock<(ProgressMode, Ansi)> = OnceLock::new();

/// Sets the process's progress mode and ANSI choice (once, from the command line).
pub fn configure(mode: ProgressMode, ansi: Ansi) {
    let _ = OUTPUT.set((mode, ansi));
}

/// The progress mode the command line chose.
pub fn mode() -> ProgressMode {
    output().0
}

fn output() -> (ProgressMode, Ansi) {
    OUTPUT.get().copied().unwrap_or_default()
}

/// Whether to colour text for a stream that `is_terminal` or not.
pub fn use_colour(is_terminal: bool) -> bool {
    match output().1 {
        Ansi::Always => true,
        Ansi::Never => false,
        Ansi::Auto => is_terminal && std::env::var_os("NO_COLOR").is_none(),
    }
}

/// Shared progress reporter (cheap to clone).
#[derive(Clone)]
pub struct Progress {
    inner: Arc<Inner>,
}

struct Inner {
    mode: ProgressMode,
    multi: Option<MultiProgress>,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Progress {
    /// A reporter on stderr as `--progress` and `--ansi` chose: by default live when stderr is a terminal, plain
    /// lines otherwise.
    pub fn new() -> Self {
        let (mode, ansi) = output();
        let live = match mode {
            ProgressMode::Tty => true,
            ProgressMode::Auto => match ansi {
                Ansi::Never => false,
                Ansi::Always => true,
                Ansi::Auto => std::io::stderr().is_terminal() && std::env::var_os("BERTH_PLAIN").is_none(),
            },
            _ => false,
        };
        // indicatif cannot draw a live view off a terminal: a forced one falls back to plain lines there.
        let live = live && std::io::stderr().is_terminal();
        let multi = live.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Self {
            inner: Arc::new(Inner {
                mode,
                multi,
                bars: Mutex::default(),
            }),
        }
    }

    /// A reporter that prints nothing (`--quiet-pull`, `run -q`), whatever `--progress` says.
    pub fn quiet() -> Self {
        Self {
            inner: Arc::new(Inner {
                mode: ProgressMode::Quiet,
                multi: None,
                bars: Mutex::default(),
            }),
        }
    }

    /// Reports that `kind name` (e.g. `Container demo-web-1`) is now `status`; `done` ends its spinner.
    pub fn set(&self, kind: &str, name: &str, status: &str, done: bool) {
        let Some(multi) = &self.inner.multi else {
            match self.inner.mode {
                ProgressMode::Quiet => {}
                ProgressMode::Json => eprintln!(
                    "{}",
                    serde_json::json!({"id": format!("{kind} {name}"), "status": status})
                ),
                _ => eprintln!(" {kind} {name}  {status}"),
            }
            return;
        };
        let key = format!("{kind} {name}");
        let mut bars = self.inner.bars.lock().unwrap_or_else(|p| p.into_inner());
        let bar = bars.entry(key.clone()).or_insert_with(|| {
            let bar = multi.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template(" {spinner} {prefix:40} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(key.clone());
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        if done {
            bar.set_style(
                ProgressStyle::with_template(" ✔ {prefix:40} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.finish_with_message(status.to_owned());
        } else {
            bar.set_message(status.to_owned());
        }
    }

    /// Prints a message above the live view (or as a plain line).
    pub fn note(&self, line: &str) {
        match &self.inner.multi {
            Some(multi) => {
                let _ = multi.println(line);
            }
            None => eprintln!("{line}"),
        }
    }

    /// Ends every spinner still running (used before logs take over the terminal).
    pub fn finish(&self) {
        let bars = self.inner.bars.lock().unwrap_or_else(|p| p.into_inner());
        for bar in bars.values().filter(|b| !b.is_finished()) {
            bar.abandon();
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}
