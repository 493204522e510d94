//! Keeps the health table in step with the state database: changes are batched (one transaction per
//! [`FLUSH_GAP`]) and written once more by the daemon as it stops (`save_all`), so `berth engine stop && start` finds the same status,
//! failing streak and probe log. A crash loses at most the last [`FLUSH_GAP`] of results.

use crate::Engine;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// Changes arriving within this time share one transaction (100 containers × 1 s probes ≈ 5 commits/s).
const FLUSH_GAP: Duration = Duration::from_millis(200);

/// Ids whose health changed since the last flush.
#[derive(Default)]
pub(super) struct Store {
    dirty: Mutex<HashSet<String>>,
    wake: Notify,
    /// Held from snapshot to commit, so that an older snapshot never commits after a newer one; `true` once
    /// the daemon's final save has run (later changes are not saved: the engine is going away).
    saving: tokio::sync::Mutex<bool>,
}

impl Store {
    /// Marks `id` for the next flush (its current table entry is written, or the row deleted when absent).
    pub(super) fn mark(&self, id: &str) {
        self.dirty
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_owned());
        self.wake.notify_one();
    }

    /// Runs the writer for `engine` until the runtime ends.
    pub(super) fn spawn_writer(self: &Arc<Self>, engine: Arc<Engine>) {
        let me = self.clone();
        tokio::spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let mut term = signal(SignalKind::terminate()).ok();
            loop {
                tokio::select! {
                    _ = me.wake.notified() => {
                        tokio::select! {
                            _ = tokio::time::sleep(FLUSH_GAP) => {}
                            _ = terminated(&mut term) => {}
                        }
                    }
                    _ = terminated(&mut term) => {}
                }
                me.flush(&engine).await;
            }
        });
    }
}

/// Resolves on SIGTERM (never when the handler could not be installed or is gone).
async fn terminated(term: &mut Option<tokio::signal::unix::Signal>) {
    if let Some(t) = term.as_mut() {
        if t.recv().await.is_some() {
            return;
        }
        *term = None;
    }
    std::future::pending::<()>().await
}

impl Store {
    /// Writes every container's current health, whatever was marked: the daemon's last word before it exits.
    pub(super) async fn save_all(&self, engine: &Arc<Engine>) {
        let mut closed = self.saving.lock().await;
        // Marked ids too: a removed container's row is deleted.
        let mut ids: HashSet<String> = engine.containers.health().ids().into_iter().collect();
        ids.extend(self.dirty.lock().unwrap_or_else(|p| p.into_inner()).drain());
        self.write(engine, ids.into_iter().collect()).await;
        *closed = true;
    }

    async fn flush(&self, engine: &Arc<Engine>) {
        let closed = self.saving.lock().await;
        if *closed {
            return;
        }
        let ids: Vec<String> = self.dirty.lock().unwrap_or_else(|p| p.into_inner()).drain().collect();
        self.write(engine, ids).await;
    }

    async fn write(&self, engine: &Arc<Engine>, ids: Vec<String>) {
        if ids.is_empty() {
            return;
        }
        let rows: Vec<_> = ids
            .into_iter()
            .map(|id| {
                let h = engine.containers.health().snapshot(&id);
                (id, h)
            })
            .collect();
        let eng = engine.clone();
        let res = tokio::task::spawn_blocking(move || eng.db.put_health(&rows)).await;
        match res {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("saving container health: {e}"),
            Err(e) => tracing::warn!("saving container health: {e}"),
        }
    }
}
