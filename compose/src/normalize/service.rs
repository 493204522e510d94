//! One service to its canonical long form.

use super::casts::{cast_bool, cast_int, casts, omit_zeros};
use super::ports::{normalize_long_port, parse_short_port};
use super::volumes::short_to_long;
use super::{label_mapping, scalar_string, shell_split, string_list, string_mapping, Context};
use crate::error::{ErrorKind, LoadError, Result};
use serde_json::{json, Map, Value};
use units::{format_duration, parse_bytes, parse_duration};

fn err(path: &str, msg: impl Into<String>) -> LoadError {
    LoadError::new(ErrorKind::Value, msg).at_path(path)
}

/// Reads a service's `env_file`s and `label_file`s into `environment` and `labels`. Compose reads them only
/// for the services the active profiles enable, so a disabled service may name files that are not there.
pub fn resolve_files(name: &str, svc: &mut Map<String, Value>, ctx: &Context) -> Result<()> {
    let base = format!("services.{name}");
    super::env::environment(svc, ctx, &base)?;
    super::env::label_files(svc, &base)
}

/// Normalises service `name` in place.
pub fn normalize_service(name: &str, svc: &mut Map<String, Value>, ctx: &Context) -> Result<()> {
    let base = format!("services.{name}");
    let p = |k: &str| format!("{base}.{k}");
    for key in ["command", "entrypoint"] {
        let v = match svc.get(key) {
            Some(Value::String(s)) => Value::Array(
                shell_split(s)
                    .map_err(|e| err(&p(key), e))?
                    .into_iter()
                    .map(Value::String)
                    .collect(),
            ),
            Some(Value::Array(a)) => Value::Array(
                a.iter()
                    .map(|i| scalar_string(i).map_or(i.clone(), Value::String))
                    .collect(),
            ),
            _ => Value::Null,
        };
        svc.insert(key.into(), v);
    }
    if let Some(b) = svc.get_mut("build") {
        build(b, ctx, &p("build"))?;
    }
    for key in ["labels", "annotations"] {
        if let Some(v) = svc.get(key) {
            let m = label_mapping(v, &p(key))?;
            svc.insert(key.into(), Value::Object(m));
        }
    }
    if let Some(v) = svc.get("sysctls") {
        let m = label_mapping(v, &p("sysctls"))?;
        svc.insert("sysctls".into(), Value::Object(m));
    }
    // Lists Compose decodes as plain strings: an integer converts, a YAML float (`1.5`, `2.0`, `1e3`) does not.
    for key in ["expose", "group_add"] {
        if let Some(Value::Array(items)) = svc.get(key) {
            if let Some(i) = items.iter().position(Value::is_f64) {
                return Err(err(
                    &format!("{}[{i}]", p(key)),
                    format!(
                        "unsupported value {}: expected a string or an integer, not a float",
                        items[i]
                    ),
                ));
            }
        }
    }
    for key in ["dns", "dns_search", "tmpfs", "expose", "dns_opt"] {
        if let Some(v) = svc.get(key) {
            let l = string_list(v);
            svc.insert(key.into(), Value::Array(l));
        }
    }
    if let Some(v) = svc.get("extra_hosts") {
        let hosts = extra_hosts(v, &p("extra_hosts"))?;
        svc.insert("extra_hosts".into(), hosts);
    }
    if let Some(v) = svc.get("ports") {
        let ports = ports(v, &p("ports"))?;
        svc.insert("ports".into(), ports);
    }
    if let Some(v) = svc.get("volumes") {
        let vols = volumes(v, &p("volumes"))?;
        svc.insert("volumes".into(), vols);
    }
    if let Some(v) = svc.get_mut("healthcheck") {
        healthcheck(v, &p("healthcheck"))?;
    }
    // The schema allows `deploy:` with no value; Compose reads it as no deploy section.
    if svc.get("deploy") == Some(&Value::Null) {
        svc.shift_remove("deploy");
    }
    if let Some(v) = svc.get_mut("deploy") {
        deploy(v, &p("deploy"))?;
    }
    for key in ["shm_size", "mem_limit", "memswap_limit", "mem_reservation"] {
        bytes_field(svc, key, &p(key))?;
    }
    duration_field(svc, "stop_grace_period", &p("stop_grace_period"))?;
    for key in ["secrets", "configs"] {
        if let Some(v) = svc.get(key) {
            let refs = file_refs(v, key == "secrets", &p(key))?;
            svc.insert(key.into(), refs);
        }
    }
    devices(svc, &p("devices"))?;
    super::devices::gpus(svc);
    super::devices::generic_resources(svc);
    super::devices::blkio(svc, &p("blkio_config"))?;
    for key in ["post_start", "pre_stop"] {
        super::hooks::hooks(svc, key, &p(key))?;
    }
    if let Some(v) = svc.get("group_add") {
        let l = string_list(v);
        svc.insert("group_add".into(), Value::Array(l));
    }
    if let Some(Value::Array(models)) = svc.get("models") {
        let m: Map<String, Value> = models
            .iter()
            .filter_map(Value::as_str)
            .map(|n| (n.to_owned(), Value::Null))
            .collect();
        svc.insert("models".into(), Value::Object(m));
    }
    if svc.contains_key("provider") {
        provider(svc);
    } else {
        networks(svc);
    }
    depends_on(svc, &p("depends_on"))?;
    super::hooks::develop(svc, &p("develop"))?;
    casts(svc);
    omit_zeros(svc);
    Ok(())
}

