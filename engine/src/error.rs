//! The engine's error type: each variant maps to one Docker API status code.

use std::fmt::Display;

/// Errors of engine operations; the API turns them into `{"message": ...}` with Docker's status codes.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Bad parameter in a request (400).
    #[error("{0}")]
    BadRequest(String),
    /// No such container/image/... (404).
    #[error("{0}")]
    NotFound(String),
    /// Conflicts with the current state, e.g. a name in use or a running container (409).
    #[error("{0}")]
    Conflict(String),
    /// Refused by the object's kind, e.g. a container on a configuration-only network (403, as dockerd).
    #[error("{0}")]
    Forbidden(String),
    /// The request changes nothing, e.g. starting a running container (304).
    #[error("{0}")]
    NotModified(String),
    /// A feature that berth does not provide yet (501).
    #[error("{0}")]
    NotImplemented(String),
    /// Anything else (500).
    #[error("{0}")]
    Internal(String),
}

/// Result alias for engine operations.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

impl EngineError {
    /// An internal error with context: `"<what>: <cause>"`.
    pub fn internal(what: impl Display, cause: impl Display) -> Self {
        EngineError::Internal(format!("{what}: {cause}"))
    }
}

impl From<redb::Error> for EngineError {
    fn from(e: redb::Error) -> Self {
        EngineError::internal("state database", e)
    }
}

macro_rules! redb_error {
    ($($t:ty),*) => {$(
        impl From<$t> for EngineError {
            fn from(e: $t) -> Self {
                EngineError::internal("state database", e)
            }
        }
    )*};
}
redb_error!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// Adds "what was being done" to io errors.
pub trait IoContext<T> {
    /// Turns an io error into an internal engine error naming `what`.
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| EngineError::internal(what(), e))
    }
}

impl From<imageref::CredentialError> for EngineError {
    fn from(e: imageref::CredentialError) -> Self {
        match e {
            imageref::CredentialError::BadInput(m) => EngineError::BadRequest(m),
            imageref::CredentialError::Internal(m) => EngineError::Internal(m),
        }
    }
}
