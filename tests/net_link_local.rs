//! Issue 18: `link_local_ips` as Docker has them, on berth's engine and on a stock dockerd (each in a
//! test-owned network namespace), compared: given at create (docker CLI, Engine API, Compose file) and at
//! `network connect`, the address is on the container's interface and inspect shows it in
//! `NetworkSettings.Networks.<n>.IPAMConfig.LinkLocalIPs`; an address that is not link-local is refused; the
//! default bridge takes one.

#[allow(unused_macros)]
#[macro_use]
mod orchestrator_support;
mod net_support;

use std::sync::Arc;

use net_support::{docker_ok, engine_in, sleeper};
use orchestrator_support::{require_root, Engine, Kind, Netns, Stack};

/// `ifname address/prefix` of the link-local (169.254/16) IPv4 addresses inside `container`.
fn link_local_addrs(engine: &Engine, container: &str) -> Vec<String> {
    let out = engine.exec_sh(container, "ip -o -4 addr show");
    let mut addrs: Vec<String> = out
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 3 && f[3].starts_with("169.254.")).then(|| format!("{} {}", f[1], f[3]))
        })
        .collect();
    addrs.sort();
    addrs
}

fn ipam_config(engine: &Engine, container: &str, network: &str) -> String {
    docker_ok(
        engine,
        &[
            "inspect",
            "-f",
            &format!("{{{{json (index .NetworkSettings.Networks {network:?}).IPAMConfig}}}}"),
            container,
        ],
    )
}

/// Creates and starts `name` on `network` through the Engine API with `EndpointsConfig.IPAMConfig.LinkLocalIPs`.
fn create_with_api(engine: &Engine, name: &str, network: &str, link_local: &str) {
    let body = serde_json::json!({
        "Image": "busybox",
        "Cmd": ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"],
        "HostConfig": {"NetworkMode": network},
        "NetworkingConfig": {"EndpointsConfig": {network: {"IPAMConfig": {"LinkLocalIPs": [link_local]}}}},
    });
    let out = std::process::Command::new("curl")
        .args(["-sS", "--fail-with-body", "--unix-socket"])
        .arg(&engine.socket)
        .args(["-H", "Content-Type: application/json", "-d", &body.to_string()])
        .arg(format!("http://localhost/v1.41/containers/create?name={name}"))
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "{:?}: create {name}: {}{}",
        engine.kind,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    docker_ok(engine, &["start", name]);
}

/// What a user sees of link-local addresses given at create (CLI and API) and at connect on `kind`.
fn link_local(kind: Kind) -> Vec<String> {
    let ns = Arc::new(Netns::new());
    let engine = engine_in(kind, &ns);
    docker_ok(&engine, &["network", "create", "ll1"]);
    docker_ok(&engine, &["network", "create", "ll2"]);
    sleeper(&engine, "cli", "ll1", &["--link-local-ip", "169.254.7.7"]);
    create_with_api(&engine, "api", "ll1", "169.254.7.8");
    docker_ok(
        &engine,
        &["network", "connect", "--link-local-ip", "169.254.8.8", "ll2", "cli"],
    );
    let mut seen = Vec::new();
    for (container, expected) in [
        ("cli", vec!["eth0 169.254.7.7/16", "eth1 169.254.8.8/16"]),
        ("api", vec!["eth0 169.254.7.8/16"]),
    ] {
        let addrs = link_local_addrs(&engine, container);
        assert_eq!(addrs, expected, "{kind:?}: link-local addresses inside {container}");
        seen.push(format!("{container}: {addrs:?}"));
    }
    // The containers reach each other on those addresses.
    let ping = engine.exec_sh("api", "ping -c1 -W5 169.254.7.7 >/dev/null && echo REACHED");
    assert!(ping.contains("REACHED"), "{kind:?}: api -> 169.254.7.7: {ping}");
    for (container, network) in [("cli", "ll1"), ("cli", "ll2"), ("api", "ll1")] {
        let shown = ipam_config(&engine, container, network);
        assert!(
            shown.contains("LinkLocalIPs"),
            "{kind:?}: {container} on {network}: IPAMConfig {shown}"
        );
        seen.push(format!("{container} {network} IPAMConfig {shown}"));
    }
    seen.extend(link_local_from_compose(&engine));
    if kind == Kind::Berth {
        let ids: Vec<String> = ["ll1", "ll2"]
            .iter()
            .map(|n| docker_ok(&engine, &["network", "inspect", "-f", "{{.Id}}", n]))
            .collect();
        docker_ok(&engine, &["rm", "-f", "cli", "api"]);
        docker_ok(&engine, &["network", "rm", "ll1", "ll2"]);
        let left = engine.kernel_leftovers(&ids);
        assert!(left.is_empty(), "left after removal: {left:?}");
    }
    seen
}

