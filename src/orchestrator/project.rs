//! Which project a verb acts on: the Compose model when one loads, else just its name (enough for verbs that work by labels).

use super::from_compose;
use super::spec::ProjectSpec;
use anyhow::Result;
use compose::LoadOptions;
use std::path::Path;

/// The project a verb acts on.
pub struct Target {
    /// Project name.
    pub name: String,
    /// The model, when a Compose file was found and loaded.
    pub model: Option<ProjectSpec>,
}

/// Loads the model (required by `up`, `create`, `run`...).
pub fn require_model(opts: &LoadOptions) -> Result<ProjectSpec> {
    from_compose::load(opts)
}

/// Loads the model when possible; otherwise names the project from `-p`, `COMPOSE_PROJECT_NAME` or the directory,
/// so `down`, `ps`, `logs` work with no Compose file at hand, as in `docker compose -p name down`.
pub fn resolve(opts: &LoadOptions) -> Result<Target> {
    if let Some(name) = &opts.project_name {
        let model = from_compose::load(opts).ok();
        return Ok(Target {
            name: normalise(name),
            model,
        });
    }
    match from_compose::load(opts) {
        Ok(model) => Ok(Target {
            name: model.name.clone(),
            model: Some(model),
        }),
        Err(err) if !opts.files.is_empty() => Err(err),
        Err(err) => {
            tracing::debug!(error = %err, "no Compose model; acting on the project by name");
            Ok(Target {
                name: fallback_name(opts)?,
                model: None,
            })
        }
    }
}

fn fallback_name(opts: &LoadOptions) -> Result<String> {
    if let Some(name) = std::env::var("COMPOSE_PROJECT_NAME").ok().filter(|n| !n.is_empty()) {
        return Ok(normalise(&name));
    }
    let dir = match &opts.project_directory {
        Some(dir) => dir.clone(),
        None => std::env::current_dir()?,
    };
    let base = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = normalise(&base);
    if name.is_empty() {
        anyhow::bail!(
            "cannot name the project from directory {}: use -p NAME",
            Path::new(&dir).display()
        );
    }
    Ok(name)
}

/// Compose project-name normalisation: lower case, only `[a-z0-9_-]`, starting with a letter or digit.
pub fn normalise(name: &str) -> String {
    let lowered: String = name
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    lowered.trim_start_matches(['_', '-']).to_owned()
}

#[cfg(test)]
mod tests {
    use super::normalise;

    #[test]
    fn normalises_names() {
        assert_eq!(normalise("My.Project"), "myproject");
        assert_eq!(normalise("_x-1"), "x-1");
    }
}
