//! Compose's unicity rule: in the lists below, an entry whose key repeats an earlier one's replaces it (in the
//! earlier one's place), before the file is validated. So `cap_add: [ALL, ALL]` or `annotations: [a=b, a=b]`
//! pass the schema's unique-items rule, `environment: [A=1, A=2]` keeps `A=2`, and `volumes: [/a:/x, /b:/x]`
//! keeps the second mount. Lists not named here keep their duplicates, so the schema refuses them
//! (`group_add: [a, a]`), as Compose does.
//!
//! The key of an entry is Compose's: the part before `=`, a mount's target, a port's address, an env file's
//! path. A long volume or device without a target, or an env file without a path, has no key and is refused
//! here, for every service (profiles apply later).

use crate::error::{ErrorKind, LoadError, Result};
use crate::normalize::volumes::parse_short_volume;
use crate::yaml::{tag_of, untagged, untagged_mut, RESET_MARK};
use serde_json::{Map, Value};

#[derive(Clone, Copy)]
enum Key {
    /// `KEY=VALUE` or a plain string: the part before `=`.
    Pair,
    /// Mounts: the target (short syntax parsed).
    Volume,
    /// Devices: the target (`src:dst[:perm]`).
    Device,
    /// Secrets and configs: the target, or the default directory joined with the source.
    Mount(&'static str),
    /// Ports: the short spec as written, or `ip:published:target/protocol`.
    Port,
    /// `env_file`: the path.
    EnvFile,
    /// `expose`: the port as text.
    Expose,
}

/// Service lists and their keys (paths below `services.<name>`; `*` is any network).
const SERVICE_LISTS: [(&[&str], Key); 26] = [
    (&["annotations"], Key::Pair),
    (&["build", "args"], Key::Pair),
    (&["build", "additional_contexts"], Key::Pair),
    (&["build", "tags"], Key::Pair),
    (&["build", "labels"], Key::Pair),
    (&["cap_add"], Key::Pair),
    (&["cap_drop"], Key::Pair),
    (&["deploy", "labels"], Key::Pair),
    (&["dns"], Key::Pair),
    (&["dns_opt"], Key::Pair),
    (&["dns_search"], Key::Pair),
    (&["environment"], Key::Pair),
    (&["labels"], Key::Pair),
    (&["links"], Key::Pair),
    (&["networks", "*", "aliases"], Key::Pair),
    (&["networks", "*", "link_local_ips"], Key::Pair),
    (&["profiles"], Key::Pair),
    (&["sysctls"], Key::Pair),
    (&["tmpfs"], Key::Pair),
    (&["volumes"], Key::Volume),
    (&["devices"], Key::Device),
    (&["secrets"], Key::Mount("/run/secrets")),
    (&["configs"], Key::Mount("")),
    (&["ports"], Key::Port),
    (&["env_file"], Key::EnvFile),
    (&["expose"], Key::Expose),
];

/// Top-level network lists and their keys (paths below `networks.<name>`).
const NETWORK_LISTS: [(&[&str], Key); 2] = [(&["labels"], Key::Pair), (&["ipam", "options"], Key::Pair)];

fn refuse(path: &str, msg: String) -> LoadError {
    LoadError::new(ErrorKind::Semantic, msg).at_path(path)
}

/// Go's `%v` of a value that is not the expected type, so keys built from odd values stay distinct as in Compose.
fn odd(v: Option<&Value>) -> String {
    v.map_or_else(|| "%!(<nil>)".to_owned(), |v| format!("%!({v})"))
}

/// The key of one entry; None keeps the entry as it is (the schema judges its type). The fields of a mapping are
/// read through `!override` markers.
fn key_of(kind: Key, v: &Value, path: &str) -> Result<Option<String>> {
    let text = v.as_str();
    let plain;
    let v = match v {
        Value::Object(m) => {
            plain = Value::Object(m.iter().map(|(k, x)| (k.clone(), untagged(x).clone())).collect());
            &plain
        }
        other => other,
    };
    let key = match (kind, v) {
        (Key::Pair, Value::String(s)) => s.split_once('=').map_or(s.as_str(), |(k, _)| k).to_owned(),
        (Key::Volume, Value::String(s)) => match parse_short_volume(s) {
            Ok(sv) => sv.target,
            Err(_) => return Ok(None),
        },
        (Key::Volume | Key::Device, Value::Object(m)) => match m.get("target") {
            Some(Value::String(t)) => t.clone(),
            _ => return Err(refuse(path, "missing a mount target (`target:`)".into())),
        },
        (Key::Device, Value::String(s)) => s.split(':').nth(1).unwrap_or(s).to_owned(),
        (Key::Mount(dir), Value::String(s)) => format!("{dir}/{s}"),
        (Key::Mount(dir), Value::Object(m)) => match m.get("target") {
            Some(Value::String(t)) => t.clone(),
            Some(_) => return Ok(None),
            None => format!(
                "{dir}/{}",
                m.get("source").and_then(Value::as_str).unwrap_or("%!(<nil>)")
            ),
        },
        (Key::Port | Key::Expose, Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
        (Key::Port | Key::Expose | Key::EnvFile, Value::String(s)) => s.clone(),
        (Key::Port, Value::Object(m)) => {
            let Some(target) = m.get("target") else {
                return Err(refuse(path, "missing a target port".into()));
            };
            let target = if target.is_u64() {
                target.to_string()
            } else {
                odd(Some(target))
            };
            let published = match m.get("published") {
                Some(Value::String(p)) => p.clone(),
                other => odd(other),
            };
            let host = m.get("host_ip").and_then(Value::as_str).unwrap_or("0.0.0.0");
            let protocol = m.get("protocol").and_then(Value::as_str).unwrap_or("tcp");
            format!("{host}:{published}:{target}/{protocol}")
        }
        (Key::EnvFile, Value::Object(m)) => match m.get("path") {
            Some(Value::String(p)) => p.clone(),
            _ => return Err(refuse(path, "the env file's `path` is missing".into())),
        },
        _ => return Ok(text.map(str::to_owned)),
    };
    Ok(Some(key))
}

/// Applies the rule to one list at `path`.
fn unify(list: &mut Vec<Value>, kind: Key, path: &str) -> Result<()> {
    let mut out: Vec<Value> = Vec::with_capacity(list.len());
    // Key → position in `out` (a map: lists of thousands of ports stay linear).
    let mut at: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (i, mut item) in std::mem::take(list).into_iter().enumerate() {
        if matches!(tag_of(&item), Some((RESET_MARK, _))) {
            out.push(item);
            continue;
        }
        match key_of(kind, untagged_mut(&mut item), &format!("{path}[{i}]"))? {
            Some(k) if at.contains_key(&k) => out[at[&k]] = item,
            Some(k) => {
                at.insert(k, out.len());
                out.push(item);
            }
            None => out.push(item),
        }
    }
    *list = out;
    Ok(())
}

/// Follows `segments` (`*`: every entry of a mapping) from `v`, applying the rule to the list found at the end.
fn visit(v: &mut Value, segments: &[&str], kind: Key, path: &str) -> Result<()> {
    let v = untagged_mut(v);
    let Some((first, rest)) = segments.split_first() else {
        if let Value::Array(list) = v {
            unify(list, kind, path)?;
        }
        return Ok(());
    };
    let Value::Object(m) = v else { return Ok(()) };
    if *first == "*" {
        for (k, x) in m.iter_mut() {
            visit(x, rest, kind, &format!("{path}.{k}"))?;
        }
    } else if let Some(x) = m.get_mut(*first) {
        visit(x, rest, kind, &format!("{path}.{first}"))?;
    }
    Ok(())
}

fn each<'a>(doc: &'a mut Value, key: &str) -> Option<&'a mut Map<String, Value>> {
    untagged_mut(doc)
        .get_mut(key)
        .map(untagged_mut)
        .and_then(Value::as_object_mut)
}

