//! A container's resolv.conf and extra /etc/hosts entries.

use std::net::{IpAddr, Ipv4Addr};

use crate::error::{NetError, Result};

/// What goes into a container's resolv.conf.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResolvSpec {
    /// The container has the embedded resolver (127.0.0.11 in its namespace).
    pub embedded: bool,
    /// `dns`: nameservers the user asked for. With an embedded server they become its upstreams
    /// for this container (see `DnsServer::set_client_upstreams`), not lines of the file.
    pub dns: Vec<IpAddr>,
    /// `dns_search`.
    pub search: Vec<String>,
    /// `dns_opt`.
    pub options: Vec<String>,
}

/// Renders resolv.conf. `host` is the host's resolv.conf text: its search and options apply
/// unless overridden; its nameservers are used only without an embedded server and without `dns`
/// (loopback ones dropped: they mean nothing inside the container's namespace). With the embedded
/// resolver, as on Docker: `nameserver 127.0.0.11` and `ndots:0` unless the options set ndots.
pub fn render_resolv_conf(spec: &ResolvSpec, host: &str) -> String {
    let host_values = |key: &str| -> Vec<String> {
        host.lines()
            .filter_map(|l| l.trim().strip_prefix(key))
            .filter(|rest| rest.starts_with([' ', '\t']))
            .flat_map(|rest| rest.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .collect()
    };
    let nameservers: Vec<String> = match (spec.embedded, spec.dns.is_empty()) {
        (true, _) => vec![crate::dns::RESOLVER_ADDR.to_string()],
        (false, false) => spec.dns.iter().map(IpAddr::to_string).collect(),
        (false, true) => host_values("nameserver")
            .into_iter()
            .filter(|ns| !ns.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()))
            .collect(),
    };
    let search = if spec.search.is_empty() {
        host_values("search")
    } else {
        spec.search.clone()
    };
    let mut options = if spec.options.is_empty() {
        host_values("options")
    } else {
        spec.options.clone()
    };
    // Names of the container's networks are single labels: no search-list walk before asking.
    if spec.embedded && !options.iter().any(|o| o.starts_with("ndots:")) {
        options.push("ndots:0".into());
    }
    let mut out = String::new();
    for ns in nameservers {
        out.push_str(&format!("nameserver {ns}\n"));
    }
    // "." is Docker's way of saying "no search domains".
    let search: Vec<String> = search.into_iter().filter(|s| s != ".").collect();
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}

/// Target of an `extra_hosts` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostTarget {
    /// A literal address.
    Ip(IpAddr),
    /// `host-gateway`: the gateway of the container's first network.
    HostGateway,
}

/// Parses one `extra_hosts` entry: `name:ip`, `name=ip` or `name:host-gateway` (IPv6 may follow the first colon).
pub fn parse_extra_host(entry: &str) -> Result<(String, HostTarget)> {
    let (name, target) = entry
        .split_once('=')
        .or_else(|| entry.split_once(':'))
        .ok_or_else(|| NetError::invalid("extra host", entry, "expected NAME:IP or NAME=IP"))?;
    let name = name.trim();
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(NetError::invalid(
            "extra host",
            entry,
            "host name is empty or has spaces",
        ));
    }
    let target = target.trim().trim_start_matches('[').trim_end_matches(']');
    let target = if target == "host-gateway" {
        HostTarget::HostGateway
    } else {
        HostTarget::Ip(target.parse().map_err(|_| {
            NetError::invalid(
                "extra host",
                entry,
                "expected an IP address or host-gateway after the name",
            )
        })?)
    };
    Ok((name.to_string(), target))
}

/// Resolves `extra_hosts` to /etc/hosts lines; `host-gateway` needs `gateway`.
pub fn hosts_entries(extra: &[(String, HostTarget)], gateway: Option<Ipv4Addr>) -> Result<Vec<(String, IpAddr)>> {
    extra
        .iter()
        .map(|(name, target)| match target {
            HostTarget::Ip(ip) => Ok((name.clone(), *ip)),
            HostTarget::HostGateway => gateway.map(|g| (name.clone(), IpAddr::V4(g))).ok_or_else(|| {
                NetError::invalid(
                    "extra host",
                    format!("{name}:host-gateway"),
                    "host-gateway needs the container on a bridge network",
                )
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: &str = "nameserver 127.0.0.53\nnameserver 9.9.9.9\nsearch corp.example\noptions edns0\n";

    #[test]
    fn embedded_server_wins_and_host_search_stays() {
        let mut spec = ResolvSpec {
            embedded: true,
            ..Default::default()
        };
        assert_eq!(
            render_resolv_conf(&spec, HOST),
            "nameserver 127.0.0.11\nsearch corp.example\noptions edns0 ndots:0\n"
        );
        spec.options = vec!["ndots:3".into(), "timeout:1".into()];
        spec.search = vec!["s.example".into()];
        assert_eq!(
            render_resolv_conf(&spec, HOST),
            "nameserver 127.0.0.11\nsearch s.example\noptions ndots:3 timeout:1\n",
            "the user's ndots wins"
        );
    }

    #[test]
    fn overrides_and_host_fallback() {
        let spec = ResolvSpec {
            dns: vec!["1.1.1.1".parse().unwrap()],
            search: vec!["a.example".into()],
            options: vec!["ndots:2".into()],
            ..Default::default()
        };
        assert_eq!(
            render_resolv_conf(&spec, HOST),
            "nameserver 1.1.1.1\nsearch a.example\noptions ndots:2\n"
        );
        let none = render_resolv_conf(&ResolvSpec::default(), HOST);
        assert_eq!(
            none, "nameserver 9.9.9.9\nsearch corp.example\noptions edns0\n",
            "loopback resolver dropped"
        );
    }

    #[test]
    fn extra_hosts() {
        let gw: Ipv4Addr = "10.213.0.1".parse().unwrap();
        let parsed: Vec<_> = ["db:10.0.0.5", "h=host-gateway", "v6:::1"]
            .iter()
            .map(|e| parse_extra_host(e).unwrap())
            .collect();
        let lines = hosts_entries(&parsed, Some(gw)).unwrap();
        assert_eq!(lines[1], ("h".to_string(), IpAddr::V4(gw)));
        assert_eq!(lines[2].1, "::1".parse::<IpAddr>().unwrap());
        assert!(parse_extra_host("nocolon").is_err());
        assert!(hosts_entries(&parsed, None).is_err());
    }
}
