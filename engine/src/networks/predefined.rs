//! dockerd's `host` and `none` networks. They exist on every engine and hold no bridge, subnet or endpoint
//! rows; berth keeps no record of them either, but lists, inspects and refuses them as dockerd does.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::service::{resolve_in, Networks, DEFAULT_BRIDGE};
use super::state::NetworkRecord;
use crate::error::{EngineError, Result};
use netstack::NetworkAllocation;

/// The predefined networks besides `bridge`, with their drivers.
const HOST_AND_NONE: [(&str, &str); 2] = [("host", "host"), ("none", "null")];

impl Networks {
    /// The `host` and `none` networks. Their ids derive from the default bridge's, so they stay the same for
    /// as long as the engine's state does.
    pub fn host_and_none(&self) -> Result<Vec<NetworkRecord>> {
        let bridge = self.resolve(DEFAULT_BRIDGE)?;
        Ok(HOST_AND_NONE
            .iter()
            .map(|(name, driver)| NetworkRecord {
                id: hex::encode(Sha256::digest(format!("{}/{name}", bridge.id))),
                name: (*name).to_owned(),
                driver: (*driver).to_owned(),
                created: bridge.created.clone(),
                internal: false,
                attachable: false,
                labels: BTreeMap::new(),
                options: BTreeMap::new(),
                alloc: NetworkAllocation { v4: None, v6: None },
                mtu: None,
                default_bridge: false,
                enable_ipv6: false,
                ipam_given: Some(Vec::new()),
                ipam_options: None,
                config_only: false,
                config_from: None,
            })
            .collect())
    }

    /// The stored network, or `host` or `none`, that `ident` (name, id or unique id prefix) names.
    pub fn resolve_shown(&self, ident: &str) -> Result<NetworkRecord> {
        let mut all = self.records()?;
        all.extend(self.host_and_none()?);
        resolve_in(&all, ident)
    }

    /// dockerd's refusal to connect a container to, or remove, `host` or `none`; Ok for any other network.
    pub(super) fn refuse_host_or_none(&self, ident: &str, action: PredefinedAction) -> Result<()> {
        let Some(name) = self
            .host_and_none()?
            .into_iter()
            .find(|n| resolve_in(std::slice::from_ref(n), ident).is_ok())
            .map(|n| n.name)
        else {
            return Ok(());
        };
        Err(match (action, name.as_str()) {
            (PredefinedAction::Remove, _) => {
                EngineError::Forbidden(format!("{name} is a pre-defined network and cannot be removed"))
            }
            (PredefinedAction::Connect, "host") => EngineError::BadRequest(TO_OR_FROM_HOST.into()),
            (PredefinedAction::Connect, _) => EngineError::BadRequest(BESIDE_NONE.into()),
        })
    }
}

/// The endpoint id of a running container on `host` or `none` (dockerd makes one per start; berth derives it
/// from the two ids, so a container's inspect and the network's agree).
pub fn predefined_endpoint_id(network_id: &str, container_id: &str) -> String {
    hex::encode(Sha256::digest(format!("{network_id}/endpoint/{container_id}")))
}

/// dockerd's words for a second network beside `none` (either way round).
pub(super) const BESIDE_NONE: &str =
    "container cannot be connected to multiple networks with one of the networks in private (none) mode";

/// dockerd's words for connecting a container on `host` or in another container's namespace.
pub(super) const SHARED_NAMESPACE: &str =
    "container sharing network namespace with another container or host cannot be connected to any other network";

/// dockerd's words for connecting a container to `host`.
const TO_OR_FROM_HOST: &str = "container cannot be disconnected from host network or connected to host network";

/// What is asked of a predefined network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PredefinedAction {
    /// A connect of a container.
    Connect,
    /// A removal.
    Remove,
}
