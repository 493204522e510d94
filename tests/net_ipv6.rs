//! Issue 18: IPv6 and bridge options, on berth's engine and on dockerd (the same scenario, what users see
//! compared). Traffic stays inside the test's bridges and namespaces and on loopback.

#[macro_use]
#[allow(unused_macros)]
mod orchestrator_support;

use orchestrator_support::{free_port, require_root, suffix, Engine, Kind, Stack};
use std::process::Command;
use std::time::{Duration, Instant};

/// A unique-local /64 per test run, so dockerd (in the host's namespace) never meets another run's subnet.
fn ula(n: u8) -> String {
    let tag = u16::from_str_radix(&suffix()[..4], 16).unwrap_or(0xb7);
    format!("fd00:b7:{tag:x}:{n}")
}

fn inspect(engine: &Engine, target: &str, format: &str) -> String {
    engine.docker_lines(&["inspect", "-f", format, target]).join("\n")
}

/// `curl` where the engine publishes ports: inside berth's namespace, on the host for dockerd.
fn curl(engine: &Engine, url: &str) -> String {
    let mut cmd = match &engine.netns {
        Some(ns) => ns.command("curl"),
        None => Command::new("curl"),
    };
    let out = cmd.args(["-gsS", "--max-time", "5", url]).output().expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `ip` where the engine makes its bridges.
fn ip(engine: &Engine, args: &[&str]) -> String {
    let mut cmd = match &engine.netns {
        Some(ns) => ns.command("ip"),
        None => Command::new("ip"),
    };
    let out = cmd.args(args).output().expect("ip");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn poll(what: &str, mut f: impl FnMut() -> Option<String>) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn dual_stack_compose(prefix6: &str, port: u16) -> String {
    format!(
        r#"
services:
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /w && echo v6-page > /w/index.html && exec httpd -f -p 80 -h /w"]
    ports: ["[::1]:{port}:80"]
    networks:
      lan:
        ipv6_address: "{prefix6}::10"
  client:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    networks: [lan]
networks:
  lan:
    enable_ipv6: true
    ipam:
      config:
        - subnet: 10.232.{third}.0/24
        - subnet: "{prefix6}::/64"
          aux_addresses:
            reserved: "{prefix6}::2"
"#,
        third = port % 200 + 20
    )
}

/// Two containers on a dual-stack network: AAAA answers by name, ping6 and HTTP over IPv6 between them, a
/// fixed `ipv6_address`, a port published on `[::1]`, and inspect documents shaped as dockerd's.
fn ipv6_between_containers_by_name(kind: Kind) {
    if !require_root("ipv6_between_containers_by_name") {
        return;
    }
    let engine = Engine::start(kind);
    let prefix6 = ula(1);
    let port = free_port();
    let stack = Stack::new(&engine, "v6", &dual_stack_compose(&prefix6, port));
    stack.berth_ok(&["up", "-d", "--wait"]);
    let p = stack.project.clone();
    let (web, client) = (format!("{p}-web-1"), format!("{p}-client-1"));
    let net = format!("{p}_lan");

    assert_eq!(inspect(&engine, &net, "{{.EnableIPv6}}"), "true");
    assert_eq!(
        inspect(&engine, &net, "{{json .IPAM.Options}}"),
        "null",
        "{kind:?}: no IPAM options were given"
    );
    let config = inspect(&engine, &net, "{{json .IPAM.Config}}");
    assert!(
        config.contains(&format!(r#""Subnet":"{prefix6}::/64""#)),
        "{kind:?}: {config}"
    );
    assert!(
        config.contains(&format!(r#""reserved":"{prefix6}::2""#)),
        "{kind:?}: {config}"
    );
    let fmt = "{{range .NetworkSettings.Networks}}{{.GlobalIPv6Address}}/{{.GlobalIPv6PrefixLen}} gw {{.IPv6Gateway}} ipam {{.IPAMConfig.IPv6Address}}{{end}}";
    let shown = inspect(&engine, &web, fmt);
    assert_eq!(
        shown,
        format!("{prefix6}::10/64 gw {prefix6}::1 ipam {prefix6}::10"),
        "{kind:?}"
    );
    let mac = inspect(
        &engine,
        &web,
        "{{range .NetworkSettings.Networks}}{{.MacAddress}}{{end}}",
    );
    assert!(mac.starts_with("02:42:"), "{kind:?}: dockerd's MAC addresses: {mac}");

    let lookup = engine.exec_sh(&client, "nslookup -type=AAAA web");
    assert!(
        lookup.contains(&format!("{prefix6}::10")),
        "{kind:?}: AAAA of web: {lookup}"
    );
    let ping = engine.exec_sh(&client, "ping -6 -c1 -W3 web && echo REACHED");
    assert!(ping.contains("REACHED"), "{kind:?}: ping6 by name: {ping}");
    let page = engine.exec_sh(&client, &format!("wget -qO- http://[{prefix6}::10]/"));
    assert!(page.contains("v6-page"), "{kind:?}: HTTP over IPv6: {page}");
    let client6 = inspect(
        &engine,
        &client,
        "{{range .NetworkSettings.Networks}}{{.GlobalIPv6Address}}{{end}}",
    );
    assert!(
        client6.starts_with(&prefix6) && client6 != format!("{prefix6}::2"),
        "{kind:?}: pool address, not the auxiliary one: {client6}"
    );

    let body = poll("the [::1] port", || {
        Some(curl(&engine, &format!("http://[::1]:{port}/"))).filter(|b| b.contains("v6-page"))
    });
    assert!(body.contains("v6-page"));
    let ports = engine.docker_lines(&["port", &web]).join(" ");
    assert!(
        ports.contains(&format!("[::1]:{port}")),
        "{kind:?}: docker port: {ports}"
    );

    let ids = engine.network_ids(&p);
    stack.berth_ok(&["down"]);
    let left = engine.kernel_leftovers(&ids);
    assert!(left.is_empty(), "{kind:?}: down left {left:?}");
}

/// `network connect` with IPAMConfig (fixed IPv4 and IPv6 addresses) on a running container.
fn connect_with_ipam_config(kind: Kind) {
    if !require_root("connect_with_ipam_config") {
        return;
    }
    let engine = Engine::start(kind);
    let prefix6 = ula(2);
    let net = format!("v6c{}", suffix());
    engine.docker_lines(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        "10.233.7.0/24",
        "--subnet",
        &format!("{prefix6}::/64"),
        &net,
    ]);
    // The container starts on a plain network of its own (the harness's dockerd has no default bridge).
    let first = format!("v4c{}", suffix());
    engine.docker_lines(&["network", "create", "--subnet", "10.233.8.0/24", &first]);
    let ctr = format!("v6c{}", suffix());
    engine.docker_lines(&[
        "run",
        "-d",
        "--name",
        &ctr,
        "--network",
        &first,
        "busybox",
        "sleep",
        "600",
    ]);
    engine.docker_lines(&[
        "network",
        "connect",
        "--ip",
        "10.233.7.77",
        "--ip6",
        &format!("{prefix6}::77"),
        &net,
        &ctr,
    ]);
    let fmt = format!(
        "{{{{with index .NetworkSettings.Networks \"{net}\"}}}}{{{{.IPAddress}}}} {{{{.GlobalIPv6Address}}}} {{{{.IPAMConfig.IPv4Address}}}} {{{{.IPAMConfig.IPv6Address}}}}{{{{end}}}}"
    );
    assert_eq!(
        inspect(&engine, &ctr, &fmt),
        format!("10.233.7.77 {prefix6}::77 10.233.7.77 {prefix6}::77"),
        "{kind:?}"
    );
    let addrs = engine.exec_sh(&ctr, "ip -6 addr show");
    let line = addrs.lines().find(|l| l.contains(&format!("{prefix6}::77/64")));
    assert!(
        line.is_some_and(|l| !l.contains("tentative")),
        "{kind:?}: the address is there and usable at once: {addrs}"
    );
    let taken = engine.docker(&["network", "connect", "--ip6", &format!("{prefix6}::1"), &net, "nosuch"]);
    assert!(!taken.status.success());
    engine.docker_lines(&["rm", "-f", &ctr]);
    engine.docker_lines(&["network", "rm", &net, &first]);
}

/// Bridge options: the bridge's name and MTU as asked, and ICC off keeps the network's containers apart.
fn bridge_options_are_applied(kind: Kind) {
    if !require_root("bridge_options_are_applied") {
        return;
    }
    let engine = Engine::start(kind);
    let sfx = suffix();
    let bridge = format!("bo{}", &sfx[sfx.len().saturating_sub(10)..]);
    let net = format!("icc off {sfx}");
    engine.docker_lines(&[
        "network",
        "create",
        "-o",
        &format!("com.docker.network.bridge.name={bridge}"),
        "-o",
        "com.docker.network.driver.mtu=1400",
        "-o",
        "com.docker.network.bridge.enable_icc=false",
        "--subnet",
        "10.234.9.0/24",
        &net,
    ]);
    let names: Vec<String> = (0..2).map(|i| format!("icc{i}{sfx}")).collect();
    for n in &names {
        engine.docker_lines(&["run", "-d", "--name", n, "--network", &net, "busybox", "sleep", "600"]);
    }
    // dockerd's bridge takes the MTU of its ports: compared once containers are on it.
    let link = ip(&engine, &["link", "show", &bridge]);
    assert!(link.contains("mtu 1400"), "{kind:?}: bridge {bridge}: {link}");
    let mtu = engine.exec_sh(&names[0], "cat /sys/class/net/eth0/mtu");
    assert_eq!(mtu.trim(), "1400", "{kind:?}: container MTU");
    let ping = engine.exec_sh(&names[0], &format!("ping -c1 -W2 {} && echo REACHED", names[1]));
    assert!(!ping.contains("REACHED"), "{kind:?}: ICC off must block: {ping}");
    for n in &names {
        engine.docker_lines(&["rm", "-f", n]);
    }
    engine.docker_lines(&["network", "rm", &net]);
    assert!(
        ip(&engine, &["link", "show", &bridge]).is_empty(),
        "{kind:?}: the named bridge went with its network"
    );
}

/// Creating a `host`-driver network is refused, as dockerd does.
fn host_driver_network_is_refused(kind: Kind) {
    if !require_root("host_driver_network_is_refused") {
        return;
    }
    let engine = Engine::start(kind);
    let out = engine.docker(&["network", "create", "-d", "host", &format!("h{}", suffix())]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("only one instance of \"host\" network is allowed"),
        "{kind:?}: {err}"
    );
}

/// The address of a container on its only network.
fn addr_of(engine: &Engine, ctr: &str) -> String {
    inspect(engine, ctr, "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}")
}

/// Whether `from` gets an answer to one ping of `to`.
fn pings(engine: &Engine, from: &str, to: &str) -> bool {
    engine
        .exec_sh(from, &format!("ping -c1 -W1 {to} >/dev/null 2>&1 && echo REACHED"))
        .contains("REACHED")
}

/// Every bridge network is cut off from the others, user-named bridges (`com.docker.network.bridge.name`)
/// included, as dockerd's isolation chains do; members of one bridge still reach each other.
fn bridges_are_isolated_from_each_other(kind: Kind) {
    if !require_root("bridges_are_isolated_from_each_other") {
        return;
    }
    let engine = Engine::start(kind);
    let sfx = suffix();
    let tail = &sfx[sfx.len().saturating_sub(9)..];
    let nets: Vec<(String, Option<String>)> = vec![
        (format!("iso a {sfx}"), Some(format!("bia{tail}"))),
        (format!("iso b {sfx}"), Some(format!("bib{tail}"))),
        (format!("iso c {sfx}"), None),
    ];
    for (net, bridge) in &nets {
        let mut args = vec!["network".to_owned(), "create".to_owned()];
        if let Some(b) = bridge {
            args.extend(["-o".to_owned(), format!("com.docker.network.bridge.name={b}")]);
        }
        args.push(net.clone());
        engine.docker_lines(&args.iter().map(String::as_str).collect::<Vec<_>>());
    }
    let ctrs: Vec<(String, &str)> = [("a1", 0), ("a2", 0), ("b1", 1), ("c1", 2)]
        .iter()
        .map(|(n, i)| (format!("{n}{sfx}"), nets[*i].0.as_str()))
        .collect();
    for (name, net) in &ctrs {
        engine.docker_lines(&["run", "-d", "--name", name, "--network", net, "busybox", "sleep", "600"]);
    }
    let ip: Vec<String> = ctrs.iter().map(|(n, _)| addr_of(&engine, n)).collect();
    let name = |i: usize| ctrs[i].0.as_str();
    assert!(
        pings(&engine, name(0), &ip[1]),
        "{kind:?}: a1 -> a2 on one named bridge"
    );
    for (from, to) in [(0, 2), (2, 0), (0, 3), (3, 0), (2, 3), (3, 2)] {
        assert!(
            !pings(&engine, name(from), &ip[to]),
            "{kind:?}: {} reached {} ({}) on another bridge",
            name(from),
            name(to),
            ip[to]
        );
    }
    for (n, _) in &ctrs {
        engine.docker_lines(&["rm", "-f", n]);
    }
    for (net, _) in &nets {
        engine.docker_lines(&["network", "rm", net]);
    }
}

/// `ports: ["P:80"]` (no host address) binds 0.0.0.0 and [::] on one port, as dockerd 20.10 does, and [::1]
/// reaches a container without an IPv6 address (through the proxy); `0.0.0.0:Q:80` binds IPv4 only.
fn ports_on_every_address_bind_both_families(kind: Kind) {
    if !require_root("ports_on_every_address_bind_both_families") {
        return;
    }
    let engine = Engine::start(kind);
    let (any, v4) = (free_port(), free_port());
    let compose = format!(
        r#"
services:
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /w && echo both-page > /w/index.html && exec httpd -f -p 80 -h /w"]
    ports: ["{any}:80", "0.0.0.0:{v4}:80"]
"#
    );
    let stack = Stack::new(&engine, "anyport", &compose);
    stack.berth_ok(&["up", "-d", "--wait"]);
    let p = stack.project.clone();
    let web = format!("{p}-web-1");
    let mut ports = engine.docker_lines(&["port", &web]);
    ports.sort();
    let mut want = vec![
        format!("80/tcp -> 0.0.0.0:{any}"),
        format!("80/tcp -> 0.0.0.0:{v4}"),
        format!("80/tcp -> [::]:{any}"),
    ];
    want.sort();
    assert_eq!(ports, want, "{kind:?}: docker port");
    let shown = inspect(&engine, &web, "{{json .NetworkSettings.Ports}}");
    assert!(
        shown.contains(&format!(r#"{{"HostIp":"::","HostPort":"{any}"}}"#)),
        "{kind:?}: {shown}"
    );
    let body = poll("the [::1] port", || {
        Some(curl(&engine, &format!("http://[::1]:{any}/"))).filter(|b| b.contains("both-page"))
    });
    assert!(body.contains("both-page"));
    assert!(curl(&engine, &format!("http://127.0.0.1:{any}/")).contains("both-page"));
    assert!(curl(&engine, &format!("http://127.0.0.1:{v4}/")).contains("both-page"));
    assert!(
        curl(&engine, &format!("http://[::1]:{v4}/")).is_empty(),
        "{kind:?}: 0.0.0.0 is IPv4 only"
    );
    let ids = engine.network_ids(&p);
    stack.berth_ok(&["down"]);
    let left = engine.kernel_leftovers(&ids);
    assert!(left.is_empty(), "{kind:?}: down left {left:?}");
}

/// Docker since 26.0.2 (CVE-2024-32473), not Debian's dockerd 20.10: an interface on an IPv4-only network
/// has IPv6 off (no link-local address, nothing from a router advertisement); an interface on an IPv6
/// network, connected later to the same container, has its addresses; `lo` keeps `::1`. berth only.
#[test]
fn ipv6_is_off_on_interfaces_of_ipv4_only_networks() {
    if !require_root("ipv6_is_off_on_interfaces_of_ipv4_only_networks") {
        return;
    }
    let engine = Engine::start(Kind::Berth);
    let sfx = suffix();
    let (v4, dual, ctr) = (format!("v4only{sfx}"), format!("dual{sfx}"), format!("v6off{sfx}"));
    let prefix6 = ula(3);
    engine.docker_lines(&["network", "create", "--subnet", "10.233.7.0/24", &v4]);
    let subnet6 = format!("{prefix6}::/64");
    engine.docker_lines(&["network", "create", "--ipv6", "--subnet", &subnet6, &dual]);
    engine.docker_lines(&["run", "-d", "--name", &ctr, "--network", &v4, "busybox", "sleep", "600"]);
    let eth0 = engine.exec_sh(
        &ctr,
        "cat /proc/sys/net/ipv6/conf/eth0/disable_ipv6; ip -6 addr show dev eth0",
    );
    assert_eq!(
        eth0.trim(),
        "1",
        "IPv6 off on the IPv4-only interface, no address: {eth0}"
    );
    let lo = engine.exec_sh(&ctr, "ip -6 addr show dev lo");
    assert!(lo.contains("::1/128"), "lo keeps ::1: {lo}");
    engine.docker_lines(&["network", "connect", &dual, &ctr]);
    let eth1 = engine.exec_sh(
        &ctr,
        "cat /proc/sys/net/ipv6/conf/eth1/disable_ipv6; ip -6 addr show dev eth1",
    );
    assert!(
        eth1.starts_with('0') && eth1.contains(&format!("inet6 {prefix6}::")),
        "IPv6 on for the IPv6 network's interface: {eth1}"
    );
    let eth0 = engine.exec_sh(&ctr, "ip -6 addr show dev eth0");
    assert!(eth0.trim().is_empty(), "eth0 stays without IPv6: {eth0}");
    engine.docker_lines(&["rm", "-f", &ctr]);
    engine.docker_lines(&["network", "rm", &v4, &dual]);
}

for_each_engine!(
    bridges_are_isolated_from_each_other,
    ports_on_every_address_bind_both_families,
    ipv6_between_containers_by_name,
    connect_with_ipam_config,
    bridge_options_are_applied,
    host_driver_network_is_refused,
);
