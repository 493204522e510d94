//! The typed Compose project that later crates (the orchestrator) consume; built from the canonical document.

mod extra;
mod service;
mod types;

pub use extra::*;
pub use service::*;
pub use types::*;

use crate::error::{ErrorKind, LoadError, Location};
use crate::graph::{Edge, ServiceGraph};
use crate::loader::Loaded;
use crate::positions::Positions;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::PathBuf;

/// A loaded, validated, normalised Compose project.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Project {
    /// Project name (prefix of containers, networks, volumes).
    pub name: String,
    /// Enabled services.
    #[serde(default)]
    pub services: IndexMap<ServiceName, Service>,
    /// Networks used by the services.
    #[serde(default)]
    pub networks: IndexMap<String, Network>,
    /// Named volumes used by the services.
    #[serde(default)]
    pub volumes: IndexMap<String, Volume>,
    /// Secrets used by the services.
    #[serde(default)]
    pub secrets: IndexMap<String, FileObject>,
    /// Configs used by the services.
    #[serde(default)]
    pub configs: IndexMap<String, FileObject>,
    /// Models (AI model runner) declared by the project.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub models: IndexMap<String, Value>,
    /// Top-level `x-` extensions, kept as values.
    #[serde(flatten)]
    pub extensions: IndexMap<String, Value>,
    /// Directory relative paths were resolved against.
    #[serde(skip)]
    pub project_dir: PathBuf,
    /// Files the project was loaded from.
    #[serde(skip)]
    pub files: Vec<PathBuf>,
    /// Services left out because none of their profiles is enabled.
    #[serde(skip)]
    pub disabled_services: IndexMap<ServiceName, Service>,
    /// Environment used for interpolation.
    #[serde(skip)]
    pub environment: IndexMap<String, String>,
    /// Where each key path was written, for errors of later stages.
    #[serde(skip)]
    pub positions: Positions,
}

impl Project {
    /// Types a canonical document produced by the loader.
    pub fn from_loaded(l: &Loaded) -> Result<Project, LoadError> {
        let mut p: Project = serde_json::from_value(l.document.clone()).map_err(|e| {
            LoadError::new(
                ErrorKind::Value,
                format!("canonical model does not fit the typed model: {e}"),
            )
        })?;
        p.project_dir = l.project_dir.clone();
        p.files = l.files.clone();
        p.environment = l.environment.clone();
        p.positions = l.positions.clone();
        p.disabled_services = serde_json::from_value(Value::Object(l.disabled_services.clone())).unwrap_or_default();
        Ok(p)
    }

    /// `file:line:column` of a key path such as `services.web.devices` (or of its nearest written ancestor).
    pub fn locate(&self, path: &str) -> Option<Location> {
        self.positions.find(path)
    }

    /// Looks a service up by name.
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|(n, _)| n.as_str() == name).map(|(_, s)| s)
    }

    /// The dependency graph of the enabled services.
    pub fn graph(&self) -> ServiceGraph {
        ServiceGraph::new(self.services.iter().map(|(n, s)| {
            let deps = s
                .depends_on
                .iter()
                .map(|(d, c)| {
                    (
                        d.as_str().to_owned(),
                        Edge {
                            condition: c.condition.as_str().to_owned(),
                            required: c.required,
                            restart: c.restart,
                        },
                    )
                })
                .collect();
            (n.as_str(), deps)
        }))
    }
}
