//! Health checks: one probe loop per running container with a healthcheck (from the image or create), probes
//! run as execs one at a time and killed at the timeout; status `starting → healthy/unhealthy`, the last five
//! results for inspect, and `health_status` events on every change. Health is saved in the state database
//! (batched, see `store`), so an engine restart resumes where it was instead of starting over.

mod probe;
mod store;

pub use probe::{merge_healthcheck, HealthSpec, ProbeCommand};
use store::Store;

use crate::containers::Action;
use crate::Engine;
use bollard::models::{Health, HealthStatusEnum, HealthcheckResult};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::task::AbortHandle;
use tokio::time::Instant;

/// Results kept for inspect (Docker keeps five).
const KEPT_RESULTS: usize = 5;

/// Health of every container of one engine, and the probe loops that keep it (owned by the `Engine`; the
/// container service holds it too, for inspect and `ps`).
#[derive(Default)]
pub struct HealthTable {
    states: Mutex<HashMap<String, Health>>,
    loops: Mutex<HashMap<String, AbortHandle>>,
    /// What changed since the last save to the state database.
    store: Arc<Store>,
}

impl HealthTable {
    fn states(&self) -> MutexGuard<'_, HashMap<String, Health>> {
        self.states.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn loops(&self) -> MutexGuard<'_, HashMap<String, AbortHandle>> {
        self.loops.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `State.Health` of a container for inspect (None when it has no healthcheck).
    pub fn snapshot(&self, id: &str) -> Option<Health> {
        self.states().get(id).cloned()
    }

    /// Every container with a health state.
    fn ids(&self) -> Vec<String> {
        self.states().keys().cloned().collect()
    }

    /// " (healthy)" style suffix for `docker ps` status.
    pub fn status_suffix(&self, id: &str) -> String {
        match self.snapshot(id).and_then(|h| h.status) {
            Some(HealthStatusEnum::STARTING) => " (health: starting)".into(),
            Some(HealthStatusEnum::HEALTHY) => " (healthy)".into(),
            Some(HealthStatusEnum::UNHEALTHY) => " (unhealthy)".into(),
            _ => String::new(),
        }
    }

    fn is_starting(&self, id: &str) -> bool {
        self.snapshot(id).and_then(|h| h.status) == Some(HealthStatusEnum::STARTING)
    }

    fn stop_loop(&self, id: &str) {
        if let Some(h) = self.loops().remove(id) {
            h.abort();
        }
    }
}

/// Starts the probe loop of a (just started or, with `resume`, re-adopted) container when it has a
/// healthcheck. A start begins at `starting`; a resumed container keeps its saved health.
fn watch(engine: &Arc<Engine>, store: &Arc<Store>, id: &str, resume: bool) {
    let health = engine.containers.health();
    health.stop_loop(id);
    let Ok(Some(rec)) = engine.db.container(id) else { return };
    let spec = match HealthSpec::from_config(rec.config.healthcheck.as_ref()) {
        Ok(Some(s)) => s,
        Ok(None) => {
            if health.states().remove(id).is_some() {
                store.mark(id);
            }
            return;
        }
        Err(e) => {
            tracing::warn!(container = id, "healthcheck not run: {e}");
            return;
        }
    };
    let fresh = Health {
        status: Some(HealthStatusEnum::STARTING),
        failing_streak: Some(0),
        log: Some(Vec::new()),
    };
    {
        let mut t = health.states();
        if !(resume && t.contains_key(id)) {
            t.insert(id.to_owned(), fresh);
            store.mark(id);
        }
    }
    let up_for = chrono::DateTime::parse_from_rfc3339(&rec.state.started_at)
        .ok()
        .and_then(|t| (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).to_std().ok())
        .unwrap_or_default();
    let started = tokio::time::Instant::now()
        .checked_sub(up_for)
        .unwrap_or_else(tokio::time::Instant::now);
    let (eng, st, owned) = (engine.clone(), store.clone(), id.to_owned());
    let task = tokio::spawn(async move { probe_loop(eng, st, owned, spec, started).await });
    health.loops().insert(id.to_owned(), task.abort_handle());
}

/// Probes at a fixed rate from the start of the previous probe (so a probe that could succeed is seen within
/// one interval plus its own run time); `start_interval` while starting inside the start period.
async fn probe_loop(engine: Arc<Engine>, store: Arc<Store>, id: String, spec: HealthSpec, started: Instant) {
    let mut prober = probe::Prober::default();
    let first_wait = if started.elapsed() < spec.start_period {
        spec.start_interval
    } else {
        spec.interval
    };
    // Containers started together would probe at the same instant every interval; a random phase (the first
    // regular probe up to half an interval early, never later than Docker's schedule) spreads them out.
    let phase = first_wait.mul_f64(rand::random::<f64>() / 2.0);
    let now = Instant::now();
    let mut last = now.checked_sub(phase).unwrap_or(now);
    if early_probes(&engine, &store, &id, &spec, last + first_wait, &mut prober)
        .await
        .is_none()
    {
        return;
    }
    loop {
        let starting = engine.containers.health().is_starting(&id);
        let in_start = started.elapsed() < spec.start_period;
        let wait = if in_start && starting {
            spec.start_interval
        } else {
            spec.interval
        };
        tokio::time::sleep_until(last + wait).await;
        last = Instant::now();
        let span = tracing::debug_span!("health_probe", container = %id);
        let result = probe::run(&engine, &id, &spec, &mut prober).instrument_span(span).await;
        let Some(result) = result else { return };
        let in_start = started.elapsed() < spec.start_period;
        record(&engine, &id, &spec, result, in_start);
        store.mark(&id);
    }
}

