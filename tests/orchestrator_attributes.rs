//! Issue 16 through `berth up`: the service attributes of `examples/every-attribute` applied end to end, seen
//! from inside the containers, on Debian's dockerd and on berth's engine with the same test; lifecycle hooks;
//! refusals before anything is created; `use_api_socket`; Swarm-only keys ignored with a warning.

#[macro_use]
mod orchestrator_support;

use orchestrator_support::{require_root, Engine, Kind, Stack};

for_each_engine!(
    every_attribute_example_applies_inside_the_containers,
    failing_post_start_fails_up,
    foreign_platform_and_storage_opt_are_refused_before_anything_starts,
    use_api_socket_gives_the_engine_and_the_credentials,
    system_paths_unconfined_unmasks_proc,
    named_profile_service_runs_and_selinux_labels_are_accepted,
    networks_by_priority_and_the_default_route,
);

fn start(kind: Kind, test: &str) -> Option<Engine> {
    require_root(test).then(|| Engine::start(kind))
}

/// `sh -c script` in the service's first container; stdout.
fn sh(stack: &Stack, service: &str, script: &str) -> String {
    stack.berth_ok(&["exec", "-T", service, "sh", "-c", script])
}

fn every_attribute_example_applies_inside_the_containers(kind: Kind) {
    let Some(e) = start(kind, "every_attribute_example_applies_inside_the_containers") else {
        return;
    };
    let stack = Stack::example(&e, "every-attribute");
    stack.berth_ok(&["up", "-d", "--wait"]);
    // Legacy link: the alias resolves from the linking container.
    let ns = sh(&stack, "app", "nslookup database 2>&1 || true");
    assert!(ns.contains("Address") && !ns.contains("NXDOMAIN"), "{kind:?}: {ns}");
    // The MAC address of the interface inside the container. Debian's dockerd 20.10 (API 1.41) reads only the
    // container-level `MacAddress`, which bollard's create body no longer has: checked on berth only (left in
    // docs/compose-differences.md).
    if kind == Kind::Berth {
        let mac = sh(&stack, "app", "cat /sys/class/net/eth0/address");
        assert_eq!(mac.trim(), "02:42:ac:11:99:02", "{kind:?}");
    }
    // pid/ipc of the db service: its processes and its /dev/shm.
    let ps = sh(&stack, "app", "ps -o comm");
    assert!(
        ps.lines().any(|l| l.trim() == "sleep") && ps.lines().filter(|l| l.trim() == "sleep").count() >= 2,
        "{kind:?}: {ps}"
    );
    sh(&stack, "db", "echo from-db > /dev/shm/x");
    assert_eq!(sh(&stack, "app", "cat /dev/shm/x"), "from-db\n", "{kind:?}");
    // OOM score, CPU shares and cpuset in the container's cgroup, the device node, the post_start hook.
    assert_eq!(sh(&stack, "app", "cat /proc/self/oom_score_adj").trim(), "500");
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    if !v2 {
        let cg = sh(
            &stack,
            "app",
            "cat /sys/fs/cgroup/cpu/cpu.shares /sys/fs/cgroup/cpuset/cpuset.cpus",
        );
        assert_eq!(cg, "512\n0\n", "{kind:?}");
    }
    assert_eq!(sh(&stack, "app", "echo x > /dev/example-null && echo ok"), "ok\n");
    assert_eq!(sh(&stack, "app", "cat /tmp/post_start"), "hooked\n", "{kind:?}");
    // uts: host.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    assert_eq!(sh(&stack, "quiet", "hostname").trim(), host.trim());
    // The log driver and its options reached the engine.
    let app = stack.berth_ok(&["ps", "-q", "app"]);
    let cfg = e.docker_lines(&[
        "inspect",
        "-f",
        "{{.HostConfig.LogConfig.Type}} {{index .HostConfig.LogConfig.Config \"max-file\"}}",
        app.trim(),
    ]);
    assert_eq!(cfg, ["json-file 3"], "{kind:?}");
    stack.berth_ok(&["down", "-t", "1"]);
    assert_eq!(e.leftovers(&stack.project).0, Vec::<String>::new());
}

