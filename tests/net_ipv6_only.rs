//! Issue 18: IPv6-only networks (`enable_ipv4: false`, `docker network create --ipv4=false`) on berth's
//! engine. Debian's dockerd 20.10 predates the setting (it ignores `EnableIPv4` and makes a dual-stack
//! network), so there is no peer to compare with here; what is checked is what dockerd 27+ documents: no
//! IPv4 address or route in the containers, names answered with IPv6 addresses only, published ports reached
//! from both families, and inspect showing `EnableIPv4: false` with the IPv6 entry alone. Traffic stays inside
//! the test's bridges and namespaces and on loopback.

#[macro_use]
#[allow(unused_macros)]
mod orchestrator_support;

use orchestrator_support::{free_port, require_root, Engine, Kind, Stack};
use std::time::{Duration, Instant};

fn compose(port: u16) -> String {
    format!(
        r#"
services:
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /w && echo v6-only-page > /w/index.html && exec httpd -f -p 80 -h /w"]
    ports: ["{port}:80"]
    networks: [only6]
  client:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    networks: [only6]
networks:
  only6:
    enable_ipv4: false
    enable_ipv6: true
"#
    )
}

/// `curl` inside the engine's namespace, where berth publishes ports.
fn curl(engine: &Engine, url: &str) -> String {
    let ns = engine.netns.as_ref().expect("berth runs in a test namespace");
    let out = ns
        .command("curl")
        .args(["-gsS", "--max-time", "5", url])
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Addresses in an nslookup answer (after the server's own lines).
fn answers(out: &str) -> Vec<String> {
    out.split("Name:")
        .skip(1)
        .flat_map(|block| block.lines().filter_map(|l| l.trim().strip_prefix("Address:")))
        .map(|a| a.trim().to_owned())
        .collect()
}

#[test]
fn ipv6_only_network_has_no_ipv4_anywhere_and_still_works() {
    if !require_root("ipv6_only_network_has_no_ipv4_anywhere_and_still_works") {
        return;
    }
    let engine = Engine::start(Kind::Berth);
    let port = free_port();
    let stack = Stack::new(&engine, "only6", &compose(port));
    stack.berth_ok(&["up", "-d", "--wait"]);
    let p = stack.project.clone();
    let (web, client, net) = (format!("{p}-web-1"), format!("{p}-client-1"), format!("{p}_only6"));

    let shown = engine.docker_lines(&[
        "network",
        "inspect",
        "-f",
        "{{.EnableIPv4}} {{.EnableIPv6}} {{json .IPAM.Config}}",
        &net,
    ]);
    let shown = shown.join("\n");
    assert!(shown.starts_with("false true [{"), "network inspect: {shown}");
    assert_eq!(shown.matches("Subnet").count(), 1, "the IPv6 entry alone: {shown}");
    assert!(shown.contains(":"), "an IPv6 subnet: {shown}");

    for c in [&web, &client] {
        let v4 = engine.exec_sh(c, "ip -o -4 addr show dev eth0; ip -4 route");
        assert!(v4.trim().is_empty(), "{c}: no IPv4 address or route: {v4}");
        let v6 = engine.exec_sh(c, "ip -o -6 addr show dev eth0 scope global; ip -6 route show default");
        assert!(
            v6.contains("inet6") && v6.contains("default via"),
            "{c}: IPv6 address and route: {v6}"
        );
        let fields = engine.docker_lines(&[
            "inspect",
            "-f",
            &format!("{{{{with index .NetworkSettings.Networks \"{net}\"}}}}[{{{{.IPAddress}}}}] [{{{{.Gateway}}}}] {{{{.GlobalIPv6Address}}}}{{{{end}}}}"),
            c,
        ]);
        let fields = fields.join("");
        assert!(
            fields.starts_with("[] [] ") && fields.contains(':'),
            "{c} inspect: {fields}"
        );
    }

    let web_ip = engine.docker_lines(&[
        "inspect",
        "-f",
        &format!("{{{{(index .NetworkSettings.Networks \"{net}\").GlobalIPv6Address}}}}"),
        &web,
    ]);
    let out = engine.exec_sh(&client, "nslookup web");
    assert_eq!(answers(&out), web_ip, "only the IPv6 address answers: {out}");
    let page = engine.exec_sh(&client, "wget -qO- http://web/index.html");
    assert!(page.contains("v6-only-page"), "HTTP by name over IPv6: {page}");
    let hosts = engine.exec_sh(&web, "cat /etc/hosts");
    assert!(hosts.contains(&web_ip[0]), "own IPv6 address in /etc/hosts: {hosts}");

    // Both families of the host reach the port: IPv6 by DNAT, IPv4 through the proxy.
    until("the port on [::1]", || {
        curl(&engine, &format!("http://[::1]:{port}/")).contains("v6-only-page")
    });
    until("the port on 127.0.0.1", || {
        curl(&engine, &format!("http://127.0.0.1:{port}/")).contains("v6-only-page")
    });

    let ids = engine.network_ids(&p);
    stack.berth_ok(&["down"]);
    let left = engine.kernel_leftovers(&ids);
    assert!(left.is_empty(), "down left {left:?}");
}

#[test]
fn ipv4_off_is_refused_without_ipv6_or_with_an_ipv4_subnet() {
    if !require_root("ipv4_off_is_refused_without_ipv6_or_with_an_ipv4_subnet") {
        return;
    }
    let engine = Engine::start(Kind::Berth);
    let out = engine.docker(&["network", "create", "--ipv4=false", "neither"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("IPv4 or IPv6 must be enabled"),
        "{err}"
    );
    let out = engine.docker(&[
        "network",
        "create",
        "--ipv4=false",
        "--ipv6",
        "--subnet",
        "10.233.7.0/24",
        "with4",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("IPAM.Config") && err.contains("EnableIPv4"),
        "{err}"
    );
    let nets = engine.docker_lines(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(
        !nets.iter().any(|n| n == "neither" || n == "with4"),
        "nothing is made: {nets:?}"
    );
    // The docker CLI's own flag makes the same network a Compose file does.
    engine.docker_lines(&["network", "create", "--ipv4=false", "--ipv6", "cli6"]);
    let shown = engine.docker_lines(&[
        "network",
        "inspect",
        "-f",
        "{{.EnableIPv4}} {{len .IPAM.Config}}",
        "cli6",
    ]);
    assert_eq!(shown, vec!["false 1".to_string()]);
    engine.docker_lines(&["network", "rm", "cli6"]);
}
