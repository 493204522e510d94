//! Validation against the Compose JSON schema (embedded copy), with key paths, positions and "did you mean".

use crate::error::{ErrorKind, LoadError};
use crate::positions::{join_index, join_key, FilePositions};
use crate::yaml::{tag_of, RESET_MARK};
use regex::Regex;
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::OnceLock;

const SCHEMA_TEXT: &str = include_str!("../../schema/compose-spec.json");

/// The embedded Compose JSON schema.
pub fn schema() -> &'static Value {
    static S: OnceLock<Value> = OnceLock::new();
    S.get_or_init(|| serde_json::from_str(SCHEMA_TEXT).unwrap_or(Value::Bool(true)))
}

/// One schema violation.
#[derive(Debug, Clone)]
struct Failure {
    path: String,
    message: String,
}

/// Validates a whole Compose document; the error names the position from `pos`.
pub fn validate_document(doc: &Value, pos: &FilePositions) -> Result<(), LoadError> {
    let v = Validator {
        root: schema(),
        regexes: RefCell::new(HashMap::new()),
    };
    match v.check(doc, v.root, "") {
        None => Ok(()),
        Some(f) => Err(LoadError::new(ErrorKind::Schema, f.message)
            .at(pos.nearest(&f.path))
            .at_path(f.path)),
    }
}

struct Validator<'s> {
    root: &'s Value,
    regexes: RefCell<HashMap<String, Option<Regex>>>,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_matches(v: &Value, t: &str) -> bool {
    let actual = type_name(v);
    actual == t || (t == "number" && actual == "integer")
}

fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("the string {s:?}"),
        Value::Object(_) => "a mapping".into(),
        Value::Array(_) => "a list".into(),
        Value::Null => "an empty value".into(),
        other => format!("{} {other}", type_name(other)),
    }
}

fn article(t: &str) -> String {
    match t {
        "object" => "a mapping".into(),
        "array" => "a list".into(),
        "integer" => "an integer".into(),
        other => format!("a {other}"),
    }
}

impl<'s> Validator<'s> {
    fn resolve(&self, r: &str) -> Option<&'s Value> {
        let p = r.strip_prefix('#')?;
        self.root.pointer(p)
    }

    fn matches(&self, pattern: &str, s: &str) -> bool {
        let mut cache = self.regexes.borrow_mut();
        let re = cache
            .entry(pattern.to_owned())
            .or_insert_with(|| Regex::new(pattern).ok());
        re.as_ref().is_none_or(|r| r.is_match(s))
    }

    /// First failure of `v` against `s` at `path`, if any.
    fn check(&self, v: &Value, s: &'s Value, path: &str) -> Option<Failure> {
        if let Some((tag, inner)) = tag_of(v) {
            return if tag == RESET_MARK {
                None
            } else {
                self.check(inner, s, path)
            };
        }
        let Value::Object(s) = s else {
            return None;
        };
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            let target = self.resolve(r)?;
            if let Some(f) = self.check(v, target, path) {
                return Some(f);
            }
        }
        if let Some(f) = self.check_type(v, s, path) {
            return Some(f);
        }
        if let Some(e) = s.get("enum").and_then(Value::as_array) {
            if !e.contains(v) {
                let allowed: Vec<String> = e.iter().map(|x| x.to_string()).collect();
                return Some(Failure {
                    path: path.into(),
                    message: format!("must be one of {}, got {}", allowed.join(", "), describe(v)),
                });
            }
        }
        if let Some(p) = s.get("pattern").and_then(Value::as_str) {
            if let Value::String(st) = v {
                if !self.matches(p, st) {
                    return Some(Failure {
                        path: path.into(),
                        message: format!("{st:?} does not match the pattern {p:?}"),
                    });
                }
            }
        }
        if let Some(f) = self.check_number(v, s, path) {
            return Some(f);
        }
        if let Some(f) = self.check_combinators(v, s, path) {
            return Some(f);
        }
        match v {
            Value::Object(m) => self.check_object(m, s, path),
            Value::Array(a) => self.check_array(a, s, path),
            _ => None,
        }
    }

    fn check_type(&self, v: &Value, s: &Map<String, Value>, path: &str) -> Option<Failure> {
        let types: Vec<&str> = match s.get("type")? {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => return None,
        };
        if types.iter().any(|t| type_matches(v, t)) {
            return None;
        }
        let want: Vec<String> = types.iter().map(|t| article(t)).collect();
        let message = if v.is_object() && path.starts_with("services.") && path.matches('.').count() == 1 {
            "must be a mapping".to_owned()
        } else {
            format!("expected {}, got {}", want.join(" or "), describe(v))
        };
        Some(Failure {
            path: path.into(),
            message,
        })
    }

    fn check_number(&self, v: &Value, s: &Map<String, Value>, path: &str) -> Option<Failure> {
        let n = v.as_f64()?;
        if let Some(min) = s.get("minimum").and_then(Value::as_f64) {
            if n < min {
                return Some(Failure {
                    path: path.into(),
                    message: format!("must be at least {min}, got {n}"),
                });
            }
        }
        if let Some(max) = s.get("maximum").and_then(Value::as_f64) {
            if n > max {
                return Some(Failure {
                    path: path.into(),
                    message: format!("must be at most {max}, got {n}"),
                });
            }
        }
        None
    }

    fn check_combinators(&self, v: &Value, s: &'s Map<String, Value>, path: &str) -> Option<Failure> {
        for key in ["oneOf", "anyOf"] {
            if let Some(Value::Array(branches)) = s.get(key) {
                let mut failures = Vec::new();
                for b in branches {
                    match self.check(v, b, path) {
                        None => {
                            failures.clear();
                            break;
                        }
                        Some(f) => failures.push(f),
                    }
                }
                if !failures.is_empty() {
                    return Some(best_failure(failures, path, v));
                }
            }
        }
        if let Some(Value::Array(all)) = s.get("allOf") {
            for b in all {
                if let Some(f) = self.check(v, b, path) {
                    return Some(f);
                }
            }
        }
        None
    }

    fn check_object(&self, m: &Map<String, Value>, s: &'s Map<String, Value>, path: &str) -> Option<Failure> {
        let props = s.get("properties").and_then(Value::as_object);
        let patterns = s.get("patternProperties").and_then(Value::as_object);
        if let Some(Value::Array(req)) = s.get("required") {
            for r in req.iter().filter_map(Value::as_str) {
                // A `!reset` key is removed from its file before Compose validates it.
                let reset = m.get(r).is_some_and(|x| matches!(tag_of(x), Some((RESET_MARK, _))));
                if !m.contains_key(r) || reset {
                    return Some(Failure {
                        path: path.into(),
                        message: format!("missing required key {r:?}"),
                    });
                }
            }
        }
        for (k, val) in m {
            let p = join_key(path, k);
            let mut known = false;
            if let Some(ps) = props.and_then(|ps| ps.get(k)) {
                known = true;
                if let Some(f) = self.check(val, ps, &p) {
                    return Some(f);
                }
            }
            for (pat, ps) in patterns.into_iter().flatten() {
                if self.matches(pat, k) {
                    known = true;
                    if let Some(f) = self.check(val, ps, &p) {
                        return Some(f);
                    }
                }
            }
            if known {
                continue;
            }
            match s.get("additionalProperties") {
                Some(Value::Bool(false)) => {
                    let suggestion = props.and_then(|ps| suggest(k, ps.keys().map(String::as_str)));
                    let hint = suggestion
                        .map(|x| format!(" (did you mean {x:?}?)"))
                        .unwrap_or_default();
                    let expected = if props.is_some() {
                        ""
                    } else {
                        "; keys must match the allowed name pattern"
                    };
                    return Some(Failure {
                        path: p,
                        message: format!("additional property {k:?} is not allowed{hint}{expected}"),
                    });
                }
                Some(extra @ Value::Object(_)) => {
                    if let Some(f) = self.check(val, extra, &p) {
                        return Some(f);
                    }
                }
                _ => {}
            }
        }
        None
    }

    fn check_array(&self, a: &[Value], s: &'s Map<String, Value>, path: &str) -> Option<Failure> {
        if let Some(items) = s.get("items") {
            for (i, item) in a.iter().enumerate() {
                if let Some(f) = self.check(item, items, &join_index(path, i)) {
                    return Some(f);
                }
            }
        }
        if s.get("uniqueItems") == Some(&Value::Bool(true)) {
            for (i, item) in a.iter().enumerate() {
                if a[..i].contains(item) {
                    return Some(Failure {
                        path: join_index(path, i),
                        message: format!("duplicate item {item} in a list that must hold unique items"),
                    });
                }
            }
        }
        None
    }
}

