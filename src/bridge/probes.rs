//! Healthchecks as probes: the test as an exec readiness *and* liveness probe, `start_period` as a
//! startupProbe; Docker's defaults written out, since Kubernetes' differ (10 s period, 1 s timeout).

use super::context::Ctx;
use compose::model::{Healthcheck, Service};
use k8s_openapi::api::core::v1::{Container, ExecAction, Probe};
use std::time::Duration;

/// Docker's defaults for a healthcheck without interval, timeout or retries.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_RETRIES: u64 = 3;

/// Whole seconds, rounded up, at least one (probes count in seconds).
pub fn seconds(d: Duration) -> i32 {
    let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    i32::try_from(s.max(1)).unwrap_or(i32::MAX)
}

/// The probe command: CMD runs as is, CMD-SHELL through `/bin/sh -c`; None for `NONE`, disabled or empty.
pub fn command(h: &Healthcheck) -> Option<Vec<String>> {
    if h.disable {
        return None;
    }
    let (kind, rest) = h.test.split_first()?;
    match kind.as_str() {
        "CMD" if !rest.is_empty() => Some(rest.to_vec()),
        "CMD-SHELL" if !rest.is_empty() => Some(vec!["/bin/sh".into(), "-c".into(), rest.join(" ")]),
        _ => None,
    }
}

/// Adds readiness, liveness and (with `start_period`) startup probes to `c`.
pub fn apply(ctx: &mut Ctx, key: &str, svc: &Service, c: &mut Container) {
    let Some(h) = &svc.healthcheck else { return };
    let Some(cmd) = command(h) else { return };
    let interval = h.interval.map_or(DEFAULT_INTERVAL, |d| d.0);
    let timeout = h.timeout.map_or(DEFAULT_TIMEOUT, |d| d.0);
    let retries = i32::try_from(h.retries.unwrap_or(DEFAULT_RETRIES).max(1)).unwrap_or(i32::MAX);
    let probe = |period: Duration, failures: i32| Probe {
        exec: Some(ExecAction {
            command: Some(cmd.clone()),
        }),
        period_seconds: Some(seconds(period)),
        timeout_seconds: Some(seconds(timeout)),
        failure_threshold: Some(failures),
        success_threshold: Some(1),
        ..Default::default()
    };
    if interval.subsec_nanos() > 0 || timeout.subsec_nanos() > 0 {
        ctx.warn(
            &format!("{key}.healthcheck"),
            "probes count whole seconds: interval and timeout rounded up",
        );
    }
    c.readiness_probe = Some(probe(interval, retries));
    c.liveness_probe = Some(probe(interval, retries));
    if let Some(start) = h.start_period.map(|d| d.0).filter(|d| !d.is_zero()) {
        // During start_period failures do not count; the startup probe gives that many periods, then liveness
        // takes over (as Docker counts retries only after the start period).
        let period = h.start_interval.map_or(interval, |d| d.0);
        let tries = start.as_secs_f64() / period.as_secs_f64().max(1.0);
        let failures = (tries.ceil() as i32).max(1).saturating_add(retries);
        c.startup_probe = Some(probe(period, failures));
    } else if h.start_interval.is_some() {
        ctx.warn(
            &format!("{key}.healthcheck.start_interval"),
            "used only with start_period; not kept",
        );
    }
}
