//! Published ports: loopback through the proxy, other local addresses through DNAT, conflicts, ranges, UDP.

mod common;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use common::*;
use netstack::{EndpointSpec, Keep, NetError, PortRequest, Proto};

#[test]
fn published_ports_reach_the_container() {
    if !require_root("published_ports_reach_the_container") {
        return;
    }
    isolated(|| async {
        let t = TestStack::new(None);
        let s = &t.stack;
        let n = net_id();
        let sn = spec(&n, free_subnet(s, 40).await, false);
        s.create_network(&sn).await.unwrap();
        let (c1, c2) = (ctr_id(), ctr_id());
        let p1 = s.create_sandbox(&c1).await.unwrap();
        s.create_sandbox(&c2).await.unwrap();
        let ip1 = host(subnet_of(&sn), 2);
        s.attach(
            &c1,
            &sn,
            &EndpointSpec {
                ip: Some(ip1),
                names: vec![],
                default_route: true,
                mac: None,
                ifname: None,
                ip6: None,
                link_local: Vec::new(),
            },
        )
        .await
        .unwrap();
        s.attach(
            &c2,
            &sn,
            &EndpointSpec {
                ip: Some(host(subnet_of(&sn), 3)),
                names: vec![],
                default_route: true,
                mac: None,
                ifname: None,
                ip6: None,
                link_local: Vec::new(),
            },
        )
        .await
        .unwrap();
        let _web = tcp_server_in(&p1, 8080, "hello from c1");
        let _echo = udp_echo_in(&p1, 5353);

        // Empty HostIp and HostPort: every address, ephemeral port.
        let any = PortRequest::parse(Proto::Tcp, "", "", 8080).unwrap();
        let udp = PortRequest::parse(Proto::Udp, "127.0.0.1", "", 5353).unwrap();
        let published = s.publish(&c1, Some(ip1), None, &[any, udp]).await.unwrap();
        let tcp_port = published[0].host_port;
        let udp_port = published.iter().find(|p| p.proto == Proto::Udp).unwrap().host_port;
        assert_ne!(tcp_port, 0);
        // As dockerd: "every address" is 0.0.0.0 and [::] on one port (the namespace has IPv6).
        let any_ips: Vec<String> = published
            .iter()
            .filter(|p| p.proto == Proto::Tcp)
            .map(|p| format!("{}:{}", p.host_ip, p.host_port))
            .collect();
        assert_eq!(any_ips, vec![format!("0.0.0.0:{tcp_port}"), format!(":::{tcp_port}")]);
        // [::1] reaches the IPv4-only container through the proxy.
        let body = tokio::task::spawn_blocking(move || tcp_fetch(SocketAddr::from((Ipv6Addr::LOCALHOST, tcp_port))))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(body, "hello from c1");

        // 127.0.0.1 goes through the userland proxy.
        let body = tokio::task::spawn_blocking(move || tcp_fetch(SocketAddr::from((Ipv4Addr::LOCALHOST, tcp_port))))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(body, "hello from c1");

        // A non-loopback local address (the gateway) goes through the DNAT rule: its counter moves.
        let before = dnat_packets(s, &c1);
        let gw = gateway_of(&sn);
        let body = tokio::task::spawn_blocking(move || tcp_fetch(SocketAddr::from((gw, tcp_port))))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(body, "hello from c1");
        assert!(dnat_packets(s, &c1) > before, "the DNAT rule counted the connection");

        // UDP through the proxy.
        let reply = tokio::task::spawn_blocking(move || {
            let u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            u.set_read_timeout(Some(std::time::Duration::from_secs(3))).unwrap();
            u.send_to(b"ping-udp", ("127.0.0.1", udp_port)).unwrap();
            let mut buf = [0u8; 64];
            let (n, _) = u.recv_from(&mut buf).unwrap();
            buf[..n].to_vec()
        })
        .await
        .unwrap();
        assert_eq!(reply, b"ping-udp");

        // The same host port again: refused, naming the holder; nothing half-made.
        let again = PortRequest::parse(Proto::Tcp, "", &tcp_port.to_string(), 80).unwrap();
        let err = s
            .publish(&c2, Some(host(subnet_of(&sn), 3)), None, &[again])
            .await
            .unwrap_err();
        assert!(matches!(err, NetError::PortInUse { .. }), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("container {}", c1.short(12))) && msg.contains(&tcp_port.to_string()),
            "{msg}"
        );
        assert!(s.published(&c2).is_empty());

        // A range skips the taken port.
        let range = PortRequest::parse(
            Proto::Tcp,
            "127.0.0.1",
            &format!("{}-{}", tcp_port, tcp_port.saturating_add(20)),
            80,
        )
        .unwrap();
        let got = s
            .publish(&c2, Some(host(subnet_of(&sn), 3)), None, &[range])
            .await
            .unwrap();
        assert!(
            got[0].host_port > tcp_port && got[0].host_port <= tcp_port.saturating_add(20),
            "{got:?}"
        );

        // A port held by a foreign process: refused, naming the process.
        let foreign = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let fport = foreign.local_addr().unwrap().port();
        let req = PortRequest::parse(Proto::Tcp, "127.0.0.1", &fport.to_string(), 80).unwrap();
        let msg = s
            .publish(&c2, Some(host(subnet_of(&sn), 3)), None, &[req])
            .await
            .unwrap_err()
            .to_string();
        assert!(msg.contains("process"), "{msg}");

        s.unpublish(&c1).unwrap();
        assert!(
            tokio::task::spawn_blocking(move || tcp_fetch(SocketAddr::from((Ipv4Addr::LOCALHOST, tcp_port))))
                .await
                .unwrap()
                .is_err(),
            "port freed"
        );
        assert!(s
            .nft()
            .owned_rules()
            .unwrap()
            .iter()
            .all(|r| !matches!(&r.owner, netstack::Owner::Ports(c) if *c == c1)));
        let report = s.cleanup_orphans(&Keep::default()).await.unwrap();
        assert!(report.rules > 0 && report.netns == 2, "{report:?}");
        assert!(s.nft().owned_rules().unwrap().is_empty());
    });
}

fn dnat_packets(s: &netstack::Netstack, c: &netstack::ContainerId) -> u64 {
    s.nft()
        .owned_rules()
        .unwrap()
        .iter()
        .filter(|r| r.chain == "ports" && matches!(&r.owner, netstack::Owner::Ports(x) if x == c))
        .map(|r| r.packets)
        .sum()
}
