//! Merging one Compose document over another by the Compose rules: mappings merge, keyed sequences
//! (ports, volumes, secrets, configs) merge by key, mapping-like lists (environment, labels) merge as mappings,
//! commands replace, scalars replace; `!reset` removes and `!override` replaces.

use crate::normalize::volumes::parse_short_volume;
use crate::yaml::{tag_of, RESET_MARK};
use serde_json::{Map, Value};

/// How a key path merges.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Rule {
    Replace,
    AsMapping,
    ListToMapping,
    DependsOn,
    ByTarget,
    BySource,
    Ports,
    Ulimit,
    Logging,
    Build,
    Generic,
}

fn rule_for(path: &[&str]) -> Rule {
    let p: Vec<&str> = path.to_vec();
    match p.as_slice() {
        ["services", _, "command" | "entrypoint"] => Rule::Replace,
        ["services", _, "healthcheck", "test"] => Rule::Replace,
        ["secrets" | "configs", _, "file"] => Rule::Replace,
        ["services", _, "environment" | "labels" | "sysctls" | "annotations" | "extra_hosts"] => Rule::AsMapping,
        ["services", _, "build", "args" | "labels" | "additional_contexts" | "extra_hosts"] => Rule::AsMapping,
        ["services", _, "deploy", "labels"] => Rule::AsMapping,
        ["networks" | "volumes", _, "labels"] => Rule::AsMapping,
        ["services", _, "networks"] => Rule::ListToMapping,
        ["services", _, "depends_on"] => Rule::DependsOn,
        ["services", _, "volumes"] => Rule::ByTarget,
        ["services", _, "secrets" | "configs"] => Rule::BySource,
        ["services", _, "ports"] => Rule::Ports,
        ["services", _, "ulimits", _] => Rule::Ulimit,
        ["services", _, "logging"] => Rule::Logging,
        ["services", _, "build"] => Rule::Build,
        _ => Rule::Generic,
    }
}

/// Merges `over` into `base` (both whole documents or sub-trees at `path`).
pub fn merge(base: &mut Value, over: Value, path: &mut Vec<String>) {
    if let Some((tag, inner)) = tag_of(&over) {
        *base = if tag == RESET_MARK { Value::Null } else { inner.clone() };
        return;
    }
    let segs: Vec<&str> = path.iter().map(String::as_str).collect();
    let rule = rule_for(&segs);
    match rule {
        Rule::Replace => *base = over,
        Rule::AsMapping => merge_mappings(base, to_mapping(&over, '='), to_mapping(base, '='), path),
        Rule::ListToMapping => merge_mappings(base, list_to_map(&over), list_to_map(base), path),
        Rule::DependsOn => merge_mappings(base, depends_map(&over), depends_map(base), path),
        Rule::ByTarget => merge_keyed(base, over, volume_key),
        Rule::BySource => merge_keyed(base, over, source_key),
        Rule::Ports => append_unique(base, over),
        Rule::Ulimit => merge_ulimit(base, over, path),
        Rule::Logging => merge_logging(base, over, path),
        Rule::Build => merge_mappings(base, build_map(&over), build_map(base), path),
        Rule::Generic => merge_generic(base, over, path),
    }
}

fn merge_generic(base: &mut Value, over: Value, path: &mut Vec<String>) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => merge_objects(b, o, path),
        (b @ Value::Array(_), Value::Array(o)) => append_unique(b, Value::Array(o)),
        (b, o) => *b = o,
    }
}

fn merge_objects(b: &mut Map<String, Value>, o: Map<String, Value>, path: &mut Vec<String>) {
    for (k, v) in o {
        if matches!(tag_of(&v), Some((RESET_MARK, _))) {
            b.shift_remove(&k);
            continue;
        }
        path.push(k.clone());
        match b.get_mut(&k) {
            Some(existing) if !existing.is_null() => merge(existing, v, path),
            _ => {
                b.insert(k, v);
            }
        }
        path.pop();
    }
}

fn merge_mappings(base: &mut Value, over: Option<Value>, base_map: Option<Value>, path: &mut Vec<String>) {
    match (base_map, over) {
        (Some(Value::Object(mut b)), Some(Value::Object(o))) => {
            for (k, v) in o {
                path.push(k.clone());
                match b.get_mut(&k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v, path),
                    _ => {
                        b.insert(k, v);
                    }
                }
                path.pop();
            }
            *base = Value::Object(b);
        }
        (_, Some(o)) => *base = o,
        (_, None) => {}
    }
}

