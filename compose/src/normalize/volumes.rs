//! Service volume short syntax (`source:target:mode`) to the long form.

use serde_json::{json, Map, Value};

/// A parsed short volume spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShortVolume {
    /// Host path or volume name; None for an anonymous volume.
    pub source: Option<String>,
    /// Path in the container.
    pub target: String,
    /// Options after the second colon (`ro`, `z`, `nocopy`, propagation).
    pub options: Vec<String>,
}

fn is_drive(s: &[u8]) -> bool {
    s.len() >= 3 && s[0].is_ascii_alphabetic() && s[1] == b':' && (s[2] == b'\\' || s[2] == b'/')
}

/// Splits on `:` but keeps Windows drive prefixes (`c:/x`) whole, as Compose does.
fn split_volume(spec: &str) -> Vec<String> {
    let b = spec.as_bytes();
    let mut parts = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        if i == start && is_drive(&b[i..]) {
            i += 2;
            continue;
        }
        if b[i] == b':' {
            parts.push(spec[start..i].to_owned());
            start = i + 1;
        }
        i += 1;
    }
    parts.push(spec[start..].to_owned());
    parts
}

/// Parses `[source:]target[:options]`.
pub fn parse_short_volume(spec: &str) -> Result<ShortVolume, String> {
    let parts = split_volume(spec);
    let (source, target, opts) = match parts.as_slice() {
        [t] => (None, t.clone(), None),
        [s, t] => (Some(s.clone()), t.clone(), None),
        [s, t, o] => (Some(s.clone()), t.clone(), Some(o.clone())),
        _ => return Err(format!("invalid spec: {spec}: too many colons")),
    };
    if target.is_empty() {
        return Err(format!("invalid spec: {spec}: empty container path"));
    }
    let options = opts
        .map(|o| o.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    Ok(ShortVolume {
        source: source.filter(|s| !s.is_empty()),
        target,
        options,
    })
}

/// True when a short-syntax source names a host path rather than a volume.
pub fn is_host_path(source: &str) -> bool {
    source.starts_with(['.', '/', '~']) || is_drive(source.as_bytes()) || source == "."
}

/// Container paths are cleaned like Go's `path.Clean` (`/media/` → `/media`, `//./pipe/x` → `/pipe/x`), as
/// Compose cleans them.
pub fn clean_target(t: &str) -> String {
    if t.is_empty() {
        return ".".into();
    }
    let rooted = t.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in t.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

/// Long form of a short spec; `resolve` turns a relative host path into an absolute one.
pub fn short_to_long(spec: &str, resolve: &dyn Fn(&str) -> String) -> Result<Value, String> {
    let v = parse_short_volume(spec)?;
    let mut m = Map::new();
    let mut bind = Map::new();
    let mut volume = Map::new();
    let kind = match &v.source {
        Some(s) if is_host_path(s) => "bind",
        _ => "volume",
    };
    m.insert("type".into(), json!(kind));
    if let Some(s) = &v.source {
        let src = if kind == "bind" { resolve(s) } else { s.clone() };
        m.insert("source".into(), json!(src));
    }
    m.insert("target".into(), json!(clean_target(&v.target)));
    for o in &v.options {
        match o.as_str() {
            "ro" => {
                m.insert("read_only".into(), json!(true));
            }
            "rw" | "" => {}
            "z" | "Z" => {
                bind.insert("selinux".into(), json!(o));
            }
            "nocopy" => {
                volume.insert("nocopy".into(), json!(true));
            }
            "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate" => {
                bind.insert("propagation".into(), json!(o));
            }
            // Accepted for Docker Desktop files and, as in Compose, not kept.
            "cached" | "delegated" | "consistent" => {}
            // Compose drops an option it does not know (`data:/p:tmpfs`); berth says so.
            other => tracing::warn!("volume {spec:?}: unknown option {other:?} ignored, as Docker Compose ignores it"),
        }
    }
    // Compose keeps the bind options (SELinux label, propagation) written on a named volume too.
    if kind == "bind" {
        bind.insert("create_host_path".into(), json!(true));
    }
    if !bind.is_empty() {
        m.insert("bind".into(), Value::Object(bind));
    }
    if kind == "volume" {
        m.insert("volume".into(), Value::Object(volume));
    }
    Ok(Value::Object(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let id = |s: &str| format!("/p/{s}");
        let v = short_to_long("./src:/app:ro", &id).unwrap_or_default();
        assert_eq!(v["type"], "bind");
        assert_eq!(v["read_only"], true);
        let v = short_to_long("data:/d", &id).unwrap_or_default();
        assert_eq!(v["type"], "volume");
        let v = short_to_long("/anon", &id).unwrap_or_default();
        assert!(v.get("source").is_none());
        // A one-letter name followed by `:/` reads as a Windows drive path, as in Compose.
        let v = short_to_long("a:/a", &id).unwrap_or_default();
        assert_eq!(v["target"], "a:/a");
    }
}
