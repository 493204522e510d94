//! The network service: networks and endpoints in the state database, the kernel side through netstack,
//! and what the container service calls around a container's life (`setup_container`,
//! `teardown_container`, `forget_container`, `readopt_container`).

mod config_only;
mod container;
mod ops;
mod predefined;
#[cfg(test)]
mod privileged_tests;
mod purge;
mod request;
mod service;
mod state;

pub use container::{check_networks_exist, port_requests, ContainerNet, ContainerNetRequest, NetMode};
pub use predefined::predefined_endpoint_id;
pub use purge::purge;
pub use service::{dns_names, LazyNetworks, Networks, DEFAULT_BRIDGE};
pub use state::{EndpointRecord, NetworkRecord};
