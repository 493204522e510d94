//! Empty lists and mappings left out, as Docker Compose's encoders leave them out: every list- or mapping-typed
//! field of its model is `omitempty` (`build.args: {}`, `ipam.config: []`, `deploy.labels: {}` are not printed).
//! Two kinds of empty value stay:
//! - structures (`blkio_config: {}`, `healthcheck: {}`, `ipam: {}`): Go prints a present structure even when
//!   all its fields are left out;
//! - commands (`command`, `entrypoint`, a hook's `command`): `[]` clears the image's command, so Compose's model
//!   prints it.
//!
//! Which fields are lists or mappings and which are structures is read from the schema (a structure's schema has
//! `properties`), so every field of every level follows the one rule. Only fields of structures are left out:
//! entries of a mapping are printed whatever their value, as Go prints map entries.

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

/// Whether property value `v` of schema `s` is an empty list or mapping Compose leaves out.
fn omitted(v: &Value, s: &Value) -> bool {
    if !is_empty_collection(v) || s.get("$ref").and_then(Value::as_str) == Some(COMMAND) {
        return false;
    }
    branch(v, resolve(s)).get("properties").is_none()
}

/// `keep`: properties printed even when empty (the project's `services`, which Compose always prints).
fn walk(v: &mut Value, s: &Value, keep: &[&str]) {
    let s = branch(v, resolve(s));
    match v {
        Value::Object(m) => {
            let props = s.get("properties");
            m.retain(|k, x| match props.and_then(|p| p.get(k)) {
                Some(ps) => {
                    walk(x, ps, &[]);
                    keep.contains(&k.as_str()) || !omitted(x, ps)
                }
                None => {
                    if let Some(cs) = child(s, k) {
                        walk(x, cs, &[]);
                    }
                    true
                }
            });
        }
        Value::Array(a) => {
            if let Some(items) = s.get("items") {
                a.iter_mut().for_each(|x| walk(x, items, &[]));
            }
        }
        _ => {}
    }
}

/// Leaves out the empty lists and mappings of a normalised document (see the module documentation).
pub fn omit_empty(doc: &mut Value) {
    walk(doc, schema(), &["services"]);
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
