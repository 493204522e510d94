//! Empty and zero values left out, as Docker Compose's encoders leave them out: every list- or mapping-typed
//! field of its model is `omitempty` (`build.args: {}`, `ipam.config: []`, `deploy.labels: {}` are not printed),
//! and so are its plain strings, numbers and booleans (`restart_policy.condition: ""`, `ports[].name: ""`,
//! `healthcheck.disable: false`, `ulimits.x.hard: 0`). What stays:
//! - structures (`blkio_config: {}`, `healthcheck: {}`, `ipam: {}`): Go prints a present structure even when
//!   all its fields are left out;
//! - commands (`command`, `entrypoint`, a hook's `command`): `[]` clears the image's command, so Compose's model
//!   prints it;
//! - the fields Compose holds as pointers or without `omitempty` ([`KEEP`]): `deploy.replicas: 0` is not the
//!   same as no `replicas`.
//!
//! Which fields are lists or mappings and which are structures is read from the schema (a structure's schema has
//! `properties`), so every field of every level follows the one rule. Only fields of structures are left out:
//! entries of a mapping are printed whatever their value, as Go prints map entries. A service's own scalar fields
//! keep their explicit list ([`super::casts::omit_zeros`]), run before validation.

use crate::extensions::{branch, child, resolve};
use crate::validate::schema::schema;
use serde_json::Value;

const COMMAND: &str = "#/$defs/command";

fn is_empty_collection(v: &Value) -> bool {
    match v {
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

/// Whether property value `v` of schema `s` is an empty list or mapping, or a null, that Compose leaves out (a
/// null structure is a nil pointer to it).
fn omitted(v: &Value, s: &Value) -> bool {
    if s.get("$ref").and_then(Value::as_str) == Some(COMMAND) {
        return false;
    }
    v.is_null() || is_empty_collection(v) && branch(v, resolve(s)).get("properties").is_none()
}

/// Zero-valued fields Compose prints, by the collection or structure that holds them (`services` for a service's
/// own fields, `secrets` for a service's secret references, `networks` for a network...).
const KEEP: [(&str, &str); 23] = [
    ("services", "init"),
    ("services", "attach"),
    ("services", "scale"),
    ("deploy", "replicas"),
    ("update_config", "parallelism"),
    ("rollback_config", "parallelism"),
    ("restart_policy", "delay"),
    ("restart_policy", "max_attempts"),
    ("restart_policy", "window"),
    ("healthcheck", "retries"),
    ("healthcheck", "timeout"),
    ("healthcheck", "interval"),
    ("healthcheck", "start_period"),
    ("healthcheck", "start_interval"),
    ("depends_on", "required"),
    ("secrets", "mode"),
    ("configs", "mode"),
    ("networks", "enable_ipv4"),
    ("networks", "enable_ipv6"),
    ("watch", "path"),
    ("watch", "action"),
    ("discrete_resource_spec", "kind"),
    ("discrete_resource_spec", "value"),
];

/// Durations (normalised to Go's text) and byte sizes (normalised to a count of bytes, as text), whose zero is
/// text; the other zero texts (`user: "0"`) are real values.
const ZERO_TEXT: [(&str, &str); 5] = [
    ("delay", "0s"),
    ("monitor", "0s"),
    ("memory", "0"),
    ("size", "0"),
    ("shm_size", "0"),
];

/// Whether field `k` of the structure held by `holder` is a zero scalar Compose leaves out.
fn zero(holder: &str, k: &str, v: &Value) -> bool {
    if holder == "services" || KEEP.contains(&(holder, k)) {
        return false;
    }
    match v {
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty() || ZERO_TEXT.contains(&(k, s.as_str())),
        _ => false,
    }
}

/// Walks `v` (of schema `s`), which sits in the collection or structure field `holder`.
fn walk(v: &mut Value, s: &Value, holder: &str) {
    let s = branch(v, resolve(s));
    match v {
        Value::Object(m) => {
            let props = s.get("properties");
            m.retain(|k, x| match props.and_then(|p| p.get(k)) {
                Some(ps) => {
                    walk(x, ps, k);
                    // The project always prints `services`.
                    (holder.is_empty() && k == "services") || !(omitted(x, ps) || zero(holder, k, x))
                }
                None => {
                    if let Some(cs) = child(s, k) {
                        walk(x, cs, holder);
                    }
                    true
                }
            });
        }
        Value::Array(a) => {
            if let Some(items) = s.get("items") {
                a.iter_mut().for_each(|x| walk(x, items, holder));
            }
        }
        _ => {}
    }
}

/// Leaves out the empty and zero values of a normalised document (see the module documentation).
pub fn omit_empty(doc: &mut Value) {
    walk(doc, schema(), "");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_and_mappings_go_structures_and_commands_stay() {
        let mut d = json!({"services": {"s": {
            "command": [], "entrypoint": [], "dns": [], "environment": {},
            "build": {"context": ".", "args": {}, "tags": []},
            "blkio_config": {"weight_device": []}, "healthcheck": {"test": []},
            "post_start": [{"command": []}],
            "deploy": {"labels": {}, "placement": {"constraints": []}},
            "ulimits": {"nofile": {"soft": 1, "hard": 2}},
            "x-keep": {"a": []}}},
            "networks": {"n": {"ipam": {"config": []}, "labels": {}}},
            "x-top": {"empty": []}});
        omit_empty(&mut d);
        let mut none = json!({"services": {}, "volumes": {}});
        omit_empty(&mut none);
        assert_eq!(none, json!({"services": {}}));
        assert_eq!(
            d,
            json!({"services": {"s": {
                "command": [], "entrypoint": [],
                "build": {"context": "."},
                "blkio_config": {}, "healthcheck": {},
                "post_start": [{"command": []}],
                "deploy": {"placement": {}},
                "ulimits": {"nofile": {"soft": 1, "hard": 2}},
                "x-keep": {"a": []}}},
                "networks": {"n": {"ipam": {}}},
                "x-top": {"empty": []}})
        );
    }
}
