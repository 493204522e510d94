//! Forwarding of queries the name table does not answer.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

const TIMEOUT: Duration = Duration::from_secs(3);

/// Nameservers of a resolv.conf file, port 53. A missing file gives none.
pub fn upstreams_from_resolv_conf(path: &Path) -> Vec<SocketAddr> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|rest| rest.trim().split('%').next()?.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

/// Sends `query` to each upstream in turn over UDP; the first answer wins.
pub async fn over_udp(query: &[u8], upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    for up in upstreams {
        let bind: SocketAddr = if up.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().ok()?;
        let Ok(sock) = UdpSocket::bind(bind).await else {
            continue;
        };
        if sock.send_to(query, up).await.is_err() {
            continue;
        }
        let mut buf = vec![0u8; 65535];
        loop {
            match tokio::time::timeout(TIMEOUT, sock.recv_from(&mut buf)).await {
                // Only the upstream's answer to this query id counts.
                Ok(Ok((n, from))) if from == *up && n >= 2 && buf[..2] == query[..2] => {
                    buf.truncate(n);
                    return Some(buf);
                }
                Ok(Ok(_)) => continue,
                _ => break,
            }
        }
    }
    None
}

/// Sends `query` to each upstream in turn over TCP; the first answer wins.
pub async fn over_tcp(query: &[u8], upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    for up in upstreams {
        if let Ok(Some(answer)) = tokio::time::timeout(TIMEOUT, tcp_exchange(query, *up)).await {
            return Some(answer);
        }
    }
    None
}

async fn tcp_exchange(query: &[u8], up: SocketAddr) -> Option<Vec<u8>> {
    let mut stream = TcpStream::connect(up).await.ok()?;
    let len = u16::try_from(query.len()).ok()?;
    stream.write_all(&len.to_be_bytes()).await.ok()?;
    stream.write_all(query).await.ok()?;
    let n = stream.read_u16().await.ok()?;
    let mut buf = vec![0u8; usize::from(n)];
    stream.read_exact(&mut buf).await.ok()?;
    Some(buf)
}
