//! Reading network requests: IPAM configuration of both families, driver and bridge options, the
//! addresses an endpoint asks for. Errors name the request field and say what was expected.

use super::service::DEFAULT_BRIDGE;
use crate::error::{EngineError, Result};
use bollard::models::{EndpointSettings, IpamConfig, NetworkCreateRequest};
use netstack::{BridgeName, BridgeOptions, Driver, SubnetRequest, SubnetRequest6};
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Names Docker reserves for its predefined networks.
const PREDEFINED: [&str; 3] = [DEFAULT_BRIDGE, "host", "none"];

/// dockerd's option keys for bridge networks.
pub(super) const OPT_BRIDGE_NAME: &str = "com.docker.network.bridge.name";
const OPT_ICC: &str = "com.docker.network.bridge.enable_icc";
const OPT_MASQUERADE: &str = "com.docker.network.bridge.enable_ip_masquerade";
/// Default host address of ports published by containers of the network.
pub(super) const OPT_HOST_BINDING: &str = "com.docker.network.bridge.host_binding_ipv4";
pub(super) const OPT_MTU: &str = "com.docker.network.driver.mtu";

pub(super) fn bad(field: &str, value: &str, expected: &str) -> EngineError {
    EngineError::BadRequest(format!("{field}: invalid value {value:?}: expected {expected}"))
}

pub(super) fn parse_opt<T: std::str::FromStr>(field: &str, v: Option<&String>, expected: &str) -> Result<Option<T>> {
    match v.map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s.parse().map(Some).map_err(|_| bad(field, s, expected)),
    }
}

fn is_v6(c: &IpamConfig) -> bool {
    c.subnet.as_deref().unwrap_or("").contains(':')
}

fn aux_of<T: std::str::FromStr>(c: &IpamConfig, expected: &str) -> Result<BTreeMap<String, T>> {
    c.auxiliary_addresses
        .iter()
        .flatten()
        .map(|(name, a)| {
            let field = format!("IPAM.Config.AuxiliaryAddresses.{name}");
            Ok((name.clone(), a.trim().parse().map_err(|_| bad(&field, a, expected))?))
        })
        .collect()
}

/// The IPv4 request and, for `EnableIPv6` networks, the IPv6 one (a pool subnet when none is configured).
/// The subnets a create request asks for: IPv4 unless `EnableIPv4` is false, IPv6 when `EnableIPv6` is true.
pub(super) fn subnet_requests(req: &NetworkCreateRequest) -> Result<(Option<SubnetRequest>, Option<SubnetRequest6>)> {
    let configs = req.ipam.as_ref().and_then(|i| i.config.clone()).unwrap_or_default();
    if let Some(d) = req
        .ipam
        .as_ref()
        .and_then(|i| i.driver.as_deref())
        .filter(|d| !d.is_empty() && *d != "default")
    {
        return Err(EngineError::NotFound(format!(
            "IPAM.Driver: plugin {d:?} not found: berth has the default IPAM driver only"
        )));
    }
    let (v6, v4): (Vec<&IpamConfig>, Vec<&IpamConfig>) = configs.iter().partition(|c| is_v6(c));
    let enabled6 = req.enable_ipv6 == Some(true);
    let bridge = matches!(req.driver.as_deref().unwrap_or(""), "" | "bridge");
    if bridge && (v4.len() > 1 || (enabled6 && v6.len() > 1)) && req.config_only != Some(true) {
        return Err(EngineError::Forbidden(
            "bridge driver doesn't support multiple subnets".into(),
        ));
    }
    if (v4.len() > 1 || (enabled6 && v6.len() > 1)) && req.config_only != Some(true) {
        return Err(EngineError::NotImplemented(
            "IPAM.Config: more than one subnet of a family per network is not supported by berth".into(),
        ));
    }
    let enabled4 = req.enable_ipv4 != Some(false);
    if !enabled4 && !enabled6 {
        return Err(EngineError::BadRequest("IPv4 or IPv6 must be enabled".into()));
    }
    if !enabled4 && !v4.is_empty() {
        return Err(EngineError::BadRequest(
            "IPAM.Config: an IPv4 subnet is given but EnableIPv4 is false".into(),
        ));
    }
    let v4 = match v4.first() {
        _ if !enabled4 => None,
        Some(c) => Some(SubnetRequest {
            subnet: parse_opt(
                "IPAM.Config.Subnet",
                c.subnet.as_ref(),
                "an IPv4 CIDR like 10.99.0.0/24",
            )?,
            gateway: parse_opt("IPAM.Config.Gateway", c.gateway.as_ref(), "an IPv4 address")?,
            ip_range: parse_opt(
                "IPAM.Config.IPRange",
                c.ip_range.as_ref(),
                "an IPv4 CIDR inside the subnet",
            )?,
            default_bridge: false,
            aux: aux_of(c, "an IPv4 address inside the subnet")?,
        }),
        None => Some(SubnetRequest::default()),
    };
    // As dockerd: without EnableIPv6 an IPv6 entry is kept (shown in inspect) but not allocated.
    if !enabled6 {
        for c in &v6 {
            let _checked = SubnetRequest6 {
                subnet: parse_opt("IPAM.Config.Subnet", c.subnet.as_ref(), "an IPv6 CIDR like fd00:1::/64")?,
                ..SubnetRequest6::default()
            };
        }
        return Ok((v4, None));
    }
    let v6 = match v6.first() {
        Some(c) => SubnetRequest6 {
            subnet: parse_opt("IPAM.Config.Subnet", c.subnet.as_ref(), "an IPv6 CIDR like fd00:1::/64")?,
            gateway: parse_opt("IPAM.Config.Gateway", c.gateway.as_ref(), "an IPv6 address")?,
            ip_range: parse_opt(
                "IPAM.Config.IPRange",
                c.ip_range.as_ref(),
                "an IPv6 CIDR inside the subnet",
            )?,
            aux: aux_of(c, "an IPv6 address inside the subnet")?,
        },
        None => SubnetRequest6::default(),
    };
    Ok((v4, Some(v6)))
}

