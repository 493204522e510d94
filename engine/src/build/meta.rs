//! Instructions that only change the image config (ENV, LABEL, EXPOSE, USER, VOLUME, CMD, ENTRYPOINT, SHELL,
//! STOPSIGNAL, HEALTHCHECK, ONBUILD, MAINTAINER), evaluated as the classic builder does.

use super::dockerfile::{CmdForm, Kind};
use super::gofmt;
use super::words::{expand, key_values, Vars};
use bollard::models::{HealthConfig, ImageConfig};

/// The stage state these instructions read besides the config.
pub struct MetaCtx<'a> {
    /// Variables for substitution.
    pub vars: &'a Vars,
    /// Escape character.
    pub escape: char,
    /// Whether CMD was set in this stage (ENTRYPOINT keeps it then).
    pub cmd_set: &'a mut bool,
}

/// The stage's shell (SHELL or `/bin/sh -c`).
pub fn shell_of(cfg: &ImageConfig) -> Vec<String> {
    cfg.shell
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
}

/// A command as argv: exec form as is, shell form through the stage's shell.
pub fn argv(form: &CmdForm, cfg: &ImageConfig) -> Vec<String> {
    match form {
        CmdForm::Exec(v) => v.clone(),
        CmdForm::Shell(s) => {
            let mut v = shell_of(cfg);
            // `CMD` alone is the shell with no command, as Docker keeps it.
            if !s.is_empty() {
                v.push(s.clone());
            }
            v
        }
    }
}

/// Applies a metadata instruction to `cfg`; returns the text for the history entry (expanded).
pub fn apply(kind: &Kind, cfg: &mut ImageConfig, cx: MetaCtx<'_>) -> Result<String, String> {
    let x = |w: &str| expand(w, cx.vars, cx.escape);
    Ok(match kind {
        Kind::Env(raw) => {
            let mut shown = Vec::new();
            for (k, v) in key_values(raw, cx.escape)? {
                let (k, v) = (x(&k)?, x(&v)?);
                set_env(cfg.env.get_or_insert_with(Vec::new), &k, &v);
                shown.push(format!("{k}={v}"));
            }
            format!("ENV {}", shown.join(" "))
        }
        Kind::Label(raw) => {
            let mut shown = Vec::new();
            for (k, v) in key_values(raw, cx.escape)? {
                let (k, v) = (x(&k)?, x(&v)?);
                if k.is_empty() {
                    return Err("LABEL names can not be blank".into());
                }
                shown.push(format!("{k}={v}"));
                cfg.labels.get_or_insert_with(Default::default).insert(k, v);
            }
            format!("LABEL {}", shown.join(" "))
        }
        Kind::Expose(ports) => {
            let mut shown = Vec::new();
            for p in ports {
                let p = x(p)?;
                for port in expand_ports(&p)? {
                    let list = cfg.exposed_ports.get_or_insert_with(Vec::new);
                    if !list.contains(&port) {
                        list.push(port);
                    }
                }
                shown.push(p);
            }
            format!("EXPOSE {}", shown.join(" "))
        }
        Kind::User(u) => {
            let u = x(u)?;
            if u.is_empty() {
                return Err("USER requires a user name or id".into());
            }
            cfg.user = Some(u.clone());
            format!("USER {u}")
        }
        Kind::Volume(vs) => {
            let mut shown = Vec::new();
            for v in vs {
                let v = x(v)?;
                if v.trim().is_empty() {
                    return Err("VOLUME specified can not be an empty string".into());
                }
                let list = cfg.volumes.get_or_insert_with(Vec::new);
                if !list.contains(&v) {
                    list.push(v.clone());
                }
                shown.push(v);
            }
            format!("VOLUME [{}]", shown.join(" "))
        }
        Kind::Cmd(form) => {
            let a = argv(form, cfg);
            cfg.cmd = Some(a.clone());
            *cx.cmd_set = true;
            format!("CMD {}", gofmt::quote_list(&a))
        }
        Kind::Entrypoint(form) => {
            let a = argv(form, cfg);
            cfg.entrypoint = if a.is_empty() { None } else { Some(a.clone()) };
            if !*cx.cmd_set {
                cfg.cmd = None;
            }
            format!("ENTRYPOINT {}", gofmt::quote_list(&a))
        }
        Kind::Shell(s) => {
            if s.is_empty() {
                return Err("SHELL requires at least one argument (JSON form)".into());
            }
            cfg.shell = Some(s.clone());
            format!("SHELL [{}]", s.join(" "))
        }
        Kind::StopSignal(s) => {
            let s = x(s)?;
            check_stop_signal(&s)?;
            cfg.stop_signal = Some(s.clone());
            format!("STOPSIGNAL {s}")
        }
        Kind::Healthcheck { options, cmd } => healthcheck(cfg, options, cmd.as_ref())?,
        Kind::Onbuild(trigger) => {
            let t = trigger_text(trigger)?;
            cfg.on_build.get_or_insert_with(Vec::new).push(t.clone());
            format!("ONBUILD {t}")
        }
        Kind::Maintainer(m) => format!("MAINTAINER {m}"),
        other => return Err(format!("not a metadata instruction: {other:?}")),
    })
}

