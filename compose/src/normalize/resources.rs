//! Top-level networks, volumes, secrets and configs: names, defaults, and dropping the unused ones as Compose does.

use super::{label_mapping, Context};
use crate::error::Result;
use serde_json::{json, Map, Value};
use std::collections::HashSet;

/// Names of resources the services refer to.
#[derive(Default)]
pub struct Used {
    networks: HashSet<String>,
    volumes: HashSet<String>,
    secrets: HashSet<String>,
    configs: HashSet<String>,
}

impl Used {
    /// Counts every resource `doc` declares as used (`--all-resources`).
    pub fn add_declared(&mut self, doc: &Map<String, Value>) {
        let names = |key: &str| -> Vec<String> {
            doc.get(key)
                .and_then(Value::as_object)
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default()
        };
        self.networks.extend(names("networks"));
        self.volumes.extend(names("volumes"));
        self.secrets.extend(names("secrets"));
        self.configs.extend(names("configs"));
    }
}

/// Collects the resources referenced by the (normalised) services.
pub fn used_by(services: &Map<String, Value>) -> Used {
    let mut u = Used::default();
    for svc in services.values() {
        if let Some(Value::Object(n)) = svc.get("networks") {
            u.networks.extend(n.keys().cloned());
        }
        if let Some(Value::Array(vols)) = svc.get("volumes") {
            for v in vols {
                if v.get("type").and_then(Value::as_str) == Some("volume") {
                    if let Some(s) = v.get("source").and_then(Value::as_str) {
                        u.volumes.insert(s.to_owned());
                    }
                }
            }
        }
        let sources = |v: Option<&Value>| -> Vec<String> {
            v.and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|r| r.get("source").and_then(Value::as_str).map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        u.secrets.extend(sources(svc.get("secrets")));
        u.secrets
            .extend(sources(svc.get("build").and_then(|b| b.get("secrets"))));
        u.configs.extend(sources(svc.get("configs")));
    }
    u
}

/// Normalises and filters the four top-level resource maps of `doc`.
pub fn normalize_resources(doc: &mut Map<String, Value>, used: &Used, ctx: &Context) -> Result<()> {
    let mut nets = take_map(doc, "networks");
    if used.networks.contains("default") && !nets.contains_key("default") {
        nets.insert("default".into(), json!({}));
    }
    put(
        doc,
        "networks",
        filter_normalize(nets, &used.networks, ctx, "networks")?,
    );
    let vols = take_map(doc, "volumes");
    put(doc, "volumes", filter_normalize(vols, &used.volumes, ctx, "volumes")?);
    let secrets = take_map(doc, "secrets");
    put(
        doc,
        "secrets",
        filter_normalize(secrets, &used.secrets, ctx, "secrets")?,
    );
    let configs = take_map(doc, "configs");
    put(
        doc,
        "configs",
        filter_normalize(configs, &used.configs, ctx, "configs")?,
    );
    Ok(())
}

fn take_map(doc: &mut Map<String, Value>, key: &str) -> Map<String, Value> {
    match doc.shift_remove(key) {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

fn put(doc: &mut Map<String, Value>, key: &str, m: Map<String, Value>) {
    if !m.is_empty() {
        doc.insert(key.into(), Value::Object(m));
    }
}

fn filter_normalize(
    m: Map<String, Value>,
    used: &HashSet<String>,
    ctx: &Context,
    kind: &str,
) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    for (name, v) in m {
        if !used.contains(&name) {
            continue;
        }
        let mut r = match v {
            Value::Object(o) => o,
            _ => Map::new(),
        };
        let external = r
            .get("external")
            // The legacy mapping form (`external: {name: x}`, even `{}`) means external: true.
            .is_some_and(|e| e == &Value::Bool(true) || e.is_object());
        if let Some(Value::Object(e)) = r.get("external").cloned() {
            if let Some(n) = e.get("name") {
                r.insert("name".into(), n.clone());
            }
            r.insert("external".into(), json!(true));
        }
        if !r.contains_key("name") {
            let n = if external {
                name.clone()
            } else {
                format!("{}_{name}", ctx.project_name)
            };
            r.insert("name".into(), json!(n));
        }
        if r.get("external") == Some(&Value::Bool(false)) {
            r.shift_remove("external");
        }
        if let Some(l) = r.get("labels") {
            let lm = label_mapping(l, &format!("{kind}.{name}.labels"))?;
            r.insert("labels".into(), Value::Object(lm));
        }
        if let Some(o) = r.get("driver_opts") {
            let om = label_mapping(o, &format!("{kind}.{name}.driver_opts"))?;
            r.insert("driver_opts".into(), Value::Object(om));
        }
        for flag in ["attachable", "internal"] {
            if kind == "networks" && r.get(flag) == Some(&Value::Bool(false)) {
                r.shift_remove(flag);
            }
        }
        if kind == "networks" {
            r.entry("ipam").or_insert(json!({}));
        }
        out.insert(name, Value::Object(r));
    }
    Ok(out)
}
