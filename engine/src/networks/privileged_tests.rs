//! Root-only tests of the container hooks, in a private network namespace (real bridges, veths,
//! nft table, resolvers; nothing reaches the host's interfaces).

use super::*;
use crate::error::EngineError;
use crate::state::{ContainerRecord, RunState, StateDb};
use bollard::models::{EndpointSettings, IpamConfig, PortBinding};
use bollard::models::{Ipam, NetworkCreateRequest};
use hickory_proto_free::query_a;
use netstack::ContainerId;
use std::sync::Arc;

/// A tiny DNS A query with hand-made bytes (the engine does not depend on hickory).
mod hickory_proto_free {
    use std::net::{Ipv4Addr, SocketAddr, UdpSocket};

    pub fn query_a(server: SocketAddr, name: &str) -> Vec<Ipv4Addr> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.extend_from_slice(&[0, 0, 1, 0, 1]);
        let sock = UdpSocket::bind("0.0.0.0:0").unwrap();
        sock.set_read_timeout(Some(std::time::Duration::from_secs(3))).unwrap();
        sock.send_to(&q, server).unwrap();
        let mut buf = [0u8; 512];
        let n = sock.recv(&mut buf).unwrap();
        // Answers are name pointers (2) + type/class/ttl (8) + rdlength (2) + 4 address bytes.
        let answers = u16::from_be_bytes([buf[6], buf[7]]) as usize;
        let mut at = q.len();
        let mut out = Vec::new();
        for _ in 0..answers {
            at += 12;
            if at + 4 <= n {
                out.push(Ipv4Addr::new(buf[at], buf[at + 1], buf[at + 2], buf[at + 3]));
            }
            at += 4;
        }
        out
    }
}

fn root_or_skip(name: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var("BERTH_TEST_REQUIRE_ROOT").as_deref() == Ok("1") {
        panic!("{name} needs root");
    }
    eprintln!("!!! SKIPPED (needs root): {name}");
    false
}

fn in_private_netns(f: impl FnOnce(tokio::runtime::Runtime) + Send + 'static) {
    let res = std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare");
        assert!(std::process::Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .unwrap()
            .success());
        f(tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap());
    })
    .join();
    if let Err(p) = res {
        std::panic::resume_unwind(p);
    }
}

fn container(db: &StateDb, name: &str) -> String {
    let id = hex::encode(rand::random::<[u8; 32]>());
    let rec = ContainerRecord {
        id: id.clone(),
        name: name.into(),
        created: chrono::Utc::now().to_rfc3339(),
        image: "busybox".into(),
        image_id: "sha256:0".into(),
        config: Default::default(),
        host_config: Default::default(),
        path: "true".into(),
        args: vec![],
        state: RunState::default(),
        mounts: Vec::new(),
        endpoints: Default::default(),
        ports: Vec::new(),
    };
    db.insert_container(&rec).unwrap();
    id
}

