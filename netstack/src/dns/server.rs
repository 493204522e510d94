//! One resolver per container: UDP and TCP sockets on 127.0.0.11:53 bound inside the container's
//! network namespace, served by the engine's tokio runtime.
//!
//! A socket belongs to the namespace it was made in, so binding from a thread that joined the
//! container's namespace and handing the sockets to tokio gives each container its own
//! `127.0.0.11` while nothing listens on a host address. A container costs two sockets and two
//! idle tasks. Queries are answered from the [`Records`] of the networks the container is on at
//! that moment; the rest is forwarded from the host's namespace (so a resolver on the host's
//! loopback works as an upstream).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, PTR};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

use super::forward;
use super::records::{AddrKind, Records};
use crate::error::{NetError, Result};
use crate::ids::ContainerId;
use crate::netns;

/// Where every container's resolver listens, inside the container's namespace (as on Docker).
pub const RESOLVER_ADDR: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);

/// Time to live of answers from the name table (seconds).
const TTL: u32 = 600;

type Upstreams = Arc<RwLock<Vec<SocketAddr>>>;
type PerClient = Arc<RwLock<HashMap<ContainerId, Vec<SocketAddr>>>>;

/// The embedded DNS: one shared name table, one listener pair per container namespace.
pub struct DnsServer {
    records: Arc<Records>,
    upstreams: Upstreams,
    per_client: PerClient,
    port: u16,
    listeners: Mutex<HashMap<ContainerId, [JoinHandle<()>; 2]>>,
}

#[derive(Clone)]
struct Ctx {
    client: ContainerId,
    records: Arc<Records>,
    upstreams: Upstreams,
    per_client: PerClient,
}

impl DnsServer {
    /// A server whose resolvers listen on `port` and forward unknown names to `upstreams`.
    pub fn new(upstreams: Vec<SocketAddr>, port: u16) -> Self {
        DnsServer {
            records: Arc::new(Records::default()),
            upstreams: Arc::new(RwLock::new(upstreams)),
            per_client: Arc::default(),
            port,
            listeners: Mutex::new(HashMap::new()),
        }
    }

    /// The name table.
    pub fn records(&self) -> &Records {
        &self.records
    }

    /// Replaces the upstream resolvers.
    pub fn set_upstreams(&self, upstreams: Vec<SocketAddr>) {
        *self.upstreams.write().unwrap_or_else(|p| p.into_inner()) = upstreams;
    }

    /// Makes queries of `client` go to `upstreams` (its `dns` setting); empty = the default ones.
    pub fn set_client_upstreams(&self, client: &ContainerId, upstreams: Vec<SocketAddr>) {
        let mut map = self.per_client.write().unwrap_or_else(|p| p.into_inner());
        if upstreams.is_empty() {
            map.remove(client);
        } else {
            map.insert(client.clone(), upstreams);
        }
    }

    /// True when `client`'s resolver is running.
    pub fn is_serving(&self, client: &ContainerId) -> bool {
        self.listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(client)
    }

    /// Starts `client`'s resolver inside the namespace at `netns_path` (whose `lo` is up).
    /// Does nothing if it already runs. Must be called inside a tokio runtime.
    pub fn serve(&self, client: &ContainerId, netns_path: &Path) -> Result<()> {
        let mut listeners = self.listeners.lock().unwrap_or_else(|p| p.into_inner());
        if listeners.contains_key(client) {
            return Ok(());
        }
        let addr = SocketAddr::new(IpAddr::V4(RESOLVER_ADDR), self.port);
        let (udp, tcp) = netns::run_in(netns_path, move || bind_pair(addr))?
            .map_err(|e| NetError::io("bind the resolver in", netns_path, e))?;
        let udp = UdpSocket::from_std(udp).map_err(|e| NetError::io("register resolver socket of", netns_path, e))?;
        let tcp = TcpListener::from_std(tcp).map_err(|e| NetError::io("register resolver socket of", netns_path, e))?;
        let ctx = Ctx {
            client: client.clone(),
            records: self.records.clone(),
            upstreams: self.upstreams.clone(),
            per_client: self.per_client.clone(),
        };
        let tasks = [
            tokio::spawn(serve_udp(Arc::new(udp), ctx.clone())),
            tokio::spawn(serve_tcp(tcp, ctx)),
        ];
        listeners.insert(client.clone(), tasks);
        Ok(())
    }

