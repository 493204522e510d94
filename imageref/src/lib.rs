//! Image references (`registry/repo:tag@digest`), digests and registry credentials (Docker's
//! `config.json`, credential helpers, `X-Registry-Auth` headers): the vocabulary the berth CLI and its
//! engine share, with nothing of either.

pub mod credentials;
pub mod reference;

pub use credentials::{CredentialError, Credentials, DockerConfig};
pub use reference::{parse_digest, ImageRef, RefError};
