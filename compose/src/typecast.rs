//! Typed fields written as text, converted as Compose's interpolation converts them, before the file is
//! validated: `cpu_count: "-1"` is the integer -1 (which the schema then refuses), `init: "yes"` is true, and
//! text that is no number or boolean (`scale: "0.5"`, `internal: "1e3"`) is refused, naming the field. Every
//! string at these paths is converted, whether or not it held a variable, as Compose does. A few fields Compose
//! converts later, while decoding its model, follow the same rule here.

use crate::error::{ErrorKind, LoadError, Result};
use crate::yaml::untagged_mut;
use serde_json::{json, Value};

#[derive(Clone, Copy)]
enum Cast {
    Int,
    Float,
    Bool,
    /// A number that may not be written as text at all.
    NotText,
}

/// Paths (`*`: every entry of a mapping, `[]`: every item of a list) and their types: Compose's interpolation
/// type-cast table (compose-go 2.9).
const CASTS: [(&[&str], Cast); 51] = [
    (&["services", "*", "cpu_count"], Cast::Int),
    (&["services", "*", "cpu_percent"], Cast::Float),
    (&["services", "*", "cpu_period"], Cast::Int),
    (&["services", "*", "cpu_quota"], Cast::Int),
    (&["services", "*", "cpu_rt_period"], Cast::Int),
    (&["services", "*", "cpu_rt_runtime"], Cast::Int),
    (&["services", "*", "cpus"], Cast::Float),
    (&["services", "*", "cpu_shares"], Cast::Int),
    (&["services", "*", "init"], Cast::Bool),
    (&["services", "*", "deploy", "replicas"], Cast::Int),
    (&["services", "*", "deploy", "update_config", "parallelism"], Cast::Int),
    (
        &["services", "*", "deploy", "update_config", "max_failure_ratio"],
        Cast::Float,
    ),
    (
        &["services", "*", "deploy", "rollback_config", "parallelism"],
        Cast::Int,
    ),
    (
        &["services", "*", "deploy", "rollback_config", "max_failure_ratio"],
        Cast::Float,
    ),
    (
        &["services", "*", "deploy", "restart_policy", "max_attempts"],
        Cast::Int,
    ),
    (
        &["services", "*", "deploy", "placement", "max_replicas_per_node"],
        Cast::Int,
    ),
    (&["services", "*", "healthcheck", "retries"], Cast::Int),
    (&["services", "*", "healthcheck", "disable"], Cast::Bool),
    (&["services", "*", "oom_kill_disable"], Cast::Bool),
    (&["services", "*", "oom_score_adj"], Cast::Int),
    (&["services", "*", "pids_limit"], Cast::Int),
    (&["services", "*", "ports", "[]", "target"], Cast::Int),
    (&["services", "*", "privileged"], Cast::Bool),
    (&["services", "*", "read_only"], Cast::Bool),
    (&["services", "*", "scale"], Cast::Int),
    (&["services", "*", "stdin_open"], Cast::Bool),
    (&["services", "*", "tty"], Cast::Bool),
    (&["services", "*", "ulimits", "*"], Cast::Int),
    (&["services", "*", "ulimits", "*", "hard"], Cast::Int),
    (&["services", "*", "ulimits", "*", "soft"], Cast::Int),
    (&["services", "*", "volumes", "[]", "read_only"], Cast::Bool),
    (&["services", "*", "volumes", "[]", "volume", "nocopy"], Cast::Bool),
    (&["networks", "*", "external"], Cast::Bool),
    (&["networks", "*", "internal"], Cast::Bool),
    (&["networks", "*", "attachable"], Cast::Bool),
    (&["networks", "*", "enable_ipv4"], Cast::Bool),
    (&["networks", "*", "enable_ipv6"], Cast::Bool),
    (&["volumes", "*", "external"], Cast::Bool),
    (&["secrets", "*", "external"], Cast::Bool),
    (&["configs", "*", "external"], Cast::Bool),
    // Not in the interpolation table, but converted the same way when Compose decodes the model.
    (&["services", "*", "attach"], Cast::Bool),
    (
        &["services", "*", "volumes", "[]", "bind", "create_host_path"],
        Cast::Bool,
    ),
    (&["services", "*", "build", "no_cache"], Cast::Bool),
    (&["services", "*", "build", "privileged"], Cast::Bool),
    (&["services", "*", "build", "pull"], Cast::Bool),
    (&["services", "*", "depends_on", "*", "restart"], Cast::Bool),
    (&["services", "*", "post_start", "[]", "privileged"], Cast::Bool),
    (&["services", "*", "pre_stop", "[]", "privileged"], Cast::Bool),
    (&["services", "*", "deploy", "resources", "limits", "pids"], Cast::Int),
    (
        &["services", "*", "deploy", "resources", "reservations", "pids"],
        Cast::Int,
    ),
    (&["services", "*", "volumes", "[]", "tmpfs", "mode"], Cast::NotText),
];

