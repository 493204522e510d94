//! Published ports: parsing requests, reserving host ports, DNAT rules and proxies per container.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinHandle;
use units::{PortRange, PortRangeError};

use crate::error::{NetError, Result};
use crate::ids::ContainerId;
use crate::nft::{Dnat, Proto};
use crate::proxy;

/// One port to publish, as asked for (Docker's PortBinding).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRequest {
    /// tcp or udp.
    pub proto: Proto,
    /// `HostIp` (IPv4 or IPv6, e.g. `::1`, `0.0.0.0`); `None` (`""`) means every address of both families:
    /// 0.0.0.0 and, where the host has IPv6, [::] on the same port, as dockerd binds them.
    pub host_ip: Option<IpAddr>,
    /// `HostPort`: one port, a range to pick a free one from, or `None` for an ephemeral port.
    pub host_ports: Option<(u16, u16)>,
    /// Port inside the container.
    pub container_port: u16,
}

impl PortRequest {
    /// Builds a request from Docker's strings: `HostIp` ("" = any), `HostPort` ("", "8080", "8000-8010").
    pub fn parse(proto: Proto, host_ip: &str, host_port: &str, container_port: u16) -> Result<Self> {
        let host_ip = match host_ip.trim() {
            "" => None,
            s => match s.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
                Ok(ip) => Some(ip),
                Err(_) => return Err(NetError::invalid("HostIp", s, "expected an IPv4 or IPv6 address")),
            },
        };
        let host_ports = parse_port_range(host_port)?;
        if container_port == 0 {
            return Err(NetError::invalid("container port", "0", "expected 1-65535"));
        }
        Ok(PortRequest {
            proto,
            host_ip,
            host_ports,
            container_port,
        })
    }
}

/// A host port or range; empty or `0` means "any free port".
fn parse_port_range(s: &str) -> Result<Option<(u16, u16)>> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let r: PortRange = s.parse().map_err(|e: PortRangeError| {
        NetError::invalid(
            "HostPort",
            s,
            format!("{e}; expected a port 1-65535 or a range like 8000-8010"),
        )
    })?;
    match r {
        r if r.is_any() => Ok(None),
        r if r.start == 0 => Err(NetError::invalid("HostPort", s, "expected ports 1-65535")),
        r => Ok(Some((r.start, r.end))),
    }
}

/// A port as published.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedPort {
    /// tcp or udp.
    pub proto: Proto,
    /// Host address (0.0.0.0 = all IPv4 ones).
    pub host_ip: IpAddr,
    /// Host port actually bound.
    pub host_port: u16,
    /// Port inside the container.
    pub container_port: u16,
}

enum Bound {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

struct Active {
    port: PublishedPort,
    proxy: JoinHandle<()>,
}

/// Host ports held by containers of this netstack.
#[derive(Default)]
pub struct PortTable {
    held: Mutex<HashMap<ContainerId, Vec<Active>>>,
}

impl PortTable {
    /// Binds every requested port (all or none) and starts proxies to `container_ip` (to `container_ip6`
    /// for IPv6 host addresses, when the container has one, and for all on an IPv6-only container). Returns the ports bound and the DNAT rules
    /// the caller must install.
    pub async fn publish(
        &self,
        id: &ContainerId,
        container_ip: Option<Ipv4Addr>,
        container_ip6: Option<Ipv6Addr>,
        reqs: &[PortRequest],
    ) -> Result<(Vec<PublishedPort>, Vec<Dnat>)> {
        // An IPv6-only container takes IPv4 host addresses through the proxy, as dual-stack ones take IPv6 ones
        // without an IPv6 address.
        let Some(fallback) = container_ip.map(IpAddr::V4).or(container_ip6.map(IpAddr::V6)) else {
            return Err(NetError::Unsupported(format!(
                "container {} has no address to publish ports to",
                id.short(12)
            )));
        };
        let mut bound = Vec::new();
        for req in reqs {
            // Any error drops what is bound so far: nothing half-published.
            bound.extend(self.bind(req).await?);
        }
        let mut ports = Vec::new();
        let mut dnats = Vec::new();
        let mut active = Vec::new();
        for (sock, port) in bound {
            // An IPv6 host address reaches the container's IPv6 address; without one, the proxy bridges
            // the families (as docker-proxy does) and no DNAT applies.
            let target_ip = match (port.host_ip, container_ip6) {
                (IpAddr::V6(_), Some(v6)) => IpAddr::V6(v6),
                _ => fallback,
            };
            let target = SocketAddr::new(target_ip, port.container_port);
            let proxy = match sock {
                Bound::Tcp(l) => tokio::spawn(proxy::tcp(l, target)),
                Bound::Udp(u) => tokio::spawn(proxy::udp(u, target)),
            };
            let same_family = port.host_ip.is_ipv4() == target_ip.is_ipv4();
            if !port.host_ip.is_loopback() && same_family {
                dnats.push(Dnat {
                    proto: port.proto,
                    // 0.0.0.0 or [::]: any local address of the family.
                    host_ip: Some(port.host_ip).filter(|ip| !ip.is_unspecified()),
                    host_port: port.host_port,
                    container_ip: target_ip,
                    container_port: port.container_port,
                });
            }
            ports.push(port.clone());
            active.push(Active { port, proxy });
        }
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(id.clone())
            .or_default()
            .extend(active);
        Ok((ports, dnats))
    }

