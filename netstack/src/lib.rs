//! Container networking: Linux bridges, veth pairs, network namespaces, IPAM, nftables rules, published ports and embedded DNS.
//!
//! The engine owns the state (IPAM in its database) and calls [`Netstack`] to make the kernel
//! objects: bridges `brt-<id11>`, host veths `vb<cid8><nid4>`, namespace files
//! `<netns dir>/<container id>`, rules in `table ip berth`. Every object carries the instance's
//! label so [`Netstack::cleanup_orphans`] finds exactly its own after a crash.

mod attach;
pub use attach::{default_mac, mac_of};
pub mod dns;
pub mod driver;
pub mod error;
pub mod ids;
pub mod inflight;
pub mod ipam;
pub mod ipam6;
pub mod links;
pub mod netns;
pub mod nft;
pub mod ports;
mod proxy;
pub mod reaper;
pub mod resolv;
mod retire;
mod stack;

pub use driver::{Driver, DriverError, IpvlanFlag, IpvlanMode, MacvlanMode};
pub use error::{NetError, Result};
pub use ids::{BridgeName, ContainerId, InstanceTag, NetworkId, Owner, VethName};
pub use inflight::Inflight;
pub use ipam::{Allocation4, Ipam, IpamState, NetworkAllocation, Pool, PoolConfig, SubnetRequest};
pub use ipam6::{Allocation6, SubnetRequest6};
/// Subnets as netstack takes them (host routes, pools).
pub use ipnet::IpNet;
pub use nft::{Blocking, ChainRef, Family, Proto};
pub use ports::{PortRequest, PublishedPort};
pub use stack::{
    Attachment, BridgeOptions, CleanupReport, Config, EndpointSpec, Keep, Netstack, NetworkSpec, SubnetLock,
};
