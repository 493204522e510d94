//! The embedded DNS server: names per network with round-robin, forwarding to a stub upstream on 127.0.0.1.

mod common;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use common::*;
use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use netstack::{EndpointSpec, Keep};

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

#[test]
fn names_resolve_per_network_and_the_rest_is_forwarded() {
    if !require_root("names_resolve_per_network_and_the_rest_is_forwarded") {
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
        let (c1, c2, c3) = (ctr_id(), ctr_id(), ctr_id());
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let p1 = s.create_sandbox(&c1).await.unwrap();
        s.create_sandbox(&c2).await.unwrap();
        s.create_sandbox(&c3).await.unwrap();
        let (ip1, ip2) = (host(sa.subnet, 2), host(sa.subnet, 3));
        s.attach(
            &c1,
            &sa,
            &EndpointSpec {
                ip: ip1,
                names: names(&["proj-web-1", "web", "frontend"]),
                default_route: true,
            },
        )
        .await
        .unwrap();
        s.attach(
            &c2,
            &sa,
            &EndpointSpec {
                ip: ip2,
                names: names(&["proj-web-2", "web"]),
                default_route: true,
            },
        )
        .await
        .unwrap();
        s.attach(
            &c3,
            &sb,
            &EndpointSpec {
                ip: host(sb.subnet, 2),
                names: names(&["db"]),
                default_route: true,
            },
        )
        .await
        .unwrap();

        let dns_a = SocketAddr::from((sa.gateway, 53));
        let dns_b = SocketAddr::from((sb.gateway, 53));
        let blocking = |f: Box<dyn FnOnce() -> Message + Send>| tokio::task::spawn_blocking(f);

        // Two replicas: both addresses, order rotating.
        let first = blocking(Box::new(move || udp_query(dns_a, "web", RecordType::A)))
            .await
            .unwrap();
        let second = blocking(Box::new(move || udp_query(dns_a, "web.", RecordType::A)))
            .await
            .unwrap();
        let expected: BTreeSet<IpAddr> = [ip1.into(), ip2.into()].into();
        assert_eq!(addrs(&first).into_iter().collect::<BTreeSet<_>>(), expected);
        assert_ne!(addrs(&first), addrs(&second), "round-robin");
        assert!(first.metadata.authoritative);

        // From inside a container, over its own eth0, an alias resolves.
        let inside = netstack::netns::run_in(&p1, move || udp_query(dns_a, "frontend", RecordType::A)).unwrap();
        assert_eq!(addrs(&inside), vec![IpAddr::V4(ip1)]);

        // TCP works too.
        let over_tcp = blocking(Box::new(move || tcp_query(dns_a, "proj-web-2")))
            .await
            .unwrap();
        assert_eq!(addrs(&over_tcp), vec![IpAddr::V4(ip2)]);

        // A known name with no IPv6 address: empty NOERROR, not forwarded.
        let aaaa = blocking(Box::new(move || udp_query(dns_a, "web", RecordType::AAAA)))
            .await
            .unwrap();
        assert_eq!(aaaa.metadata.response_code, ResponseCode::NoError);
        assert!(aaaa.answers.is_empty());

        // Unknown names go to the upstream stub; so do names of other networks.
        let ext = blocking(Box::new(move || udp_query(dns_a, "ext.example.test", RecordType::A)))
            .await
            .unwrap();
        assert_eq!(addrs(&ext), vec![IpAddr::V4(STUB_ANSWER)]);
        let db_from_a = blocking(Box::new(move || udp_query(dns_a, "db", RecordType::A)))
            .await
            .unwrap();
        assert_eq!(
            addrs(&db_from_a),
            vec![IpAddr::V4(STUB_ANSWER)],
            "db lives on another network"
        );
        let db_from_b = blocking(Box::new(move || udp_query(dns_b, "db", RecordType::A)))
            .await
            .unwrap();
        assert_eq!(addrs(&db_from_b), vec![IpAddr::V4(host(sb.subnet, 2))]);

        // Detach removes the names.
        s.detach(&c2, &na).await.unwrap();
        let after = blocking(Box::new(move || udp_query(dns_a, "web", RecordType::A)))
            .await
            .unwrap();
        assert_eq!(addrs(&after), vec![IpAddr::V4(ip1)]);

        // No upstream answering: SERVFAIL rather than silence.
        s.dns().set_upstreams(vec![]);
        let fail = blocking(Box::new(move || {
            udp_query(dns_a, "nothing.example.test", RecordType::A)
        }))
        .await
        .unwrap();
        assert_eq!(fail.metadata.response_code, ResponseCode::ServFail);

        let report = s.cleanup_orphans(&Keep::default()).await.unwrap();
        assert_eq!((report.bridges, report.netns), (2, 3), "{report:?}");
        let links = sh("ip -o link");
        assert!(
            !links.contains(sa.bridge().as_str()) && !links.contains(sb.bridge().as_str()),
            "{links}"
        );
    });
}
