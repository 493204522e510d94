//! The Compose model: file discovery, YAML, interpolation, merge, validation, canonical output and the dependency graph.
//!
//! Stages, one module each: [`discover`] → [`yaml`] → [`interpolate`] (with [`dotenv`], [`typecast`]) → [`unicity`]
//! → [`validate::schema`] → [`include`] → [`extends`] → [`paths`] → [`merge`] → [`profiles`] → [`normalize`] → [`validate::semantic`]
//! → [`graph`] → [`model`] / [`output`].

#![warn(missing_docs)]

pub mod budget;
pub mod discover;
pub mod dotenv;
pub mod emit;
pub mod error;
pub mod extends;
pub mod extensions;
pub mod graph;
pub mod include;
pub mod interpolate;
pub mod loader;
pub mod merge;
pub mod model;
pub mod normalize;
pub mod output;
pub mod paths;
pub mod positions;
pub mod profiles;
pub mod resource_hash;
pub mod typecast;
pub mod unicity;
pub mod validate;
pub mod variables;
pub mod yaml;

pub use error::{ErrorKind, LoadError, Location};
pub use graph::ServiceGraph;
pub use loader::{load_document, LoadOptions, Loaded};
pub use model::Project;

/// Loads, checks and types a Compose project.
pub fn load(opts: &LoadOptions) -> Result<Project, LoadError> {
    let loaded = load_document(opts)?;
    Project::from_loaded(&loaded)
}