    /// Stops `client`'s resolver (its sockets close, so its namespace can go) and forgets its upstreams.
    pub fn stop(&self, client: &ContainerId) {
        let tasks = self.listeners.lock().unwrap_or_else(|p| p.into_inner()).remove(client);
        tasks.into_iter().flatten().for_each(|t| t.abort());
        self.set_client_upstreams(client, Vec::new());
    }

    /// Containers whose resolver runs.
    pub fn serving(&self) -> Vec<ContainerId> {
        self.listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect()
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        let listeners = self.listeners.get_mut().unwrap_or_else(|p| p.into_inner());
        listeners.drain().flat_map(|(_, t)| t).for_each(|t| t.abort());
    }
}

/// Binds UDP and TCP on `addr` in the calling thread's namespace, non-blocking for tokio.
fn bind_pair(addr: SocketAddr) -> std::io::Result<(std::net::UdpSocket, std::net::TcpListener)> {
    let udp = std::net::UdpSocket::bind(addr)?;
    udp.set_nonblocking(true)?;
    let tcp = std::net::TcpListener::bind(addr)?;
    tcp.set_nonblocking(true)?;
    Ok((udp, tcp))
}

async fn serve_udp(sock: Arc<UdpSocket>, ctx: Ctx) {
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
            // Transient (e.g. out of memory): do not spin.
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            continue;
        };
        let Ok(msg) = Message::from_vec(&buf[..n]) else {
            if let Some(reply) = formerr(&buf[..n]) {
                let _ = sock.send_to(&reply, peer).await;
            }
            continue;
        };
        // Names of the table are answered inline; only forwards wait on the network.
        if let Some(reply) = local_reply(&ctx, &msg) {
            let _ = sock.send_to(&reply, peer).await;
            continue;
        }
        let packet = buf[..n].to_vec();
        let (sock, ctx) = (sock.clone(), ctx.clone());
        tokio::spawn(async move {
            if let Some(reply) = forward_reply(&ctx, &msg, &packet, false).await {
                let _ = sock.send_to(&reply, peer).await;
            }
        });
    }
}

async fn serve_tcp(listener: TcpListener, ctx: Ctx) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of descriptors and the like: do not spin.
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        tokio::spawn(serve_tcp_conn(stream, ctx.clone()));
    }
}

async fn serve_tcp_conn(mut stream: TcpStream, ctx: Ctx) {
    loop {
        let Ok(len) = stream.read_u16().await else { return };
        let mut packet = vec![0u8; usize::from(len)];
        if stream.read_exact(&mut packet).await.is_err() {
            return;
        }
        let reply = match Message::from_vec(&packet) {
            Ok(msg) => match local_reply(&ctx, &msg) {
                Some(r) => Some(r),
                None => forward_reply(&ctx, &msg, &packet, true).await,
            },
            Err(_) => formerr(&packet),
        };
        let Some(reply) = reply else { return };
        let Ok(n) = u16::try_from(reply.len()) else { return };
        if stream.write_all(&n.to_be_bytes()).await.is_err() || stream.write_all(&reply).await.is_err() {
            return;
        }
    }
}

/// The encoded answer from the name table, if it has one for this query.
fn local_reply(ctx: &Ctx, msg: &Message) -> Option<Vec<u8>> {
    if msg.metadata.message_type != MessageType::Query {
        return None;
    }
    let [query] = msg.queries.as_slice() else { return None };
    if msg.metadata.op_code != OpCode::Query || query.query_class != DNSClass::IN {
        return None;
    }
    let reply = match query.query_type {
        RecordType::PTR => ptr_answer(ctx, msg, &query.name)?,
        _ => address_answer(ctx, msg, &query.name, query.query_type)?,
    };
    reply.to_vec().ok()
}

