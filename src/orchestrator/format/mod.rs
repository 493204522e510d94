//! Text output as `docker compose` prints it: Go `text/tabwriter` tables, go-units sizes and ages, the docker
//! CLI's port lists, and `--format` Go templates. Scripts parse these outputs, so the shapes are Docker's own.

pub mod human;
pub mod tabwriter;
pub mod template;