    /// Stops the proxies of `id` and frees its ports.
    pub fn release(&self, id: &ContainerId) {
        let gone = self.held.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
        gone.into_iter().flatten().for_each(|a| a.proxy.abort());
    }

    /// Containers that hold ports.
    pub fn holders(&self) -> Vec<ContainerId> {
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect()
    }

    /// Ports held by `id`.
    pub fn ports_of(&self, id: &ContainerId) -> Vec<PublishedPort> {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.get(id).into_iter().flatten().map(|a| a.port.clone()).collect()
    }

    /// Binds the host address(es) of `req` on one port: its own address, or 0.0.0.0 and [::] for "every
    /// address" (the port of the first also taken on the second; skipped where the host has no IPv6).
    async fn bind(&self, req: &PortRequest) -> Result<Vec<(Bound, PublishedPort)>> {
        let ips = match req.host_ip {
            Some(ip) => vec![ip],
            None => vec![IpAddr::V4(Ipv4Addr::UNSPECIFIED), IpAddr::V6(Ipv6Addr::UNSPECIFIED)],
        };
        let candidates: Vec<u16> = match req.host_ports {
            None => vec![0],
            Some((lo, hi)) => (lo..=hi).collect(),
        };
        let mut last_err = None;
        for port in candidates {
            match bind_on_all(req, &ips, port).await {
                Ok(bound) => return Ok(bound),
                Err(e) => last_err = Some(e),
            }
        }
        let (ip, port, err) = last_err.unwrap_or((ips[0], 0, std::io::Error::other("no port to try")));
        if err.kind() != std::io::ErrorKind::AddrInUse {
            return Err(NetError::io(
                "bind host port",
                format!("{}/{ip}:{port}", req.proto.as_str()),
                err,
            ));
        }
        Err(NetError::PortInUse {
            proto: req.proto.as_str(),
            addr: ip,
            port,
            holder: self
                .holder_of(req.proto, port)
                .or_else(|| process_holding(req.proto, port)),
        })
    }

    fn holder_of(&self, proto: Proto, port: u16) -> Option<String> {
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.iter()
            .find(|(_, ports)| ports.iter().any(|a| a.port.proto == proto && a.port.host_port == port))
            .map(|(id, _)| format!("container {}", id.short(12)))
    }
}

/// Binds `port` (0: any) on each of `ips`, the first's actual port on the rest; all or none. An IPv6
/// wildcard after another address is skipped when the host has no IPv6. Errors carry the address and port.
async fn bind_on_all(
    req: &PortRequest,
    ips: &[IpAddr],
    port: u16,
) -> std::result::Result<Vec<(Bound, PublishedPort)>, (IpAddr, u16, std::io::Error)> {
    let mut out: Vec<(Bound, PublishedPort)> = Vec::new();
    for &ip in ips {
        let want = out.first().map_or(port, |(_, p)| p.host_port);
        // [::] beside 0.0.0.0: IPv6 only, and optional.
        let beside = !out.is_empty() && ip.is_ipv6() && ip.is_unspecified();
        match bind_one(req.proto, ip, want, beside).await {
            Ok((sock, actual)) => {
                let published = PublishedPort {
                    proto: req.proto,
                    host_ip: ip,
                    host_port: actual,
                    container_port: req.container_port,
                };
                out.push((sock, published));
            }
            Err(e) if beside && no_ipv6(&e) => {}
            Err(e) => return Err((ip, want, e)),
        }
    }
    Ok(out)
}

/// The errors of a host (or namespace) without IPv6.
fn no_ipv6(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EAFNOSUPPORT | libc::EADDRNOTAVAIL | libc::EPROTONOSUPPORT)
    )
}

