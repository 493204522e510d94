//! Values Compose coerces after interpolation: booleans and numbers written as strings (`"${DEBUG:-true}"`).

use super::{scalar_string, string_mapping};
use serde_json::{json, Map, Value};

/// Booleans as Compose's interpolation accepts them.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "on" | "1" => Some(true),
        "false" | "no" | "n" | "off" | "0" => Some(false),
        _ => None,
    }
}

/// Turns a string `key` of `m` into a boolean when it reads as one.
pub fn cast_bool(m: &mut Map<String, Value>, key: &str) {
    if let Some(b) = m.get(key).and_then(Value::as_str).and_then(parse_bool) {
        m.insert(key.into(), Value::Bool(b));
    }
}

/// Turns a string `key` of `m` into an integer when it reads as one; a fractional number is truncated, as
/// Compose's conversion to an integer field does.
pub fn cast_int(m: &mut Map<String, Value>, key: &str) {
    let n = match m.get(key) {
        Some(Value::String(s)) => s.parse::<i64>().ok(),
        // Go's conversion of a float beyond int64 gives its minimum (amd64), which Compose then prints.
        Some(Value::Number(n)) if !n.is_i64() && !n.is_u64() => {
            n.as_f64()
                .map(|f| if f.abs() < 9.2e18 { f.trunc() as i64 } else { i64::MIN })
        }
        _ => None,
    };
    if let Some(n) = n {
        m.insert(key.into(), json!(n));
    }
}

const BOOLS: [&str; 6] = [
    "init",
    "privileged",
    "read_only",
    "stdin_open",
    "tty",
    "oom_kill_disable",
];
const INTS: [&str; 10] = [
    "cpu_count",
    "cpu_period",
    "cpu_quota",
    "cpu_shares",
    "pids_limit",
    "oom_score_adj",
    "scale",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "mem_swappiness",
];

/// Service fields Compose stores as plain (non-pointer) values with `omitempty`: a zero value is not printed.
const OMIT_ZERO: [&str; 39] = [
    "cgroup_parent",
    "cpu_count",
    "cpu_percent",
    "cpu_shares",
    "cpu_quota",
    "cpu_period",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpus",
    "cpuset",
    "domainname",
    "hostname",
    "ipc",
    "isolation",
    "mac_address",
    "mem_limit",
    "mem_reservation",
    "mem_swappiness",
    "memswap_limit",
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "pids_limit",
    "platform",
    "privileged",
    "read_only",
    "restart",
    "runtime",
    "shm_size",
    "stdin_open",
    "stop_signal",
    "tty",
    "use_api_socket",
    "user",
    "userns_mode",
    "uts",
    "working_dir",
    "pull_refresh_after",
    "container_name",
];

/// Byte sizes, already normalised to strings of bytes.
const BYTES: [&str; 4] = ["mem_limit", "mem_reservation", "memswap_limit", "shm_size"];

fn is_zero(key: &str, v: &Value) -> bool {
    match v {
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty() || (s == "0" && BYTES.contains(&key)),
        _ => false,
    }
}

/// Drops the zero values Compose leaves out of its output (`privileged: false`, `cpus: 0`, `user: ""`); empty
/// lists and mappings go later, for the whole document ([`super::empty`]).
pub fn omit_zeros(svc: &mut Map<String, Value>) {
    svc.retain(|k, v| !(OMIT_ZERO.contains(&k.as_str()) && is_zero(k, v)));
}

/// Applies the service-level coercions.
pub fn casts(svc: &mut Map<String, Value>) {
    BOOLS.iter().for_each(|k| cast_bool(svc, k));
    INTS.iter().for_each(|k| cast_int(svc, k));
    if let Some(f) = svc
        .get("cpu_percent")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<f64>().ok())
    {
        let n = if f.fract() == 0.0 { json!(f as i64) } else { json!(f) };
        svc.insert("cpu_percent".into(), n);
    }
    if let Some(v) = svc.get("cpus").cloned() {
        if let Some(f) = scalar_string(&v).and_then(|s| s.parse::<f64>().ok()) {
            svc.insert("cpus".into(), json!(f));
        }
    }
    if let Some(Value::Object(u)) = svc.get_mut("ulimits") {
        for v in u.values_mut() {
            match v {
                Value::String(s) => {
                    if let Ok(n) = s.parse::<i64>() {
                        *v = json!(n);
                    }
                }
                Value::Object(l) => {
                    cast_int(l, "soft");
                    cast_int(l, "hard");
                }
                _ => {}
            }
            // A single limit of 0 is no single limit to Compose: it prints the soft/hard pair, both left out.
            if v.as_i64() == Some(0) {
                *v = json!({});
            }
        }
    }
    if let Some(Value::Object(l)) = svc.get_mut("logging") {
        if let Some(o) = l.get("options").cloned() {
            if let Ok(m) = string_mapping(&o, "logging.options") {
                l.insert("options".into(), Value::Object(m));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coerces_interpolated_strings() {
        let mut m = json!({"init": "true", "pids_limit": "100", "cpus": "0.5", "ulimits": {"nofile": {"soft": "1", "hard": "2"}, "nproc": "3"}})
            .as_object()
            .cloned()
            .unwrap_or_default();
        casts(&mut m);
        assert_eq!(m["init"], true);
        assert_eq!(m["pids_limit"], 100);
        assert_eq!(m["cpus"], 0.5);
        assert_eq!(m["ulimits"]["nofile"]["hard"], 2);
        assert_eq!(m["ulimits"]["nproc"], 3);
    }
}