fn build(b: &mut Value, ctx: &Context, path: &str) -> Result<()> {
    if let Value::String(s) = b {
        *b = json!({"context": s});
    }
    let Value::Object(m) = b else {
        return Err(err(path, "expected a string (context) or a mapping"));
    };
    // Paths gave every context its file's directory; one that is still missing was reset (`context: !reset`).
    m.entry("context")
        .or_insert_with(|| json!(ctx.project_dir.to_string_lossy()));
    if !m.contains_key("dockerfile_inline") {
        m.entry("dockerfile").or_insert(json!("Dockerfile"));
    }
    if let Some(a) = m.get("args") {
        let mut args = string_mapping(a, &format!("{path}.args"))?;
        let keys: Vec<String> = args.keys().cloned().collect();
        for k in keys {
            if args[&k].is_null() {
                match (ctx.env)(&k) {
                    Some(v) => args.insert(k, Value::String(v)),
                    None => args.shift_remove(&k),
                };
            }
        }
        m.insert("args".into(), Value::Object(args));
    }
    for key in ["labels", "extra_hosts"] {
        if let Some(v) = m.get(key) {
            let l = if key == "labels" {
                Value::Object(label_mapping(v, &format!("{path}.{key}"))?)
            } else {
                extra_hosts(v, path)?
            };
            m.insert(key.into(), l);
        }
    }
    // Paths turned the list form into a mapping; what is left as a list has an entry without `=`.
    if let Some(Value::Array(items)) = m.get("additional_contexts") {
        let bad = items
            .iter()
            .position(|i| !i.as_str().is_some_and(|s| s.contains('=')))
            .unwrap_or(0);
        return Err(err(
            &format!("{path}.additional_contexts[{bad}]"),
            format!(
                "invalid value {}: expected name=path",
                items.get(bad).unwrap_or(&Value::Null)
            ),
        ));
    }
    if let Some(v) = m.get("secrets") {
        // A build secret's target is the id the Dockerfile mounts; Compose gives it no default path.
        let r = file_refs(v, false, &format!("{path}.secrets"))?;
        m.insert("secrets".into(), r);
    }
    bytes_field(m, "shm_size", &format!("{path}.shm_size"))?;
    Ok(())
}