/// A trigger as stored: as written (Docker keeps its case and spacing), checked to be allowed.
fn trigger_text(t: &str) -> Result<String, String> {
    let kw = t.split_whitespace().next().unwrap_or("").to_uppercase();
    match kw.as_str() {
        "ONBUILD" => return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into()),
        "FROM" | "MAINTAINER" => return Err(format!("{kw} isn't allowed as an ONBUILD trigger")),
        _ => {}
    }
    Ok(t.to_owned())
}

/// Docker's signal.ParseSignal: a number above 0, or a name (`SIG` optional, any case) of its Linux table,
/// which has the real-time forms `RTMIN`, `RTMIN+1`..`RTMIN+15`, `RTMAX-14`..`RTMAX-1`, `RTMAX`.
fn check_stop_signal(s: &str) -> Result<(), String> {
    let bad = || Err(format!("Invalid signal: {s}"));
    if let Ok(n) = s.parse::<i64>() {
        return if n > 0 { Ok(()) } else { bad() };
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    let offset = |p: &str| name.strip_prefix(p).and_then(|n| n.parse::<u8>().ok());
    let rt = name == "RTMIN"
        || name == "RTMAX"
        || offset("RTMIN+").is_some_and(|n| (1..=15).contains(&n))
        || offset("RTMAX-").is_some_and(|n| (1..=14).contains(&n));
    let alias = matches!(name, "CLD" | "IOT" | "POLL");
    let known = format!("SIG{name}").parse::<nix::sys::signal::Signal>().is_ok();
    if rt || alias || known {
        Ok(())
    } else {
        bad()
    }
}

/// Sets `k=v` in an env list, replacing an earlier value of `k`.
pub fn set_env(env: &mut Vec<String>, k: &str, v: &str) {
    let entry = format!("{k}={v}");
    match env
        .iter_mut()
        .find(|e| e.split_once('=').map(|(a, _)| a) == Some(k) || e.as_str() == k)
    {
        Some(slot) => *slot = entry,
        None => env.push(entry),
    }
}

/// `80`, `80/udp`, `8000-8002/tcp` as Docker's `port/proto` keys.
fn expand_ports(spec: &str) -> Result<Vec<String>, String> {
    // `ip:hostPort:containerPort` and `hostPort:containerPort` (Docker's ParsePortSpecs) expose the container port.
    let spec = spec.rsplit_once(':').map_or(spec, |(_, c)| c);
    let (ports, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    let proto = proto.to_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    let range: units::PortRange = ports.parse().map_err(|e| match e {
        units::PortRangeError::Reversed(_) => format!("invalid range specified for container port: {ports}"),
        _ => format!("invalid containerPort: {ports}"),
    })?;
    Ok(range.ports().map(|p| format!("{p}/{proto}")).collect())
}

fn healthcheck(cfg: &mut ImageConfig, options: &[(String, String)], cmd: Option<&CmdForm>) -> Result<String, String> {
    let Some(cmd) = cmd else {
        let mut hc = HealthConfig {
            test: Some(vec!["NONE".into()]),
            ..Default::default()
        };
        inherit(&mut hc, cfg.healthcheck.as_ref());
        cfg.healthcheck = Some(hc);
        return Ok(healthcheck_text(&["NONE".into()], &HealthConfig::default()));
    };
    let mut hc = HealthConfig::default();
    for (k, v) in options {
        match k.as_str() {
            "interval" => hc.interval = Some(duration(k, v)?),
            "timeout" => hc.timeout = Some(duration(k, v)?),
            "start-period" => hc.start_period = Some(duration(k, v)?),
            "start-interval" => hc.start_interval = Some(duration(k, v)?),
            "retries" => {
                let n: i64 = v.parse().map_err(|_| format!("--retries={v}: expected a number"))?;
                if n < 0 {
                    return Err("--retries cannot be negative".into());
                }
                hc.retries = Some(n);
            }
            _ => return Err(format!("unknown flag: --{k} (not an option of HEALTHCHECK)")),
        }
    }
    let test = match cmd {
        CmdForm::Exec(v) => std::iter::once("CMD".to_owned()).chain(v.iter().cloned()).collect(),
        CmdForm::Shell(s) => vec!["CMD-SHELL".into(), s.clone()],
    };
    // dockerd words the history from the options as written, before the merge.
    let shown = healthcheck_text(&test, &hc);
    inherit(&mut hc, cfg.healthcheck.as_ref());
    hc.test = Some(test);
    cfg.healthcheck = Some(hc);
    Ok(shown)
}

/// `HEALTHCHECK %q` of dockerd's HealthConfig: `HEALTHCHECK &{["CMD-SHELL" "x"] "1m0s" "0s" "0s" '\x03'}`.
fn healthcheck_text(test: &[String], hc: &HealthConfig) -> String {
    let d = |v: Option<i64>| gofmt::quote(&gofmt::duration(v.unwrap_or(0)));
    format!(
        "HEALTHCHECK &{{{} {} {} {} {}}}",
        gofmt::quote_list(test),
        d(hc.interval),
        d(hc.timeout),
        d(hc.start_period),
        gofmt::quote_rune(hc.retries.unwrap_or(0))
    )
}

/// Options left out keep the previous HEALTHCHECK's (the stage's or the base image's): dockerd merges the step's
/// config with its parent image's when it makes the step's container, and the builder keeps the merged values.
fn inherit(hc: &mut HealthConfig, prev: Option<&HealthConfig>) {
    let Some(prev) = prev else { return };
    let unset = |v: Option<i64>| v.unwrap_or(0) == 0;
    if unset(hc.interval) {
        hc.interval = prev.interval;
    }
    if unset(hc.timeout) {
        hc.timeout = prev.timeout;
    }
    if unset(hc.start_period) {
        hc.start_period = prev.start_period;
    }
    if unset(hc.retries) {
        hc.retries = prev.retries;
    }
}

/// Docker's note when a HEALTHCHECK replaces one that checks something (`Note: ...: [CMD-SHELL x]`).
pub fn healthcheck_note(cfg: &ImageConfig) -> Option<String> {
    let test = cfg.healthcheck.as_ref()?.test.as_ref()?;
    (test.first().is_some_and(|t| t != "NONE"))
        .then(|| format!("Note: overriding previous HEALTHCHECK: [{}]\n", test.join(" ")))
}

/// Go durations (`30s`, `1m30s`, `500ms`, `1h`) in nanoseconds; at least 1ms unless 0.
pub fn duration(flag: &str, s: &str) -> Result<i64, String> {
    let ns = units::parse_duration(s)
        .filter(|ns| *ns >= 0)
        .ok_or_else(|| format!("--{flag}={s}: expected a duration such as 30s or 1m30s"))?;
    if ns != 0 && ns < 1_000_000 {
        return Err(format!("--{flag} cannot be less than 1ms"));
    }
    Ok(ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_and_durations() {
        assert_eq!(
            expand_ports("8000-8002/udp").unwrap(),
            ["8000/udp", "8001/udp", "8002/udp"]
        );
        assert_eq!(expand_ports("80").unwrap(), ["80/tcp"]);
        assert!(expand_ports("x").is_err());
        assert_eq!(duration("interval", "1m30s").unwrap(), 90_000_000_000);
        assert!(duration("interval", "5").is_err());
    }

    #[test]
    fn entrypoint_clears_inherited_cmd_only() {
        let mut cfg = ImageConfig {
            cmd: Some(vec!["sh".into()]),
            ..Default::default()
        };
        let vars = Vars::new();
        let mut set = false;
        let ep = Kind::Entrypoint(CmdForm::Exec(vec!["/bin/x".into()]));
        apply(
            &ep,
            &mut cfg,
            MetaCtx {
                vars: &vars,
                escape: '\\',
                cmd_set: &mut set,
            },
        )
        .unwrap();
        assert_eq!(cfg.cmd, None);
        let mut set = false;
        let cmd = Kind::Cmd(CmdForm::Exec(vec!["a".into()]));
        apply(
            &cmd,
            &mut cfg,
            MetaCtx {
                vars: &vars,
                escape: '\\',
                cmd_set: &mut set,
            },
        )
        .unwrap();
        apply(
            &ep,
            &mut cfg,
            MetaCtx {
                vars: &vars,
                escape: '\\',
                cmd_set: &mut set,
            },
        )
        .unwrap();
        assert_eq!(cfg.cmd, Some(vec!["a".into()]));
    }
}
