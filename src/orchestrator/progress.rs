//! Progress output per resource: live spinners on a terminal, one plain line per change otherwise.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Shared progress reporter (cheap to clone).
#[derive(Clone)]
pub struct Progress {
    inner: Arc<Inner>,
}

struct Inner {
    multi: Option<MultiProgress>,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Progress {
    /// A reporter on stderr: live when stderr is a terminal, plain lines otherwise.
    pub fn new() -> Self {
        let live = std::io::stderr().is_terminal() && std::env::var_os("BERTH_PLAIN").is_none();
        let multi = live.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Self {
            inner: Arc::new(Inner {
                multi,
                bars: Mutex::default(),
            }),
        }
    }

    /// Reports that `kind name` (e.g. `Container demo-web-1`) is now `status`; `done` ends its spinner.
    pub fn set(&self, kind: &str, name: &str, status: &str, done: bool) {
        let Some(multi) = &self.inner.multi else {
            eprintln!(" {kind} {name}  {status}");
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
