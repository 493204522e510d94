//! `config --variables` and `config --environment`, printed as Docker Compose prints them.

use crate::orchestrator::format::tabwriter::TabWriter;
use compose::variables::{self, Variable};
use indexmap::IndexMap;
use serde::Serialize;
use serde_json::Value;

/// The variables table (`NAME REQUIRED DEFAULT VALUE ALTERNATE VALUE`, Compose's 20/3 tabwriter; Compose lists
/// the rows in Go map order, berth by name), or with `--format` their JSON (`Some(true)`: keys sorted, four
/// spaces of indent, then an empty line) or YAML (`Some(false)`: go-yaml's lowercased field names).
pub fn variables(doc: &Value, json: Option<bool>) -> String {
    let vars = variables::extract(doc);
    match json {
        None => {
            let mut t = TabWriter::new(20, 3);
            t.row(&["NAME", "REQUIRED", "DEFAULT VALUE", "ALTERNATE VALUE"]);
            for v in vars.values() {
                t.row(&[
                    v.name.as_str(),
                    if v.required { "true" } else { "false" },
                    v.default_value.as_str(),
                    v.presence_value.as_str(),
                ]);
            }
            t.render()
        }
        Some(true) => {
            let mut buf = Vec::new();
            let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
            let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
            // A BTreeMap of plain fields cannot fail to serialise.
            let _ = vars.serialize(&mut ser);
            // Compose's JSON printer ends the document with an empty line.
            String::from_utf8_lossy(&buf).into_owned() + "\n\n"
        }
        Some(false) => yaml(&vars),
    }
}

/// go-yaml v3's order of mapping keys: rune by rune, a non-letter before a letter, else by code point.
fn go_yaml_less(a: &str, b: &str) -> std::cmp::Ordering {
    for (x, y) in a.chars().zip(b.chars()) {
        if x == y {
            continue;
        }
        return match (x.is_alphabetic(), y.is_alphabetic()) {
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            _ => x.cmp(&y),
        };
    }
    a.chars().count().cmp(&b.chars().count())
}

/// The YAML of `yaml.Marshal(map[string]Variable)`: four spaces of indent, lowercased field names.
fn yaml(vars: &std::collections::BTreeMap<String, Variable>) -> String {
    if vars.is_empty() {
        return "{}\n".to_owned();
    }
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort_by(|a, b| go_yaml_less(a, b));
    let mut top = serde_json::Map::new();
    for n in names {
        let v = &vars[n];
        let mut m = serde_json::Map::new();
        m.insert("name".into(), Value::String(v.name.clone()));
        m.insert("defaultvalue".into(), Value::String(v.default_value.clone()));
        m.insert("presencevalue".into(), Value::String(v.presence_value.clone()));
        m.insert("required".into(), Value::Bool(v.required));
        top.insert(n.clone(), Value::Object(m));
    }
    // berth's writer indents by two; go-yaml's Marshal by four.
    compose::emit::to_yaml(&Value::Object(top))
        .lines()
        .map(|l| {
            let pad = l.len() - l.trim_start_matches(' ').len();
            format!("{}{}\n", " ".repeat(pad * 2), &l[pad..])
        })
        .collect()
}

/// The interpolation environment, `KEY=VALUE` lines sorted by key.
pub fn environment(env: &IndexMap<String, String>) -> String {
    let mut lines: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    lines.sort();
    lines.into_iter().map(|l| l + "\n").collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Docker Compose 2.40.3's answers for a service image `${A:-x} ${E?err} ${F:+p}`.
    #[test]
    fn variables_table_json_and_yaml() {
        let doc = json!({"services": {"a": {"image": "${A:-x} ${E?err} ${F:+p}"}}});
        let table = variables(&doc, None);
        assert_eq!(
            table,
            "NAME                REQUIRED            DEFAULT VALUE       ALTERNATE VALUE\n\
             A                   false               x                   \n\
             E                   true                                    \n\
             F                   false                                   p\n"
        );
        let json = variables(&doc, Some(true));
        assert!(json.starts_with("{\n    \"A\": {\n        \"Name\": \"A\",\n        \"DefaultValue\": \"x\",\n"));
        assert!(json.ends_with("}\n}\n\n"), "{json}");
        let yaml = variables(&json!({"s": ["${N:-1.5}", "${_u}"]}), Some(false));
        assert_eq!(
            yaml,
            "_u:\n    name: _u\n    defaultvalue: \"\"\n    presencevalue: \"\"\n    required: false\n\
             \"N\":\n    name: \"N\"\n    defaultvalue: \"1.5\"\n    presencevalue: \"\"\n    required: false\n"
        );
        assert_eq!(variables(&json!({}), Some(true)), "{}\n\n");
    }
}
