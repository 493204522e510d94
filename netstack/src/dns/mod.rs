//! Embedded DNS: container and service names per network, everything else forwarded upstream.

mod forward;
mod records;
mod server;

pub use forward::upstreams_from_resolv_conf;
pub use records::Records;
pub use server::DnsServer;
