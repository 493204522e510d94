//! berth's container engine: image store, containers on libcontainer, monitor, health, events, state and the Docker Engine API server.

pub mod api;
pub mod config;
pub mod containers;
pub mod daemon;
pub mod error;
pub mod events;
pub mod exec;
pub mod filters;
pub mod health;
pub mod images;
pub mod registry;
pub mod restart;
pub mod runtime;
pub mod service;
pub mod state;

pub use config::EngineConfig;
pub use error::{EngineError, Result};
pub use service::Engine;