/// `["K=V", "K"]` or a mapping → a mapping (`K: null` for a bare key).
pub fn to_mapping(v: &Value, sep: char) -> Option<Value> {
    match v {
        Value::Object(_) => Some(v.clone()),
        Value::Array(items) => {
            let mut m = Map::new();
            for i in items {
                let s = match i {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                match s.split_once(sep) {
                    Some((k, val)) => m.insert(k.to_owned(), Value::String(val.to_owned())),
                    None => m.insert(s, Value::Null),
                };
            }
            Some(Value::Object(m))
        }
        Value::Null => Some(Value::Object(Map::new())),
        _ => None,
    }
}

fn list_to_map(v: &Value) -> Option<Value> {
    match v {
        Value::Array(items) => Some(Value::Object(
            items
                .iter()
                .filter_map(|i| i.as_str().map(|s| (s.to_owned(), Value::Null)))
                .collect(),
        )),
        Value::Null => Some(Value::Object(Map::new())),
        other => Some(other.clone()),
    }
}

fn depends_map(v: &Value) -> Option<Value> {
    match v {
        Value::Array(items) => Some(Value::Object(
            items
                .iter()
                .filter_map(|i| i.as_str())
                .map(|s| {
                    let mut d = Map::new();
                    d.insert("condition".into(), Value::String("service_started".into()));
                    (s.to_owned(), Value::Object(d))
                })
                .collect(),
        )),
        other => Some(other.clone()),
    }
}

fn build_map(v: &Value) -> Option<Value> {
    match v {
        Value::String(s) => {
            let mut m = Map::new();
            m.insert("context".into(), Value::String(s.clone()));
            Some(Value::Object(m))
        }
        other => Some(other.clone()),
    }
}

fn volume_key(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => parse_short_volume(s).ok().map(|m| m.target),
        Value::Object(m) => m.get("target").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

fn source_key(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(m) => m.get("source").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

/// Entries of `over` replace entries of `base` with the same key in place; new ones are appended.
fn merge_keyed(base: &mut Value, over: Value, key: fn(&Value) -> Option<String>) {
    let Value::Array(o) = over else {
        *base = over;
        return;
    };
    let Value::Array(b) = base else {
        *base = Value::Array(o);
        return;
    };
    for item in o {
        let k = key(&item);
        match k.and_then(|k| b.iter().position(|x| key(x).as_deref() == Some(k.as_str()))) {
            Some(i) => b[i] = item,
            None => b.push(item),
        }
    }
}

fn append_unique(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Array(b), Value::Array(o)) => {
            for item in o {
                if !b.contains(&item) {
                    b.push(item);
                }
            }
        }
        (b, o) => *b = o,
    }
}

fn merge_ulimit(base: &mut Value, over: Value, path: &mut Vec<String>) {
    if base.is_object() && over.is_object() {
        merge_generic(base, over, path);
    } else {
        *base = over;
    }
}

fn merge_logging(base: &mut Value, over: Value, path: &mut Vec<String>) {
    let driver = |v: &Value| v.get("driver").and_then(Value::as_str).map(str::to_owned);
    let (bd, od) = (driver(base), driver(&over));
    if bd.is_some() && od.is_some() && bd != od {
        *base = over;
    } else {
        merge_generic(base, over, path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn m(mut a: Value, b: Value) -> Value {
        merge(&mut a, b, &mut Vec::new());
        a
    }

    #[test]
    fn services_merge_by_rules() {
        let base = json!({"services": {"api": {"image": "a:1", "command": "serve",
            "volumes": ["./data:/data", "cache:/cache"], "environment": ["A=1", "B=2"], "ports": ["80:80"]}}});
        let over = json!({"services": {"api": {"image": "a:2", "command": ["serve", "--prod"],
            "volumes": ["./prod:/data"], "environment": {"B": "x", "C": "3"}, "ports": ["443:443"]}}});
        let r = m(base, over);
        let api = &r["services"]["api"];
        assert_eq!(api["image"], "a:2");
        assert_eq!(api["command"], json!(["serve", "--prod"]));
        assert_eq!(api["volumes"], json!(["./prod:/data", "cache:/cache"]));
        assert_eq!(api["environment"], json!({"A": "1", "B": "x", "C": "3"}));
        assert_eq!(api["ports"], json!(["80:80", "443:443"]));
    }

    #[test]
    fn reset_and_override_tags() {
        let base = json!({"services": {"a": {"ports": ["80:80"], "environment": {"A": "a"}}}});
        let over = json!({"services": {"a": {"ports": {RESET_MARK: []},
            "environment": {crate::yaml::OVERRIDE_MARK: {"B": "b"}}}}});
        let r = m(base, over);
        assert!(r["services"]["a"].get("ports").is_none());
        assert_eq!(r["services"]["a"]["environment"], json!({"B": "b"}));
    }

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<i64>().prop_map(Value::from),
            "[a-z]{0,5}".prop_map(Value::from),
            Just(Value::Null)
        ]
    }

    fn tree() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-c]", inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn merging_with_itself_is_idempotent_for_mappings(t in prop::collection::btree_map("[a-c]", leaf(), 0..5)) {
            let v = Value::Object(t.into_iter().collect());
            prop_assert_eq!(m(v.clone(), v.clone()), v);
        }

        #[test]
        fn merging_empty_changes_nothing(t in tree()) {
            prop_assert_eq!(m(t.clone(), json!({})), if t.is_object() { t.clone() } else { json!({}) });
        }

        #[test]
        fn override_scalars_win(k in "[a-c]", a in leaf(), b in any::<i64>()) {
            let r = m(json!({k.clone(): a}), json!({k.clone(): b}));
            prop_assert_eq!(&r[&k], &json!(b));
        }
    }
}