/// A boolean as Compose's interpolation reads one (YAML 1.1 words too, any case).
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "y" | "yes" | "on" => Some(true),
        "false" | "n" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn convert(s: &str, cast: Cast) -> std::result::Result<Value, String> {
    match cast {
        Cast::Int => s
            .parse::<i64>()
            .map(|n| json!(n))
            .map_err(|_| format!("expected an integer, got {s:?}")),
        Cast::Float => match s.parse::<f64>() {
            // An integral value stays an integer, as Go prints it (`50`, not `50.0`).
            Ok(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 9e15 => Ok(json!(f as i64)),
            Ok(f) if f.is_finite() => Ok(json!(f)),
            _ => Err(format!("expected a number, got {s:?}")),
        },
        Cast::Bool => parse_bool(s)
            .map(Value::Bool)
            .ok_or_else(|| format!("expected a boolean (true, false, yes, no, on, off), got {s:?}")),
        Cast::NotText => Err(format!("expected a number, not the text {s:?}")),
    }
}

fn visit(v: &mut Value, segments: &[&str], cast: Cast, path: &str) -> Result<()> {
    let v = untagged_mut(v);
    let Some((first, rest)) = segments.split_first() else {
        if let Value::String(s) = v {
            *v = convert(s, cast).map_err(|e| {
                LoadError::new(ErrorKind::Value, format!("failed to cast to expected type: {e}")).at_path(path)
            })?;
        }
        return Ok(());
    };
    match (*first, v) {
        ("*", Value::Object(m)) => {
            for (k, x) in m.iter_mut() {
                visit(x, rest, cast, &join(path, k))?;
            }
        }
        ("[]", Value::Array(a)) => {
            for (i, x) in a.iter_mut().enumerate() {
                visit(x, rest, cast, &format!("{path}[{i}]"))?;
            }
        }
        (key, Value::Object(m)) => {
            if let Some(x) = m.get_mut(key) {
                visit(x, rest, cast, &join(path, key))?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Converts the typed fields of one interpolated file (see the module documentation).
pub fn cast_document(doc: &mut Value) -> Result<()> {
    for (segments, cast) in CASTS {
        visit(doc, segments, cast, "")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_becomes_typed_or_is_refused() {
        let mut d = json!({"services": {"s": {"cpu_count": "-1", "init": "yes", "cpus": "1.5",
            "ports": [{"target": "80"}], "ulimits": {"n": "5", "m": {"soft": "1", "hard": "2"}}}},
            "networks": {"n": {"internal": "off"}}});
        assert!(cast_document(&mut d).is_ok());
        assert_eq!(d["services"]["s"]["cpu_count"], -1);
        assert_eq!(d["services"]["s"]["init"], true);
        assert_eq!(d["services"]["s"]["cpus"], 1.5);
        assert_eq!(d["services"]["s"]["ports"][0]["target"], 80);
        assert_eq!(d["services"]["s"]["ulimits"]["m"]["hard"], 2);
        assert_eq!(d["networks"]["n"]["internal"], false);
        let mut bad = json!({"services": {"s": {"scale": "0.5"}}});
        let e = cast_document(&mut bad).err().and_then(|e| e.key_path);
        assert_eq!(e.as_deref(), Some("services.s.scale"));
    }
}
