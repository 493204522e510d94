//! `extends`: a service built on another one, from the same file or another file, in chains.

use crate::discover::Source;
use crate::error::{ErrorKind, LoadError, Result};
use crate::loader::Session;
use crate::merge::merge;
use crate::paths::{absolutize, resolve_service};
use crate::yaml::{is_reset, mark, tag_of, untagged, untagged_mut, OVERRIDE_MARK};
use indexmap::IndexMap;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// Resolves `extends` of every service of `doc` (read from `file`).
/// Relative `extends.file` paths resolve against `dir`, the working directory of `file`.
pub fn apply(s: &mut Session, doc: &mut Value, file: &Path, dir: &Path, env: &IndexMap<String, String>) -> Result<()> {
    // `!override` markers (on `services`, a service, `extends`) are seen through, and kept on the resolved
    // service so that merging with the earlier files still replaces it.
    let Some(Value::Object(services)) = untagged_mut(doc).get_mut("services").map(untagged_mut) else {
        return Ok(());
    };
    let overridden: Vec<String> = services
        .iter()
        .filter(|(_, v)| matches!(tag_of(v), Some((OVERRIDE_MARK, _))))
        .map(|(k, _)| k.clone())
        .collect();
    let plain: Map<String, Value> = services.iter().map(|(k, v)| (k.clone(), untagged(v).clone())).collect();
    for name in plain.keys() {
        let mut chain = Vec::new();
        let svc = resolve(s, name, &plain, (file, dir), env, &mut chain).map_err(|e| {
            let loc = e.key_path.as_deref().and_then(|p| s.positions.find_in(file, p));
            e.at(loc)
        })?;
        let svc = if overridden.contains(name) {
            mark(OVERRIDE_MARK, svc)
        } else {
            svc
        };
        services.insert(name.clone(), svc);
    }
    Ok(())
}

fn resolve(
    s: &mut Session,
    name: &str,
    services: &Map<String, Value>,
    (file, dir): (&Path, &Path),
    env: &IndexMap<String, String>,
    chain: &mut Vec<(PathBuf, String)>,
) -> Result<Value> {
    let at = format!("services.{name}");
    let svc = services.get(name).ok_or_else(|| {
        LoadError::new(
            ErrorKind::Reference,
            format!("cannot extend service {name:?}: no such service in {}", file.display()),
        )
        .at_path(&at)
    })?;
    let Some(ext) = svc.get("extends").filter(|e| !is_reset(e)).map(untagged) else {
        return Ok(svc.clone());
    };
    let key = (file.to_path_buf(), name.to_owned());
    if chain.contains(&key) {
        let names: Vec<String> = chain.iter().map(|(_, n)| n.clone()).chain([name.to_owned()]).collect();
        return Err(LoadError::new(
            ErrorKind::Reference,
            format!("extends cycle detected: {}", names.join(" -> ")),
        )
        .at_path(at));
    }
    chain.push(key);
    let (base_name, other_file) = match ext {
        Value::String(b) => (b.clone(), None),
        Value::Object(m) => (
            m.get("service")
                .map(untagged)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            m.get("file").map(untagged).and_then(Value::as_str).map(str::to_owned),
        ),
        _ => {
            return Err(LoadError::new(
                ErrorKind::Reference,
                "extends expects a service name or {service, file}",
            )
            .at_path(format!("{at}.extends")))
        }
    };
    let mut base = match other_file {
        None => resolve(s, &base_name, services, (file, dir), env, chain)?,
        Some(f) => {
            let path = PathBuf::from(absolutize(dir, &f));
            let other = s
                .parse_file(&Source::File(path.clone()), env)
                .map_err(|e| e.at_path(format!("{at}.extends.file")))?;
            let other_services = untagged(&other)
                .get("services")
                .map(untagged)
                .and_then(Value::as_object)
                .map(|m| m.iter().map(|(k, v)| (k.clone(), untagged(v).clone())).collect())
                .unwrap_or_default();
            let other_dir = path.parent().unwrap_or(Path::new("/")).to_path_buf();
            let mut b = resolve(s, &base_name, &other_services, (&path, &other_dir), env, chain)?;
            if let Value::Object(m) = &mut b {
                resolve_service(m, &other_dir);
            }
            b
        }
    };
    chain.pop();
    let mut local = svc.clone();
    if let Value::Object(m) = &mut local {
        m.shift_remove("extends");
    }
    if let Value::Object(m) = &mut base {
        m.shift_remove("extends");
    }
    merge(&mut base, local, &mut vec!["services".into(), name.into()]);
    Ok(base)
}
