//! Short syntaxes to long ones and Compose's defaults, so the result is the canonical model Docker Compose prints.

pub mod casts;
pub mod devices;
pub mod empty;
pub mod env;
pub mod hooks;
pub mod ports;
pub mod resources;
pub mod service;
pub mod volumes;

use crate::error::{ErrorKind, LoadError, Result};
use serde_json::{Map, Value};

/// What normalisation needs from the project.
pub struct Context<'a> {
    /// The project name (prefix of resource names).
    pub project_name: &'a str,
    /// Resolves variables of the project environment (process env over `.env`).
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// The project directory: the build context of a service whose `context` was reset.
    pub project_dir: &'a std::path::Path,
}

/// A scalar as the string Compose would print for it.
pub fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) if n.is_f64() => n.as_f64().map(go_float),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A float as Go's `fmt.Sprint` writes it (how Compose turns a YAML float into text): the shortest digits that
/// read back the same, in exponent form (`1e+06`, `1e-05`) when the exponent is below -4 or at least 6,
/// otherwise plain (`123456.5`, `2`, `-0`).
pub fn go_float(f: f64) -> String {
    if !f.is_finite() {
        return match (f.is_nan(), f > 0.0) {
            (true, _) => "NaN".into(),
            (false, true) => "+Inf".into(),
            (false, false) => "-Inf".into(),
        };
    }
    // Rust's `{:e}` gives the same shortest round-trip digits: `d[.ddd]e[-]x`.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if f.is_sign_negative() { "-" } else { "" };
    if f == 0.0 {
        return format!("{sign}0");
    }
    if !(-4..6).contains(&exp) {
        let (head, tail) = digits.split_at(1);
        let dot = if tail.is_empty() {
            String::new()
        } else {
            format!(".{tail}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{head}{dot}e{esign}{:02}", exp.abs());
    }
    // Plain form: place the point `exp + 1` digits in, padding with zeros on either side.
    let point = exp + 1;
    let text = if point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        let (a, b) = digits.split_at(point as usize);
        format!("{a}.{b}")
    };
    format!("{sign}{text}")
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

/// Splits a command line the way Docker Compose does (go-shellwords: quotes and backslashes, no expansion). An
/// unquoted shell operator (`;`, `&`, `|`, `<`, `>`) ends the command there and the rest is dropped, with a
/// warning (Compose drops it silently); an unquoted parenthesis is refused.
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
                        // Compose's splitter takes the character after a backslash as is, whatever it is.
                        Some('\\') => match chars.next() {
                            Some(x) => cur.push(x),
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
                    Some(x) => cur.push(x),
                    None => return Err(format!("a backslash ends {s:?}: it escapes nothing")),
                }
            }
            op @ (';' | '&' | '|' | '<' | '>') => {
                // A word of digits-first before `>` is a file descriptor (`2>`), dropped with the redirection.
                if op == '>' && cur.starts_with(|d: char| d.is_ascii_digit()) {
                    in_word = false;
                }
                tracing::warn!(
                    "command {s:?}: the shell operator {op:?} ends it as Docker Compose reads it, and the rest is \
                     dropped; to run a shell line, write it as [\"sh\", \"-c\", \"...\"]"
                );
                break;
            }
            '(' | ')' => {
                return Err(format!(
                    "{s:?} has an unquoted parenthesis, which Compose cannot split: quote it, or write the command as a list"
                ))
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
    fn floats_read_as_go_prints_them() {
        let cases = [
            (1e6, "1e+06"),
            (1e20, "1e+20"),
            (0.00001, "1e-05"),
            (123456.5, "123456.5"),
            (2.0, "2"),
            (-0.0, "-0"),
            (0.0001, "0.0001"),
            (1e5, "100000"),
            (1.5, "1.5"),
            (-0.5, "-0.5"),
            (18446744073709551616.0, "1.8446744073709552e+19"),
            (1.25e-7, "1.25e-07"),
        ];
        for (f, want) in cases {
            assert_eq!(go_float(f), want, "{f}");
        }
    }

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
        // As Compose splits: a backslash takes the next character as is, in double quotes too.
        assert_eq!(
            shell_split("\"a\\.b\" 'c\\.d' e\\\nf \"g\\\\h\"").ok(),
            Some(vec!["a.b".into(), "c\\.d".into(), "e\nf".into(), "g\\h".into()])
        );
        assert!(shell_split("a\\").is_err());
        // An unquoted operator ends the line (a leading file descriptor goes with `>`); parentheses are refused.
        let split = |line: &str| shell_split(line).ok();
        assert_eq!(
            split("while true; do x; done"),
            Some(vec!["while".into(), "true".into()])
        );
        assert_eq!(split("a b2>f"), Some(vec!["a".into(), "b2".into()]));
        assert_eq!(split("a 2>&1"), Some(vec!["a".into()]));
        assert_eq!(
            split("a 'b;c' \"d|e\" f\\&g"),
            Some(vec!["a".into(), "b;c".into(), "d|e".into(), "f&g".into()])
        );
        assert!(shell_split("a (b)").is_err());
    }
}
