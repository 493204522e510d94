//! Embedded DNS: a resolver on 127.0.0.11 in every container answering the names of all its
//! networks; everything else forwarded upstream.

mod forward;
mod records;
mod server;

pub use forward::upstreams_from_resolv_conf;
pub use records::{AddrKind, Records};
pub use server::{DnsServer, RESOLVER_ADDR};
