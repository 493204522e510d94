//! Durations, byte sizes and port ranges: each written one way by users (`1m30s`, `512m`, `8000-8010`) and
//! parsed in one place, so the Compose loader, the Engine API and the storage and network crates agree.

mod bytes;
mod duration;
mod ports;

pub use bytes::parse_bytes;
pub use duration::{format_duration, parse_duration};
pub use ports::{PortRange, PortRangeError};