fn extra_hosts(v: &Value, path: &str) -> Result<Value> {
    let mut entries: Vec<String> = Vec::new();
    match v {
        Value::Object(m) => {
            for (host, ips) in m {
                for ip in string_list(ips) {
                    entries.push(format!("{host}={}", ip.as_str().unwrap_or_default()));
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let s = item
                    .as_str()
                    .ok_or_else(|| err(&format!("{path}[{i}]"), "expected \"host=ip\""))?;
                let (h, ip) = s.split_once('=').or_else(|| s.split_once(':')).ok_or_else(|| {
                    err(
                        &format!("{path}[{i}]"),
                        format!("invalid extra host {s:?}: expected \"host=ip\""),
                    )
                })?;
                entries.push(format!("{h}={ip}"));
            }
        }
        _ => return Err(err(path, "expected a list or mapping of hosts")),
    }
    entries.sort();
    Ok(Value::Array(entries.into_iter().map(Value::String).collect()))
}

fn ports(v: &Value, path: &str) -> Result<Value> {
    let Value::Array(items) = v else {
        return Err(err(path, "expected a list of ports"));
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item {
            Value::Object(m) => {
                // Compose parses the address of a long-syntax port (no brackets, not empty).
                if let Some(ip) = m.get("host_ip").and_then(Value::as_str) {
                    if ip.parse::<std::net::IpAddr>().is_err() {
                        return Err(err(
                            &format!("{path}[{i}].host_ip"),
                            format!("invalid IP address {ip:?}"),
                        ));
                    }
                }
                out.push(normalize_long_port(m))
            }
            other => {
                let ip = format!("{path}[{i}]");
                let s = scalar_string(other).ok_or_else(|| err(&ip, "expected a port"))?;
                let entries = parse_short_port(&s).map_err(|e| err(&ip, e))?;
                // Container port 0 is no port: Compose reads it as a missing target.
                if entries.iter().any(|e| e.get("target") == Some(&json!(0))) {
                    return Err(err(&ip, format!("missing a target port: {s:?} maps container port 0")));
                }
                out.extend(entries);
            }
        }
    }
    // An entry a range repeats (`9` beside `8-10`) is listed once, where it first appears, as Compose does.
    let mut seen = std::collections::HashSet::new();
    out.retain(|e| {
        let fields: std::collections::BTreeMap<_, _> = e.as_object().into_iter().flatten().collect();
        seen.insert(serde_json::to_string(&fields).unwrap_or_default())
    });
    Ok(Value::Array(out))
}

fn volumes(v: &Value, path: &str) -> Result<Value> {
    let Value::Array(items) = v else {
        return Err(err(path, "expected a list of volumes"));
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let ip = format!("{path}[{i}]");
        match item {
            Value::String(s) => out.push(short_to_long(s, &|x| x.to_owned()).map_err(|e| err(&ip, e))?),
            Value::Object(m) => out.push(long_volume(m, &ip)?),
            _ => return Err(err(&ip, "expected a volume string or mapping")),
        }
    }
    Ok(Value::Array(out))
}

fn long_volume(m: &Map<String, Value>, path: &str) -> Result<Value> {
    let mut m = m.clone();
    if let Some(Value::String(t)) = m.get("target") {
        let t = super::volumes::clean_target(t);
        m.insert("target".into(), json!(t));
    }
    if let Some(Value::Object(b)) = m.get_mut("bind") {
        if b.get("create_host_path") == Some(&Value::Bool(false)) {
            b.shift_remove("create_host_path");
        }
    }
    if let Some(Value::Object(t)) = m.get_mut("tmpfs") {
        if let Some(size) = t.get("size").cloned() {
            let s = scalar_string(&size)
                .and_then(|s| parse_bytes(&s))
                .ok_or_else(|| err(&format!("{path}.tmpfs.size"), "expected a byte size"))?;
            if s == 0 {
                t.shift_remove("size");
            } else {
                t.insert("size".into(), json!(s.to_string()));
            }
        }
    }
    cast_bool(&mut m, "read_only");
    if m.get("read_only") == Some(&Value::Bool(false)) {
        m.shift_remove("read_only");
    }
    Ok(Value::Object(m))
}

fn healthcheck(v: &mut Value, path: &str) -> Result<()> {
    let Value::Object(m) = v else {
        return Err(err(path, "expected a mapping"));
    };
    if let Some(Value::String(s)) = m.get("test") {
        let t = json!(["CMD-SHELL", s]);
        m.insert("test".into(), t);
    }
    for key in ["interval", "timeout", "start_period", "start_interval"] {
        duration_field(m, key, &format!("{path}.{key}"))?;
    }
    cast_int(m, "retries");
    cast_bool(m, "disable");
    Ok(())
}

fn deploy(v: &mut Value, path: &str) -> Result<()> {
    let Value::Object(m) = v else {
        return Err(err(path, "expected a mapping"));
    };
    m.entry("placement").or_insert(json!({}));
    cast_int(m, "replicas");
    let res = m.entry("resources").or_insert(json!({}));
    if let Value::Object(r) = res {
        for kind in ["limits", "reservations"] {
            if let Some(Value::Object(l)) = r.get_mut(kind) {
                bytes_field(l, "memory", &format!("{path}.resources.{kind}.memory"))?;
                if let Some(c) = l.get("cpus").cloned() {
                    let f = scalar_string(&c)
                        .and_then(|s| s.parse::<f64>().ok())
                        .ok_or_else(|| err(&format!("{path}.resources.{kind}.cpus"), "expected a number of CPUs"))?;
                    l.insert("cpus".into(), json!(f));
                }
            }
        }
    }
    if let Some(Value::Object(rp)) = m.get_mut("restart_policy") {
        for key in ["delay", "window"] {
            duration_field(rp, key, &format!("{path}.restart_policy.{key}"))?;
        }
        cast_int(rp, "max_attempts");
    }
    for cfg in ["update_config", "rollback_config"] {
        if let Some(Value::Object(c)) = m.get_mut(cfg) {
            for key in ["delay", "monitor"] {
                duration_field(c, key, &format!("{path}.{cfg}.{key}"))?;
            }
        }
    }
    if let Some(l) = m.get("labels") {
        let lm = label_mapping(l, &format!("{path}.labels"))?;
        m.insert("labels".into(), Value::Object(lm));
    }
    Ok(())
}

fn bytes_field(m: &mut Map<String, Value>, key: &str, path: &str) -> Result<()> {
    if let Some(v) = m.get(key).cloned() {
        if v.is_null() {
            return Ok(());
        }
        // A YAML integer is taken as is, negative ones too (`memswap_limit: -1` means unlimited swap).
        if let Some(n) = v.as_i64() {
            m.insert(key.into(), json!(n.to_string()));
            return Ok(());
        }
        // A YAML float (`1e3`, `2.5`) is lost by Compose's decoding: the field ends up unset.
        if v.is_f64() {
            m.shift_remove(key);
            return Ok(());
        }
        let n = scalar_string(&v).and_then(|s| parse_bytes(&s)).ok_or_else(|| {
            err(
                path,
                format!("invalid size {v}: expected bytes or a number with a unit (b, k, m, g)"),
            )
        })?;
        m.insert(key.into(), json!(n.to_string()));
    }
    Ok(())
}

fn duration_field(m: &mut Map<String, Value>, key: &str, path: &str) -> Result<()> {
    if let Some(v) = m.get(key).cloned() {
        let s = scalar_string(&v).unwrap_or_default();
        let ns = parse_duration(&s).ok_or_else(|| {
            err(
                path,
                format!("time: invalid duration {s:?}: expected a duration such as 30s, 1m30s or 500ms"),
            )
        })?;
        m.insert(key.into(), json!(format_duration(ns)));
    }
    Ok(())
}

fn file_refs(v: &Value, secret: bool, path: &str) -> Result<Value> {
    let Value::Array(items) = v else {
        return Err(err(path, "expected a list"));
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let mut m = match item {
            Value::String(s) => {
                let mut m = Map::new();
                m.insert("source".into(), json!(s));
                m
            }
            Value::Object(m) => m.clone(),
            _ => {
                return Err(err(
                    &format!("{path}[{i}]"),
                    "expected a name or a mapping with `source`",
                ))
            }
        };
        if secret && !m.contains_key("target") {
            if let Some(src) = m.get("source").and_then(Value::as_str) {
                let t = format!("/run/secrets/{src}");
                m.insert("target".into(), json!(t));
            }
        }
        if let Some(mode) = m.get("mode").cloned() {
            let s = match mode {
                Value::Number(n) => n.as_u64().map(|n| format!("0{n:o}")).unwrap_or_else(|| n.to_string()),
                Value::String(s) => s,
                other => other.to_string(),
            };
            m.insert("mode".into(), json!(s));
        }
        out.push(Value::Object(m));
    }
    Ok(Value::Array(out))
}

/// A provider service's options are lists of strings (a single value is a list of one).
fn provider(svc: &mut Map<String, Value>) {
    if let Some(Value::Object(opts)) = svc.get_mut("provider").and_then(|p| p.get_mut("options")) {
        for v in opts.values_mut() {
            *v = Value::Array(string_list(v));
        }
    }
}

fn networks(svc: &mut Map<String, Value>) {
    if svc.contains_key("network_mode") {
        return;
    }
    // No networks, or an empty list or mapping of them, is the default network (Compose tests the length).
    let nets = match svc.get("networks") {
        None | Some(Value::Null) => json!({"default": null}),
        Some(Value::Array(a)) if a.is_empty() => json!({"default": null}),
        Some(Value::Object(m)) if m.is_empty() => json!({"default": null}),
        Some(Value::Array(items)) => Value::Object(
            items
                .iter()
                .filter_map(|i| i.as_str())
                .map(|s| (s.to_owned(), Value::Null))
                .collect(),
        ),
        Some(other) => other.clone(),
    };
    svc.insert("networks".into(), nets);
    // Driver options are strings in Compose's model (numbers written as Go prints them).
    let entries = svc.get_mut("networks").and_then(Value::as_object_mut);
    for net in entries
        .into_iter()
        .flat_map(|m| m.values_mut())
        .filter_map(Value::as_object_mut)
    {
        if let Some(Value::Object(o)) = net.get_mut("driver_opts") {
            for v in o.values_mut() {
                if let Some(s) = scalar_string(v) {
                    *v = Value::String(s);
                }
            }
        }
    }
}

fn depends_on(svc: &mut Map<String, Value>, path: &str) -> Result<()> {
    let mut deps = Map::new();
    match svc.get("depends_on") {
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let s = item
                    .as_str()
                    .ok_or_else(|| err(&format!("{path}[{i}]"), "expected a service name"))?;
                deps.insert(s.to_owned(), json!({"condition": "service_started", "required": true}));
            }
        }
        Some(Value::Object(m)) => {
            for (k, v) in m {
                let mut d = v.as_object().cloned().unwrap_or_default();
                d.entry("condition").or_insert(json!("service_started"));
                d.entry("required").or_insert(json!(true));
                if d.get("restart") == Some(&Value::Bool(false)) {
                    d.shift_remove("restart");
                }
                deps.insert(k.clone(), Value::Object(d));
            }
        }
        _ => {}
    }
    for key in ["network_mode", "ipc", "pid"] {
        if let Some(target) = svc
            .get(key)
            .and_then(Value::as_str)
            .and_then(|s| s.strip_prefix("service:"))
        {
            deps.entry(target.to_owned())
                .or_insert(json!({"condition": "service_started", "required": true, "restart": true}));
        }
    }
    // Links restart with their target (Compose adds `restart: true`); volumes_from do not.
    if let Some(Value::Array(links)) = svc.get("links") {
        for s in links.iter().filter_map(Value::as_str) {
            deps.entry(s.split(':').next().unwrap_or(s).to_owned())
                .or_insert(json!({"condition": "service_started", "required": true, "restart": true}));
        }
    }
    if let Some(Value::Array(vf)) = svc.get("volumes_from") {
        for s in vf.iter().filter_map(Value::as_str) {
            if !s.starts_with("container:") {
                deps.entry(s.split(':').next().unwrap_or(s).to_owned())
                    .or_insert(json!({"condition": "service_started", "required": true}));
            }
        }
    }
    if !deps.is_empty() {
        svc.insert("depends_on".into(), Value::Object(deps));
    }
    Ok(())
}

/// `src[:dst[:perm]]` to `{source, target, permissions}`.
fn devices(svc: &mut Map<String, Value>, path: &str) -> Result<()> {
    let Some(Value::Array(items)) = svc.get("devices") else {
        return Ok(());
    };
    let mut out = Vec::new();
    for (i, d) in items.iter().enumerate() {
        match d {
            Value::String(s) => {
                let parts: Vec<&str> = s.split(':').collect();
                let (src, dst, perm) = match parts.as_slice() {
                    [a] => (*a, *a, "rwm"),
                    [a, b] => (*a, *b, "rwm"),
                    [a, b, c] => (*a, *b, *c),
                    _ => {
                        return Err(err(
                            &format!("{path}[{i}]"),
                            format!("invalid device {s:?}: expected source[:target[:permissions]]"),
                        ))
                    }
                };
                out.push(json!({"source": src, "target": dst, "permissions": perm}));
            }
            other => out.push(other.clone()),
        }
    }
    svc.insert("devices".into(), Value::Array(out));
    Ok(())
}
