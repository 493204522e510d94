//! Validation: the Compose JSON schema per file, then cross-reference checks on the merged project.

pub mod conflicts;
pub mod schema;
pub mod semantic;