/// Applies Compose's unicity rule to one file's document (tags still marked).
pub fn enforce(doc: &mut Value) -> Result<()> {
    if let Some(services) = each(doc, "services") {
        for (name, svc) in services.iter_mut() {
            for (segments, kind) in SERVICE_LISTS {
                visit(svc, segments, kind, &format!("services.{name}"))?;
            }
        }
    }
    if let Some(networks) = each(doc, "networks") {
        for (name, net) in networks.iter_mut() {
            for (segments, kind) in NETWORK_LISTS {
                visit(net, segments, kind, &format!("networks.{name}"))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn later_entries_replace_earlier_ones_with_the_same_key() {
        let mut d = json!({"services": {"s": {
            "environment": ["A=1", "B", "A=2"],
            "volumes": ["/a:/x", "/c:/y", "/b:/x"],
            "secrets": ["s", {"source": "s", "mode": "0400"}],
            "ports": ["80", 80, {"target": 81, "published": "8081"}, {"target": 81, "published": "8081", "protocol": "tcp"}],
            "group_add": ["a", "a"]}}});
        assert!(enforce(&mut d).is_ok());
        let s = &d["services"]["s"];
        assert_eq!(s["environment"], json!(["A=2", "B"]));
        assert_eq!(s["volumes"], json!(["/b:/x", "/c:/y"]));
        assert_eq!(s["secrets"], json!([{"source": "s", "mode": "0400"}]));
        assert_eq!(
            s["ports"],
            json!([80, {"target": 81, "published": "8081", "protocol": "tcp"}])
        );
        assert_eq!(s["group_add"], json!(["a", "a"]));
    }

    #[test]
    fn a_mount_without_target_is_refused_with_its_path() {
        let mut d = json!({"services": {"s": {"volumes": [{"type": "volume", "source": "v"}]}}});
        let e = enforce(&mut d).err().and_then(|e| e.key_path);
        assert_eq!(e.as_deref(), Some("services.s.volumes[0]"));
    }
}
