//! A healthcheck's typed settings and one probe run.

use crate::error::{EngineError, Result};
use crate::Engine;
use bollard::models::{HealthConfig, HealthcheckResult};
use runtime::ProcessSpec;
use std::time::Duration;

/// Output kept per probe (Docker keeps 4 KiB).
const OUTPUT_LIMIT: usize = 4096;

/// What a probe runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeCommand {
    /// `CMD`: argv as given.
    Exec(Vec<String>),
    /// `CMD-SHELL`: through `/bin/sh -c`.
    Shell(String),
}

impl ProbeCommand {
    fn argv(&self) -> Vec<String> {
        match self {
            ProbeCommand::Exec(a) => a.clone(),
            ProbeCommand::Shell(s) => vec!["/bin/sh".into(), "-c".into(), s.clone()],
        }
    }
}

/// A healthcheck with Docker's defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthSpec {
    /// The probe.
    pub command: ProbeCommand,
    /// Between probes (default 30 s).
    pub interval: Duration,
    /// A probe running longer is killed and fails (default 30 s).
    pub timeout: Duration,
    /// Failures during this time after start do not count (default 0).
    pub start_period: Duration,
    /// Between probes during the start period (default 5 s).
    pub start_interval: Duration,
    /// Consecutive failures that make it unhealthy (default 3).
    pub retries: i64,
}

fn dur(ns: Option<i64>, default: Duration, field: &str) -> Result<Duration> {
    match ns {
        None | Some(0) => Ok(default),
        Some(n) if n < 0 => Err(EngineError::BadRequest(format!(
            "Healthcheck.{field}: expected a positive duration, got {n}ns"
        ))),
        Some(n) => Ok(Duration::from_nanos(n as u64)),
    }
}

impl HealthSpec {
    /// The spec of a container's `Healthcheck`; None when there is none or it is `NONE`.
    pub fn from_config(cfg: Option<&HealthConfig>) -> Result<Option<HealthSpec>> {
        let Some(cfg) = cfg else { return Ok(None) };
        let test = cfg.test.clone().unwrap_or_default();
        let command = match test.split_first() {
            None => return Ok(None),
            Some((k, _)) if k == "NONE" => return Ok(None),
            Some((k, rest)) if k == "CMD" && !rest.is_empty() => ProbeCommand::Exec(rest.to_vec()),
            Some((k, rest)) if k == "CMD-SHELL" && !rest.is_empty() => ProbeCommand::Shell(rest.join(" ")),
            Some((k, _)) => {
                return Err(EngineError::BadRequest(format!(
                    "Healthcheck.Test: expected [\"NONE\"], [\"CMD\", args...] or [\"CMD-SHELL\", command], got {k:?} with {} argument(s)",
                    test.len() - 1
                )))
            }
        };
        let retries = match cfg.retries {
            None | Some(0) => 3,
            Some(r) if r < 0 => {
                return Err(EngineError::BadRequest(format!(
                    "Healthcheck.Retries: expected >= 0, got {r}"
                )))
            }
            Some(r) => r,
        };
        Ok(Some(HealthSpec {
            command,
            interval: dur(cfg.interval, Duration::from_secs(30), "Interval")?,
            timeout: dur(cfg.timeout, Duration::from_secs(30), "Timeout")?,
            start_period: dur(cfg.start_period, Duration::ZERO, "StartPeriod")?,
            start_interval: dur(cfg.start_interval, Duration::from_secs(5), "StartInterval")?,
            retries,
        }))
    }
}

/// The container's healthcheck from the request's and the image's, merged as Docker does: no request keeps
/// the image's; an empty `Test` or a zero field in the request takes the image's value (so
/// `--health-interval` alone keeps the image's test and changes only the interval).
pub fn merge_healthcheck(user: Option<HealthConfig>, image: Option<HealthConfig>) -> Option<HealthConfig> {
    let Some(img) = image else { return user };
    let Some(mut u) = user else { return Some(img) };
    if u.test.as_ref().is_none_or(|t| t.is_empty()) {
        u.test = img.test;
    }
    let keep = |mine: Option<i64>, theirs: Option<i64>| match mine {
        None | Some(0) => theirs,
        v => v,
    };
    u.interval = keep(u.interval, img.interval);
    u.timeout = keep(u.timeout, img.timeout);
    u.start_period = keep(u.start_period, img.start_period);
    u.start_interval = keep(u.start_interval, img.start_interval);
    u.retries = keep(u.retries, img.retries);
    Some(u)
}

