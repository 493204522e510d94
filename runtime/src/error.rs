//! Errors of the container runtime.

/// Result with [`RuntimeError`].
pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// What can go wrong running a container.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// A filesystem or process operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The container spec cannot be turned into a runtime spec (bad user, ulimit, capability, ...).
    #[error("invalid container configuration: {0}")]
    InvalidSpec(String),
    /// The container process could not be started; `exit_code` follows Docker (127 not found, 126 not executable).
    #[error("{message}")]
    StartFailed {
        /// Docker-style message, e.g. `exec: "foo": executable file not found in $PATH`.
        message: String,
        /// Exit code Docker reports for this failure.
        exit_code: i32,
    },
    /// No bundle / running container with this id.
    #[error("no such container in the runtime: {0}")]
    NoSuchContainer(String),
    /// The container is not running.
    #[error("container {0} is not running")]
    NotRunning(String),
    /// A bundle for this id exists already.
    #[error("container {0} already has a runtime bundle")]
    AlreadyExists(String),
    /// libcontainer refused an operation.
    #[error("libcontainer: {0}")]
    Libcontainer(String),
    /// A feature of the runtime that is not built yet.
    #[error("not built yet in berth's runtime: {0}")]
    NotBuilt(&'static str),
}

impl RuntimeError {
    /// An I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    /// An errno from nix with context.
    pub fn errno(context: impl Into<String>, errno: nix::errno::Errno) -> Self {
        Self::io(context, std::io::Error::from(errno))
    }
}
