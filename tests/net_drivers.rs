//! Issue 18: macvlan and ipvlan networks from a Compose file, on berth's engine and on a stock dockerd, each
//! in a test-owned namespace whose dummy interface is the parent; two containers on it reach each other by
//! name, and nothing is left after `down`. The refusals of bad options are berth's own messages (dockerd 20.10
//! makes a dummy parent where berth refuses: see docs/compose-differences.md).

#[macro_use]
#[allow(unused_macros)]
mod orchestrator_support;
mod net_support;

use std::sync::Arc;

use net_support::engine_in;
use orchestrator_support::{require_root, Engine, Kind, Netns, Stack};

fn compose(driver: &str, parent: &str, mode: &str, subnet: &str) -> String {
    format!(
        r#"
x-sleeper: &sleeper
  image: busybox
  command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
services:
  a:
    <<: *sleeper
    networks:
      lan:
        aliases: [alpha]
  b:
    <<: *sleeper
    networks: [lan]
networks:
  lan:
    driver: {driver}
    driver_opts:
      parent: {parent}
      {mode}
    ipam:
      config:
        - subnet: {subnet}
"#
    )
}

/// Makes the networks' parent `name` (up) in the engine's namespace: a dummy interface, or where the
/// kernel has no dummy driver (this development kernel), one end of a veth pair.
fn make_parent(engine: &Engine, name: &str) {
    let ns = engine
        .netns
        .as_ref()
        .expect("the engine runs in a namespace of its own");
    let ip = |args: &[&str]| ns.command("ip").args(args).output().expect("ip");
    if !ip(&["link", "add", name, "type", "dummy"]).status.success() {
        let out = ip(&[
            "link",
            "add",
            name,
            "type",
            "veth",
            "peer",
            "name",
            &format!("{name}-p"),
        ]);
        assert!(
            out.status.success(),
            "veth parent: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        ip(&["link", "set", &format!("{name}-p"), "up"]);
    }
    let out = ip(&["link", "set", name, "up"]);
    assert!(
        out.status.success(),
        "parent up: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// True when the kernel can make `kind` interfaces (probed in the engine's namespace).
fn kernel_has(engine: &Engine, kind: &str, parent: &str) -> bool {
    let ns = engine.netns.as_ref().expect("namespace");
    let made = ns
        .command("ip")
        .args(["link", "add", "probe0", "link", parent, "type", kind])
        .status()
        .expect("ip")
        .success();
    let _ = ns.command("ip").args(["link", "del", "probe0"]).status();
    made
}

/// Links of the engine's namespace that are bridges of these networks or veths.
fn bridges_of(engine: &Engine, network_ids: &[String]) -> Vec<String> {
    let ns = engine.netns.as_ref().expect("namespace");
    let out = ns.command("ip").args(["-o", "link", "show"]).output().expect("ip");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(": vb") || network_ids.iter().any(|id| l.contains(&format!("brt-{}", &id[..11]))))
        .map(str::to_owned)
        .collect()
}

/// This kernel lacks `driver`: dockerd makes the network and fails the first start ("failed to create the
/// ipvlan port: operation not supported"); berth refuses the network at create, saying so, and makes nothing.
fn no_driver(engine: &Engine, stack: &Stack, driver: &str) {
    eprintln!(
        "!!! {driver}: this kernel has no {driver} driver; checking that {:?} fails the up",
        engine.kind
    );
    let out = stack.berth(&["up", "-d"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{driver}: up must fail: {err}");
    match engine.kind {
        Kind::Berth => {
            assert!(err.contains(&format!("no {driver} support")), "{driver}: {err}");
            let (containers, networks, _) = engine.leftovers(&stack.project);
            assert!(
                containers.is_empty() && networks.is_empty(),
                "{driver}: nothing made: {containers:?} {networks:?}"
            );
        }
        Kind::Dockerd => {
            assert!(err.contains(driver), "{driver}: {err}");
            stack.berth_ok(&["down"]);
        }
    }
}

fn two_containers_reach_each_other(kind: Kind, driver: &str, mode: &str, subnet: &str, prefix: &str) {
    if !require_root(&format!("{driver}_containers_reach_each_other")) {
        return;
    }
    let engine = engine_in(kind, &Arc::new(Netns::new()));
    make_parent(&engine, "dm-lan");
    let stack = Stack::new(&engine, prefix, &compose(driver, "dm-lan", mode, subnet));
    if !kernel_has(&engine, driver, "dm-lan") {
        no_driver(&engine, &stack, driver);
        return;
    }
    stack.berth_ok(&["up", "-d", "--wait"]);
    let p = stack.project.clone();
    let (a, b) = (format!("{p}-a-1"), format!("{p}-b-1"));
    let net = format!("{p}_lan");
    let shown = engine.docker_lines(&["network", "inspect", "-f", "{{.Driver}}", &net]);
    assert_eq!(shown, vec![driver.to_owned()], "{driver}: inspect's driver");

    let a_ip = engine
        .docker_lines(&[
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            &a,
        ])
        .join("");
    assert!(
        a_ip.starts_with(&subnet[..subnet.len() - 4]),
        "{driver}: a's address {a_ip} in {subnet}"
    );
    let sandbox = engine
        .docker_lines(&["inspect", "-f", "{{.NetworkSettings.SandboxKey}}", &b])
        .join("");
    let link = std::process::Command::new("nsenter")
        .arg(format!("--net={sandbox}"))
        .args(["ip", "-d", "link", "show", "eth0"])
        .output()
        .expect("ip");
    let link = String::from_utf8_lossy(&link.stdout).into_owned();
    assert!(
        link.contains(&format!("{driver} mode")),
        "{driver}: b's eth0 is a {driver} interface: {link}"
    );
    // Nothing of berth's on the host side: no bridge, no veth; only the parent's own children inside containers.
    let bridges = bridges_of(&engine, &engine.network_ids(&p));
    assert!(bridges.is_empty(), "{driver}: no bridge was made: {bridges:?}");

    for target in ["alpha", "a", a.as_str()] {
        let out = engine.exec_sh(&b, &format!("ping -c1 -W2 {target} && echo REACHED"));
        assert!(
            out.contains("REACHED") && out.contains(&a_ip),
            "{driver}: b reaches {target}: {out}"
        );
    }

    let network_ids = engine.network_ids(&p);
    stack.berth_ok(&["down"]);
    let kernel = engine.kernel_leftovers(&network_ids);
    assert!(kernel.is_empty(), "{driver}: down left kernel objects: {kernel:?}");
}

fn macvlan_containers_reach_each_other(kind: Kind) {
    two_containers_reach_each_other(kind, "macvlan", "macvlan_mode: bridge", "10.231.7.0/24", "mvl");
}

fn ipvlan_containers_reach_each_other(kind: Kind) {
    two_containers_reach_each_other(kind, "ipvlan", "ipvlan_mode: l2", "10.231.8.0/24", "ivl");
}

for_each_engine!(macvlan_containers_reach_each_other, ipvlan_containers_reach_each_other);

#[test]
fn macvlan_with_a_missing_parent_is_refused_naming_the_option() {
    if !require_root("macvlan_with_a_missing_parent_is_refused_naming_the_option") {
        return;
    }
    let engine = Engine::start(Kind::Berth);
    let out = engine.docker(&["network", "create", "-d", "macvlan", "-o", "parent=nosuch0", "mv"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("Options.parent") && err.contains("nosuch0"),
        "{err}"
    );
    let out = engine.docker(&["network", "create", "-d", "macvlan", "mv"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("Options.parent"), "{err}");
    let out = engine.docker(&[
        "network",
        "create",
        "-d",
        "ipvlan",
        "-o",
        "parent=lo",
        "-o",
        "ipvlan_mode=l4",
        "iv",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("Options.ipvlan_mode") && err.contains("l3s"),
        "{err}"
    );
    let names = engine.docker_lines(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(
        !names.iter().any(|n| n == "mv" || n == "iv"),
        "nothing half-made: {names:?}"
    );
}
