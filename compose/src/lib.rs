//! The Compose model: file discovery, YAML, interpolation, merge, validation, canonical output and the dependency graph.
