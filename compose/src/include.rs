//! `include`: load other Compose projects (with their own directory and env files) into this one.

use crate::discover::Source;
use crate::error::{ErrorKind, LoadError, Result};
use crate::loader::Session;
use crate::merge::merge;
use crate::paths::absolutize;
use indexmap::IndexMap;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

struct Entry {
    paths: Vec<String>,
    env_files: Vec<String>,
    project_directory: Option<String>,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

fn entries(v: &Value) -> Vec<Entry> {
    let Value::Array(items) = v else {
        return Vec::new();
    };
    items
        .iter()
        .map(|i| match i {
            Value::String(s) => Entry {
                paths: vec![s.clone()],
                env_files: Vec::new(),
                project_directory: None,
            },
            other => Entry {
                paths: strings(other.get("path")),
                env_files: strings(other.get("env_file")),
                project_directory: other
                    .get("project_directory")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            },
        })
        .collect()
}

/// Loads every `include` entry of `doc` (a file at `file`) and adds its resources to `doc`.
pub fn apply(
    s: &mut Session,
    doc: &mut Value,
    file: &Path,
    base_dir: &Path,
    env: &IndexMap<String, String>,
    chain: &[PathBuf],
) -> Result<()> {
    let Some(inc) = doc.as_object_mut().and_then(|m| m.shift_remove("include")) else {
        return Ok(());
    };
    // Relative include paths resolve against the working directory (the project directory for top-level
    // files, as set by --project-directory), not the including file's directory.
    let file_dir = base_dir.to_path_buf();
    for (i, e) in entries(&inc).into_iter().enumerate() {
        let at = format!("include[{i}]");
        let loc = s.positions.find_in(file, &at);
        apply_entry(s, doc, e, &file_dir, base_dir, env, chain, &at).map_err(|err| err.at(loc))?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn apply_entry(
    s: &mut Session,
    doc: &mut Value,
    e: Entry,
    file_dir: &Path,
    _base_dir: &Path,
    env: &IndexMap<String, String>,
    chain: &[PathBuf],
    at: &str,
) -> Result<()> {
    let file_dir = file_dir.to_path_buf();
    {
        let files: Vec<PathBuf> = e
            .paths
            .iter()
            .map(|p| PathBuf::from(absolutize(&file_dir, p)))
            .collect();
        let Some(first) = files.first() else {
            return Err(LoadError::new(ErrorKind::Reference, "include entry needs a `path`").at_path(at));
        };
        for f in &files {
            if chain.contains(f) {
                let mut cycle: Vec<String> = chain.iter().map(|p| p.display().to_string()).collect();
                cycle.push(f.display().to_string());
                return Err(LoadError::new(
                    ErrorKind::Reference,
                    format!("include cycle detected: {}", cycle.join(" -> ")),
                )
                .at_path(at));
            }
        }
        let proj_dir = match &e.project_directory {
            Some(d) => PathBuf::from(absolutize(&file_dir, d)),
            None => first
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| file_dir.clone()),
        };
        let sub_env = included_env(env, &e.env_files, &file_dir, &proj_dir)?;
        let mut sub = Value::Object(Map::new());
        for f in &files {
            if !f.is_file() {
                return Err(
                    LoadError::new(ErrorKind::Reference, format!("included file {} not found", f.display()))
                        .at_path(at),
                );
            }
            let mut sub_chain = chain.to_vec();
            sub_chain.push(f.clone());
            let d = s.load_file(&Source::File(f.clone()), &sub_env, &proj_dir, &sub_chain)?;
            merge(&mut sub, d, &mut Vec::new());
        }
        import(doc, sub, at)?;
    }
    Ok(())
}

/// The included project's environment: the including one, its env files, the process environment on top.
fn included_env(
    parent: &IndexMap<String, String>,
    env_files: &[String],
    file_dir: &Path,
    proj_dir: &Path,
) -> Result<IndexMap<String, String>> {
    let mut env = parent.clone();
    let files: Vec<PathBuf> = if env_files.is_empty() {
        let p = proj_dir.join(".env");
        if p.is_file() {
            vec![p]
        } else {
            Vec::new()
        }
    } else {
        env_files
            .iter()
            .map(|f| PathBuf::from(absolutize(file_dir, f)))
            .collect()
    };
    for f in files {
        let lookup = |k: &str| env.get(k).cloned();
        let vars = crate::dotenv::read_file(&f, &lookup)?;
        for (k, v) in vars {
            if std::env::var_os(&k).is_none() {
                env.insert(k, v);
            }
        }
    }
    Ok(env)
}

/// Adds the included resources; a service defined on both sides is a conflict.
fn import(doc: &mut Value, sub: Value, at: &str) -> Result<()> {
    let Value::Object(sub) = sub else {
        return Ok(());
    };
    let Some(top) = doc.as_object_mut() else {
        return Ok(());
    };
    for kind in ["services", "networks", "volumes", "secrets", "configs"] {
        let Some(Value::Object(items)) = sub.get(kind) else {
            continue;
        };
        let target = top.entry(kind).or_insert(Value::Object(Map::new()));
        if target.is_null() {
            *target = Value::Object(Map::new());
        }
        let Value::Object(t) = target else { continue };
        for (name, v) in items {
            match t.get(name) {
                Some(existing) if existing != v && kind == "services" => {
                    return Err(LoadError::new(
                        ErrorKind::Reference,
                        format!("services.{name} conflicts with the service of the same name imported by this include"),
                    )
                    .at_path(at));
                }
                Some(_) => {}
                None => {
                    t.insert(name.clone(), v.clone());
                }
            }
        }
    }
    Ok(())
}