/// Of the failing branches of a oneOf, report the one that got deepest into the value.
fn best_failure(failures: Vec<Failure>, path: &str, v: &Value) -> Failure {
    let deepest = failures.iter().max_by_key(|f| f.path.len()).cloned();
    match deepest {
        Some(f) if f.path.len() > path.len() => f,
        Some(f) if failures.len() == 1 => f,
        _ => {
            let msgs: Vec<&str> = failures
                .iter()
                .map(|f| f.message.as_str())
                .filter(|m| m.starts_with("expected "))
                .collect();
            if msgs.len() == failures.len() {
                let wants: Vec<&str> = msgs
                    .iter()
                    .filter_map(|m| m.strip_prefix("expected ")?.split(", got").next())
                    .collect();
                Failure {
                    path: path.into(),
                    message: format!("expected {}, got {}", wants.join(" or "), describe(v)),
                }
            } else {
                failures
                    .into_iter()
                    .find(|f| !f.message.starts_with("expected "))
                    .unwrap_or(Failure {
                        path: path.into(),
                        message: "does not match any allowed form".into(),
                    })
            }
        }
    }
}

/// The closest known key to a misspelt one, if close enough.
pub fn suggest<'a>(key: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    known
        .map(|k| (strsim::levenshtein(key, k), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn check(src: &str) -> Result<(), LoadError> {
        let (v, pos) = crate::yaml::parse(src, Path::new("c.yaml"))?;
        validate_document(&v, &pos)
    }

    #[test]
    fn unknown_key_is_named_with_suggestion() {
        let e = check("services:\n  s:\n    image: s\n    imagee: typo\n").unwrap_err();
        assert_eq!(e.key_path.as_deref(), Some("services.s.imagee"));
        assert!(e.message.contains("did you mean \"image\""), "{}", e.message);
        assert_eq!(e.location.map(|l| (l.line, l.column)), Some((4, 5)));
    }

    #[test]
    fn wrong_type_says_what_was_expected() {
        let e = check("services:\n  s:\n    image: s\n    ports: {a: 1}\n").unwrap_err();
        assert_eq!(e.key_path.as_deref(), Some("services.s.ports"));
        assert!(e.message.contains("expected a list"), "{}", e.message);
    }

    #[test]
    fn valid_document_passes() {
        assert!(check("services:\n  s:\n    image: s\n    ports: ['80:80']\nx-foo: 1\n").is_ok());
    }
}
