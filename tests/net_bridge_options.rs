//! Issue 18: bridge options and addressing as Docker has them, checked by what a user observes, each
//! scenario on berth's engine and on a dockerd started the way a host runs it (default bridge, default
//! pools, masquerading), both inside test-owned network namespaces, and compared:
//! - `com.docker.network.bridge.host_binding_ipv4`: a port published without a host address is bound on that
//!   address only (traffic reaches the server there, another local address is refused);
//! - `com.docker.network.bridge.enable_ip_masquerade=false`: traffic leaving the bridge keeps the container's
//!   source address; by default it leaves with the host's;
//! - default pool subnets already on a host route are skipped, for the default bridge and a user network;
//! - `net.ipv4.ip_forward` switched on with the default bridge (both engines), and berth's log says so;
//!   IPv6 forwarding only once an IPv6 network routes out.
//!
//! Link-local addresses are in `net_link_local.rs`. All traffic stays inside namespaces the test made.

#[allow(unused_macros)]
#[macro_use]
mod orchestrator_support;
mod net_support;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use net_support::{docker_ok, engine_in, sh, sleeper};
use orchestrator_support::{free_port, require_root, Engine, Kind, Netns};

fn container_ip(engine: &Engine, container: &str, network: &str) -> String {
    docker_ok(
        engine,
        &[
            "inspect",
            "-f",
            &format!("{{{{(index .NetworkSettings.Networks {network:?}).IPAddress}}}}"),
            container,
        ],
    )
}

fn subnet_of(engine: &Engine, network: &str) -> String {
    docker_ok(
        engine,
        &["network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", network],
    )
}

