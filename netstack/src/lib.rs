//! Container networking: Linux bridges, veth pairs, network namespaces, IPAM, nftables rules, published ports and embedded DNS.

pub mod dns;
pub mod error;
pub mod ids;
pub mod ipam;
pub mod links;
pub mod netns;
pub mod nft;

pub use error::{NetError, Result};
pub use ids::{BridgeName, ContainerId, InstanceTag, NetworkId, Owner, VethName};
