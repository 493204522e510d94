//! Short syntaxes to long ones and Compose's defaults, so the result is the canonical model Docker Compose prints.

pub mod casts;
pub mod devices;
pub mod empty;
pub mod ports;
pub mod resources;
pub mod service;
pub mod units;
pub mod volumes;

use crate::error::{ErrorKind, LoadError, Result};
use serde_json::{Map, Value};

/// What normalisation needs from the project.
pub struct Context<'a> {
    /// The project name (prefix of resource names).
    pub project_name: &'a str,
    /// Resolves variables of the project environment (process env over `.env`).
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// A scalar as the string Compose would print for it.
pub fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `["K=V"]` or `{K: V}` to a mapping of strings; bare keys map to null.
pub fn string_mapping(v: &Value, path: &str) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    match v {
        Value::Object(m) => {
            for (k, val) in m {
                let s = match val {
                    Value::Null => Value::Null,
                    other => Value::String(scalar_string(other).ok_or_else(|| {
                        LoadError::new(ErrorKind::Value, "expected a string, number or boolean")
                            .at_path(format!("{path}.{k}"))
                    })?),
                };
                out.insert(k.clone(), s);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let s = scalar_string(item).ok_or_else(|| {
                    LoadError::new(ErrorKind::Value, "expected a \"KEY=VALUE\" string").at_path(format!("{path}[{i}]"))
                })?;
                match s.split_once('=') {
                    Some((k, val)) => out.insert(k.to_owned(), Value::String(val.to_owned())),
                    None => out.insert(s, Value::Null),
                };
            }
        }
        Value::Null => {}
        _ => {
            return Err(LoadError::new(ErrorKind::Value, "expected a mapping or a list of \"KEY=VALUE\"").at_path(path))
        }
    }
    Ok(out)
}

/// Like [`string_mapping`] for labels and options, where a bare key means an empty value.
pub fn label_mapping(v: &Value, path: &str) -> Result<Map<String, Value>> {
    let mut m = string_mapping(v, path)?;
    for val in m.values_mut() {
        if val.is_null() {
            *val = Value::String(String::new());
        }
    }
    Ok(m)
}

/// A string or a list of strings as a list.
pub fn string_list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items
            .iter()
            .map(|i| scalar_string(i).map_or(i.clone(), Value::String))
            .collect(),
        Value::Null => Vec::new(),
        other => vec![scalar_string(other).map_or(other.clone(), Value::String)],
    }
}

/// Splits a command line the way a POSIX shell would (quotes and backslashes), without expansion.
pub fn shell_split(s: &str) -> std::result::Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err(format!("unterminated single quote in {s:?}")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x @ ('"' | '\\' | '$' | '`')) => cur.push(x),
                            Some('\n') => {}
                            Some(x) => {
                                cur.push('\\');
                                cur.push(x);
                            }
                            None => return Err(format!("unterminated double quote in {s:?}")),
                        },
                        Some(x) => cur.push(x),
                        None => return Err(format!("unterminated double quote in {s:?}")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') | None => {}
                    Some(x) => cur.push(x),
                }
            }
            other => {
                in_word = true;
                cur.push(other);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words() {
        assert_eq!(
            shell_split("run --port 80").ok(),
            Some(vec!["run".into(), "--port".into(), "80".into()])
        );
        assert_eq!(
            shell_split(r#"sh -c "echo 'a b'""#).ok(),
            Some(vec!["sh".into(), "-c".into(), "echo 'a b'".into()])
        );
        assert!(shell_split("'open").is_err());
    }
}
