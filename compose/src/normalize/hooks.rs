//! Commands run at lifecycle points (`post_start`, `pre_stop`) and by watch triggers (`develop.watch[].exec`).

use super::{shell_split, string_mapping};
use crate::error::{ErrorKind, LoadError, Result};
use serde_json::{json, Map, Value};

fn err(path: &str, msg: impl Into<String>) -> LoadError {
    LoadError::new(ErrorKind::Value, msg).at_path(path)
}

/// Watch triggers: `exec` normalised like a hook, single patterns as lists, `exec.command` always present.
pub fn develop(svc: &mut Map<String, Value>, path: &str) -> Result<()> {
    if let Some(Value::Array(watch)) = svc.get_mut("develop").and_then(|d| d.get_mut("watch")) {
        for (i, w) in watch
            .iter_mut()
            .enumerate()
            .filter_map(|(i, w)| Some((i, w.as_object_mut()?)))
        {
            if let Some(exec) = w.get_mut("exec") {
                hook(exec, &format!("{path}.watch[{i}].exec"))?;
            }
            // A single pattern is a list of one.
            for key in ["ignore", "include"] {
                if let Some(v @ Value::String(_)) = w.get_mut(key) {
                    *v = Value::Array(vec![v.take()]);
                }
            }
            let exec = w.entry("exec").or_insert(json!({}));
            if let Value::Object(e) = exec {
                e.entry("command").or_insert(Value::Null);
            }
        }
    }
    Ok(())
}

/// Hook commands given as a string become argument lists.
pub fn hooks(svc: &mut Map<String, Value>, key: &str, path: &str) -> Result<()> {
    let Some(Value::Array(items)) = svc.get_mut(key) else {
        return Ok(());
    };
    for (i, h) in items.iter_mut().enumerate() {
        hook(h, &format!("{path}[{i}]"))?;
    }
    Ok(())
}

/// One hook (`post_start`/`pre_stop` entries, a watch trigger's `exec`): a command line as words, the
/// environment as a mapping.
fn hook(h: &mut Value, path: &str) -> Result<()> {
    if let Some(Value::String(c)) = h.get("command") {
        let words = shell_split(c).map_err(|e| err(&format!("{path}.command"), e))?;
        if let Value::Object(m) = h {
            m.insert("command".into(), json!(words));
        }
    }
    if let Some(env) = h.get("environment").cloned() {
        let m = string_mapping(&env, &format!("{path}.environment"))?;
        if let Value::Object(hm) = h {
            hm.insert("environment".into(), Value::Object(m));
        }
    }
    Ok(())
}