/// `curl http://addr:port/` from inside `ns`: Ok(body), or Err(curl's exit code and message).
fn curl(ns: &Netns, addr: &str, port: u16) -> Result<String, String> {
    let out = ns
        .command("curl")
        .args(["-sS", "--max-time", "10", &format!("http://{addr}:{port}/")])
        .output()
        .expect("curl");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "exit {:?}: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Waits (polling: nothing announces that a server in a container listens) until `f` gives Ok.
fn retry<T>(what: &str, mut f: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match f() {
            Ok(v) => return v,
            Err(e) if Instant::now() > deadline => panic!("{what}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// `docker port` lines with the host port written as PORT (the two engines' runs use different ports).
fn ports_shown(engine: &Engine, container: &str, port: u16) -> Vec<String> {
    let mut lines: Vec<String> = docker_ok(engine, &["port", container])
        .lines()
        .map(|l| l.replace(&port.to_string(), "PORT"))
        .collect();
    lines.sort();
    lines
}

/// What a user sees of `host_binding_ipv4=10.124.0.1` on `kind`: `docker port` and `NetworkSettings.Ports`.
fn host_binding(kind: Kind) -> (Vec<String>, Vec<String>) {
    let ns = Arc::new(Netns::new());
    // Two local addresses besides loopback, on a veth whose peer stays in the namespace.
    sh(
        &ns,
        "ip link add hb0 type veth peer name hb1 && ip addr add 10.124.0.1/24 dev hb0 \
         && ip addr add 10.124.0.2/24 dev hb0 && ip link set hb1 up && ip link set hb0 up",
    );
    let engine = engine_in(kind, &ns);
    docker_ok(
        &engine,
        &[
            "network",
            "create",
            "-o",
            "com.docker.network.bridge.host_binding_ipv4=10.124.0.1",
            "hb",
        ],
    );
    let port = free_port();
    // A second port names its host address: the network's option does not apply to it.
    let named = free_port();
    docker_ok(
        &engine,
        &[
            "run",
            "-d",
            "--name",
            "web",
            "--network",
            "hb",
            "-p",
            &format!("{port}:8080"),
            "-p",
            &format!("127.0.0.1:{named}:8080"),
            "busybox",
            "sh",
            "-c",
            "mkdir -p /www && echo served-by-web > /www/index.html && exec httpd -f -p 8080 -h /www",
        ],
    );
    let body = retry(&format!("{kind:?}: 10.124.0.1:{port} serves"), || {
        curl(&ns, "10.124.0.1", port)
    });
    assert_eq!(body.trim(), "served-by-web", "{kind:?}: the bound address");
    for other in ["10.124.0.2", "127.0.0.1"] {
        let err = curl(&ns, other, port).expect_err(&format!("{kind:?}: {other}:{port} must not answer"));
        // curl's exit 7: the connection was refused (nothing listens there, nothing forwards it).
        assert!(
            err.starts_with("exit Some(7)"),
            "{kind:?}: {other}:{port} refused: {err}"
        );
    }
    let body = retry(&format!("{kind:?}: 127.0.0.1:{named} serves"), || {
        curl(&ns, "127.0.0.1", named)
    });
    assert_eq!(body.trim(), "served-by-web", "{kind:?}: the named address");
    let err = curl(&ns, "10.124.0.1", named).expect_err(&format!("{kind:?}: 10.124.0.1:{named} must not answer"));
    assert!(
        err.starts_with("exit Some(7)"),
        "{kind:?}: 10.124.0.1:{named} refused: {err}"
    );
    let shown: Vec<String> = ports_shown(&engine, "web", port)
        .iter()
        .map(|l| l.replace(&named.to_string(), "NAMED"))
        .collect();
    assert_eq!(
        shown,
        vec![
            "8080/tcp -> 10.124.0.1:PORT".to_owned(),
            "8080/tcp -> 127.0.0.1:NAMED".to_owned()
        ],
        "{kind:?}"
    );
    // Each binding as the inspect document has it; their order is a kept difference (compose-differences.md).
    let settings = docker_ok(&engine, &["inspect", "-f", "{{json .NetworkSettings.Ports}}", "web"])
        .replace(&port.to_string(), "PORT")
        .replace(&named.to_string(), "NAMED");
    let settings: serde_json::Value = serde_json::from_str(&settings).expect("NetworkSettings.Ports JSON");
    let mut bindings: Vec<String> = settings["8080/tcp"]
        .as_array()
        .unwrap_or_else(|| panic!("{kind:?}: 8080/tcp in {settings}"))
        .iter()
        .map(|b| b.to_string())
        .collect();
    bindings.sort();
    (shown, bindings)
}

#[test]
fn host_binding_ipv4_binds_unaddressed_ports_on_that_address_only() {
    if !require_root("host_binding_ipv4_binds_unaddressed_ports_on_that_address_only") {
        return;
    }
    let berth = host_binding(Kind::Berth);
    let dockerd = host_binding(Kind::Dockerd);
    eprintln!("berth: {berth:?}\ndockerd: {dockerd:?}");
    assert_eq!(berth, dockerd, "what berth shows (left) and dockerd shows (right)");
}

/// A listener on 10.123.0.1:`port` in `outside`, a namespace joined to the engine's by a veth (the engine's end
/// 10.123.0.2, and the way back to any bridge subnet through it).
fn outside_listener(engine_ns: &Netns, outside: &Netns, port: u16) -> TcpListener {
    sh(
        engine_ns,
        &format!(
            "ip link add mq0 type veth peer name mq1 netns {} && ip addr add 10.123.0.2/24 dev mq0 \
             && ip link set mq0 up",
            outside.0
        ),
    );
    sh(
        outside,
        "ip addr add 10.123.0.1/24 dev mq1 && ip link set mq1 up && ip route add default via 10.123.0.2",
    );
    // A socket belongs to the namespace it was made in: bind from a thread that joined `outside`.
    let path = outside.path();
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).expect("outside namespace");
        nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        TcpListener::bind((Ipv4Addr::new(10, 123, 0, 1), port)).expect("bind in the outside namespace")
    })
    .join()
    .expect("listener thread")
}

/// Accepts one connection (waiting at most 30 s) and returns the peer's address as the listener saw it.
fn peer_of_next(listener: &TcpListener) -> Result<String, String> {
    listener.set_nonblocking(true).expect("nonblocking");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match listener.accept() {
            Ok((mut conn, peer)) => {
                let _ = conn.set_nonblocking(false);
                let _ = conn.write_all(format!("{}\n", peer.ip()).as_bytes());
                let mut sink = [0u8; 64];
                let _ = conn.set_read_timeout(Some(Duration::from_secs(1)));
                let _ = conn.read(&mut sink);
                return Ok(peer.ip().to_string());
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// The source address 10.123.0.1 sees for a container on a network with masquerading on and one with it off:
/// (container ip, seen) for each, on `kind`.
fn masquerade(kind: Kind) -> [(String, String); 2] {
    let ns = Arc::new(Netns::new());
    let outside = Netns::new();
    let port = free_port();
    let listener = outside_listener(&ns, &outside, port);
    let engine = engine_in(kind, &ns);
    docker_ok(&engine, &["network", "create", "masq-on"]);
    docker_ok(
        &engine,
        &[
            "network",
            "create",
            "-o",
            "com.docker.network.bridge.enable_ip_masquerade=false",
            "masq-off",
        ],
    );
    ["masq-on", "masq-off"].map(|net| {
        let name = format!("c-{net}");
        sleeper(&engine, &name, net, &[]);
        let ip = container_ip(&engine, &name, net);
        let client = std::thread::scope(|s| {
            let c = s.spawn(|| engine.exec_sh(&name, &format!("echo hello | timeout 20 nc 10.123.0.1 {port}")));
            let seen = peer_of_next(&listener);
            (c.join().expect("client"), seen)
        });
        let seen = client
            .1
            .unwrap_or_else(|e| panic!("{kind:?} {net}: nothing reached 10.123.0.1: {e}; client: {}", client.0));
        (ip, seen)
    })
}

#[test]
fn enable_ip_masquerade_false_keeps_the_container_source_address() {
    if !require_root("enable_ip_masquerade_false_keeps_the_container_source_address") {
        return;
    }
    for kind in [Kind::Berth, Kind::Dockerd] {
        let [(on_ip, on_seen), (off_ip, off_seen)] = masquerade(kind);
        eprintln!("{kind:?}: masquerade on {on_ip} seen as {on_seen}, off {off_ip} seen as {off_seen}");
        assert_eq!(
            on_seen, "10.123.0.2",
            "{kind:?}: masqueraded traffic leaves with the host's address (container {on_ip})"
        );
        assert_eq!(
            off_seen, off_ip,
            "{kind:?}: unmasqueraded traffic keeps the container's address"
        );
    }
}

/// Whether two IPv4 CIDRs overlap.
fn overlaps(a: &str, b: &str) -> bool {
    let parse = |c: &str| -> (u32, u32) {
        let (addr, len) = c.split_once('/').unwrap_or_else(|| panic!("CIDR expected: {c:?}"));
        let addr: Ipv4Addr = addr.parse().unwrap_or_else(|_| panic!("CIDR expected: {c:?}"));
        let len: u32 = len.parse().unwrap_or_else(|_| panic!("CIDR expected: {c:?}"));
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        (u32::from(addr) & mask, mask)
    };
    let ((a, ma), (b, mb)) = (parse(a), parse(b));
    let mask = ma & mb;
    a & mask == b & mask
}

/// Subnets of the default bridge and of a new user network on `kind`, with 172.17.0.0/16 (an address) and
/// 172.18.0.0/16 (a route) taken in the namespace before the engine starts.
fn pools_with_used_subnets(kind: Kind) -> (String, String) {
    let ns = Arc::new(Netns::new());
    sh(
        &ns,
        "ip link add us0 type veth peer name us1 && ip link set us1 up && ip link set us0 up \
         && ip addr add 172.17.0.5/16 dev us0 && ip route add 172.18.0.0/16 dev us1",
    );
    let engine = engine_in(kind, &ns);
    let default_bridge = subnet_of(&engine, "bridge");
    docker_ok(&engine, &["network", "create", "user1"]);
    let user = subnet_of(&engine, "user1");
    for (what, subnet) in [("default bridge", &default_bridge), ("user network", &user)] {
        for used in ["172.17.0.0/16", "172.18.0.0/16"] {
            assert!(
                !overlaps(subnet, used),
                "{kind:?}: the {what} got {subnet}, which overlaps {used} in use on the host"
            );
        }
    }
    assert!(
        !overlaps(&default_bridge, &user),
        "{kind:?}: default bridge {default_bridge} and user network {user} overlap"
    );
    (default_bridge, user)
}

#[test]
fn default_pool_subnets_in_use_on_the_host_are_skipped() {
    if !require_root("default_pool_subnets_in_use_on_the_host_are_skipped") {
        return;
    }
    let berth = pools_with_used_subnets(Kind::Berth);
    let dockerd = pools_with_used_subnets(Kind::Dockerd);
    eprintln!("berth: {berth:?}\ndockerd: {dockerd:?}");
    // Both walk the same pools in the same order and skip what the host routes: the same choice.
    assert_eq!(berth, dockerd, "berth's subnets (left), dockerd's (right)");
}

/// `net.ipv4.ip_forward` of a namespace where it was 0, after `kind`'s engine started there.
fn forwarding_after_start(kind: Kind) -> (Arc<Netns>, Engine, String) {
    let ns = Arc::new(Netns::new());
    sh(
        &ns,
        "echo 0 > /proc/sys/net/ipv4/ip_forward && echo 0 > /proc/sys/net/ipv6/conf/all/forwarding",
    );
    let engine = engine_in(kind, &ns);
    let v4 = sh(&ns, "cat /proc/sys/net/ipv4/ip_forward").trim().to_owned();
    (ns, engine, v4)
}

#[test]
fn ip_forward_is_switched_on_when_a_bridge_network_needs_it_and_logged() {
    if !require_root("ip_forward_is_switched_on_when_a_bridge_network_needs_it_and_logged") {
        return;
    }
    // Both engines make their default bridge at start, and it routes out: IPv4 forwarding goes on then.
    let (_, _, dockerd) = forwarding_after_start(Kind::Dockerd);
    assert_eq!(dockerd, "1", "dockerd with its default bridge");
    let (ns, engine, berth) = forwarding_after_start(Kind::Berth);
    assert_eq!(berth, "1", "berth with its default bridge");
    let said = |sysctl: &str| {
        engine
            .log()
            .lines()
            .any(|l| l.contains(sysctl) && l.contains("switched on"))
    };
    assert!(
        said("/proc/sys/net/ipv4/ip_forward"),
        "berth says it switched IPv4 forwarding on: {}",
        engine.log()
    );
    // IPv6 forwarding only when an IPv6 network routes out: not for the default bridge, nor an internal one.
    let v6 = || sh(&ns, "cat /proc/sys/net/ipv6/conf/all/forwarding").trim().to_owned();
    assert_eq!(v6(), "0", "no IPv6 network yet");
    docker_ok(
        &engine,
        &[
            "network",
            "create",
            "--internal",
            "--ipv6",
            "--subnet",
            "fd42:7::/64",
            "inside6",
        ],
    );
    assert_eq!(v6(), "0", "an internal IPv6 network routes nowhere");
    assert!(!said("/proc/sys/net/ipv6/conf/all/forwarding"), "{}", engine.log());
    docker_ok(
        &engine,
        &["network", "create", "--ipv6", "--subnet", "fd42:8::/64", "out6"],
    );
    assert_eq!(v6(), "1", "an IPv6 network that routes out");
    assert!(
        said("/proc/sys/net/ipv6/conf/all/forwarding"),
        "berth says it switched IPv6 forwarding on: {}",
        engine.log()
    );
}
