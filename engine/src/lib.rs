//! berth's container engine: image store, containers on libcontainer, monitor, health, events, state and the Docker Engine API server.

pub mod api;
pub mod build;
pub mod config;
pub mod containers;
pub mod daemon;
pub mod engine;
pub mod error;
pub mod events;
pub mod exec;
pub mod filters;
pub mod health;
pub mod images;
pub mod networks;
pub mod registry;
pub mod restart;
pub mod state;
#[cfg(test)]
mod test_tar;
pub mod volumes;

pub use config::EngineConfig;
pub use engine::Engine;
pub use error::{EngineError, Result};
