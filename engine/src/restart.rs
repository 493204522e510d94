//! Restart policies: `no`, `always`, `unless-stopped`, `on-failure[:N]`, applied when a container dies (also
//! exits found by crash recovery), with Docker's back-off (100 ms doubling, reset after 10 s up, 1 min cap).
//! A user's stop is never undone: the container service marks `stopped_by_user` before signalling.

use crate::containers::Action;
use crate::state::{ContainerRecord, ContainerStatus};
use crate::Engine;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// First back-off delay.
const FIRST_DELAY: Duration = Duration::from_millis(100);
/// Longest back-off delay.
const MAX_DELAY: Duration = Duration::from_secs(60);
/// Up this long, the next failure starts the back-off again.
const RESET_AFTER: Duration = Duration::from_secs(10);

/// A parsed restart policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Never restart.
    No,
    /// Always, unless the user stopped it.
    Always,
    /// Like always; also stays stopped across engine restarts once the user stopped it.
    UnlessStopped,
    /// After a non-zero exit, at most N times (0 = no limit).
    OnFailure(i64),
}

impl Policy {
    /// The policy of a container's host config.
    pub fn of(rec: &ContainerRecord) -> Policy {
        use bollard::models::RestartPolicyNameEnum as N;
        let Some(p) = rec.host_config.restart_policy.as_ref() else {
            return Policy::No;
        };
        match p.name {
            Some(N::ALWAYS) => Policy::Always,
            Some(N::UNLESS_STOPPED) => Policy::UnlessStopped,
            Some(N::ON_FAILURE) => Policy::OnFailure(p.maximum_retry_count.unwrap_or(0).max(0)),
            _ => Policy::No,
        }
    }

    /// Whether a container that exited with `code` after `restarts` policy restarts goes again.
    pub fn wants_restart(self, code: i64, restarts: i64) -> bool {
        match self {
            Policy::No => false,
            Policy::Always | Policy::UnlessStopped => true,
            Policy::OnFailure(max) => code != 0 && (max == 0 || restarts < max),
        }
    }
}

/// Next back-off delay after a run of `ran` that followed a delay of `prev`.
pub fn next_delay(prev: Option<Duration>, ran: Duration) -> Duration {
    match prev {
        Some(p) if ran < RESET_AFTER => (p * 2).min(MAX_DELAY),
        _ => FIRST_DELAY,
    }
}

fn ran_for(rec: &ContainerRecord) -> Duration {
    let parse = |s: &str| chrono::DateTime::parse_from_rfc3339(s).ok();
    match (parse(&rec.state.started_at), parse(&rec.state.finished_at)) {
        (Some(a), Some(b)) => (b - a).to_std().unwrap_or_default(),
        _ => Duration::ZERO,
    }
}

/// Per-container back-off state of this engine process.
#[derive(Default)]
struct Backoff {
    delays: Mutex<HashMap<String, Duration>>,
}

/// Follows container deaths and restarts per policy; at engine start, restarts containers whose restart was
/// pending (status restarting) when the engine went down.
pub fn follow(engine: &Arc<Engine>) {
    let mut rx = engine.containers.subscribe();
    let backoff = Arc::new(Backoff::default());
    if let Ok(rows) = engine.db.containers() {
        for r in rows
            .into_iter()
            .filter(|r| r.state.status == ContainerStatus::Restarting)
        {
            schedule(engine.clone(), backoff.clone(), r.id);
        }
    }
    let eng = engine.clone();
    tokio::spawn(async move {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            match rx.recv().await {
                Ok(ev) if ev.action == Action::Die => schedule(eng.clone(), backoff.clone(), ev.id),
                Ok(ev) if ev.action == Action::Destroy => {
                    backoff.delays.lock().unwrap_or_else(|p| p.into_inner()).remove(&ev.id);
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            }
        }
    });
}

/// Whether the policy of `rec` restarts it after an exit with `code` (not after a user's stop, nor for an
/// auto-removed container).
pub fn will_restart(rec: &ContainerRecord, code: i64) -> bool {
    !rec.state.stopped_by_user
        && rec.host_config.auto_remove != Some(true)
        && Policy::of(rec).wants_restart(code, rec.state.restart_count)
}

fn schedule(engine: Arc<Engine>, backoff: Arc<Backoff>, id: String) {
    let Ok(Some(rec)) = engine.db.container(&id) else {
        return;
    };
    let policy = Policy::of(&rec);
    if !will_restart(&rec, rec.state.exit_code) {
        return;
    }
    let delay = {
        let mut d = backoff.delays.lock().unwrap_or_else(|p| p.into_inner());
        let next = next_delay(d.get(&id).copied(), ran_for(&rec));
        d.insert(id.clone(), next);
        next
    };
    // Durable: a lost `restarting` status or count is not rebuilt from the runtime after a crash.
    let marked = engine.db.update_container_with(&id, true, |r| {
        if r.state.status == ContainerStatus::Exited {
            r.state.status = ContainerStatus::Restarting;
        }
        Ok(())
    });
    if marked.is_err() {
        return;
    }
    tracing::info!(container = %id, ?policy, delay_ms = delay.as_millis() as u64, "restart policy: restarting");
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        restart_now(&engine, &id).await;
    });
}

async fn restart_now(engine: &Arc<Engine>, id: &str) {
    let Ok(Some(rec)) = engine.db.container(id) else { return };
    if rec.state.stopped_by_user || rec.state.status != ContainerStatus::Restarting {
        let _ = engine.db.update_container_with(id, true, |r| {
            if r.state.status == ContainerStatus::Restarting {
                r.state.status = ContainerStatus::Exited;
            }
            Ok(())
        });
        return;
    }
    let _ = engine.db.update_container_with(id, true, |r| {
        r.state.restart_count += 1;
        Ok(())
    });
    engine.events.restart_on_next_start(id);
    if let Err(e) = engine.containers.start(id).await {
        engine.events.cancel_restart(id);
        tracing::warn!(container = id, "restart policy: start failed: {e}");
        let _ = engine.db.update_container_with(id, true, |r| {
            if r.state.status == ContainerStatus::Restarting {
                r.state.status = ContainerStatus::Exited;
            }
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_and_backoff() {
        assert!(!Policy::No.wants_restart(1, 0));
        assert!(Policy::Always.wants_restart(0, 99));
        assert!(Policy::OnFailure(2).wants_restart(1, 1));
        assert!(!Policy::OnFailure(2).wants_restart(1, 2));
        assert!(!Policy::OnFailure(2).wants_restart(0, 0));
        assert!(Policy::OnFailure(0).wants_restart(3, 1000));
        let d1 = next_delay(None, Duration::ZERO);
        let d2 = next_delay(Some(d1), Duration::from_secs(1));
        assert_eq!((d1, d2), (Duration::from_millis(100), Duration::from_millis(200)));
        assert_eq!(next_delay(Some(Duration::from_secs(50)), Duration::ZERO), MAX_DELAY);
        assert_eq!(
            next_delay(Some(Duration::from_secs(5)), Duration::from_secs(11)),
            FIRST_DELAY
        );
    }
}
