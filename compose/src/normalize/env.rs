//! A service's environment: its `env_file`s in order, then `environment`, bare keys from the project environment.

use super::{string_mapping, Context};
use crate::dotenv;
use crate::error::{ErrorKind, LoadError, Result};
use serde_json::{Map, Value};
use std::path::Path;

/// env_file (in order) then environment; bare keys take the project environment's value or null.
pub fn environment(svc: &mut Map<String, Value>, ctx: &Context, base: &str) -> Result<()> {
    let mut env = Map::new();
    if let Some(files) = svc.shift_remove("env_file") {
        for (path, required, raw) in env_files(&files) {
            let p = Path::new(&path);
            if !p.exists() {
                if required {
                    return Err(LoadError::new(ErrorKind::Io, format!("env file {path} not found"))
                        .at_path(format!("{base}.env_file")));
                }
                continue;
            }
            let vars = if raw {
                dotenv::read_raw(p)
            } else {
                dotenv::read_file(p, ctx.env)
            };
            for (k, v) in vars.map_err(|e| e.at_path(format!("{base}.env_file")))? {
                env.insert(k, Value::String(v));
            }
        }
    }
    if let Some(v) = svc.get("environment") {
        for (k, val) in string_mapping(v, &format!("{base}.environment"))? {
            env.insert(k, val);
        }
    }
    if env.is_empty() && !svc.contains_key("environment") {
        return Ok(());
    }
    for (k, v) in env.iter_mut() {
        if v.is_null() {
            if let Some(s) = (ctx.env)(k) {
                *v = Value::String(s);
            }
        }
    }
    svc.insert("environment".into(), Value::Object(env));
    Ok(())
}

/// The (path, required, raw format) triples of an `env_file` value.
pub fn env_files(v: &Value) -> Vec<(String, bool, bool)> {
    let one = |i: &Value| match i {
        Value::String(s) => Some((s.clone(), true, false)),
        Value::Object(m) => m.get("path").and_then(Value::as_str).map(|p| {
            (
                p.to_owned(),
                m.get("required").and_then(Value::as_bool).unwrap_or(true),
                m.get("format").and_then(Value::as_str) == Some("raw"),
            )
        }),
        _ => None,
    };
    match v {
        Value::Array(items) => items.iter().filter_map(one).collect(),
        other => one(other).into_iter().collect(),
    }
}

/// `label_file`s (in order) read into `labels`, which win over them; the files are not printed. Bare keys in a
/// label file have no value and are left out (Compose looks nothing up for labels).
pub fn label_files(svc: &mut Map<String, Value>, base: &str) -> Result<()> {
    let Some(files) = svc.shift_remove("label_file") else {
        return Ok(());
    };
    let paths: Vec<String> = match &files {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    };
    let at = format!("{base}.label_file");
    let mut labels = Map::new();
    for path in paths {
        let p = Path::new(&path);
        if !p.exists() {
            return Err(LoadError::new(ErrorKind::Io, format!("label file {path} not found")).at_path(at));
        }
        for (k, v) in dotenv::read_file(p, &|_| None).map_err(|e| e.at_path(at.clone()))? {
            labels.insert(k, Value::String(v));
        }
    }
    if let Some(v) = svc.get("labels") {
        labels.extend(super::label_mapping(v, &format!("{base}.labels"))?);
    }
    svc.insert("labels".into(), Value::Object(labels));
    Ok(())
}