fn failing_post_start_fails_up(kind: Kind) {
    let Some(e) = start(kind, "failing_post_start_fails_up") else {
        return;
    };
    let stack = Stack::new(
        &e,
        "hook",
        "services:\n  s:\n    image: busybox\n    command: [sleep, '600']\n    post_start:\n      - command: [sh, -c, 'echo hook says no; exit 3']\n",
    );
    let out = stack.berth(&["up", "-d"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{kind:?}: up succeeded");
    assert!(
        err.contains("post_start") && err.contains("hook says no"),
        "{kind:?}: {err}"
    );
}

fn foreign_platform_and_storage_opt_are_refused_before_anything_starts(kind: Kind) {
    let Some(e) = start(
        kind,
        "foreign_platform_and_storage_opt_are_refused_before_anything_starts",
    ) else {
        return;
    };
    let other = if std::env::consts::ARCH == "aarch64" {
        "linux/amd64"
    } else {
        "linux/arm64"
    };
    let stack = Stack::new(
        &e,
        "plat",
        &format!("services:\n  s:\n    image: busybox\n    pull_policy: never\n    platform: {other}\n    command: ['true']\n"),
    );
    let out = stack.berth(&["up", "-d"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("platform"), "{kind:?}: {err}");
    assert_eq!(
        e.docker_lines(&["ps", "-aq"]),
        Vec::<String>::new(),
        "{kind:?}: a container was created"
    );
    stack.write("services:\n  s:\n    image: busybox\n    storage_opt:\n      size: 1G\n");
    let out = stack.berth(&["up", "-d"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{kind:?}");
    assert!(
        err.contains("compose.yaml:4") && err.contains("storage_opt"),
        "{kind:?}: {err}"
    );
}

fn use_api_socket_gives_the_engine_and_the_credentials(kind: Kind) {
    let Some(e) = start(kind, "use_api_socket_gives_the_engine_and_the_credentials") else {
        return;
    };
    // Swarm-only keys ride along: ignored with a warning naming each, as Docker Compose ignores them.
    let stack = Stack::new(
        &e,
        "apisock",
        "services:\n  s:\n    image: busybox\n    command: [sleep, '600']\n    use_api_socket: true\n    deploy:\n      update_config: {parallelism: 1}\n      resources:\n        reservations: {cpus: '0.25'}\n  own:\n    image: busybox\n    command: [sleep, '600']\n    use_api_socket: true\n    environment: {DOCKER_CONFIG: /mine}\n",
    );
    let config_dir = stack.dir.path().join("docker-config");
    std::fs::create_dir(&config_dir).expect("mkdir");
    // `ci:secret` for a registry the test never contacts.
    let config = r#"{"auths": {"127.0.0.1:5999": {"auth": "Y2k6c2VjcmV0"}}}"#;
    std::fs::write(config_dir.join("config.json"), config).expect("config.json");
    stack.set_env("DOCKER_CONFIG", config_dir.to_str().expect("utf-8 path"));
    let out = stack.berth(&["up", "-d", "--wait"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{kind:?}: {err}");
    for key in ["deploy.update_config", "deploy.resources.reservations.cpus"] {
        assert!(
            err.contains(key) && err.contains("Swarm-only"),
            "{kind:?}: no warning for {key}: {err}"
        );
    }
    // The very socket this run talks to (same inode), at Docker's fixed path.
    use std::os::unix::fs::MetadataExt;
    let host_inode = std::fs::metadata(&e.socket).expect("engine socket").ino();
    let inside = sh(&stack, "s", "stat -c %i /var/run/docker.sock");
    assert_eq!(inside.trim(), host_inode.to_string(), "{kind:?}");
    assert_eq!(
        sh(&stack, "s", "echo $DOCKER_CONFIG"),
        "/run/secrets/docker\n",
        "{kind:?}"
    );
    let injected = sh(&stack, "s", "cat /run/secrets/docker/config.json");
    let json: serde_json::Value = serde_json::from_str(&injected).expect("injected config.json");
    assert_eq!(
        json["auths"]["127.0.0.1:5999"]["auth"], "Y2k6c2VjcmV0",
        "{kind:?}: {injected}"
    );
    let refused = sh(
        &stack,
        "s",
        "echo x >> /run/secrets/docker/config.json 2>&1 && echo written || echo refused",
    );
    assert_eq!(refused.trim(), "refused", "{kind:?}");
    // A service that brings its own DOCKER_CONFIG gets the socket only.
    let own = sh(
        &stack,
        "own",
        "echo $DOCKER_CONFIG; test -S /var/run/docker.sock && echo sock; test -e /run/secrets/docker || echo none",
    );
    assert_eq!(own, "/mine\nsock\nnone\n", "{kind:?}");
    stack.berth_ok(&["down", "-t", "0"]);
    assert_eq!(e.leftovers(&stack.project).0, Vec::<String>::new());
}

/// `security_opt: [systempaths=unconfined]` leaves /proc unmasked and /proc/sys writable, as Docker Compose sends
/// it (empty masked and read-only path lists); a service without it keeps them masked.
fn system_paths_unconfined_unmasks_proc(kind: Kind) {
    let Some(e) = start(kind, "system_paths_unconfined_unmasks_proc") else {
        return;
    };
    let stack = Stack::new(
        &e,
        "sysp",
        "services:\n  masked:\n    image: busybox\n    command: [sleep, '600']\n  open:\n    image: busybox\n    command: [sleep, '600']\n    security_opt: [systempaths=unconfined]\n",
    );
    stack.berth_ok(&["up", "-d", "--wait"]);
    // A masked file reads as /dev/null; a read-only path is a mount of its own, flagged ro.
    let probe = "head -c 64 /proc/timer_list | wc -c; grep -c ' /proc/sys proc ro' /proc/mounts || true";
    let masked: Vec<String> = sh(&stack, "masked", probe).lines().map(str::to_owned).collect();
    let open: Vec<String> = sh(&stack, "open", probe).lines().map(str::to_owned).collect();
    assert_eq!(masked, ["0", "1"], "{kind:?}: masked service");
    assert_eq!(open, ["64", "0"], "{kind:?}: unconfined service");
    let (open_name, masked_name) = (
        format!("{}-open-1", stack.project),
        format!("{}-masked-1", stack.project),
    );
    let inspect = e.docker_lines(&[
        "inspect",
        "-f",
        "{{json .HostConfig.MaskedPaths}}",
        &open_name,
        &masked_name,
    ]);
    assert_eq!(inspect[0], "[]", "{kind:?}");
    assert!(inspect[1].contains("/proc/timer_list"), "{kind:?}: {}", inspect[1]);
}

/// Two shapes seen in real-world files: a tool behind a profile run by naming it (`run --rm tool`, `up tool`:
/// Compose enables a service it is told to run), and binds and volumes with SELinux labels (`:z`, `:Z`) for
/// Podman hosts, which Compose passes on and an engine on a host without SELinux accepts and ignores. The tool's
/// env file is read only once the tool is enabled; `up` alone leaves the tool out.
fn named_profile_service_runs_and_selinux_labels_are_accepted(kind: Kind) {
    let Some(e) = start(kind, "named_profile_service_runs_and_selinux_labels_are_accepted") else {
        return;
    };
    let stack = Stack::new(
        &e,
        "prof",
        "services:\n  app:\n    image: busybox\n    command: [sleep, '600']\n    stop_signal: SIGKILL\n    \
         volumes: ['./data:/data:z', 'store:/store:Z']\n  tool:\n    image: busybox\n    profiles: [tools]\n    \
         env_file: [tool.env]\n    command: [sh, -c, 'cat /data/f; echo \"$$MODE\"']\n    volumes: ['./data:/data:ro,z']\n\
         volumes:\n  store: {}\n",
    );
    std::fs::create_dir(stack.dir.path().join("data")).expect("data dir");
    stack.berth_ok(&["up", "-d", "--wait"]);
    let ps = stack.berth_ok(&["ps", "--services"]);
    assert_eq!(
        ps.lines().collect::<Vec<_>>(),
        ["app"],
        "{kind:?}: up without a profile runs only app"
    );
    sh(&stack, "app", "echo from-app > /data/f && echo x > /store/y");
    std::fs::write(stack.dir.path().join("tool.env"), "MODE=tool\n").expect("tool.env");
    let out = stack.berth_ok(&["run", "--rm", "-T", "tool"]);
    assert_eq!(out.lines().collect::<Vec<_>>(), ["from-app", "tool"], "{kind:?}");
    let binds = e.docker_lines(&[
        "inspect",
        "-f",
        "{{json .HostConfig.Binds}}",
        &format!("{}-app-1", stack.project),
    ]);
    assert!(binds[0].contains("/data:/data:rw,z"), "{kind:?}: {}", binds[0]);
}

/// `priority` picks the primary network (the network mode); interfaces and the default route follow dockerd's
/// order: the highest `gw_priority`, then the network whose name sorts first (eth0 and the route).
/// `interface_name` and `gw_priority` need API 1.48/1.49, which Debian's dockerd 20.10 lacks: checked on
/// berth's engine only.
fn networks_by_priority_and_the_default_route(kind: Kind) {
    let Some(e) = start(kind, "networks_by_priority_and_the_default_route") else {
        return;
    };
    let stack = Stack::new(
        &e,
        "gw",
        "services:\n  a:\n    image: busybox\n    command: [\"sleep\", \"600\"]\n    stop_signal: SIGKILL\n    networks:\n      zeta: {priority: 10}\n      alpha: {}\n  b:\n    image: busybox\n    command: [\"sleep\", \"600\"]\n    stop_signal: SIGKILL\n    networks:\n      zeta: {gw_priority: 5}\n      alpha: {interface_name: side0}\nnetworks:\n  zeta: {ipam: {config: [{subnet: 10.251.1.0/24}]}}\n  alpha: {ipam: {config: [{subnet: 10.251.2.0/24}]}}\n",
    );
    stack.berth_ok(&["up", "-d"]);
    let a = stack.berth_ok(&["ps", "-q", "a"]);
    let mode = e.docker_lines(&["inspect", "-f", "{{.HostConfig.NetworkMode}}", a.trim()]);
    assert_eq!(mode, [format!("{}_zeta", stack.project)], "{kind:?}");
    assert!(
        sh(&stack, "a", "ip -4 addr show eth0").contains("10.251.2."),
        "{kind:?}: {}",
        sh(&stack, "a", "ip -4 addr")
    );
    assert!(
        sh(&stack, "a", "ip route").contains("default via 10.251.2.1 dev eth0"),
        "{kind:?}: {}",
        sh(&stack, "a", "ip route")
    );
    if kind == Kind::Berth {
        let routes = sh(&stack, "b", "ip route");
        assert!(routes.contains("default via 10.251.1.1"), "{routes}");
        assert!(
            sh(&stack, "b", "ip -4 addr show side0").contains("10.251.2."),
            "{kind:?}"
        );
    }
    stack.berth_ok(&["down", "-t", "0"]);
    assert_eq!(e.leftovers(&stack.project).0, Vec::<String>::new());
}