fn address_answer(ctx: &Ctx, msg: &Message, name: &Name, rtype: RecordType) -> Option<Message> {
    let kind = match rtype {
        RecordType::A => Some(AddrKind::V4),
        RecordType::AAAA => Some(AddrKind::V6),
        RecordType::ANY => Some(AddrKind::Any),
        _ => None,
    };
    // Other types (MX, TXT...) of a known name: the name is checked, no record taken.
    let addrs = match kind {
        Some(kind) => ctx.records.lookup_kind_for(&ctx.client, &name.to_ascii(), kind)?,
        None => ctx
            .records
            .lookup_kind_for(&ctx.client, &name.to_ascii(), AddrKind::Any)
            .map(|_| Vec::new())?,
    };
    let mut reply = error_reply(msg, ResponseCode::NoError);
    reply.metadata.authoritative = true;
    // A known name with no address of the asked type gets an empty NOERROR, not a forward.
    for addr in &addrs {
        let rdata = match addr {
            IpAddr::V4(v4) => RData::A(A(*v4)),
            IpAddr::V6(v6) => RData::AAAA(AAAA(*v6)),
        };
        reply.add_answer(Record::from_rdata(name.clone(), TTL, rdata));
    }
    Some(reply)
}

fn ptr_answer(ctx: &Ctx, msg: &Message, name: &Name) -> Option<Message> {
    let addr = reverse_addr(&name.to_ascii())?;
    let target = ctx.records.reverse_for(&ctx.client, addr)?;
    let target = Name::from_ascii(format!("{target}.")).ok()?;
    let mut reply = error_reply(msg, ResponseCode::NoError);
    reply.metadata.authoritative = true;
    reply.add_answer(Record::from_rdata(name.clone(), TTL, RData::PTR(PTR(target))));
    Some(reply)
}

/// The address of a reverse name (`4.3.2.1.in-addr.arpa.` or the nibble form under `ip6.arpa.`).
fn reverse_addr(name: &str) -> Option<IpAddr> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if let Some(v4) = name.strip_suffix(".in-addr.arpa") {
        let mut octets: Vec<u8> = v4.split('.').map(|o| o.parse().ok()).collect::<Option<_>>()?;
        octets.reverse();
        let octets: [u8; 4] = octets.try_into().ok()?;
        return Some(IpAddr::from(octets));
    }
    let nibbles: Vec<u8> = name
        .strip_suffix(".ip6.arpa")?
        .split('.')
        .map(|n| u8::from_str_radix(n, 16).ok().filter(|_| n.len() == 1))
        .collect::<Option<_>>()?;
    if nibbles.len() != 32 {
        return None;
    }
    let mut bytes = [0u8; 16];
    for (i, pair) in nibbles.rchunks(2).enumerate() {
        bytes[i] = (pair[1] << 4) | pair[0];
    }
    Some(IpAddr::from(bytes))
}

/// Forwards to the client's `dns` servers or the default upstreams; SERVFAIL when none answers.
async fn forward_reply(ctx: &Ctx, msg: &Message, packet: &[u8], tcp: bool) -> Option<Vec<u8>> {
    if msg.metadata.message_type != MessageType::Query {
        return None;
    }
    let custom = ctx
        .per_client
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .get(&ctx.client)
        .cloned();
    let upstreams = custom.unwrap_or_else(|| ctx.upstreams.read().unwrap_or_else(|p| p.into_inner()).clone());
    let forwarded = if tcp {
        forward::over_tcp(packet, &upstreams).await
    } else {
        forward::over_udp(packet, &upstreams).await
    };
    forwarded.or_else(|| error_reply(msg, ResponseCode::ServFail).to_vec().ok())
}

fn error_reply(msg: &Message, code: ResponseCode) -> Message {
    let mut reply = Message::error_msg(msg.metadata.id, msg.metadata.op_code, code);
    reply.metadata.recursion_desired = msg.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.add_queries(msg.queries.iter().cloned());
    reply
}

/// FORMERR for packets that do not parse but carry at least an id.
fn formerr(packet: &[u8]) -> Option<Vec<u8>> {
    let id = u16::from_be_bytes([*packet.first()?, *packet.get(1)?]);
    Message::error_msg(id, OpCode::Query, ResponseCode::FormErr)
        .to_vec()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_names_parse() {
        assert_eq!(
            reverse_addr("3.0.99.10.in-addr.arpa."),
            Some("10.99.0.3".parse().unwrap())
        );
        let v6 = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.";
        assert_eq!(reverse_addr(v6), Some("2001:db8::1".parse().unwrap()));
        assert_eq!(reverse_addr("300.0.99.10.in-addr.arpa."), None);
        assert_eq!(reverse_addr("0.99.10.in-addr.arpa."), None);
        assert_eq!(reverse_addr("example.com."), None);
    }
}
