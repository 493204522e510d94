//! Device requests (`gpus`, `deploy…devices`) and block IO limits in the shape Docker Compose prints them.

use super::units::parse_bytes;
use super::{scalar_string, string_list};
use crate::error::{ErrorKind, LoadError, Result};
use serde_json::{json, Map, Value};

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

/// `gpus: all` becomes one request for every device; listed requests get their counts normalised.
pub fn gpus(svc: &mut Map<String, Value>) {
    if svc.get("gpus").and_then(Value::as_str) == Some("all") {
        svc.insert("gpus".into(), json!([{"count": -1}]));
    }
    if let Some(Value::Array(reqs)) = svc.get_mut("gpus") {
        reqs.iter_mut().for_each(normalize_count);
    }
    let devices = svc
        .get_mut("deploy")
        .and_then(|d| d.get_mut("resources"))
        .and_then(|r| r.get_mut("reservations"))
        .and_then(|r| r.get_mut("devices"));
    if let Some(Value::Array(reqs)) = devices {
        reqs.iter_mut().for_each(normalize_count);
        for r in reqs.iter_mut().filter_map(Value::as_object_mut) {
            if let Some(c) = r.get("capabilities").cloned() {
                r.insert("capabilities".into(), Value::Array(string_list(&c)));
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
            let mut out = Map::new();
            if let Some(p) = m.get("path") {
                out.insert("Path".into(), p.clone());
            }
            if let Some(r) = m.get("rate") {
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
        for m in items.iter_mut().filter_map(Value::as_object_mut) {
            let mut out = Map::new();
            if let Some(p) = m.get("path") {
                out.insert("Path".into(), p.clone());
            }
            if let Some(w) = m.get("weight") {
                out.insert("Weight".into(), w.clone());
            }
            *m = out;
        }
    }
    Ok(())
}
