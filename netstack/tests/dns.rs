//! The embedded DNS: a resolver on 127.0.0.11 inside each container's namespace answering the names of
//! all its networks (round-robin, PTR), forwarding the rest to a stub upstream on 127.0.0.1.

mod common;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use common::*;
use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use netstack::{ContainerId, EndpointSpec, Keep, Netstack, NetworkSpec};

const STUB_ANSWER: Ipv4Addr = Ipv4Addr::new(10, 213, 99, 99);

fn query_bytes(name: &str, rtype: RecordType) -> Vec<u8> {
    let mut m = Message::query();
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    m.to_vec().unwrap()
}

fn addrs(m: &Message) -> Vec<IpAddr> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect()
}

/// A blocking UDP query (usable from a thread inside a container's namespace).
fn udp_query(server: SocketAddr, name: &str, rtype: RecordType) -> Message {
    let sock = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    sock.send_to(&query_bytes(name, rtype), server).unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = sock.recv_from(&mut buf).unwrap();
    Message::from_vec(&buf[..n]).unwrap()
}

fn tcp_query(server: SocketAddr, name: &str) -> Message {
    use std::io::{Read, Write};
    let q = query_bytes(name, RecordType::A);
    let mut c = std::net::TcpStream::connect_timeout(&server, Duration::from_secs(3)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(&(q.len() as u16).to_be_bytes()).unwrap();
    c.write_all(&q).unwrap();
    let mut len = [0u8; 2];
    c.read_exact(&mut len).unwrap();
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    c.read_exact(&mut buf).unwrap();
    Message::from_vec(&buf).unwrap()
}

/// A stub upstream on 127.0.0.1 answering every A query with STUB_ANSWER.
async fn stub_upstream() -> SocketAddr {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        while let Ok((n, peer)) = sock.recv_from(&mut buf).await {
            let Ok(q) = Message::from_vec(&buf[..n]) else { continue };
            let mut r = Message::response(q.metadata.id, q.metadata.op_code);
            r.add_queries(q.queries.clone());
            if let Some(first) = q.queries.first() {
                r.add_answer(Record::from_rdata(first.name.clone(), 30, RData::A(A(STUB_ANSWER))));
            }
            let _ = sock.send_to(&r.to_vec().unwrap(), peer).await;
        }
    });
    addr
}

/// The resolver every container has, as the container sees it.
const RESOLVER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 11)), 53);

/// A UDP query from inside container `c`'s namespace to its 127.0.0.11.
fn ask(s: &Netstack, c: &ContainerId, name: &str, rtype: RecordType) -> Message {
    let name = name.to_owned();
    netstack::netns::run_in(&s.sandbox_path(c), move || udp_query(RESOLVER, &name, rtype)).unwrap()
}

fn ips(s: &Netstack, c: &ContainerId, name: &str) -> Vec<IpAddr> {
    addrs(&ask(s, c, name, RecordType::A))
}

async fn join(s: &Netstack, c: &ContainerId, net: &NetworkSpec, ip: Ipv4Addr, names: &[&str]) {
    let ep = EndpointSpec {
        ip: Some(ip),
        names: names.iter().map(|s| s.to_string()).collect(),
        default_route: true,
        mac: None,
        ifname: None,
        ip6: None,
        link_local: Vec::new(),
    };
    s.attach(c, net, &ep).await.unwrap();
}

