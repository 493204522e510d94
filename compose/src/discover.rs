//! Finding the Compose files, the project directory, the environment and the project name.

use crate::dotenv;
use crate::error::{ErrorKind, LoadError, Result};
use crate::paths::{absolutize, clean};
use indexmap::IndexMap;
use std::path::{Path, PathBuf};

/// Default file names, in the order Compose tries them.
pub const DEFAULT_FILES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

/// A source of Compose text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file on disk (absolute).
    File(PathBuf),
    /// Standard input (`-f -`).
    Stdin,
}

/// The override file that goes with a default file (`compose.yaml` → `compose.override.yaml`).
fn override_for(file: &Path) -> Option<PathBuf> {
    let dir = file.parent()?;
    let name = file.file_name()?.to_str()?;
    let stem = name.rsplit_once('.')?.0;
    ["yaml", "yml"]
        .iter()
        .map(|ext| dir.join(format!("{stem}.override.{ext}")))
        .find(|p| p.is_file())
}

/// Looks for a default Compose file in `dir` and its parents; returns it and its override, if any.
pub fn find_default(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut d = Some(dir);
    while let Some(cur) = d {
        if let Some(f) = DEFAULT_FILES.iter().map(|n| cur.join(n)).find(|p| p.is_file()) {
            let mut out = vec![f.clone()];
            out.extend(override_for(&f));
            return Ok(out);
        }
        d = cur.parent();
    }
    Err(LoadError::new(
        ErrorKind::Io,
        format!(
            "no configuration file provided: not found (looked for {} in {} and its parents)",
            DEFAULT_FILES.join(", "),
            dir.display()
        ),
    ))
}

/// Turns `-f` values into sources (relative to `cwd`).
pub fn sources_from_flags(files: &[String], cwd: &Path) -> Vec<Source> {
    files
        .iter()
        .map(|f| {
            if f == "-" {
                Source::Stdin
            } else {
                Source::File(PathBuf::from(absolutize(cwd, f)))
            }
        })
        .collect()
}

/// The environment used for interpolation: dotenv files first, the process environment over them.
pub fn project_env(
    process: &IndexMap<String, String>,
    env_files: &[PathBuf],
    project_dir: &Path,
    cwd: &Path,
) -> Result<IndexMap<String, String>> {
    let files: Vec<PathBuf> = if env_files.is_empty() {
        let p = project_dir.join(".env");
        if p.is_file() {
            vec![p]
        } else {
            Vec::new()
        }
    } else {
        env_files
            .iter()
            .map(|f| PathBuf::from(absolutize(cwd, &f.to_string_lossy())))
            .collect()
    };
    let mut env = IndexMap::new();
    for f in files {
        if !f.exists() {
            return Err(LoadError::new(
                ErrorKind::Io,
                format!("couldn't find env file: {}", f.display()),
            ));
        }
        let lookup = |k: &str| process.get(k).cloned().or_else(|| env.get(k).cloned());
        let vars = dotenv::read_file(&f, &lookup)?;
        env.extend(vars);
    }
    for (k, v) in process {
        env.insert(k.clone(), v.clone());
    }
    Ok(env)
}

/// Compose's project name rule: lowercase, only `a-z0-9_-`, starting with a letter or digit.
pub fn normalize_project_name(name: &str) -> String {
    let lower = name.to_lowercase();
    let kept: String = lower
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    kept.trim_start_matches(['_', '-']).to_owned()
}

/// True if `name` is a valid (already normalised) project name.
pub fn is_valid_project_name(name: &str) -> bool {
    !name.is_empty() && normalize_project_name(name) == name
}

/// Default project directory: the directory of the first file, or `cwd` for stdin.
pub fn default_project_dir(sources: &[Source], cwd: &Path) -> PathBuf {
    match sources.first() {
        Some(Source::File(f)) => f.parent().map(clean).unwrap_or_else(|| cwd.to_path_buf()),
        _ => cwd.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names() {
        assert_eq!(
            normalize_project_name("pihole-cloudflared-DoH"),
            "pihole-cloudflared-doh"
        );
        assert_eq!(normalize_project_name("My App!"), "myapp");
        assert!(is_valid_project_name("a_b-1"));
        assert!(!is_valid_project_name("-a"));
    }

    #[test]
    fn finds_file_and_override_in_parent() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("compose.yaml"), "services: {}\n").unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("compose.override.yml"), "services: {}\n").unwrap_or_else(|e| panic!("{e}"));
        let found = find_default(&sub).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(found.len(), 2);
        assert!(found[1].ends_with("compose.override.yml"));
    }
}