/// A Compose service's `link_local_ips`, through berth's orchestrator: on the interface and in inspect.
fn link_local_from_compose(engine: &Engine) -> Vec<String> {
    let stack = Stack::new(
        engine,
        "llc",
        r#"
services:
  s:
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    networks:
      lan:
        link_local_ips: [169.254.9.9]
networks:
  lan: {}
"#,
    );
    stack.berth_ok(&["up", "-d"]);
    let container = format!("{}-s-1", stack.project);
    let addrs = link_local_addrs(engine, &container);
    assert_eq!(
        addrs,
        vec!["eth0 169.254.9.9/16"],
        "{:?}: link_local_ips of a Compose service",
        engine.kind
    );
    let shown = ipam_config(engine, &container, &format!("{}_lan", stack.project));
    stack.berth_ok(&["down", "-t", "0"]);
    vec![format!("compose: {addrs:?}"), format!("compose IPAMConfig {shown}")]
}

#[test]
fn link_local_ips_at_create_and_connect() {
    if !require_root("link_local_ips_at_create_and_connect") {
        return;
    }
    let berth = link_local(Kind::Berth);
    let dockerd = link_local(Kind::Dockerd);
    eprintln!("berth: {berth:#?}\ndockerd: {dockerd:#?}");
    assert_eq!(berth, dockerd, "berth (left), dockerd (right)");
}

/// `refused` (with berth's message checked: it names the field), or the IPv4 addresses inside and the
/// endpoint's `IPAMConfig` of a container started with `--link-local-ip addr` on `network`.
fn link_local_outcome(engine: &Engine, name: &str, network: &str, addr: &str) -> String {
    let out = engine.docker(&[
        "run",
        "-d",
        "--name",
        name,
        "--network",
        network,
        "--link-local-ip",
        addr,
        "busybox",
        "sh",
        "-c",
        "trap 'exit 0' TERM; sleep 3600 & wait",
    ]);
    if !out.status.success() {
        return refusal(engine, &out);
    }
    let inside = engine.exec_sh(name, "ip -o -4 addr show eth0 | awk '{print $4}'");
    format!(
        "ran: {} | {}",
        inside.split_whitespace().collect::<Vec<_>>().join(" "),
        ipam_config(engine, name, network)
    )
}

/// "refused"; on berth the message must name the field and what it takes (dockerd's words differ).
fn refusal(engine: &Engine, out: &std::process::Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    if engine.kind == Kind::Berth {
        assert!(
            err.contains("IPAMConfig.LinkLocalIPs") && err.contains("link-local addresses"),
            "berth's refusal: {err}"
        );
    }
    "refused".to_owned()
}

/// Link-local addresses that are not, and one on the default bridge (allowed: only IPv4Address and
/// IPv6Address are kept to user networks).
fn link_local_edges(kind: Kind) -> Vec<String> {
    let ns = Arc::new(Netns::new());
    let engine = engine_in(kind, &ns);
    docker_ok(&engine, &["network", "create", "lle"]);
    let mut seen: Vec<String> = [
        ("bad", "lle", "notanip"),
        ("routable", "lle", "10.9.9.9"),
        ("dflt", "bridge", "169.254.5.5"),
    ]
    .iter()
    .map(|(name, net, addr)| format!("{name}: {}", link_local_outcome(&engine, name, net, addr)))
    .collect();
    // At connect the endpoint is made at once, and refused at once.
    let out = engine.docker(&["network", "connect", "--link-local-ip", "10.9.9.9", "lle", "dflt"]);
    seen.push(if out.status.success() {
        "connect routable: connected".to_owned()
    } else {
        format!("connect routable: {}", refusal(&engine, &out))
    });
    // Whether a refused `run` left a created container (refused at create or only at start).
    let mut names = docker_ok(&engine, &["ps", "-a", "--format", "{{.Names}}:{{.State}}"])
        .lines()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    names.sort();
    seen.push(format!("containers: {names:?}"));
    seen
}

#[test]
fn link_local_ips_must_be_link_local_and_work_on_the_default_bridge() {
    if !require_root("link_local_ips_must_be_link_local_and_work_on_the_default_bridge") {
        return;
    }
    let berth = link_local_edges(Kind::Berth);
    let dockerd = link_local_edges(Kind::Dockerd);
    eprintln!("berth: {berth:#?}\ndockerd: {dockerd:#?}");
    assert_eq!(berth, dockerd, "berth (left), dockerd (right)");
}
