//! Configuration-only networks (`ConfigOnly`) and networks made from one (`ConfigFrom`), as dockerd has them:
//! a config-only network holds IPAM settings, options and labels but no bridge, no addresses and no
//! containers; a network created with `ConfigFrom: {Network: name}` takes them and may not give its own.
//! dockerd's messages and 403s are kept, since clients (and compose's `external` networks) match on them.

use super::service::{resolve_in, Networks};
use super::state::{Change, NetworkRecord};
use crate::error::{EngineError, Result};
use bollard::models::NetworkCreateRequest;
use netstack::NetworkAllocation;

/// The driver name dockerd shows for a config-only network.
const CONFIG_ONLY_DRIVER: &str = "null";

/// dockerd's refusals that depend on the request alone (libnetwork's `validateConfiguration`).
pub(super) fn check(req: &NetworkCreateRequest) -> Result<()> {
    let forbidden = |m: &str| Err(EngineError::Forbidden(m.into()));
    let from = req
        .config_from
        .as_ref()
        .and_then(|c| c.network.as_deref())
        .unwrap_or("");
    if req.config_only == Some(true) {
        let scope = req.scope.as_deref().unwrap_or("");
        if req.ingress == Some(true) || req.internal == Some(true) || req.attachable == Some(true) || !scope.is_empty()
        {
            return forbidden(
                "configuration network can only contain network specific fields. Network operator fields like \
                 [ ingress | internal | attachable | scope ] are not supported.",
            );
        }
        if !from.is_empty() {
            return forbidden("a configuration network cannot depend on another configuration network");
        }
        return Ok(());
    }
    if req.ingress == Some(true) {
        // Outside a swarm every network is local: dockerd's answer for an ingress network.
        return forbidden("Ingress network can only be global scope network");
    }
    if from.is_empty() {
        return Ok(());
    }
    let ipam = req.ipam.as_ref();
    let ipam_driver = ipam.and_then(|i| i.driver.as_deref()).unwrap_or("");
    let own_config = !matches!(ipam_driver, "" | "default")
        || req.enable_ipv6 == Some(true)
        || req.labels.as_ref().is_some_and(|l| !l.is_empty())
        || ipam.and_then(|i| i.options.as_ref()).is_some_and(|o| !o.is_empty())
        || ipam.and_then(|i| i.config.as_ref()).is_some_and(|c| !c.is_empty());
    if own_config {
        return forbidden(
            "user specified configurations are not supported if the network depends on a configuration network",
        );
    }
    if req.options.as_ref().is_some_and(|o| !o.is_empty()) {
        return forbidden("network driver options are not supported if the network depends on a configuration network");
    }
    Ok(())
}

/// The name a `ConfigFrom` request names, if any.
pub(super) fn config_from(req: &NetworkCreateRequest) -> Option<String> {
    req.config_from
        .as_ref()
        .and_then(|c| c.network.clone())
        .filter(|n| !n.is_empty())
}

/// `req` with the configuration of the config-only network it names taken in (IPAM, IPv6, options, labels),
/// and that network's name.
pub(super) fn apply(
    nets: &[NetworkRecord],
    req: &NetworkCreateRequest,
    from: &str,
) -> Result<(NetworkCreateRequest, String)> {
    let missing = || EngineError::NotFound(format!("configuration network {from:?} does not exist"));
    let cfg = resolve_in(nets, from).map_err(|_| missing())?;
    if !cfg.config_only {
        return Err(missing());
    }
    let mut out = req.clone();
    out.enable_ipv6 = Some(cfg.enable_ipv6);
    out.options = Some(cfg.options.clone().into_iter().collect());
    out.labels = Some(cfg.labels.clone().into_iter().collect());
    out.ipam = Some(bollard::models::Ipam {
        driver: None,
        config: cfg.ipam_given.clone(),
        options: cfg.ipam_options.clone().map(|o| o.into_iter().collect()),
    });
    Ok((out, cfg.name))
}

/// The allocation field of a config-only row: it has none (no subnet is taken from the pools); inspect shows
/// the configuration as given.
fn no_allocation() -> Result<NetworkAllocation> {
    Ok(NetworkAllocation { v4: None, v6: None })
}

impl Networks {
    /// Stores a config-only network: its row only, no subnet, bridge or rules (under `changes`).
    pub(super) fn create_config_only(&self, req: &NetworkCreateRequest) -> Result<String> {
        // Checked as dockerd parses them, though nothing is allocated from them yet.
        super::request::subnet_requests(req)?;
        let id = hex::encode(rand::random::<[u8; 32]>());
        let rec = NetworkRecord {
            id: id.clone(),
            name: req.name.clone(),
            driver: CONFIG_ONLY_DRIVER.into(),
            created: chrono::Utc::now().to_rfc3339(),
            internal: false,
            attachable: false,
            labels: req.labels.clone().unwrap_or_default().into_iter().collect(),
            options: super::request::options_of(req),
            alloc: no_allocation()?,
            mtu: None,
            default_bridge: false,
            enable_ipv6: req.enable_ipv6 == Some(true),
            ipam_given: Some(super::request::ipam_given(req)),
            ipam_options: super::request::ipam_options(req),
            config_only: true,
            config_from: None,
        };
        self.db().commit(&[Change::PutNetwork(&rec)], None)?;
        Ok(id)
    }

    /// Refuses to remove a config-only network that another network takes its configuration from.
    pub(super) fn check_config_unused(&self, rec: &NetworkRecord) -> Result<()> {
        if !rec.config_only {
            return Ok(());
        }
        let nets = self.db().networks()?;
        if nets.iter().any(|n| n.config_from.as_deref() == Some(rec.name.as_str())) {
            return Err(EngineError::Forbidden(format!(
                "error while removing network: configuration network {:?} is in use",
                rec.name
            )));
        }
        Ok(())
    }
}

/// dockerd's refusal of an endpoint on a config-only network.
pub(super) fn refuse_endpoint(net: &NetworkRecord) -> Result<()> {
    match net.config_only {
        true => Err(EngineError::Forbidden(
            "cannot create endpoint on configuration-only network".into(),
        )),
        false => Ok(()),
    }
}
