//! Health checks: one probe loop per running container with a healthcheck (from the image or create), probes
//! run as execs one at a time and killed at the timeout; status `starting → healthy/unhealthy`, the last five
//! results for inspect, and `health_status` events on every change.

mod probe;

pub use probe::{HealthSpec, ProbeCommand};

use crate::containers::Action;
use crate::Engine;
use bollard::models::{Health, HealthStatusEnum, HealthcheckResult};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::task::AbortHandle;

/// Results kept for inspect (Docker keeps five).
const KEPT_RESULTS: usize = 5;

/// Health of every container of this process (ids are random 64-hex, so engines in one process never clash).
fn table() -> &'static Mutex<HashMap<String, Health>> {
    static T: OnceLock<Mutex<HashMap<String, Health>>> = OnceLock::new();
    T.get_or_init(Default::default)
}

fn loops() -> &'static Mutex<HashMap<String, AbortHandle>> {
    static L: OnceLock<Mutex<HashMap<String, AbortHandle>>> = OnceLock::new();
    L.get_or_init(Default::default)
}

/// `State.Health` of a container for inspect (None when it has no healthcheck).
pub fn snapshot(id: &str) -> Option<Health> {
    table().lock().unwrap_or_else(|p| p.into_inner()).get(id).cloned()
}

/// " (healthy)" style suffix for `docker ps` status.
pub fn status_suffix(id: &str) -> String {
    match snapshot(id).and_then(|h| h.status) {
        Some(HealthStatusEnum::STARTING) => " (health: starting)".into(),
        Some(HealthStatusEnum::HEALTHY) => " (healthy)".into(),
        Some(HealthStatusEnum::UNHEALTHY) => " (unhealthy)".into(),
        _ => String::new(),
    }
}

fn stop_loop(id: &str) {
    if let Some(h) = loops().lock().unwrap_or_else(|p| p.into_inner()).remove(id) {
        h.abort();
    }
}

/// Starts the probe loop of a (just started or re-adopted) container when it has a healthcheck.
pub fn watch(engine: &Arc<Engine>, id: &str) {
    stop_loop(id);
    let Ok(Some(rec)) = engine.db.container(id) else { return };
    let spec = match HealthSpec::from_config(rec.config.healthcheck.as_ref()) {
        Ok(Some(s)) => s,
        Ok(None) => {
            table().lock().unwrap_or_else(|p| p.into_inner()).remove(id);
            return;
        }
        Err(e) => {
            tracing::warn!(container = id, "healthcheck not run: {e}");
            return;
        }
    };
    let start = Health {
        status: Some(HealthStatusEnum::STARTING),
        failing_streak: Some(0),
        log: Some(Vec::new()),
    };
    table()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id.to_owned(), start);
    let (eng, owned) = (engine.clone(), id.to_owned());
    let task = tokio::spawn(async move { probe_loop(eng, owned, spec).await });
    loops()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(id.to_owned(), task.abort_handle());
}

async fn probe_loop(engine: Arc<Engine>, id: String, spec: HealthSpec) {
    let started = tokio::time::Instant::now();
    loop {
        let in_start = started.elapsed() < spec.start_period;
        let wait = if in_start { spec.start_interval } else { spec.interval };
        tokio::time::sleep(wait).await;
        let span = tracing::debug_span!("health_probe", container = %id);
        let result = probe::run(&engine, &id, &spec).instrument_span(span).await;
        let Some(result) = result else { return };
        let in_start = started.elapsed() < spec.start_period;
        record(&engine, &id, &spec, result, in_start);
    }
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
        let mut t = table().lock().unwrap_or_else(|p| p.into_inner());
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

/// Follows container events: starts loops on start, ends them on die/destroy; picks up running containers.
pub fn follow(engine: &Arc<Engine>) {
    let mut rx = engine.containers.subscribe();
    if let Ok(rows) = engine.db.containers() {
        for r in rows
            .iter()
            .filter(|r| r.state.status == crate::state::ContainerStatus::Running)
        {
            watch(engine, &r.id);
        }
    }
    let eng = engine.clone();
    tokio::spawn(async move {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            match rx.recv().await {
                Ok(ev) => match ev.action {
                    Action::Start => watch(&eng, &ev.id),
                    Action::Die => stop_loop(&ev.id),
                    Action::Destroy => {
                        stop_loop(&ev.id);
                        table().lock().unwrap_or_else(|p| p.into_inner()).remove(&ev.id);
                    }
                    _ => {}
                },
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            }
        }
    });
}
