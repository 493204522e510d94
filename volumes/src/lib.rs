//! Volumes and mounts: the named-volume store and every kind of mount a container gets.
//!
//! Flow for the engine: `spec::parse` a container's config into [`MountRequest`]s at create
//! (bad input refused, anonymous volumes named) and store them; [`VolumeStore::prepare`] them
//! (`Stage::Create`, then `Stage::Start` with the rootfs) into [`PreparedMount`]s the runtime turns
//! into OCI mounts. Volume records ([`Volume`]) live in the engine's database; the store owns
//! the directories `<root>/volumes/<name>/_data` and the mounts on them.

pub mod copyup;
pub mod driver;
pub mod error;
pub mod mountinfo;
pub mod mounting;
pub mod name;
pub mod options;
pub mod pins;
pub mod prepare;
pub mod prepared_mount;
pub mod resolve;
pub mod spec;
pub mod store;
pub mod volume;

pub use copyup::copy_up;
pub use driver::LocalDriver;
pub use error::{Error, ErrorKind, Result};
pub use name::VolumeName;
pub use options::{Propagation, TmpfsOptions};
pub use prepare::{Prepared, Stage};
pub use prepared_mount::{MountKind, PreparedMount};
pub use spec::{MountEntry, MountInputs, MountRequest, RequestSource, VolumesFrom, VolumesFromSpec};
pub use store::{PruneReport, VolumeStore};
pub use volume::{Scope, Volume, VolumeCatalog, ANONYMOUS_LABEL, LOCAL_DRIVER};