/// `IPAM.Config` as the request gives it (the row keeps it: inspect shows it back, static addresses check it).
pub(super) fn ipam_given(req: &NetworkCreateRequest) -> Vec<IpamConfig> {
    req.ipam.as_ref().and_then(|i| i.config.clone()).unwrap_or_default()
}

/// `IPAM.Options` as the request gives them (None when it sent none: dockerd shows `null` then).
pub(super) fn ipam_options(req: &NetworkCreateRequest) -> Option<BTreeMap<String, String>> {
    req.ipam
        .as_ref()
        .and_then(|i| i.options.clone())
        .map(|o| o.into_iter().collect())
}

/// The driver a create request names, with its options read (bridge, macvlan, ipvlan).
pub(super) fn driver_of(req: &NetworkCreateRequest) -> Result<Driver> {
    let options: BTreeMap<String, String> = req.options.clone().unwrap_or_default().into_iter().collect();
    Driver::from_options(req.driver.as_deref().unwrap_or(""), &options).map_err(|e| {
        if e.key == "Driver" {
            EngineError::NotFound(e.to_string())
        } else {
            EngineError::BadRequest(e.to_string())
        }
    })
}

fn parse_bool_opt(key: &str, v: Option<&String>) -> Result<Option<bool>> {
    match v.map(|s| s.trim()) {
        None | Some("") => Ok(None),
        // Go's strconv.ParseBool, which dockerd uses for these options.
        Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(Some(true)),
        Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(Some(false)),
        Some(other) => Err(bad(&format!("Options.{key}"), other, "true or false")),
    }
}

/// The `com.docker.network.bridge.*` options of a network's stored options.
pub(super) fn bridge_options(options: &BTreeMap<String, String>) -> Result<BridgeOptions> {
    let name = match options.get(OPT_BRIDGE_NAME).map(|s| s.trim()).filter(|s| !s.is_empty()) {
        Some(n) => Some(BridgeName::custom(n).map_err(|e| EngineError::BadRequest(e.to_string()))?),
        None => None,
    };
    parse_opt::<Ipv4Addr>(
        &format!("Options.{OPT_HOST_BINDING}"),
        options.get(OPT_HOST_BINDING),
        "an IPv4 address",
    )?;
    Ok(BridgeOptions {
        name,
        icc: parse_bool_opt(OPT_ICC, options.get(OPT_ICC))?.unwrap_or(true),
        masquerade: parse_bool_opt(OPT_MASQUERADE, options.get(OPT_MASQUERADE))?.unwrap_or(true),
    })
}