/// A listener (TCP) or socket (UDP) on `ip:port`; `v6_only` keeps an IPv6 wildcard off the IPv4 addresses
/// (0.0.0.0 holds the port there already).
async fn bind_one(proto: Proto, ip: IpAddr, port: u16, v6_only: bool) -> std::io::Result<(Bound, u16)> {
    use socket2::{Domain, Protocol, Socket, Type};
    let addr = SocketAddr::from((ip, port));
    let (ty, protocol) = match proto {
        Proto::Tcp => (Type::STREAM, Protocol::TCP),
        Proto::Udp => (Type::DGRAM, Protocol::UDP),
    };
    let sock = Socket::new(Domain::for_address(addr), ty, Some(protocol))?;
    if ip.is_ipv6() {
        sock.set_only_v6(v6_only)?;
    }
    // What tokio's own bind does on unix: a port in TIME_WAIT after a container's exit is free again.
    if proto == Proto::Tcp {
        sock.set_reuse_address(true)?;
    }
    sock.set_nonblocking(true)?;
    sock.bind(&addr.into())?;
    let bound = match proto {
        Proto::Tcp => {
            sock.listen(1024)?;
            Bound::Tcp(TcpListener::from_std(sock.into())?)
        }
        Proto::Udp => Bound::Udp(UdpSocket::from_std(sock.into())?),
    };
    let actual = match &bound {
        Bound::Tcp(l) => l.local_addr()?.port(),
        Bound::Udp(u) => u.local_addr()?.port(),
    };
    Ok((bound, actual))
}

/// Finds the process that holds a local port (via /proc), for the error message.
fn process_holding(proto: Proto, port: u16) -> Option<String> {
    let inodes: Vec<String> = ["", "6"]
        .iter()
        .filter_map(|v6| std::fs::read_to_string(format!("/proc/thread-self/net/{}{v6}", proto.as_str())).ok())
        .flat_map(|t| {
            t.lines()
                .skip(1)
                .filter_map(|l| socket_inode(l, port))
                .collect::<Vec<_>>()
        })
        .collect();
    if inodes.is_empty() {
        return None;
    }
    for proc_entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let pid = proc_entry.file_name().to_string_lossy().to_string();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(proc_entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let target = target.to_string_lossy();
            if inodes.iter().any(|i| target == format!("socket:[{i}]")) {
                let comm = std::fs::read_to_string(proc_entry.path().join("comm")).unwrap_or_default();
                return Some(format!("process {pid} ({})", comm.trim()));
            }
        }
    }
    None
}

fn socket_inode(line: &str, port: u16) -> Option<String> {
    let cols: Vec<&str> = line.split_whitespace().collect();
    let local_port = u16::from_str_radix(cols.get(1)?.rsplit(':').next()?, 16).ok()?;
    (local_port == port)
        .then(|| cols.get(9).map(|s| s.to_string()))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_port_strings() {
        let r = PortRequest::parse(Proto::Tcp, "", "8000-8010", 80).unwrap();
        assert_eq!(r.host_ports, Some((8000, 8010)));
        assert_eq!(r.host_ip, None);
        let r = PortRequest::parse(Proto::Tcp, "0.0.0.0", "80", 80).unwrap();
        assert_eq!(
            r.host_ip,
            Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            "IPv4 only, unlike \"\""
        );
        let r = PortRequest::parse(Proto::Udp, "127.0.0.1", "", 53).unwrap();
        assert_eq!(r.host_ports, None);
        assert_eq!(r.host_ip, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        let r = PortRequest::parse(Proto::Tcp, "::1", "8080", 80).unwrap();
        assert_eq!(r.host_ip, Some(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        let err = PortRequest::parse(Proto::Tcp, "", "90-80", 80).unwrap_err().to_string();
        assert!(err.contains("start is above its end"), "{err}");
        assert!(PortRequest::parse(Proto::Tcp, "", "http", 80).is_err());
        assert!(PortRequest::parse(Proto::Tcp, "nope", "1", 80).is_err());
    }
}
