//! Typed errors of the volumes crate, with the HTTP-ish class the engine maps them to.

use std::path::PathBuf;

/// Result alias of the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How the engine should report an error (Docker API status classes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request was wrong (400).
    BadInput,
    /// The named volume does not exist (404).
    NotFound,
    /// The request conflicts with current state (409).
    Conflict,
    /// The machine failed us (500).
    Internal,
}

/// Everything that can go wrong in the volumes crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A volume name that Docker would refuse too.
    #[error("invalid volume name {name:?}: {reason}")]
    InvalidName { name: String, reason: String },
    /// A mount specification (Binds string, Mounts entry, ...) is malformed.
    #[error("{field}: {message}")]
    InvalidSpec { field: String, message: String },
    /// A local-driver option (`type`, `device`, `o`) is malformed or not supported.
    #[error("invalid volume driver option {key}: {message}")]
    InvalidDriverOption { key: String, message: String },
    /// A bind source that must exist does not.
    #[error("{field}: bind source path does not exist: {}", path.display())]
    BindSourceMissing { field: String, path: PathBuf },
    /// A volume Subpath that leaves its volume, through `..`, an absolute path or a symlink.
    #[error(
        "{field}: subpath {subpath:?} escapes volume {volume} (expected a relative path that stays inside the volume)"
    )]
    SubpathEscapes {
        field: String,
        volume: String,
        subpath: String,
    },
    /// A volume Subpath that does not exist inside its volume.
    #[error("{field}: subpath {subpath:?} does not exist in volume {volume}")]
    SubpathMissing {
        field: String,
        volume: String,
        subpath: String,
    },
    /// Two mounts want the same container path.
    #[error("{field}: duplicate mount point: {destination}")]
    DuplicateMountPoint { field: String, destination: String },
    /// No volume of that name.
    #[error("no such volume: {0}")]
    NotFound(String),
    /// A volume of that name exists already.
    #[error("volume {0} already exists")]
    AlreadyExists(String),
    /// Something is still mounted inside a volume, so its data is not deleted.
    #[error("volume {name} still has a mount at {}; refusing to delete its data", path.display())]
    StillMounted { name: String, path: PathBuf },
    /// A filesystem operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The API status class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidName { .. }
            | Error::InvalidSpec { .. }
            | Error::InvalidDriverOption { .. }
            | Error::BindSourceMissing { .. }
            | Error::SubpathEscapes { .. }
            | Error::SubpathMissing { .. }
            | Error::DuplicateMountPoint { .. } => ErrorKind::BadInput,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::AlreadyExists(_) | Error::StillMounted { .. } => ErrorKind::Conflict,
            Error::Io { .. } => ErrorKind::Internal,
        }
    }

    pub(crate) fn spec(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidSpec {
            field: field.into(),
            message: message.into(),
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn errno(op: &'static str, path: impl Into<PathBuf>, errno: nix::errno::Errno) -> Self {
        Error::io(op, path, std::io::Error::from_raw_os_error(errno as i32))
    }
}
