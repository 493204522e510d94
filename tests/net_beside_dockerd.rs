//! Issue 18: berth's stacks beside a running dockerd. dockerd switches forwarding on with iptables' `FORWARD`
//! policy set to drop and br_netfilter calling iptables, which drops even traffic between containers on one
//! berth bridge unless berth lets its bridges through. Both engines run in one test-owned namespace, as they
//! would on one host; the stack's containers must reach each other by name and reach a published port, and
//! `down` must leave dockerd's chains as they were.

#[allow(unused_macros)]
#[macro_use]
mod orchestrator_support;

use std::sync::Arc;

use orchestrator_support::{free_port, require_root, Engine, Kind, Netns, Stack};

/// `web` serves a page on 8080, published on every host address; `client` only waits.
fn compose(port: u16) -> String {
    format!(
        r#"
services:
  web:
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && echo served-by-web > /www/index.html && exec httpd -f -p 8080 -h /www"]
    ports: ["{port}:8080"]
  client:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
"#
    )
}

fn run_in(ns: &Netns, program: &str, args: &[&str]) -> String {
    let out = ns.command(program).args(args).output().expect(program);
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// dockerd's FORWARD chain as iptables-nft shows it (also proves the chain still parses for iptables).
fn forward_rules(ns: &Netns) -> String {
    run_in(ns, "iptables", &["-S"])
}

#[test]
fn stack_beside_dockerd_reaches_its_services_and_published_ports() {
    if !require_root("stack_beside_dockerd_reaches_its_services_and_published_ports") {
        return;
    }
    let ns = Arc::new(Netns::new());
    // A host where forwarding is off until dockerd switches it on (and then sets the FORWARD policy to drop).
    run_in(&ns, "sh", &["-c", "echo 0 > /proc/sys/net/ipv4/ip_forward"]);
    let dockerd = Engine::start_in(Kind::Dockerd, ns.clone());
    let out = dockerd.docker(&["network", "create", "beside"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let before = forward_rules(&ns);
    assert!(
        before.contains("-P FORWARD DROP"),
        "dockerd did not set the drop policy: {before}"
    );
    assert!(before.contains("-N DOCKER-USER"), "{before}");

    let berth = Engine::start_in(Kind::Berth, ns.clone());
    let port = free_port();
    let stack = Stack::new(&berth, "beside", &compose(port));
    stack.berth_ok(&["up", "-d", "--wait"]);
    let p = stack.project.clone();
    let client = format!("{p}-client-1");
    // The name through the resolver (nslookup), then a connection (busybox-static wget crashes with -T).
    let by_name = berth.exec_sh(
        &client,
        "ip=$(nslookup web | awk '/^Address/ {a=$2} END {print a}'); timeout 10 wget -q -O - http://$ip:8080/",
    );
    assert!(by_name.contains("served-by-web"), "client -> web by name: {by_name}");
    assert_eq!(
        berth.http_get(port, "/").trim(),
        "served-by-web",
        "published port from the host"
    );
    let gateway = berth
        .docker_lines(&[
            "network",
            "inspect",
            "-f",
            "{{(index .IPAM.Config 0).Gateway}}",
            &format!("{p}_default"),
        ])
        .join("");
    let via_host = berth.exec_sh(&client, &format!("timeout 10 wget -q -O - http://{gateway}:{port}/"));
    assert!(
        via_host.contains("served-by-web"),
        "client -> published port on the host: {via_host}"
    );
    let during = forward_rules(&ns);
    assert!(
        during.contains("-P FORWARD DROP"),
        "berth must not change dockerd's policy: {during}"
    );
    assert!(
        during.contains("-A DOCKER-USER -i brt-"),
        "berth's rules sit in DOCKER-USER: {during}"
    );

    let ids = berth.network_ids(&p);
    stack.berth_ok(&["down", "-t", "1"]);
    // berth's own default bridge keeps its rules while the engine runs; the project's networks leave none.
    let after = forward_rules(&ns);
    for line in before.lines() {
        assert!(
            after.lines().any(|l| l == line),
            "dockerd's `{line}` is gone after down: {after}"
        );
    }
    for id in &ids {
        assert!(!after.contains(&id[..11]), "a rule of network {id} is left: {after}");
    }
    let left = berth.kernel_leftovers(&ids);
    assert!(left.is_empty(), "left after down: {left:?}");
}
