//! `x-` extensions: Compose keeps them at the top level but does not print them inside services or resources
//! (they live in an `Extensions` field its JSON output leaves out). Where they may appear is read from the schema.

use crate::validate::schema::schema;
use serde_json::{Map, Value};

const MARK: &str = "^x-";

/// `s` with its `$ref`s followed.
pub(crate) fn resolve(s: &Value) -> &Value {
    let mut s = s;
    for _ in 0..16 {
        match s.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix('#')) {
            Some(p) => s = schema().pointer(p).unwrap_or(&Value::Null),
            None => break,
        }
    }
    s
}

fn type_fits(v: &Value, s: &Value) -> bool {
    let want = match v {
        Value::Object(_) => "object",
        Value::Array(_) => "array",
        _ => return !matches!(s.get("type").and_then(Value::as_str), Some("object" | "array")),
    };
    match s.get("type") {
        Some(Value::String(t)) => t == want,
        Some(Value::Array(ts)) => ts.iter().any(|t| t == want),
        None => s.get(if want == "object" { "properties" } else { "items" }).is_some(),
        _ => false,
    }
}

/// The branch of a `oneOf`/`anyOf` schema that has the shape of `v`.
pub(crate) fn branch<'s>(v: &Value, s: &'s Value) -> &'s Value {
    for key in ["oneOf", "anyOf"] {
        if let Some(Value::Array(bs)) = s.get(key) {
            return bs.iter().map(resolve).find(|b| type_fits(v, b)).unwrap_or(s);
        }
    }
    s
}

/// The schema of `key` inside an object of schema `s` (a property, or a pattern entry other than `x-`).
pub(crate) fn child<'s>(s: &'s Value, key: &str) -> Option<&'s Value> {
    if let Some(p) = s.get("properties").and_then(|p| p.get(key)) {
        return Some(p);
    }
    if let Some(Value::Object(pp)) = s.get("patternProperties") {
        if let Some((_, ps)) = pp.iter().find(|(pat, _)| pat.as_str() != MARK) {
            return Some(ps);
        }
    }
    s.get("additionalProperties").filter(|a| a.is_object())
}

fn strip(v: &mut Value, s: &Value) {
    let s = branch(v, resolve(s));
    match v {
        Value::Object(m) => {
            if s.get("patternProperties").and_then(|p| p.get(MARK)).is_some() {
                m.retain(|k, _| !k.starts_with("x-"));
            }
            for (k, x) in m.iter_mut() {
                if let Some(cs) = child(s, k) {
                    strip(x, cs);
                }
            }
        }
        Value::Array(a) => {
            if let Some(items) = s.get("items") {
                a.iter_mut().for_each(|x| strip(x, items));
            }
        }
        _ => {}
    }
}

/// Removes the `x-` keys below the top level of a (normalised) document, where the schema allows them.
pub fn strip_nested(doc: &mut Map<String, Value>) {
    let root = schema();
    for (k, v) in doc.iter_mut().filter(|(k, _)| !k.starts_with("x-")) {
        if let Some(s) = root.get("properties").and_then(|p| p.get(k)) {
            strip(v, s);
        }
    }
}
