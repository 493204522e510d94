//! The variables a Compose model uses, as `docker compose config --variables` lists them (compose-go's
//! `template.ExtractVariables`): every `$NAME` / `${NAME...}` in a string value (not in keys), with the
//! default (`:-`, `-`), the alternate value (`:+`, `+`) and whether it is required (`:?`, `?`).

use crate::interpolate::{closing_brace, name_len};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// One variable of the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Variable {
    /// Its name ("" for a `${...}` that is not a valid reference, as compose-go reports it).
    pub name: String,
    /// The value after `:-` or `-`.
    pub default_value: String,
    /// The value after `:+` or `+`.
    pub presence_value: String,
    /// Written with `:?` or `?`.
    pub required: bool,
}

/// Every variable the (non-interpolated) document uses, by name; a later use of a name replaces an earlier
/// one, as compose-go's map does.
pub fn extract(doc: &Value) -> BTreeMap<String, Variable> {
    let mut out = BTreeMap::new();
    walk(doc, &mut out);
    out
}

fn walk(v: &Value, out: &mut BTreeMap<String, Variable>) {
    match v {
        Value::String(s) => from_text(s, out),
        Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
        Value::Object(m) => m.values().for_each(|i| walk(i, out)),
        _ => {}
    }
}

fn invalid() -> Variable {
    Variable {
        name: String::new(),
        default_value: String::new(),
        presence_value: String::new(),
        required: false,
    }
}

fn from_text(s: &str, out: &mut BTreeMap<String, Variable>) {
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            rest = r;
            continue;
        }
        if let Some(body) = after.strip_prefix('{') {
            let n = name_len(body);
            let end = if n == 0 { None } else { closing_brace(body) };
            let Some(end) = end else {
                // Not a reference: compose-go reports it under an empty name and reads on after the `{`.
                out.insert(String::new(), invalid());
                rest = body;
                continue;
            };
            let (name, op) = (&body[..n], &body[n..end]);
            let mut var = Variable {
                name: name.to_owned(),
                ..invalid()
            };
            let nested = if let Some(d) = op.strip_prefix(":-").or_else(|| op.strip_prefix('-')) {
                var.default_value = d.to_owned();
                Some(d)
            } else if let Some(p) = op.strip_prefix(":+").or_else(|| op.strip_prefix('+')) {
                var.presence_value = p.to_owned();
                Some(p)
            } else if op.starts_with(":?") || op.starts_with('?') {
                var.required = true;
                None
            } else if op.is_empty() {
                None
            } else {
                var = invalid();
                None
            };
            out.insert(var.name.clone(), var);
            // `${A:-${B}}` uses B too.
            if let Some(text) = nested {
                from_text(text, out);
            }
            rest = &body[end + 1..];
            continue;
        }
        let n = name_len(after);
        if n > 0 {
            out.insert(
                after[..n].to_owned(),
                Variable {
                    name: after[..n].to_owned(),
                    ..invalid()
                },
            );
        }
        rest = &after[n..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Docker Compose 2.40.3's `config --variables --format json` on the same strings.
    #[test]
    fn variables_as_compose_lists_them() {
        let doc = json!({"services": {"a": {
            "image": "${A:-${B}} ${C:-a}b} ${D:?} ${E-} ${1X} ${_u} $$NOT $F ${G:+p}",
            "ports": [{"published": "${H:-8080}"}],
            "environment": {"${KEY}": "v"},
        }}});
        let vars = extract(&doc);
        let names: Vec<&str> = vars.keys().map(String::as_str).collect();
        assert_eq!(names, ["", "A", "B", "C", "D", "E", "F", "G", "H", "_u"]);
        assert_eq!(vars["A"].default_value, "${B}");
        assert_eq!(vars["C"].default_value, "a");
        assert!(vars["D"].required && !vars["E"].required);
        assert_eq!(vars["G"].presence_value, "p");
        assert_eq!(vars["H"].default_value, "8080");
    }
}