/// Refuses what berth (or dockerd) cannot create, before anything is made.
pub(super) fn check_create(req: &NetworkCreateRequest) -> Result<()> {
    let name = req.name.as_str();
    // dockerd takes any name without a slash (spaces included); an empty one is refused.
    if name.trim().is_empty() || name.contains('/') {
        return Err(bad("Name", name, "a non-empty name without '/'"));
    }
    if PREDEFINED.contains(&name) {
        // dockerd's words, trailing space included.
        return Err(EngineError::Forbidden(format!(
            "operation is not permitted on predefined {name} network "
        )));
    }
    super::config_only::check(req)?;
    if req.config_only == Some(true) {
        // A config-only network has no driver of its own (dockerd shows `null` whatever was named).
        return Ok(());
    }
    match req.driver.as_deref().unwrap_or("") {
        // As dockerd: host and none exist once, predefined.
        d @ ("host" | "null") => {
            return Err(EngineError::Forbidden(format!(
                "only one instance of \"{d}\" network is allowed"
            )))
        }
        "overlay" => {
            return Err(EngineError::NotImplemented(
                "Driver: overlay networks span several machines and berth runs stacks on one; for a cluster, \
                 export the stack as Kubernetes manifests with `berth bridge convert`"
                    .into(),
            ))
        }
        _ => {
            driver_of(req)?;
        }
    }
    let options: BTreeMap<String, String> = req.options.clone().unwrap_or_default().into_iter().collect();
    bridge_options(&options)?;
    subnet_requests(req)?;
    Ok(())
}

/// The addresses an endpoint asks for (`IPAMConfig`) and its MAC address.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct EndpointAddrs {
    pub ipv4: Option<Ipv4Addr>,
    pub ipv6: Option<Ipv6Addr>,
    pub link_local: Vec<IpAddr>,
    pub mac: Option<[u8; 6]>,
}