#[test]
fn each_container_resolves_the_names_of_all_its_networks() {
    if !require_root("each_container_resolves_the_names_of_all_its_networks") {
        return;
    }
    isolated(|| async {
        let upstream = stub_upstream().await;
        let t = TestStack::new(Some(upstream));
        let s = &t.stack;
        let (na, nb) = (net_id(), net_id());
        let sa = spec(&na, free_subnet(s, 30).await, false);
        let sb = spec(&nb, free_subnet(s, 31).await, false);
        s.create_network(&sa).await.unwrap();
        s.create_network(&sb).await.unwrap();
        s.dns().records().set_domain(&nb, "p_back");
        let (c1, c2, c3, mid) = (ctr_id(), ctr_id(), ctr_id(), ctr_id());
        for c in [&c1, &c2, &c3, &mid] {
            s.create_sandbox(c).await.unwrap();
        }
        let (ip1, ip2, ip_db) = (
            host(subnet_of(&sa), 2),
            host(subnet_of(&sa), 3),
            host(subnet_of(&sb), 2),
        );
        join(s, &c1, &sa, ip1, &["proj-web-1", "web", "frontend"]).await;
        join(s, &c2, &sa, ip2, &["proj-web-2", "web"]).await;
        join(s, &c3, &sb, ip_db, &["proj-db-1", "db"]).await;
        join(s, &mid, &sa, host(subnet_of(&sa), 4), &["mid"]).await;
        join(s, &mid, &sb, host(subnet_of(&sb), 4), &["mid"]).await;

        // Two replicas: both addresses, order rotating, authoritative.
        let first = ask(s, &c1, "web", RecordType::A);
        let second = ask(s, &c1, "web.", RecordType::A);
        let expected: BTreeSet<IpAddr> = [ip1.into(), ip2.into()].into();
        assert_eq!(addrs(&first).into_iter().collect::<BTreeSet<_>>(), expected);
        assert_ne!(addrs(&first), addrs(&second), "round-robin");
        assert!(first.metadata.authoritative);
        assert_eq!(ips(s, &c2, "frontend"), vec![IpAddr::V4(ip1)]);

        // TCP works too.
        let path = s.sandbox_path(&c1);
        let over_tcp = netstack::netns::run_in(&path, || tcp_query(RESOLVER, "proj-web-2")).unwrap();
        assert_eq!(addrs(&over_tcp), vec![IpAddr::V4(ip2)]);

        // A known name with no IPv6 address: empty NOERROR, not forwarded.
        let aaaa = ask(s, &c1, "web", RecordType::AAAA);
        assert_eq!(aaaa.metadata.response_code, ResponseCode::NoError);
        assert!(aaaa.answers.is_empty());

        // Unknown names go to the upstream stub; so do names of networks the asker is not on.
        assert_eq!(ips(s, &c1, "ext.example.test"), vec![IpAddr::V4(STUB_ANSWER)]);
        assert_eq!(
            ips(s, &c1, "db"),
            vec![IpAddr::V4(STUB_ANSWER)],
            "db lives on another network"
        );

        // A container on both networks resolves names of both, and <name>.<network>.
        assert_eq!(ips(s, &mid, "db"), vec![IpAddr::V4(ip_db)]);
        assert_eq!(ips(s, &mid, "proj-db-1.p_back"), vec![IpAddr::V4(ip_db)]);
        assert_eq!(ips(s, &mid, "frontend"), vec![IpAddr::V4(ip1)]);
        assert_eq!(
            ips(s, &c3, "mid"),
            vec![IpAddr::V4(host(subnet_of(&sb), 4))],
            "its address on the shared network"
        );

        // PTR: <container name>.<network name>.
        let octets = ip_db.octets();
        let rev = format!("{}.{}.{}.{}.in-addr.arpa.", octets[3], octets[2], octets[1], octets[0]);
        let ptr = ask(s, &mid, &rev, RecordType::PTR);
        let target: Vec<String> = ptr
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::PTR(p) => Some(p.0.to_ascii()),
                _ => None,
            })
            .collect();
        assert_eq!(target, vec!["proj-db-1.p_back.".to_string()]);

        // Disconnect takes effect at once: the next query no longer knows db.
        s.detach(&mid, &nb).await.unwrap();
        assert_eq!(ips(s, &mid, "db"), vec![IpAddr::V4(STUB_ANSWER)]);
        s.detach(&c2, &na).await.unwrap();
        assert_eq!(ips(s, &c1, "web"), vec![IpAddr::V4(ip1)]);

        // No upstream answering: SERVFAIL rather than silence.
        s.dns().set_upstreams(vec![]);
        let fail = ask(s, &c1, "nothing.example.test", RecordType::A);
        assert_eq!(fail.metadata.response_code, ResponseCode::ServFail);

        // Nothing listens on port 53 of the host's namespace (nor on any gateway).
        let host_listeners = sh("ss -Hlntu 'sport = :53'");
        assert!(host_listeners.trim().is_empty(), "{host_listeners}");

        let report = s.cleanup_orphans(&Keep::default()).await.unwrap();
        assert_eq!((report.bridges, report.netns), (2, 4), "{report:?}");
        assert!(s.dns().serving().is_empty(), "resolvers stop with their namespaces");
        let links = sh("ip -o link");
        assert!(
            !links.contains(sa.bridge().as_str()) && !links.contains(sb.bridge().as_str()),
            "{links}"
        );
    });
}
