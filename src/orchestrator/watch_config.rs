//! The project's own configuration as `berth watch` sees it: its Compose files and `.env`. A change ends the
//! current round of watching so the caller reloads the project and converges it (`up -d`), which recreates
//! exactly the services whose configuration changed (their config hash moved).

use super::spec::ProjectSpec;
use anyhow::{Context, Result};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;

/// Editors save in several steps (write, rename, chmod): one reload for all of them.
const QUIET: Duration = Duration::from_millis(100);

/// Watches the files the project was loaded from.
pub struct ConfigWatch {
    _watcher: RecommendedWatcher,
    rx: mpsc::UnboundedReceiver<()>,
    /// Set once a change is seen: when its quiet period ends.
    quiet_until: Option<tokio::time::Instant>,
}

impl ConfigWatch {
    /// Watches `project`'s Compose files and the `.env` of its working directory (their directories, so a file
    /// an editor replaces by a rename, or a `.env` made later, is still seen).
    pub fn start(project: &ProjectSpec) -> Result<ConfigWatch> {
        let mut files: BTreeSet<PathBuf> = project.config_files.iter().map(|f| absolute(f)).collect();
        files.insert(absolute(&project.working_dir.join(".env")));
        let dirs: BTreeSet<PathBuf> = files.iter().filter_map(|f| f.parent().map(Path::to_path_buf)).collect();
        let (tx, rx) = mpsc::unbounded_channel();
        let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
            let hit = ev.is_ok_and(|e| !e.kind.is_access() && e.paths.iter().any(|p| files.contains(p)));
            if hit {
                let _ = tx.send(());
            }
        })
        .context("starting the watcher of the Compose files")?;
        for dir in dirs.iter().filter(|d| d.is_dir()) {
            watcher
                .watch(dir, RecursiveMode::NonRecursive)
                .with_context(|| format!("watching {}", dir.display()))?;
        }
        Ok(ConfigWatch {
            _watcher: watcher,
            rx,
            quiet_until: None,
        })
    }

    /// Resolves once a configuration file changed and then stayed quiet for a moment. Cancel-safe: the watch
    /// loop drops this future whenever another event wins its `select!`, so a change already seen is kept
    /// (with the end of its quiet period) for the next call rather than lost.
    pub async fn changed(&mut self) {
        if self.quiet_until.is_none() {
            if self.rx.recv().await.is_none() {
                return std::future::pending().await;
            }
            self.quiet_until = Some(tokio::time::Instant::now() + QUIET);
        }
        while let Some(until) = self.quiet_until {
            match tokio::time::timeout_at(until, self.rx.recv()).await {
                Ok(Some(())) => self.quiet_until = Some(tokio::time::Instant::now() + QUIET),
                Ok(None) | Err(_) => self.quiet_until = None,
            }
        }
    }
}

fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    std::env::current_dir()
        .map(|d| d.join(path))
        .unwrap_or_else(|_| path.to_path_buf())
}
