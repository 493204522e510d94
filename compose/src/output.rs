//! Canonical output as `docker compose config` prints it (JSON or YAML), and per-service config hashes.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Output format of `config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// YAML (the default).
    Yaml,
    /// Indented JSON.
    Json,
}

const TOP_ORDER: [&str; 8] = [
    "name", "services", "networks", "volumes", "secrets", "configs", "models", "include",
];

/// Keys sorted (Compose marshals Go maps sorted), top-level in Compose's order.
pub fn canonical_order(doc: &Value) -> Value {
    let Value::Object(m) = doc else {
        return sorted(doc);
    };
    let mut out = Map::new();
    for k in TOP_ORDER {
        if let Some(v) = m.get(k) {
            out.insert(k.to_owned(), sorted(v));
        }
    }
    let mut rest: Vec<(&String, &Value)> = m.iter().filter(|(k, _)| !TOP_ORDER.contains(&k.as_str())).collect();
    rest.sort_by(|a, b| a.0.cmp(b.0));
    for (k, v) in rest {
        out.insert(k.clone(), sorted(v));
    }
    Value::Object(out)
}

fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(keys.into_iter().map(|k| (k.clone(), sorted(&m[k]))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// The document as `config` prints it in `format`, keys in Compose's order. Compose's JSON leaves out what
/// its YAML shows: top-level `models` and `x-` extensions below the top level. Neither prints a network's
/// `ipam.options` (Compose's model has no such field; berth keeps them in the model and passes them on).
/// `mem_swappiness` prints as text: Compose's model holds it in its byte-size type.
pub fn printable(doc: &Value, format: Format) -> Value {
    let mut d = doc.clone();
    if let Some(Value::Object(services)) = d.get_mut("services") {
        for s in services.values_mut().filter_map(Value::as_object_mut) {
            if let Some(n @ Value::Number(_)) = s.get_mut("mem_swappiness") {
                *n = Value::String(n.to_string());
            }
        }
    }
    if let Some(Value::Object(nets)) = d.get_mut("networks") {
        for ipam in nets
            .values_mut()
            .filter_map(|n| n.get_mut("ipam"))
            .filter_map(Value::as_object_mut)
        {
            ipam.shift_remove("options");
        }
    }
    if format == Format::Yaml {
        yaml_omissions(&mut d);
        return struct_order(canonical_order(&d));
    }
    if let Value::Object(m) = &mut d {
        m.shift_remove("models");
        crate::extensions::strip_nested(m);
    }
    struct_order(canonical_order(&d))
}

/// Compose prints a port and a volume mount in its model's field order, not sorted.
const PORT_ORDER: [&str; 7] = [
    "name",
    "mode",
    "host_ip",
    "target",
    "published",
    "protocol",
    "app_protocol",
];
const MOUNT_ORDER: [&str; 9] = [
    "type",
    "source",
    "target",
    "read_only",
    "consistency",
    "bind",
    "volume",
    "tmpfs",
    "image",
];
const BIND_ORDER: [&str; 4] = ["selinux", "propagation", "create_host_path", "recursive"];

fn struct_order(mut d: Value) -> Value {
    let services = d.get_mut("services").and_then(Value::as_object_mut);
    for s in services.into_iter().flat_map(|m| m.values_mut()) {
        for (key, order) in [("ports", &PORT_ORDER[..]), ("volumes", &MOUNT_ORDER[..])] {
            let items = s.get_mut(key).and_then(Value::as_array_mut);
            for item in items.into_iter().flatten().filter_map(Value::as_object_mut) {
                reorder(item, order);
                if let Some(Value::Object(b)) = item.get_mut("bind") {
                    reorder(b, &BIND_ORDER);
                }
            }
        }
    }
    d
}

/// Puts the keys named in `order` first, in that order; the others keep their place after them.
fn reorder(m: &mut Map<String, Value>, order: &[&str]) {
    let mut out = Map::new();
    for k in order {
        if let Some(v) = m.shift_remove(*k) {
            out.insert((*k).to_owned(), v);
        }
    }
    out.extend(std::mem::take(m));
    *m = out;
}

/// What Compose's YAML leaves out where its JSON prints it: a null `command`/`entrypoint` (also of a watch
/// rule's `exec`, which goes when nothing is left), an empty `ipam`, and empty `deploy.placement`/`resources`;
/// and the lower-case keys of its YAML weight devices.
fn yaml_omissions(d: &mut Value) {
    let is_empty = |v: Option<&Value>| v.and_then(Value::as_object).is_some_and(Map::is_empty);
    if let Some(Value::Object(nets)) = d.get_mut("networks") {
        for n in nets.values_mut().filter_map(Value::as_object_mut) {
            if is_empty(n.get("ipam")) {
                n.shift_remove("ipam");
            }
        }
    }
    let Some(Value::Object(services)) = d.get_mut("services") else {
        return;
    };
    let drop_null_commands = |m: &mut Map<String, Value>| {
        m.retain(|k, v| !(matches!(k.as_str(), "command" | "entrypoint") && v.is_null()));
    };
    for s in services.values_mut().filter_map(Value::as_object_mut) {
        drop_null_commands(s);
        // Compose's weight devices have capitalised JSON keys and lower-case YAML ones.
        let weights = s
            .get_mut("blkio_config")
            .and_then(|b| b.get_mut("weight_device"))
            .and_then(Value::as_array_mut);
        for w in weights.into_iter().flatten().filter_map(Value::as_object_mut) {
            for (from, to) in [("Path", "path"), ("Weight", "weight")] {
                if let Some(v) = w.shift_remove(from) {
                    w.insert(to.into(), v);
                }
            }
        }
        if let Some(Value::Object(dep)) = s.get_mut("deploy") {
            for key in ["placement", "resources"] {
                if is_empty(dep.get(key)) {
                    dep.shift_remove(key);
                }
            }
        }
        let watch = s
            .get_mut("develop")
            .and_then(|dv| dv.get_mut("watch"))
            .and_then(Value::as_array_mut);
        for rule in watch.into_iter().flatten().filter_map(Value::as_object_mut) {
            if let Some(Value::Object(exec)) = rule.get_mut("exec") {
                drop_null_commands(exec);
            }
            if is_empty(rule.get("exec")) {
                rule.shift_remove("exec");
            }
        }
    }
}

/// Escapes `$` as `$$` in every string, so the output can be loaded again without re-interpolation.
pub fn escape_dollars(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(s.replace('$', "$$")),
        Value::Array(a) => Value::Array(a.iter().map(escape_dollars).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, x)| (k.clone(), escape_dollars(x))).collect()),
        other => other.clone(),
    }
}

