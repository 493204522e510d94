//! Attach latency (netns + veth + address + route + DNS record) and DNS answer latency.
//! Needs root; runs inside a private network namespace so the host is untouched.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RecordType};
use netstack::{Config, ContainerId, EndpointSpec, InstanceTag, Keep, Netstack, NetworkId, NetworkSpec};

fn id(n: u64, salt: u64) -> String {
    format!("{:016x}{:016x}{:032x}", salt, n, 0xbe27u32)
}

struct Env {
    rt: tokio::runtime::Runtime,
    stack: Netstack,
    net: NetworkSpec,
    _dir: tempfile::TempDir,
}

fn setup() -> Option<Env> {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("!!! SKIPPED (needs root): netstack benches");
        return None;
    }
    // Everything below (runtime threads, nft children) inherits this private namespace.
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare");
    std::process::Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()
        .expect("ip");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    let dir = tempfile::tempdir().expect("tempdir");
    let salt = std::process::id() as u64;
    let stack = rt.block_on(async {
        let mut cfg = Config::new(&dir.path().join("netns"), InstanceTag::new("bench").expect("tag"));
        cfg.upstream_dns = Some(vec![]);
        // The namespace dies with the bench: register privately, not in the host-wide registry.
        cfg.registry_dir = dir.path().join("registry");
        Netstack::new(cfg).expect("netstack")
    });
    let net = NetworkSpec {
        id: id(0, salt).parse::<NetworkId>().expect("id"),
        v4: Some((
            "10.213.200.0/22".parse().expect("subnet"),
            Ipv4Addr::new(10, 213, 200, 1),
        )),
        internal: false,
        driver: Default::default(),
        mtu: None,
        v6: None,
        bridge_opts: Default::default(),
    };
    rt.block_on(stack.create_network(&net)).expect("network");
    Some(Env {
        rt,
        stack,
        net,
        _dir: dir,
    })
}

fn bench(c: &mut Criterion) {
    let Some(env) = setup() else { return };
    let salt = u64::from(std::process::id()) << 20;
    let mut n = 0u64;

    c.bench_function("attach container (netns + veth + addr + route + dns)", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                n += 1;
                let cid: ContainerId = id(n, salt).parse().expect("id");
                let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 213, 200, 10)) + (n % 1000) as u32);
                let ep = EndpointSpec {
                    ip: Some(ip),
                    names: vec![format!("svc{n}")],
                    default_route: true,
                    mac: None,
                    ifname: None,
                    ip6: None,
                    link_local: Vec::new(),
                };
                let start = Instant::now();
                env.rt.block_on(async {
                    env.stack.create_sandbox(&cid).await.expect("sandbox");
                    env.stack.attach(&cid, &env.net, &ep).await.expect("attach");
                });
                total += start.elapsed();
                env.rt.block_on(env.stack.remove_sandbox(&cid)).expect("remove");
            }
            total
        })
    });

    // A resolvable name with two replicas, asked from inside a third container (its 127.0.0.11).
    let asker: ContainerId = id(3, 7).parse().expect("id");
    let path = env.rt.block_on(env.stack.create_sandbox(&asker)).expect("sandbox");
    env.stack.dns().records().set(
        &env.net.id,
        &asker,
        &["asker".into()],
        &[Ipv4Addr::new(10, 213, 200, 4).into()],
    );
    for (n, last) in [(1u64, 2u8), (2, 3)] {
        let c: ContainerId = id(n, 7).parse().expect("id");
        env.stack.dns().records().set(
            &env.net.id,
            &c,
            &["web".into()],
            &[Ipv4Addr::new(10, 213, 200, last).into()],
        );
    }
    // A socket belongs to the namespace it is made in: make it inside, use it from here.
    let sock = netstack::netns::run_in(&path, || {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        sock.connect(SocketAddr::from((netstack::dns::RESOLVER_ADDR, 53)))
            .expect("connect");
        sock
    })
    .expect("netns");
    sock.set_read_timeout(Some(Duration::from_secs(2))).expect("timeout");
    let mut q = Message::query();
    q.add_query(Query::query(Name::from_ascii("web").expect("name"), RecordType::A));
    let query = q.to_vec().expect("encode");
    let mut buf = [0u8; 512];
    c.bench_function("dns answer for a service name (udp round trip)", |b| {
        b.iter(|| {
            sock.send(&query).expect("send");
            let n = sock.recv(&mut buf).expect("answer");
            assert!(n > 12);
        })
    });

    env.rt
        .block_on(env.stack.cleanup_orphans(&Keep::default()))
        .expect("cleanup");
}

criterion_group!(benches, bench);
criterion_main!(benches);
