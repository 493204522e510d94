//! The volume service: volume records and their users in the state database, kept consistent with the
//! volume store's directories (`state`), and the container service's mount hooks (`container`).

pub mod container;
pub mod state;

pub use state::{VolumeService, Volumes};
