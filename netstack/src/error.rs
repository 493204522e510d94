//! The crate's error type.

use std::net::IpAddr;
use std::path::PathBuf;

/// Everything that can go wrong while setting up container networking.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A value given by the caller does not parse or is out of range.
    #[error("invalid {what} {value:?}: {reason}")]
    Invalid {
        what: &'static str,
        value: String,
        reason: String,
    },
    /// No subnet of the configured pools is free.
    #[error("no free subnet left in the address pools (all overlap existing networks or host routes)")]
    PoolsExhausted,
    /// A requested subnet overlaps another network or a host route.
    #[error("subnet {subnet} overlaps {other}")]
    SubnetOverlap { subnet: String, other: String },
    /// Every address of a network is leased.
    #[error("no free address left in network {network} ({range})")]
    AddressesExhausted { network: String, range: String },
    /// The requested address is leased to someone else or outside the network.
    #[error("address {addr} is not available in network {network}: {reason}")]
    AddressUnavailable {
        addr: IpAddr,
        network: String,
        reason: String,
    },
    /// The network is not known to the IPAM state or to this netstack.
    #[error("no such network: {0}")]
    NoSuchNetwork(String),
    /// A host port is already taken.
    #[error("port {proto}/{addr}:{port} is already allocated{}", holder.as_ref().map(|h| format!(" by {h}")).unwrap_or_default())]
    PortInUse {
        proto: &'static str,
        addr: IpAddr,
        port: u16,
        holder: Option<String>,
    },
    /// A netlink request failed.
    #[error("netlink: {action}: {source}")]
    Netlink {
        action: String,
        #[source]
        source: rtnetlink::Error,
    },
    /// `nft` refused a change or could not run.
    #[error("nftables: {0}")]
    Nft(String),
    /// A system call or file operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A feature the caller asked for is not built.
    #[error("not supported: {0}")]
    Unsupported(String),
}

/// Result alias for this crate.
pub type Result<T, E = NetError> = std::result::Result<T, E>;

impl NetError {
    pub(crate) fn invalid(what: &'static str, value: impl Into<String>, reason: impl Into<String>) -> Self {
        NetError::Invalid {
            what,
            value: value.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        NetError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn netlink(action: impl Into<String>, source: rtnetlink::Error) -> Self {
        NetError::Netlink {
            action: action.into(),
            source,
        }
    }
}