impl EndpointAddrs {
    /// dockerd's rules for addresses asked for: only on user-defined networks, and only of a family the user
    /// gave the network a subnet of.
    pub(super) fn check_allowed_on(&self, net: &super::NetworkRecord) -> Result<()> {
        let asked = [(self.ipv4.is_some(), false), (self.ipv6.is_some(), true)];
        if !asked.iter().any(|&(given, _)| given) {
            return Ok(());
        }
        if net.default_bridge {
            return Err(EngineError::BadRequest(
                "user specified IP address is supported on user defined networks only".into(),
            ));
        }
        if asked.iter().any(|&(given, v6)| given && !net.user_subnet(v6)) {
            return Err(EngineError::BadRequest(
                "user specified IP address is supported only when connecting to networks with user configured subnets"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// Reads `EndpointSettings.IPAMConfig` and `MacAddress`.
pub(super) fn endpoint_addrs(settings: Option<&EndpointSettings>) -> Result<EndpointAddrs> {
    let cfg = settings.and_then(|s| s.ipam_config.as_ref());
    let field = |k: &str| format!("EndpointConfig.IPAMConfig.{k}");
    let link_local = cfg
        .and_then(|c| c.link_local_ips.as_ref())
        .into_iter()
        .flatten()
        .map(|a| {
            // As dockerd (`invalid link local IP address`): checked when the endpoint is made, at start or connect.
            let expected = "link-local addresses (169.254.0.0/16, fe80::/10)";
            match a.trim().parse::<IpAddr>() {
                Ok(ip) if is_link_local(&ip) => Ok(ip),
                _ => Err(bad(&field("LinkLocalIPs"), a, expected)),
            }
        })
        .collect::<Result<Vec<IpAddr>>>()?;
    let mac =
        match settings
            .and_then(|s| s.mac_address.as_deref())
            .filter(|m| !m.is_empty())
        {
            Some(m) => Some(parse_mac(m).ok_or_else(|| {
                EngineError::BadRequest(format!("EndpointConfig.MacAddress: invalid MAC address: {m}"))
            })?),
            None => None,
        };
    Ok(EndpointAddrs {
        ipv4: parse_opt(
            &field("IPv4Address"),
            cfg.and_then(|c| c.ipv4_address.as_ref()),
            "an IPv4 address",
        )?,
        ipv6: parse_opt(
            &field("IPv6Address"),
            cfg.and_then(|c| c.ipv6_address.as_ref()),
            "an IPv6 address",
        )?,
        link_local,
        mac,
    })
}

/// Go's `IP.IsLinkLocalUnicast`, the test dockerd applies to `LinkLocalIPs`.
fn is_link_local(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_link_local(),
        IpAddr::V6(a) => a.segments()[0] & 0xffc0 == 0xfe80,
    }
}

/// The create request's driver options as stored.
pub(super) fn options_of(req: &NetworkCreateRequest) -> BTreeMap<String, String> {
    req.options
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect::<HashMap<_, _>>()
        .into_iter()
        .collect()
}

/// `aa:bb:cc:dd:ee:ff` (or with `-`) → bytes; None unless six hex octets of a unicast address.
pub(crate) fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = text.split([':', '-']).collect();
    if parts.len() != 6 {
        return None;
    }
    let mut mac = [0u8; 6];
    for (slot, part) in mac.iter_mut().zip(&parts) {
        if part.len() != 2 {
            return None;
        }
        *slot = u8::from_str_radix(part, 16).ok()?;
    }
    // A multicast address cannot be an interface's own (the kernel refuses it with EADDRNOTAVAIL).
    (mac[0] & 1 == 0).then_some(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_driver(driver: &str) -> Result<()> {
        check_create(&NetworkCreateRequest {
            name: "n".into(),
            driver: Some(driver.into()),
            ..Default::default()
        })
    }

    #[test]
    fn drivers_beyond_bridge_are_refused_with_the_reason() {
        assert!(with_driver("bridge").is_ok() && with_driver("").is_ok());
        let host = with_driver("host").unwrap_err().to_string();
        assert_eq!(host, "only one instance of \"host\" network is allowed");
        let overlay = with_driver("overlay").unwrap_err();
        assert!(
            matches!(&overlay, EngineError::NotImplemented(m) if m.contains("berth bridge convert") && m.contains("Kubernetes")),
            "{overlay}"
        );
        assert!(matches!(with_driver("weave"), Err(EngineError::NotFound(_))));
        let macvlan = with_driver("macvlan").unwrap_err().to_string();
        assert!(macvlan.contains("Options.parent"), "{macvlan}");
    }

    #[test]
    fn dual_stack_requests_split_by_family() {
        let cfg = |s: &str| IpamConfig {
            subnet: Some(s.into()),
            ..Default::default()
        };
        let mut req = NetworkCreateRequest {
            name: "with spaces".into(),
            enable_ipv6: Some(true),
            ipam: Some(bollard::models::Ipam {
                config: Some(vec![cfg("fd00:9::/64"), cfg("10.9.0.0/24")]),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(check_create(&req).is_ok(), "names with spaces are dockerd's too");
        let (v4, v6) = subnet_requests(&req).unwrap();
        assert_eq!(v4.unwrap().subnet.unwrap().to_string(), "10.9.0.0/24");
        assert_eq!(v6.unwrap().subnet.unwrap().to_string(), "fd00:9::/64");
        req.enable_ipv6 = None;
        assert!(subnet_requests(&req).unwrap().1.is_none());
        req.ipam = Some(bollard::models::Ipam {
            config: Some(vec![cfg("fd00:9::1/64x")]),
            ..Default::default()
        });
        req.enable_ipv6 = Some(true);
        let err = subnet_requests(&req).unwrap_err().to_string();
        assert!(err.contains("IPAM.Config.Subnet") && err.contains("IPv6 CIDR"), "{err}");
    }

    #[test]
    fn bridge_options_are_read_as_dockerd_does() {
        let opts: BTreeMap<String, String> = [
            (OPT_ICC.to_string(), "false".to_string()),
            (OPT_BRIDGE_NAME.to_string(), "br-custom0".to_string()),
        ]
        .into();
        let b = bridge_options(&opts).unwrap();
        assert!(!b.icc && b.masquerade);
        assert_eq!(b.name.unwrap().as_str(), "br-custom0");
        let long: BTreeMap<String, String> = [(OPT_BRIDGE_NAME.to_string(), "x".repeat(16))].into();
        assert!(bridge_options(&long).is_err());
        let bad_bool: BTreeMap<String, String> = [(OPT_MASQUERADE.to_string(), "maybe".to_string())].into();
        assert!(bridge_options(&bad_bool)
            .unwrap_err()
            .to_string()
            .contains(OPT_MASQUERADE));
    }

    #[test]
    fn macs_parse_and_multicast_is_refused() {
        assert_eq!(parse_mac("02:42:AC:11:00:02"), Some([2, 0x42, 0xac, 0x11, 0, 2]));
        assert_eq!(parse_mac("02-42-ac-11-00-02"), Some([2, 0x42, 0xac, 0x11, 0, 2]));
        assert_eq!(parse_mac("01:00:5e:00:00:01"), None);
        assert_eq!(parse_mac("02:42:ac:11:00"), None);
        assert_eq!(parse_mac("zz:42:ac:11:00:02"), None);
    }

    #[test]
    fn link_local_ips_must_be_link_local() {
        let settings = |ips: &[&str]| EndpointSettings {
            ipam_config: Some(bollard::models::EndpointIpamConfig {
                link_local_ips: Some(ips.iter().map(|s| s.to_string()).collect()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let ok = endpoint_addrs(Some(&settings(&["169.254.7.7", "fe80::7", "febf::1"]))).unwrap();
        assert_eq!(ok.link_local.len(), 3);
        for wrong in ["10.9.9.9", "fec0::1", "::1", "not-an-ip"] {
            let err = endpoint_addrs(Some(&settings(&["169.254.7.7", wrong])))
                .unwrap_err()
                .to_string();
            assert!(err.contains("IPAMConfig.LinkLocalIPs") && err.contains(wrong), "{err}");
        }
    }
}
