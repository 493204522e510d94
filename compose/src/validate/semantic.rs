//! Cross-reference checks: every service has an image or a build; references point at defined
//! services, networks, volumes, secrets and configs.

use crate::error::{ErrorKind, LoadError, Result};
use crate::validate::schema::suggest;
use serde_json::{Map, Value};

fn undefined(path: String, what: &str, name: &str, known: &Map<String, Value>) -> LoadError {
    let hint = suggest(name, known.keys().map(String::as_str))
        .map(|s| format!(" (did you mean {s:?}?)"))
        .unwrap_or_default();
    LoadError::new(
        ErrorKind::Semantic,
        format!("refers to undefined {what} {name:?}{hint}: define it under the top-level `{what}s:`"),
    )
    .at_path(path)
}

fn top<'a>(doc: &'a Map<String, Value>, key: &str, empty: &'a Map<String, Value>) -> &'a Map<String, Value> {
    doc.get(key).and_then(Value::as_object).unwrap_or(empty)
}

/// Checks the (normalised) services against each other and the top-level resources; `disabled` are the
/// services left out by profiles (a dependency on one may be optional, one on an undefined service may not).
pub fn check(services: &Map<String, Value>, disabled: &Map<String, Value>, doc: &Map<String, Value>) -> Result<()> {
    let empty = Map::new();
    let networks = top(doc, "networks", &empty);
    let volumes = top(doc, "volumes", &empty);
    let secrets = top(doc, "secrets", &empty);
    let configs = top(doc, "configs", &empty);
    for (name, svc) in services {
        let at = |k: &str| format!("services.{name}.{k}");
        if svc.get("image").is_none() && svc.get("build").is_none() && svc.get("provider").is_none() {
            return Err(LoadError::new(ErrorKind::Semantic, format!("service {name:?} has neither an image nor a build context specified: expected `image:` or `build:`"))
                .at_path(format!("services.{name}")));
        }
        if let Some(Value::Object(deps)) = svc.get("depends_on") {
            for (dep, d) in deps {
                let required = d.get("required").and_then(Value::as_bool).unwrap_or(true);
                let defined = services.contains_key(dep) || (disabled.contains_key(dep) && !required);
                if !defined {
                    let hint = suggest(dep, services.keys().map(String::as_str))
                        .map(|s| format!(" (did you mean {s:?}?)"))
                        .unwrap_or_default();
                    return Err(LoadError::new(
                        ErrorKind::Semantic,
                        format!("service {name:?} depends on undefined service {dep:?}{hint}"),
                    )
                    .at_path(at(&format!("depends_on.{dep}"))));
                }
            }
        }
        if let Some(Value::Object(nets)) = svc.get("networks") {
            for n in nets.keys() {
                if n != "default" && !networks.contains_key(n) {
                    return Err(undefined(at(&format!("networks.{n}")), "network", n, networks));
                }
            }
        }
        if let Some(Value::Array(vols)) = svc.get("volumes") {
            for (i, v) in vols.iter().enumerate() {
                if v.get("type").and_then(Value::as_str) != Some("volume") {
                    continue;
                }
                if let Some(src) = v.get("source").and_then(Value::as_str) {
                    if !volumes.contains_key(src) {
                        return Err(undefined(
                            format!("services.{name}.volumes[{i}]"),
                            "volume",
                            src,
                            volumes,
                        ));
                    }
                }
            }
        }
        for (key, defined, what) in [("secrets", secrets, "secret"), ("configs", configs, "config")] {
            if let Some(Value::Array(refs)) = svc.get(key) {
                for (i, r) in refs.iter().enumerate() {
                    // A reference without a source names the empty secret, which is never defined.
                    let src = r.get("source").and_then(Value::as_str).unwrap_or_default();
                    if src.is_empty() || !defined.contains_key(src) {
                        return Err(undefined(format!("services.{name}.{key}[{i}]"), what, src, defined));
                    }
                }
            }
        }
    }
    container_names(services)
}

/// Two enabled services cannot name their containers alike.
fn container_names(services: &Map<String, Value>) -> Result<()> {
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for (name, svc) in services {
        let Some(c) = svc.get("container_name").and_then(Value::as_str) else {
            continue;
        };
        if let Some((other, _)) = seen.iter().find(|(_, x)| *x == c) {
            return Err(LoadError::new(
                ErrorKind::Semantic,
                format!("container name {c:?} is already used by service {other:?}: container names must be unique"),
            )
            .at_path(format!("services.{name}.container_name")));
        }
        seen.push((name, c));
    }
    Ok(())
}
