//! The orchestrator: converges an engine to a Compose project, talking only the Docker Engine API (bollard).

pub mod attach;
pub mod canonical;
pub mod client;
pub mod converge;
pub mod down;
pub mod events;
pub mod exec;
pub mod from_compose;
pub mod info;
pub mod labels;
pub mod lifecycle;
pub mod logs;
pub mod logs_verb;
pub mod ls;
pub mod plan;
pub mod progress;
pub mod project;
pub mod ps;
pub mod resources;
pub mod run;
pub mod secrets;
pub mod service_body;
pub mod spec;
pub mod tty;
pub mod up;