fn stamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// How a probe loop runs its probes: through the container's probe server (kept across probes, see
/// `runtime::probe`), or as execs when the server cannot be had (a monitor of an older berth) or failed.
#[derive(Default)]
pub(super) struct Prober {
    session: Option<runtime::probe::ProbeSession>,
    use_exec: bool,
}

impl Prober {
    /// One probe's exit code (None: timed out) and output, through the server when possible.
    async fn run(&mut self, engine: &Engine, id: &str, spec: &HealthSpec) -> Result<crate::exec::Captured> {
        let rt = engine.containers.runtime();
        let process = ProcessSpec {
            args: spec.command.argv(),
            ..Default::default()
        };
        if self.session.is_none() && !self.use_exec {
            match rt.probe_session(id, &process).await {
                Ok(s) => self.session = Some(s),
                Err(e) => {
                    tracing::debug!(container = id, "probes run as execs: {e}");
                    self.use_exec = true;
                }
            }
        }
        if let Some(session) = self.session.as_mut() {
            match session.run(&process.args, spec.timeout, OUTPUT_LIMIT).await {
                Ok(r) => {
                    return Ok(crate::exec::Captured {
                        exit_code: r.exit_code,
                        output: r.output,
                    })
                }
                Err(e) => {
                    tracing::debug!(container = id, "probe server failed, probes run as execs: {e}");
                    self.session = None;
                    self.use_exec = true;
                }
            }
        }
        crate::exec::run_captured(rt, id, &process, spec.timeout, OUTPUT_LIMIT).await
    }
}

/// Runs one probe; None when the container is gone or not running (the loop ends).
pub(super) async fn run(
    engine: &Engine,
    id: &str,
    spec: &HealthSpec,
    prober: &mut Prober,
) -> Option<HealthcheckResult> {
    // No liveness check before the probe: it reads four files per probe, and a probe of a container that has
    // gone fails anyway, which the check below tells from a failing probe.
    let start = stamp();
    let res = prober.run(engine, id, spec).await;
    let end = stamp();
    let (exit_code, output) = match res {
        Ok(c) => match c.exit_code {
            Some(code) => (code, c.output),
            None => (-1, format!("Health check exceeded timeout ({:?})", spec.timeout)),
        },
        Err(e) => {
            if !engine.containers.runtime().is_running(id) {
                return None;
            }
            (-1, e.to_string())
        }
    };
    Some(HealthcheckResult {
        start: Some(start),
        end: Some(end),
        exit_code: Some(exit_code),
        output: Some(output),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(test: &[&str]) -> HealthConfig {
        HealthConfig {
            test: Some(test.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        }
    }

    #[test]
    fn parses_forms_and_defaults() {
        assert_eq!(HealthSpec::from_config(Some(&cfg(&["NONE"]))).unwrap(), None);
        assert_eq!(HealthSpec::from_config(None).unwrap(), None);
        let s = HealthSpec::from_config(Some(&cfg(&["CMD-SHELL", "test -f /x"])))
            .unwrap()
            .unwrap();
        assert_eq!(s.command.argv(), vec!["/bin/sh", "-c", "test -f /x"]);
        assert_eq!((s.interval, s.retries), (Duration::from_secs(30), 3));
        let s = HealthSpec::from_config(Some(&cfg(&["CMD", "true"]))).unwrap().unwrap();
        assert_eq!(s.command, ProbeCommand::Exec(vec!["true".into()]));
        assert!(HealthSpec::from_config(Some(&cfg(&["BOGUS", "x"]))).is_err());
        assert!(HealthSpec::from_config(Some(&cfg(&["CMD"]))).is_err());
    }

    #[test]
    fn merges_like_docker() {
        let image = HealthConfig {
            interval: Some(30_000_000_000),
            retries: Some(5),
            ..cfg(&["CMD-SHELL", "test -f /ready"])
        };
        let only_interval = HealthConfig {
            interval: Some(1_000_000_000),
            ..Default::default()
        };
        let m = merge_healthcheck(Some(only_interval), Some(image.clone())).unwrap();
        assert_eq!(m.test, image.test);
        assert_eq!((m.interval, m.retries), (Some(1_000_000_000), Some(5)));
        let own = cfg(&["CMD", "true"]);
        let m = merge_healthcheck(Some(own.clone()), Some(image.clone())).unwrap();
        assert_eq!((m.test, m.interval), (own.test.clone(), image.interval));
        assert_eq!(merge_healthcheck(None, Some(image.clone())), Some(image.clone()));
        assert_eq!(merge_healthcheck(Some(own.clone()), None), Some(own));
        let none = cfg(&["NONE"]);
        assert_eq!(
            merge_healthcheck(Some(none.clone()), Some(image)).unwrap().test,
            none.test
        );
    }
}
