//! Port syntaxes to the long form: `[ip:][published[-range]:]target[-range][/protocol]`.

use serde_json::{json, Map, Value};
use std::net::IpAddr;
use units::PortRange;

/// Expands one short port spec into long-form entries.
pub fn parse_short_port(spec: &str) -> Result<Vec<Value>, String> {
    let (rest, protocol) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, p),
        None => (spec, "tcp"),
    };
    if !matches!(protocol, "tcp" | "udp" | "sctp") {
        return Err(format!("invalid protocol {protocol:?}: expected tcp, udp or sctp"));
    }
    let (host_ip, published, target) = split_parts(rest)?;
    // An empty address (`:8080:80`, `[]:80:80`, often an unset `${BIND:-}`) means all addresses, as in Compose.
    let host_ip = host_ip.filter(|ip| !ip.is_empty());
    if let Some(ip) = host_ip {
        ip.parse::<IpAddr>().map_err(|_| format!("invalid IP address: {ip}"))?;
    }
    let targets: PortRange = target.parse().map_err(|_| format!("invalid containerPort: {target}"))?;
    let pub_range = match published {
        Some("") | None => None,
        Some(p) => Some(p.parse::<PortRange>().map_err(|_| format!("invalid hostPort: {p}"))?),
    };
    let count = targets.count();
    let mut out = Vec::new();
    for (i, target) in targets.ports().enumerate() {
        let mut m = Map::new();
        if let Some(ip) = host_ip {
            m.insert("host_ip".into(), json!(ip));
        }
        m.insert("mode".into(), json!("ingress"));
        m.insert("protocol".into(), json!(protocol));
        match pub_range {
            Some(p) if p.count() == count => {
                m.insert("published".into(), json!(p.ports().nth(i).unwrap_or(p.end).to_string()));
            }
            Some(p) if count == 1 => {
                m.insert("published".into(), json!(p.to_string()));
            }
            Some(_) => {
                return Err(format!(
                    "invalid port range {spec:?}: host and container ranges differ in size"
                ))
            }
            None => {}
        }
        m.insert("target".into(), json!(target));
        out.push(Value::Object(m));
    }
    // Compose expands a range through a map keyed `port/proto` and lists it in key order: as text.
    out.sort_by_cached_key(|m| m.get("target").map(Value::to_string).unwrap_or_default());
    Ok(out)
}

/// Splits `ip:published:target` where the IP may be `[v6]` or a bare address.
fn split_parts(s: &str) -> Result<(Option<&str>, Option<&str>, &str), String> {
    if let Some(r) = s.strip_prefix('[') {
        let (ip, after) = r
            .split_once(']')
            .ok_or_else(|| format!("invalid IP address in {s:?}"))?;
        let after = after
            .strip_prefix(':')
            .ok_or_else(|| format!("invalid port spec {s:?}"))?;
        let (p, t) = after
            .rsplit_once(':')
            .ok_or_else(|| format!("invalid port spec {s:?}"))?;
        return Ok((Some(ip), Some(p), t));
    }
    let Some((head, target)) = s.rsplit_once(':') else {
        return Ok((None, None, s));
    };
    match head.rsplit_once(':') {
        Some((ip, p)) => Ok((Some(ip), Some(p), target)),
        None => Ok((None, Some(head), target)),
    }
}

/// Normalises a long-form port mapping: defaults, published as a string.
pub fn normalize_long_port(m: &Map<String, Value>) -> Value {
    let mut out = m.clone();
    out.entry("mode").or_insert(json!("ingress"));
    out.entry("protocol").or_insert(json!("tcp"));
    if let Some(p) = out.get("published").cloned() {
        match p {
            Value::Number(n) => {
                out.insert("published".into(), json!(n.to_string()));
            }
            Value::Null => {
                out.shift_remove("published");
            }
            _ => {}
        }
    }
    if let Some(Value::String(t)) = out.get("target").cloned() {
        if let Ok(n) = t.parse::<u32>() {
            out.insert("target".into(), json!(n));
        }
    }
    // A written `target: 0` passes Compose's check (the key is there) and is then not printed (`omitempty`).
    if out.get("target") == Some(&json!(0)) {
        out.shift_remove("target");
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_forms() {
        let v = parse_short_port("127.0.0.1:5000-5001:5000-5001").unwrap_or_default();
        assert_eq!(v.len(), 2);
        assert_eq!(v[1]["published"], "5001");
        assert_eq!(v[1]["host_ip"], "127.0.0.1");
        let v = parse_short_port("[::1]:6001:6001/udp").unwrap_or_default();
        assert_eq!(v[0]["host_ip"], "::1");
        assert_eq!(v[0]["protocol"], "udp");
        assert_eq!(parse_short_port("3001-3003").map(|v| v.len()), Ok(3));
        assert!(parse_short_port("80:80:80:80").is_err());
        for empty_ip in [":443:443", "[]:443:443"] {
            let v = parse_short_port(empty_ip).unwrap_or_default();
            assert_eq!(v[0].get("host_ip"), None, "{empty_ip}");
            assert_eq!(v[0]["published"], "443", "{empty_ip}");
        }
    }
}
