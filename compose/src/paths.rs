//! Relative paths (build contexts, bind mounts, env files, secret files, watch paths) made absolute
//! against the directory their file is relative to.

use crate::normalize::volumes::{is_host_path, parse_short_volume};
use crate::yaml::{is_reset, untagged_mut};
use serde_json::{Map, Value};
use std::path::{Component, Path, PathBuf};

/// Joins `p` to `base` unless absolute, expands `~`, and cleans `.`/`..` lexically. A path written absolute is
/// kept as written (trailing slash, `..` and all), as Compose keeps it.
pub fn absolutize(base: &Path, p: &str) -> String {
    if is_windows_path(p) || Path::new(p).is_absolute() {
        return p.to_owned();
    }
    let expanded = if p == "~" || p.starts_with("~/") {
        let home = std::env::var("HOME").unwrap_or_default();
        format!("{home}{}", &p[1..])
    } else {
        p.to_owned()
    };
    let joined = if Path::new(&expanded).is_absolute() {
        PathBuf::from(&expanded)
    } else {
        base.join(&expanded)
    };
    clean(&joined).to_string_lossy().into_owned()
}

/// `C:\\x` or `C:/x`: absolute on Windows, kept as written.
fn is_windows_path(p: &str) -> bool {
    let b = p.as_bytes();
    b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && (b[2] == b'\\' || b[2] == b'/')
}

/// Lexical clean of a path (like Go's filepath.Clean).
pub fn clean(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

fn is_remote(s: &str) -> bool {
    s.contains("://") || s.starts_with("git@") || s.starts_with("github.com/")
}

/// Resolves every path-like field of a Compose document against `base`.
pub fn resolve_document(doc: &mut Value, base: &Path) {
    let Some(doc) = untagged_mut(doc).as_object_mut() else {
        return;
    };
    if let Some(Value::Object(services)) = get(doc, "services") {
        for svc in services.values_mut().map(untagged_mut).filter_map(Value::as_object_mut) {
            resolve_service(svc, base);
        }
    }
    for kind in ["secrets", "configs"] {
        if let Some(Value::Object(m)) = get(doc, kind) {
            for r in m.values_mut().map(untagged_mut).filter_map(Value::as_object_mut) {
                resolve_key(r, "file", base);
            }
        }
    }
}

/// `m[key]`, seen through an `!override` marker (this stage runs on each file before merging); a `!reset` value
/// is no value.
fn get<'a>(m: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Value> {
    m.get_mut(key).filter(|v| !is_reset(v)).map(untagged_mut)
}

fn resolve_key(m: &mut Map<String, Value>, key: &str, base: &Path) {
    if let Some(Value::String(s)) = get(m, key) {
        *s = absolutize(base, s);
    }
}

/// Resolves the path-like fields of one service against `base`.
pub fn resolve_service(svc: &mut Map<String, Value>, base: &Path) {
    match get(svc, "build") {
        Some(Value::String(s)) if !is_remote(s) => *s = absolutize(base, s),
        Some(Value::Object(b)) => {
            match get(b, "context") {
                Some(Value::String(s)) if !is_remote(s) => *s = absolutize(base, s),
                None => {
                    b.insert("context".into(), Value::String(absolutize(base, ".")));
                }
                _ => {}
            }
            // The list form (`[name=path]`) is the same mapping; an entry without `=` stays for normalisation
            // to refuse.
            if let Some(ac @ Value::Array(_)) = get(b, "additional_contexts") {
                if let Some(m) = crate::merge::to_mapping(ac, '=')
                    .filter(|m| m.as_object().is_some_and(|m| m.values().all(|v| !v.is_null())))
                {
                    *ac = m;
                }
            }
            if let Some(Value::Object(ac)) = get(b, "additional_contexts") {
                for v in ac.values_mut().map(untagged_mut) {
                    if let Value::String(s) = v {
                        if !s.is_empty() && !is_remote(s) && !s.contains(':') {
                            *s = absolutize(base, s);
                        }
                    }
                }
            }
        }
        _ => {}
    }
    if let Some(ef) = get(svc, "env_file") {
        resolve_env_files(ef, base);
    }
    if let Some(Value::Array(vols)) = get(svc, "volumes") {
        for v in vols.iter_mut().map(untagged_mut) {
            resolve_volume(v, base);
        }
    }
    let develop = get(svc, "develop").and_then(Value::as_object_mut);
    if let Some(Value::Array(watch)) = develop.and_then(|d| get(d, "watch")) {
        // A blank path stays blank, for the checks to refuse (Compose cannot resolve it).
        for w in watch.iter_mut().map(untagged_mut).filter_map(Value::as_object_mut) {
            if get(w, "path").and_then(|p| p.as_str()) == Some("") {
                continue;
            }
            resolve_key(w, "path", base);
        }
    }
    match get(svc, "label_file") {
        Some(Value::String(s)) => *s = absolutize(base, s),
        Some(Value::Array(lf)) => {
            for v in lf.iter_mut().map(untagged_mut) {
                if let Value::String(s) = v {
                    *s = absolutize(base, s);
                }
            }
        }
        _ => {}
    }
}

fn resolve_env_files(ef: &mut Value, base: &Path) {
    match ef {
        Value::String(s) => *s = absolutize(base, s),
        Value::Array(items) => items.iter_mut().for_each(|i| resolve_env_files(untagged_mut(i), base)),
        Value::Object(m) => resolve_key(m, "path", base),
        _ => {}
    }
}

fn resolve_volume(v: &mut Value, base: &Path) {
    match v {
        Value::String(s) => {
            if let Ok(sv) = parse_short_volume(s) {
                if let Some(src) = sv
                    .source
                    .filter(|src| is_host_path(src) && !Path::new(src).is_absolute())
                {
                    let abs = absolutize(base, &src);
                    *s = format!("{abs}{}", &s[src.len()..]);
                }
            }
        }
        Value::Object(m) => {
            let bind = m.get("type").and_then(Value::as_str) == Some("bind");
            if bind {
                resolve_key(m, "source", base);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_and_joins() {
        assert_eq!(absolutize(Path::new("/a/b"), "../c/./d"), "/a/c/d");
        assert_eq!(absolutize(Path::new("/a"), "/x/y"), "/x/y");
        assert_eq!(absolutize(Path::new("/a"), "/x/./y/../z/"), "/x/./y/../z/");
        assert_eq!(absolutize(Path::new("/a"), "x/./y/../z/"), "/a/x/z");
        assert_eq!(absolutize(Path::new("/a"), "."), "/a");
    }
}
