//! Device requests (`gpus`, `deploy…devices`) and block IO limits in the shape Docker Compose prints them.

use super::{scalar_string, string_list};
use crate::error::{ErrorKind, LoadError, Result};
use serde_json::{json, Map, Value};
use units::parse_bytes;

/// `count: all` (any case) is -1 and a count written as text is a number, as Compose stores them. A request
/// that names neither `count` nor `device_ids` asks for every device (-1); a count of 0 is not printed (Compose's
/// field is a plain integer with `omitempty`).
fn normalize_count(req: &mut Value) {
    let Value::Object(m) = req else { return };
    let n = match m.get("count") {
        None if !m.contains_key("device_ids") => -1,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("all") => -1,
        Some(Value::String(s)) => match s.parse::<i64>() {
            Ok(n) => n,
            Err(_) => return,
        },
        Some(Value::Number(n)) => match n.as_i64() {
            Some(n) => n,
            None => return,
        },
        _ => return,
    };
    if n == 0 {
        m.shift_remove("count");
    } else {
        m.insert("count".into(), json!(n));
    }
}

/// Options of a request are a mapping of text (a bare key or null is empty text), as labels are.
fn normalize_options(req: &mut Value) {
    let Some(m) = req.as_object_mut() else { return };
    if let Some(o) = m.get("options") {
        if let Ok(o) = super::label_mapping(o, "options") {
            m.insert("options".into(), Value::Object(o));
        }
    }
}

/// `gpus: all` becomes one request for every device; listed requests get their counts normalised.
pub fn gpus(svc: &mut Map<String, Value>) {
    if svc.get("gpus").and_then(Value::as_str) == Some("all") {
        svc.insert("gpus".into(), json!([{"count": -1}]));
    }
    if let Some(Value::Array(reqs)) = svc.get_mut("gpus") {
        reqs.iter_mut().for_each(normalize_count);
        reqs.iter_mut().for_each(normalize_options);
    }
    let devices = svc
        .get_mut("deploy")
        .and_then(|d| d.get_mut("resources"))
        .and_then(|r| r.get_mut("reservations"))
        .and_then(|r| r.get_mut("devices"));
    if let Some(Value::Array(reqs)) = devices {
        reqs.iter_mut().for_each(normalize_count);
        reqs.iter_mut().for_each(normalize_options);
        for r in reqs.iter_mut().filter_map(Value::as_object_mut) {
            if let Some(c) = r.get("capabilities").cloned() {
                r.insert("capabilities".into(), Value::Array(string_list(&c)));
            }
        }
    }
}

/// A generic resource's `discrete_resource_spec` always prints `kind` and `value` (Compose's structure has no
/// `omitempty` on them).
pub fn generic_resources(svc: &mut Map<String, Value>) {
    let Some(Value::Object(res)) = svc.get_mut("deploy").and_then(|d| d.get_mut("resources")) else {
        return;
    };
    for side in ["limits", "reservations"] {
        let Some(Value::Array(items)) = res.get_mut(side).and_then(|r| r.get_mut("generic_resources")) else {
            continue;
        };
        for spec in items.iter_mut().filter_map(|i| i.get_mut("discrete_resource_spec")) {
            if let Value::Object(m) = spec {
                m.entry("kind").or_insert(json!(""));
                m.entry("value").or_insert(json!(0));
            }
        }
    }
}

/// Block IO: rates in bytes (as text), and the per-device entries keyed `Path`/`Rate`/`Weight` as Compose prints
/// them (its Go structs carry no JSON names for these).
pub fn blkio(svc: &mut Map<String, Value>, path: &str) -> Result<()> {
    let Some(Value::Object(b)) = svc.get_mut("blkio_config") else {
        return Ok(());
    };
    if let Some(w) = b.get("weight") {
        let w = uint16(w, &format!("{path}.weight"))?;
        b.insert("weight".into(), w);
    }
    for key in [
        "device_read_bps",
        "device_write_bps",
        "device_read_iops",
        "device_write_iops",
    ] {
        let Some(Value::Array(items)) = b.get_mut(key) else {
            continue;
        };
        for (i, item) in items.iter_mut().enumerate() {
            let Value::Object(m) = item else { continue };
            // Compose's structure has no JSON names and no `omitempty`: both fields are always printed.
            let mut out = Map::new();
            out.insert("Path".into(), m.get("path").cloned().unwrap_or(json!("")));
            out.insert("Rate".into(), json!("0"));
            // An integer rate is taken as is (negative too); text is a size.
            if let Some(n) = m.get("rate").filter(|r| r.is_i64()) {
                out.insert("Rate".into(), json!(n.to_string()));
            } else if let Some(r) = m.get("rate") {
                let n = scalar_string(r).and_then(|s| parse_bytes(&s)).ok_or_else(|| {
                    LoadError::new(
                        ErrorKind::Value,
                        format!("invalid rate {r}: expected bytes or a number with a unit"),
                    )
                    .at_path(format!("{path}.{key}[{i}].rate"))
                })?;
                out.insert("Rate".into(), json!(n.to_string()));
            }
            *m = out;
        }
    }
    if let Some(Value::Array(items)) = b.get_mut("weight_device") {
        for (i, m) in items
            .iter_mut()
            .enumerate()
            .filter_map(|(i, m)| Some((i, m.as_object_mut()?)))
        {
            let mut out = Map::new();
            out.insert("Path".into(), m.get("path").cloned().unwrap_or(json!("")));
            let w = match m.get("weight") {
                Some(w) => uint16(w, &format!("{path}.weight_device[{i}].weight"))?,
                None => json!(0),
            };
            out.insert("Weight".into(), w);
            *m = out;
        }
    }
    Ok(())
}

/// A block IO weight as Compose's 16-bit unsigned field holds it: an integer wraps around (65537 is 1), a negative
/// one or text is refused.
fn uint16(v: &Value, path: &str) -> Result<Value> {
    match v.as_i64() {
        Some(n) if n >= 0 => Ok(json!(n % 65536)),
        _ if v.is_u64() => Ok(json!(v.as_u64().unwrap_or(0) % 65536)),
        _ => Err(LoadError::new(
            ErrorKind::Value,
            format!("invalid weight {v}: expected an integer from 0 (a 16-bit unsigned number)"),
        )
        .at_path(path)),
    }
}