fn ping(ns: &std::path::Path, ip: std::net::Ipv4Addr) -> bool {
    (0..3).any(|_| {
        std::process::Command::new("nsenter")
            .arg(format!("--net={}", ns.display()))
            .args(["ping", "-c1", "-W1", &ip.to_string()])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

#[test]
fn containers_get_networks_names_ports_and_lose_them() {
    if !root_or_skip("containers_get_networks_names_ports_and_lose_them") {
        return;
    }
    in_private_netns(|rt| {
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let db = Arc::new(StateDb::open(&dir.path().join("state.db")).unwrap());
            let nets = Networks::open(db.clone(), dir.path()).await.unwrap();
            let req = NetworkCreateRequest {
                name: "app".into(),
                ipam: Some(Ipam {
                    config: Some(vec![IpamConfig {
                        subnet: Some("10.213.80.0/24".into()),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
                ..Default::default()
            };
            nets.create(req).await.unwrap();
            let (c1, c2) = (container(&db, "one"), container(&db, "two"));
            let web = EndpointSettings {
                aliases: Some(vec!["web".into()]),
                ..Default::default()
            };
            let mut ports = bollard::models::PortMap::new();
            ports.insert(
                "80/tcp".into(),
                Some(vec![PortBinding {
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some(String::new()),
                }]),
            );
            let r1 = ContainerNetRequest {
                id: c1.clone(),
                name: "one".into(),
                network_mode: Some("app".into()),
                endpoints: [("app".to_string(), web)].into(),
                ports: port_requests(Some(&ports)).unwrap(),
                ..Default::default()
            };
            let n1 = nets.setup_container(&r1).await.unwrap();
            let NetMode::Join(p1) = &n1.mode else {
                panic!("{:?}", n1.mode)
            };
            assert!(
                n1.resolv_conf.starts_with("nameserver 127.0.0.11\n") && n1.resolv_conf.contains("ndots:0"),
                "{}",
                n1.resolv_conf
            );
            assert_eq!(n1.ports.len(), 1);
            assert_ne!(n1.ports[0].host_port, 0);
            let ip1 = n1.endpoints[0].ip.expect("an IPv4 address");

            let r2 = ContainerNetRequest {
                id: c2.clone(),
                name: "two".into(),
                network_mode: Some("app".into()),
                extra_hosts: vec!["gw:host-gateway".into()],
                ..Default::default()
            };
            let n2 = nets.setup_container(&r2).await.unwrap();
            let NetMode::Join(p2) = n2.mode.clone() else { panic!() };
            assert_eq!(n2.hosts, vec![("gw".to_string(), "10.213.80.1".parse().unwrap())]);
            assert!(ping(&p2, ip1), "two reaches one");
            // Each container's own resolver, inside its namespace.
            let server = std::net::SocketAddr::from(([127, 0, 0, 11], 53));
            let answer = netstack::netns::run_in(&p2, move || query_a(server, "web")).unwrap();
            assert_eq!(answer, vec![ip1], "alias resolves from inside");
            let answer = netstack::netns::run_in(&p2, move || query_a(server, "one")).unwrap();
            assert_eq!(answer, vec![ip1], "container name resolves");
            let short = c1[..12].to_owned();
            let answer = netstack::netns::run_in(&p2, move || query_a(server, &short)).unwrap();
            assert_eq!(answer, vec![ip1], "short id resolves");

            // A container on the default bridge too; `host` and `none` modes need no namespace.
            let c3 = container(&db, "three");
            let n3 = nets
                .setup_container(&ContainerNetRequest {
                    id: c3.clone(),
                    name: "three".into(),
                    ..Default::default()
                })
                .await
                .unwrap();
            assert!(
                n3.resolv_conf.starts_with("nameserver 127.0.0.11\n"),
                "{}",
                n3.resolv_conf
            );
            let host = ContainerNetRequest {
                id: c3.clone(),
                name: "three".into(),
                network_mode: Some("host".into()),
                ..Default::default()
            };
            assert_eq!(nets.setup_container(&host).await.unwrap().mode, NetMode::Host);
            let joined = ContainerNetRequest {
                network_mode: Some(format!("container:{c1}")),
                ..host.clone()
            };
            assert_eq!(
                nets.setup_container(&joined).await.unwrap().mode,
                NetMode::Join(p1.clone())
            );

            assert!(matches!(nets.remove("app").await, Err(EngineError::Conflict(_))));
            let c1_id: ContainerId = c1.parse().unwrap();
            nets.teardown_container(&c1).unwrap();
            // Off the exit path: no longer a sandbox at once, its kernel objects gone once settled.
            assert!(!nets.has_sandbox(&c1), "a retiring sandbox is not live");
            assert!(
                nets.stack.dns().serving().iter().all(|c| c != &c1_id),
                "resolver stopped at once"
            );
            nets.stack.settle().await;
            assert!(!p1.exists(), "namespace file removed on stop");
            assert_eq!(
                nets.endpoints_of_container(&c1).unwrap().len(),
                1,
                "endpoint and lease kept while the container exists"
            );
            for c in [&c1, &c2, &c3] {
                nets.forget_container(c);
            }
            assert!(
                nets.endpoints_of_network(&nets.resolve("app").unwrap().id)
                    .unwrap()
                    .is_empty(),
                "a removed container's endpoints are hidden at once"
            );
            nets.settle_forgotten().await;
            assert!(nets.db().endpoints().unwrap().is_empty());
            nets.remove("app").await.unwrap();
            assert!(
                nets.ipam().state().networks.len() == 1,
                "only the default bridge keeps a subnet"
            );
            // A throwaway root: its objects and its host-wide registration go (the namespace dies anyway).
            assert!(nets.stack.destroy().await.unwrap() >= 1);
            let tag = super::service::tag_of(dir.path()).unwrap();
            assert!(!std::path::Path::new(netstack::reaper::REGISTRY_DIR)
                .join(tag.as_str())
                .exists());
        });
    });
}