/// Renders a document in `format`.
pub fn render(doc: &Value, format: Format) -> Result<String, String> {
    match format {
        Format::Json => serde_json::to_string_pretty(doc)
            .map(|s| s + "\n")
            .map_err(|e| e.to_string()),
        Format::Yaml => Ok(crate::emit::to_yaml(doc)),
    }
}

/// Fields that do not change the running container, left out of the hash.
const HASH_IGNORED: [&str; 5] = ["build", "pull_policy", "scale", "profiles", "develop"];

/// A stable digest of a canonical service, used to decide whether its containers must be recreated.
pub fn config_hash(service: &Value) -> String {
    let mut s = sorted(service);
    if let Value::Object(m) = &mut s {
        for k in HASH_IGNORED {
            m.shift_remove(k);
        }
        if let Some(Value::Object(d)) = m.get_mut("deploy") {
            d.shift_remove("replicas");
        }
    }
    let bytes = serde_json::to_vec(&s).unwrap_or_default();
    hex::encode(Sha256::digest(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ports_and_mounts_in_composes_field_order() {
        let d = json!({"services": {"a": {
            "ports": [{"protocol": "tcp", "published": "80", "target": 80, "mode": "ingress"}],
            "volumes": [{"volume": {}, "target": "/d", "source": "v", "type": "volume"}],
        }}});
        let p = printable(&d, Format::Yaml);
        let keys =
            |v: &Value| -> Vec<String> { v.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default() };
        assert_eq!(
            keys(&p["services"]["a"]["ports"][0]),
            ["mode", "target", "published", "protocol"]
        );
        assert_eq!(
            keys(&p["services"]["a"]["volumes"][0]),
            ["type", "source", "target", "volume"]
        );
    }

    #[test]
    fn order_and_escape() {
        let d = json!({"x-a": 1, "services": {"b": {}, "a": {"image": "i$x"}}, "name": "p"});
        let o = canonical_order(&escape_dollars(&d));
        let keys: Vec<&String> = o.as_object().map(|m| m.keys().collect()).unwrap_or_default();
        assert_eq!(keys, vec!["name", "services", "x-a"]);
        assert_eq!(o["services"]["a"]["image"], "i$$x");
    }

    #[test]
    fn hash_ignores_replicas_and_build() {
        let a = json!({"image": "x", "deploy": {"replicas": 1}, "build": {"context": "/a"}});
        let b = json!({"image": "x", "deploy": {"replicas": 3}});
        assert_eq!(config_hash(&a), config_hash(&b));
        assert_ne!(config_hash(&a), config_hash(&json!({"image": "y"})));
    }
}
