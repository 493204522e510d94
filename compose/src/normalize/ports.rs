//! Port syntaxes to the long form: `[ip:][published[-range]:]target[-range][/protocol]`.

use serde_json::{json, Map, Value};
use std::net::IpAddr;

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
    if let Some(ip) = host_ip {
        ip.parse::<IpAddr>().map_err(|_| format!("invalid IP address: {ip}"))?;
    }
    let (t0, t1) = parse_range(target).ok_or_else(|| format!("invalid containerPort: {target}"))?;
    let pub_range = match published {
        Some("") | None => None,
        Some(p) => Some(parse_range(p).ok_or_else(|| format!("invalid hostPort: {p}"))?),
    };
    let count = t1 - t0 + 1;
    let mut out = Vec::new();
    for i in 0..count {
        let mut m = Map::new();
        if let Some(ip) = host_ip {
            m.insert("host_ip".into(), json!(ip));
        }
        m.insert("mode".into(), json!("ingress"));
        m.insert("protocol".into(), json!(protocol));
        match pub_range {
            Some((p0, p1)) if p1 - p0 + 1 == count => {
                m.insert("published".into(), json!((p0 + i).to_string()));
            }
            Some((p0, p1)) if count == 1 => {
                m.insert("published".into(), json!(format!("{p0}-{p1}")));
            }
            Some(_) => {
                return Err(format!(
                    "invalid port range {spec:?}: host and container ranges differ in size"
                ))
            }
            None => {}
        }
        m.insert("target".into(), json!(t0 + i));
        out.push(Value::Object(m));
    }
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

/// A port (`80`) or an inclusive range (`80-90`), each at most 65535.
pub fn parse_range(s: &str) -> Option<(u32, u32)> {
    let port = |p: &str| p.parse::<u32>().ok().filter(|&n| n <= 65535);
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (port(a)?, port(b)?);
            (a <= b).then_some((a, b))
        }
        None => port(s).map(|p| (p, p)),
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
    }
}
