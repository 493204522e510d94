//! berth's container engine: image store, containers on libcontainer, monitor, health, events, state and the Docker Engine API server.
pub mod runtime;
