//! UDP and TCP listeners on each network's gateway address.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, RwLock};

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{DNSClass, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

use super::forward;
use super::records::Records;
use crate::error::{NetError, Result};
use crate::ids::NetworkId;

/// Time to live of answers from the name table (seconds).
const TTL: u32 = 600;

/// The embedded DNS server: one listener pair per network, one shared name table.
pub struct DnsServer {
    records: Arc<Records>,
    upstreams: Arc<RwLock<Vec<SocketAddr>>>,
    per_client: Arc<RwLock<HashMap<IpAddr, Vec<SocketAddr>>>>,
    listeners: Mutex<HashMap<NetworkId, Vec<JoinHandle<()>>>>,
}

#[derive(Clone)]
struct Ctx {
    network: NetworkId,
    records: Arc<Records>,
    upstreams: Arc<RwLock<Vec<SocketAddr>>>,
    per_client: Arc<RwLock<HashMap<IpAddr, Vec<SocketAddr>>>>,
}

impl DnsServer {
    /// A server forwarding unknown names to `upstreams`.
    pub fn new(upstreams: Vec<SocketAddr>) -> Self {
        DnsServer {
            records: Arc::new(Records::default()),
            upstreams: Arc::new(RwLock::new(upstreams)),
            per_client: Arc::default(),
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

    /// Makes queries from container address `client` go to `upstreams` (its `dns` setting); empty = default.
    pub fn set_client_upstreams(&self, client: IpAddr, upstreams: Vec<SocketAddr>) {
        let mut map = self.per_client.write().unwrap_or_else(|p| p.into_inner());
        if upstreams.is_empty() {
            map.remove(&client);
        } else {
            map.insert(client, upstreams);
        }
    }

    /// Starts answering for `network` on `addr` (UDP and TCP). Replaces an earlier listener of that network.
    pub async fn serve(&self, network: &NetworkId, addr: SocketAddr) -> Result<()> {
        let udp = UdpSocket::bind(addr)
            .await
            .map_err(|e| NetError::io("bind DNS (udp) on", addr.to_string(), e))?;
        let tcp = TcpListener::bind(addr)
            .await
            .map_err(|e| NetError::io("bind DNS (tcp) on", addr.to_string(), e))?;
        let ctx = Ctx {
            network: network.clone(),
            records: self.records.clone(),
            upstreams: self.upstreams.clone(),
            per_client: self.per_client.clone(),
        };
        let tasks = vec![
            tokio::spawn(serve_udp(Arc::new(udp), ctx.clone())),
            tokio::spawn(serve_tcp(tcp, ctx)),
        ];
        let old = self
            .listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(network.clone(), tasks);
        old.into_iter().flatten().for_each(|t| t.abort());
        Ok(())
    }

    /// Stops the listeners of `network` and forgets its names.
    pub fn stop(&self, network: &NetworkId) {
        let tasks = self.listeners.lock().unwrap_or_else(|p| p.into_inner()).remove(network);
        tasks.into_iter().flatten().for_each(|t| t.abort());
        self.records.remove_network(network);
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        let listeners = self.listeners.get_mut().unwrap_or_else(|p| p.into_inner());
        listeners.drain().flat_map(|(_, t)| t).for_each(|t| t.abort());
    }
}

async fn serve_udp(sock: Arc<UdpSocket>, ctx: Ctx) {
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
            continue;
        };
        let packet = buf[..n].to_vec();
        let (sock, ctx) = (sock.clone(), ctx.clone());
        tokio::spawn(async move {
            if let Some(reply) = answer(&ctx, &packet, peer.ip(), false).await {
                let _ = sock.send_to(&reply, peer).await;
            }
        });
    }
}

async fn serve_tcp(listener: TcpListener, ctx: Ctx) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(serve_tcp_conn(stream, peer.ip(), ctx.clone()));
    }
}

async fn serve_tcp_conn(mut stream: TcpStream, peer: IpAddr, ctx: Ctx) {
    loop {
        let Ok(len) = stream.read_u16().await else { return };
        let mut packet = vec![0u8; usize::from(len)];
        if stream.read_exact(&mut packet).await.is_err() {
            return;
        }
        let Some(reply) = answer(&ctx, &packet, peer, true).await else {
            return;
        };
        let Ok(n) = u16::try_from(reply.len()) else { return };
        if stream.write_all(&n.to_be_bytes()).await.is_err() || stream.write_all(&reply).await.is_err() {
            return;
        }
    }
}

/// The reply to one query: from the name table if it knows the name, else from upstream.
async fn answer(ctx: &Ctx, packet: &[u8], peer: IpAddr, tcp: bool) -> Option<Vec<u8>> {
    let Ok(msg) = Message::from_vec(packet) else {
        return formerr(packet);
    };
    if msg.metadata.message_type != MessageType::Query {
        return None;
    }
    if let Some(reply) = local_answer(ctx, &msg) {
        return reply.to_vec().ok();
    }
    let custom = ctx
        .per_client
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .get(&peer)
        .cloned();
    let upstreams = custom.unwrap_or_else(|| ctx.upstreams.read().unwrap_or_else(|p| p.into_inner()).clone());
    let forwarded = if tcp {
        forward::over_tcp(packet, &upstreams).await
    } else {
        forward::over_udp(packet, &upstreams).await
    };
    forwarded.or_else(|| error_reply(&msg, ResponseCode::ServFail).to_vec().ok())
}

fn local_answer(ctx: &Ctx, msg: &Message) -> Option<Message> {
    let [query] = msg.queries.as_slice() else { return None };
    if msg.metadata.op_code != OpCode::Query || query.query_class != DNSClass::IN {
        return None;
    }
    let addrs = ctx.records.lookup(&ctx.network, &query.name.to_ascii())?;
    let mut reply = error_reply(msg, ResponseCode::NoError);
    reply.metadata.authoritative = true;
    let wanted = |a: &IpAddr| {
        matches!(
            (query.query_type, a),
            (RecordType::A, IpAddr::V4(_)) | (RecordType::AAAA, IpAddr::V6(_)) | (RecordType::ANY, _)
        )
    };
    // A known name with no address of the asked type gets an empty NOERROR, not a forward.
    for addr in addrs.iter().filter(|a| wanted(a)) {
        let rdata = match addr {
            IpAddr::V4(v4) => RData::A(A(*v4)),
            IpAddr::V6(v6) => RData::AAAA(AAAA(*v6)),
        };
        reply.add_answer(Record::from_rdata(query.name.clone(), TTL, rdata));
    }
    Some(reply)
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
