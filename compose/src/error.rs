//! Load errors: every refusal says where (file:line:column), which key, and what was expected.

use std::fmt;
use std::path::PathBuf;

/// A point in a source file (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file the position refers to.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// What went wrong, by stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// No Compose file found or a file could not be read.
    Io,
    /// YAML syntax, duplicate keys, bad anchors.
    Yaml,
    /// Variable substitution (`${VAR:?msg}`, bad template).
    Interpolation,
    /// A `.env` or `env_file` could not be parsed.
    Dotenv,
    /// The document does not match the Compose schema.
    Schema,
    /// A value has the right shape but a bad content (duration, port, size...).
    Value,
    /// Cross references: undefined services, networks, volumes, secrets, configs; cycles.
    Semantic,
    /// `extends` or `include` could not be resolved.
    Reference,
}

/// A refusal of the loader, with as much position as is known.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", self.render())]
pub struct LoadError {
    /// Which stage refused the input.
    pub kind: ErrorKind,
    /// Where in which file, when known.
    pub location: Option<Location>,
    /// Key path such as `services.web.ports[2]`, when known.
    pub key_path: Option<String>,
    /// What is wrong and what was expected.
    pub message: String,
}

impl LoadError {
    /// Builds an error with only a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        LoadError {
            kind,
            location: None,
            key_path: None,
            message: message.into(),
        }
    }

    /// Attaches a key path.
    pub fn at_path(mut self, path: impl Into<String>) -> Self {
        let p = path.into();
        if !p.is_empty() {
            self.key_path = Some(p);
        }
        self
    }

    /// Attaches a location unless one is already known.
    pub fn at(mut self, loc: Option<Location>) -> Self {
        if self.location.is_none() {
            self.location = loc;
        }
        self
    }

    fn render(&self) -> String {
        let mut out = String::new();
        if let Some(loc) = &self.location {
            out.push_str(&loc.to_string());
            out.push_str(": ");
        }
        if let Some(p) = &self.key_path {
            out.push_str(p);
            out.push_str(": ");
        }
        out.push_str(&self.message);
        out
    }
}

/// Short alias used across the stages.
pub type Result<T> = std::result::Result<T, LoadError>;