/// First gap of the early probes; each next one doubles.
const EARLY_FIRST_GAP: std::time::Duration = std::time::Duration::from_millis(10);

/// berth's own addition to Docker's schedule: while a container is still `starting`, before its first regular
/// probe, probe on a doubling back-off (10, 20, 40 ms...) and take only a success. A service that is ready at
/// once is healthy at once instead of one whole interval later (three `service_healthy` levels of 1 s probes
/// cost 3 s of waiting otherwise); early failures are not counted nor logged, so nothing turns unhealthy sooner
/// than Docker would make it. None when the container is gone.
async fn early_probes(
    engine: &Arc<Engine>,
    store: &Store,
    id: &str,
    spec: &HealthSpec,
    first_regular: Instant,
    prober: &mut probe::Prober,
) -> Option<()> {
    let mut gap = EARLY_FIRST_GAP;
    let mut at = Instant::now() + gap;
    while at + gap / 2 < first_regular {
        if !engine.containers.health().is_starting(id) {
            return Some(());
        }
        tokio::time::sleep_until(at).await;
        let span = tracing::debug_span!("health_probe_early", container = %id);
        let result = probe::run(engine, id, spec, prober).instrument_span(span).await?;
        if result.exit_code == Some(0) {
            record(engine, id, spec, result, true);
            store.mark(id);
            return Some(());
        }
        gap *= 2;
        at = Instant::now() + gap;
    }
    Some(())
}

trait InstrumentSpan: std::future::Future + Sized {
    fn instrument_span(self, span: tracing::Span) -> tracing::instrument::Instrumented<Self> {
        tracing::Instrument::instrument(self, span)
    }
}
impl<F: std::future::Future> InstrumentSpan for F {}

/// Applies one probe result: failures in the start period do not count; `retries` failures make it unhealthy.
fn record(engine: &Engine, id: &str, spec: &HealthSpec, result: HealthcheckResult, in_start: bool) {
    let ok = result.exit_code == Some(0);
    let (old, new) = {
        let mut t = engine.containers.health().states();
        let h = t.entry(id.to_owned()).or_default();
        let old = h.status.unwrap_or(HealthStatusEnum::STARTING);
        let log = h.log.get_or_insert_with(Vec::new);
        log.push(result);
        if log.len() > KEPT_RESULTS {
            log.remove(0);
        }
        let streak = h.failing_streak.get_or_insert(0);
        if ok {
            *streak = 0;
            h.status = Some(HealthStatusEnum::HEALTHY);
        } else if !(in_start && old == HealthStatusEnum::STARTING) {
            *streak += 1;
            if *streak >= spec.retries {
                h.status = Some(HealthStatusEnum::UNHEALTHY);
            }
        }
        (old, h.status.unwrap_or(old))
    };
    if old != new {
        tracing::info!(container = id, status = %new, "health status changed");
        engine
            .events
            .container_event(&engine.db, id, &format!("health_status: {new}"), &[]);
    }
}

/// Saves every health change not saved yet; the daemon calls it once it has stopped serving, because the
/// batched writer's last flush may not run before the runtime shuts down.
pub async fn save_pending(engine: &Arc<Engine>) {
    let store = engine.containers.health().store.clone();
    store.save_all(engine).await;
}

/// Follows container events: starts loops on start, ends them on die/destroy; resumes running containers
/// with their saved health.
pub fn follow(engine: &Arc<Engine>) {
    let store = engine.containers.health().store.clone();
    store.spawn_writer(engine.clone());
    let mut rx = engine.containers.subscribe();
    let rows = engine.db.containers().unwrap_or_default();
    restore(engine, &store, &rows);
    for r in rows
        .iter()
        .filter(|r| r.state.status == crate::state::ContainerStatus::Running)
    {
        watch(engine, &store, &r.id, true);
    }
    let eng = engine.clone();
    tokio::spawn(async move {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            match rx.recv().await {
                Ok(ev) => match ev.action {
                    Action::Start => watch(&eng, &store, &ev.id, false),
                    Action::Die => eng.containers.health().stop_loop(&ev.id),
                    Action::Destroy => {
                        let health = eng.containers.health();
                        health.stop_loop(&ev.id);
                        health.states().remove(&ev.id);
                        store.mark(&ev.id);
                    }
                    _ => {}
                },
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            }
        }
    });
}

/// Loads saved health into the table; rows of containers that no longer exist are deleted.
fn restore(engine: &Engine, store: &Store, rows: &[crate::state::ContainerRecord]) {
    let saved = match engine.db.all_health() {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("reading saved container health: {e}");
            return;
        }
    };
    let mut t = engine.containers.health().states();
    for (id, h) in saved {
        if rows.iter().any(|r| r.id == id) {
            t.insert(id, h);
        } else {
            store.mark(&id);
        }
    }
}
