//! Combinations the schema allows but Docker Compose refuses: attributes that exclude each other, resources
//! without a source, references to undefined models, malformed build `ssh` entries and GPU counts.

use crate::error::{ErrorKind, LoadError, Result};
use serde_json::{Map, Value};

fn refuse(path: impl Into<String>, msg: impl Into<String>) -> LoadError {
    LoadError::new(ErrorKind::Semantic, msg).at_path(path)
}

/// Checks the top-level resources (all of them, used or not), before normalisation.
pub fn check_resources(doc: &Map<String, Value>) -> Result<()> {
    for kind in ["networks", "volumes", "secrets", "configs"] {
        let Some(Value::Object(items)) = doc.get(kind) else {
            continue;
        };
        for (name, r) in items {
            let Value::Object(r) = r else { continue };
            let at = format!("{kind}.{name}");
            external_name(r, &at)?;
            if kind == "volumes" {
                external_volume(r, &at)?;
            }
            if kind == "secrets" || kind == "configs" {
                has_source(r, kind, &at)?;
                // A secret's driver options are plain strings in Compose's model (networks and volumes take
                // numbers): an integer converts, a YAML float is refused.
                if let Some(Value::Object(o)) = r.get("driver_opts") {
                    if let Some((k, v)) = o.iter().find(|(_, v)| v.is_f64()) {
                        return Err(refuse(
                            format!("{at}.driver_opts.{k}"),
                            format!("unsupported value {v}: expected a string or an integer, not a float"),
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// `name` and `external.name` must agree.
fn external_name(r: &Map<String, Value>, at: &str) -> Result<()> {
    let ext = r.get("external").and_then(|e| e.get("name"));
    match (r.get("name"), ext) {
        (Some(n), Some(e)) if n != e => Err(refuse(
            format!("{at}.name"),
            format!("{at}: name and external.name conflict; set only `name` (with `external: true`)"),
        )),
        _ => Ok(()),
    }
}

fn is_external(r: &Map<String, Value>) -> bool {
    match r.get("external") {
        Some(Value::Bool(b)) => *b,
        Some(Value::Object(_)) => true,
        _ => false,
    }
}

/// An external volume is only named: Compose creates nothing, so driver, options and labels conflict.
fn external_volume(r: &Map<String, Value>, at: &str) -> Result<()> {
    if !is_external(r) {
        return Ok(());
    }
    match r
        .keys()
        .find(|k| !matches!(k.as_str(), "name" | "external") && !k.starts_with("x-"))
    {
        Some(k) => Err(refuse(
            format!("{at}.{k}"),
            format!("{at}: conflicting parameters \"external\" and {k:?} specified: an external volume is only named"),
        )),
        None => Ok(()),
    }
}

/// A secret needs `file` or `environment` (a config may also give `content`) unless it is external.
fn has_source(r: &Map<String, Value>, kind: &str, at: &str) -> Result<()> {
    let sources: &[&str] = if kind == "secrets" {
        &["file", "environment"]
    } else {
        &["file", "environment", "content"]
    };
    if is_external(r) || sources.iter().any(|k| r.contains_key(*k)) {
        return Ok(());
    }
    Err(refuse(at, format!("{at}: one of {} must be set", sources.join("|"))))
}

/// Checks the enabled services (normalised) against Compose's exclusive attributes.
pub fn check_services(services: &Map<String, Value>, doc: &Map<String, Value>) -> Result<()> {
    let empty = Map::new();
    let models = doc.get("models").and_then(Value::as_object).unwrap_or(&empty);
    for (name, svc) in services {
        let Value::Object(svc) = svc else { continue };
        let at = format!("services.{name}");
        network_mode(svc, name, &at)?;
        used_models(svc, models, name, &at)?;
        platforms(svc, &at)?;
        ssh(svc, &at)?;
        health_test(svc, &at)?;
        watch_targets(svc, &at)?;
        tmpfs_targets(svc, &at)?;
        for (key, n) in [
            ("scale", svc.get("scale")),
            ("deploy.replicas", svc.get("deploy").and_then(|d| d.get("replicas"))),
        ] {
            if let Some(n) = n.and_then(Value::as_i64).filter(|n| *n < 0) {
                return Err(refuse(
                    format!("{at}.{key}"),
                    format!("must be greater than or equal to 0, got {n}"),
                ));
            }
            // Replicas would all need the one name.
            if n.and_then(Value::as_i64).is_some_and(|n| n > 1) && svc.contains_key("container_name") {
                return Err(refuse(
                    format!("{at}.{key}"),
                    format!(
                        "more than one replica of {name:?} with a fixed container_name: container names must be unique"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// A mount target cannot also be a `tmpfs:` path (the engine would mount twice at one place).
fn tmpfs_targets(svc: &Map<String, Value>, at: &str) -> Result<()> {
    let (Some(Value::Array(vols)), Some(Value::Array(tmpfs))) = (svc.get("volumes"), svc.get("tmpfs")) else {
        return Ok(());
    };
    let paths: Vec<&str> = tmpfs
        .iter()
        .map(|t| t.as_str().and_then(|s| s.split(':').next()).unwrap_or_default())
        .collect();
    for (i, v) in vols.iter().enumerate() {
        let Some(t) = v.get("target").and_then(Value::as_str) else {
            continue;
        };
        if let Some(j) = paths.iter().position(|p| *p == t) {
            return Err(refuse(
                format!("{at}.volumes[{i}]"),
                format!("target {t} already mounted as {at}.tmpfs[{j}]"),
            ));
        }
    }
    Ok(())
}

/// A watch trigger that copies files (`sync`, `sync+restart`, `sync+exec`) needs the `target` to copy them to.
fn watch_targets(svc: &Map<String, Value>, at: &str) -> Result<()> {
    let Some(Value::Array(watch)) = svc.get("develop").and_then(|d| d.get("watch")) else {
        return Ok(());
    };
    for (i, w) in watch.iter().enumerate() {
        let syncs = w
            .get("action")
            .and_then(Value::as_str)
            .is_some_and(|a| a.starts_with("sync"));
        if syncs && w.get("target").and_then(Value::as_str).is_none_or(str::is_empty) {
            return Err(refuse(
                format!("{at}.develop.watch[{i}]"),
                "target is required for the sync actions (sync, sync+restart, sync+exec): where in the container to copy the files",
            ));
        }
    }
    Ok(())
}

/// Checks every service as written, the ones profiles leave out included (Compose checks these entries while
/// decoding the file, before profiles apply): long-syntax ports and devices name a target, device requests a
/// valid count.
pub fn check_entries(services: &Map<String, Value>) -> Result<()> {
    for (name, svc) in services {
        let Value::Object(svc) = svc else { continue };
        let at = format!("services.{name}");
        targets(svc, &at)?;
        device_requests(svc, &at)?;
        decodable(svc, &at)?;
        let watch = svc
            .get("develop")
            .and_then(|d| d.get("watch"))
            .and_then(Value::as_array);
        if let Some(i) = watch.and_then(|w| w.iter().position(|t| t.get("path").and_then(Value::as_str) == Some(""))) {
            return Err(refuse(
                format!("{at}.develop.watch[{i}].path"),
                "the path to watch cannot be blank",
            ));
        }
    }
    Ok(())
}

/// Values Compose's typed model cannot hold: a negative count in an unsigned field, a fractional file mode.
fn decodable(svc: &Map<String, Value>, at: &str) -> Result<()> {
    const UNSIGNED: [&[&str]; 5] = [
        &["deploy", "restart_policy", "max_attempts"],
        &["deploy", "update_config", "parallelism"],
        &["deploy", "rollback_config", "parallelism"],
        &["deploy", "placement", "max_replicas_per_node"],
        &["healthcheck", "retries"],
    ];
    for path in UNSIGNED {
        let v = svc
            .get(path[0])
            .and_then(|first| path[1..].iter().try_fold(first, |v, k| v.get(*k)));
        if let Some(n) = v.and_then(Value::as_i64).filter(|n| *n < 0) {
            return Err(refuse(
                format!("{at}.{}", path.join(".")),
                format!("{n} is negative: expected a count from 0"),
            ));
        }
    }
    for key in ["secrets", "configs"] {
        let Some(Value::Array(refs)) = svc.get(key) else {
            continue;
        };
        if let Some(i) = refs.iter().position(|r| r.get("mode").is_some_and(Value::is_f64)) {
            return Err(refuse(
                format!("{at}.{key}[{i}].mode"),
                "a file mode is an integer (octal when written as text), not a fraction",
            ));
        }
    }
    Ok(())
}

/// Long-syntax ports and devices need a target.
fn targets(svc: &Map<String, Value>, at: &str) -> Result<()> {
    for (key, what) in [("ports", "a target port"), ("devices", "a mount target")] {
        let Some(Value::Array(items)) = svc.get(key) else {
            continue;
        };
        if let Some(i) = items
            .iter()
            .position(|i| i.is_object() && i.get("target").is_none_or(Value::is_null))
        {
            return Err(refuse(format!("{at}.{key}[{i}]"), format!("missing {what}")));
        }
    }
    Ok(())
}

/// A health check test given as a list starts with CMD, CMD-SHELL or NONE.
fn health_test(svc: &Map<String, Value>, at: &str) -> Result<()> {
    let first = match svc.get("healthcheck").and_then(|h| h.get("test")) {
        Some(Value::Array(a)) if !a.is_empty() => a[0].as_str().unwrap_or_default(),
        _ => return Ok(()),
    };
    if matches!(first, "CMD" | "CMD-SHELL" | "NONE") {
        return Ok(());
    }
    Err(refuse(
        format!("{at}.healthcheck.test"),
        format!("healthcheck.test must start with \"CMD\", \"CMD-SHELL\" or \"NONE\", not {first:?}"),
    ))
}

fn non_empty(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Object(m)) => !m.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Null) | None => false,
        Some(_) => true,
    }
}

fn network_mode(svc: &Map<String, Value>, name: &str, at: &str) -> Result<()> {
    if svc.contains_key("network_mode") && non_empty(svc.get("networks")) {
        return Err(refuse(
            format!("{at}.networks"),
            format!("service {name:?} declares mutually exclusive `network_mode` and `networks`"),
        ));
    }
    Ok(())
}

fn used_models(svc: &Map<String, Value>, models: &Map<String, Value>, name: &str, at: &str) -> Result<()> {
    let used: Vec<&str> = match svc.get("models") {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        Some(Value::Object(m)) => m.keys().map(String::as_str).collect(),
        _ => Vec::new(),
    };
    match used.into_iter().find(|m| !models.contains_key(*m)) {
        Some(m) => Err(refuse(
            format!("{at}.models"),
            format!("service {name:?} refers to undefined model {m:?}: define it under the top-level `models:`"),
        )),
        None => Ok(()),
    }
}

fn platforms(svc: &Map<String, Value>, at: &str) -> Result<()> {
    let (Some(Value::String(p)), Some(Value::Array(list))) =
        (svc.get("platform"), svc.get("build").and_then(|b| b.get("platforms")))
    else {
        return Ok(());
    };
    if list.is_empty() || list.iter().any(|x| x.as_str() == Some(p)) {
        return Ok(());
    }
    Err(refuse(
        format!("{at}.build.platforms"),
        format!("build.platforms must include the service's platform {p:?}"),
    ))
}

/// `ssh` entries are `default`, `id` or `id=path`, with a non-empty id and path.
fn ssh(svc: &Map<String, Value>, at: &str) -> Result<()> {
    let entries: Vec<String> = match svc.get("build").and_then(|b| b.get("ssh")) {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => return Ok(()),
    };
    for (i, e) in entries.iter().enumerate() {
        let (id, path) = e.split_once('=').map_or((e.as_str(), None), |(a, b)| (a, Some(b)));
        if id.trim().is_empty() || id.contains(char::is_whitespace) || path.is_some_and(str::is_empty) {
            return Err(refuse(
                format!("{at}.build.ssh[{i}]"),
                format!("invalid ssh key {e:?}: expected \"default\", \"ID\" or \"ID=PATH\""),
            ));
        }
    }
    Ok(())
}

/// Device requests (`deploy…devices`, `gpus`): `count` is a number or "all", and excludes `device_ids`.
fn device_requests(svc: &Map<String, Value>, at: &str) -> Result<()> {
    let mut lists: Vec<(String, &Vec<Value>)> = Vec::new();
    let res = svc.get("deploy").and_then(|d| d.get("resources"));
    if let Some(Value::Array(d)) = res.and_then(|r| r.get("reservations")).and_then(|r| r.get("devices")) {
        lists.push((format!("{at}.deploy.resources.reservations.devices"), d));
    }
    if let Some(Value::Array(g)) = svc.get("gpus") {
        lists.push((format!("{at}.gpus"), g));
    }
    for (path, items) in lists {
        for (i, d) in items.iter().enumerate() {
            let Value::Object(d) = d else { continue };
            let p = format!("{path}[{i}]");
            if let Some(c) = d.get("count") {
                let ok = match c {
                    Value::Number(n) => n.is_i64(),
                    // Compose lower-cases the word before comparing (`ALL` is every device too).
                    Value::String(s) => s.eq_ignore_ascii_case("all") || s.parse::<i64>().is_ok(),
                    _ => false,
                };
                if !ok {
                    return Err(refuse(
                        format!("{p}.count"),
                        format!("invalid device count {c}: the only values allowed are \"all\" or a number"),
                    ));
                }
                if d.contains_key("device_ids") {
                    return Err(refuse(p, "\"count\" and \"device_ids\" attributes are exclusive"));
                }
            }
        }
    }
    Ok(())
}
