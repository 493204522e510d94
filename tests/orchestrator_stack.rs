//! `berth up/ps/down` against real engines (each test once with dockerd, once with berth's own engine), through
//! the Docker Engine API only.

#[macro_use]
mod orchestrator_support;

use orchestrator_support::{free_port, now_arg, require_root, Engine, Kind, Stack};

for_each_engine!(
    up_wait_ps_down_keeps_volume_until_dash_v,
    second_up_recreates_nothing_and_a_changed_service_alone_is_recreated,
    healthy_chain_starts_in_order_from_events,
    each_service_starts_when_its_own_dependencies_hold,
    cycle_is_refused_before_anything_is_created,
    abort_on_container_exit_returns_that_exit_code,
);

/// examples/three-tier on `engine`, publishing on a free port, with the Debian fixture (redis, python3) loaded.
fn three_tier<'e>(engine: &'e Engine) -> (Stack<'e>, u16) {
    engine.load_image("debian.tar");
    let stack = Stack::example(engine, "three-tier");
    let port = free_port();
    stack.set_env("FRONT_PORT", &port.to_string());
    (stack, port)
}

/// The visit count in the front's answer (which came from the API, which read it from redis).
fn visits(engine: &Engine, port: u16) -> i64 {
    let body = engine.http_get(port, "/cgi-bin/visits");
    let json: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("front answered {body:?}: {e}"));
    json["visits"]
        .as_i64()
        .unwrap_or_else(|| panic!("no visit count in {body}"))
}

fn up_wait_ps_down_keeps_volume_until_dash_v(kind: Kind) {
    if !require_root("up_wait_ps_down_keeps_volume_until_dash_v") {
        return;
    }
    let engine = Engine::start(kind);
    let (stack, port) = three_tier(&engine);
    stack.set_env("GREETING", "hello");
    stack.berth_ok(&["up", "-d", "--wait"]);
    let ps = stack.berth_ok(&["ps", "--format", "json"]);
    let rows: Vec<serde_json::Value> = ps.lines().map(|l| serde_json::from_str(l).expect("ps json")).collect();
    assert_eq!(rows.len(), 3, "three containers running: {ps}");
    assert!(rows.iter().all(|r| r["State"] == "running"), "{ps}");
    let names: Vec<&str> = rows.iter().filter_map(|r| r["Name"].as_str()).collect();
    assert!(
        names.contains(&format!("{}-front-1", stack.project).as_str()),
        "{names:?}"
    );
    let body = engine.http_get(port, "/cgi-bin/visits");
    assert!(
        body.contains(r#""message": "hello""#),
        "the API's answer through the front: {body}"
    );
    assert_eq!(visits(&engine, port), 2, "redis counts every visit");

    let network_ids = engine.network_ids(&stack.project);
    assert_eq!(network_ids.len(), 1, "one network: {network_ids:?}");
    stack.berth_ok(&["down"]);
    let (containers, networks, volumes) = engine.leftovers(&stack.project);
    assert!(
        containers.is_empty() && networks.is_empty(),
        "down left {containers:?} {networks:?}"
    );
    assert_eq!(
        volumes,
        vec![format!("{}_data", stack.project)],
        "down without -v keeps the named volume"
    );
    let kernel = engine.kernel_leftovers(&network_ids);
    assert!(kernel.is_empty(), "down left kernel objects: {kernel:?}");

    stack.berth_ok(&["up", "-d", "--wait"]);
    assert_eq!(visits(&engine, port), 3, "redis' data in the volume survived down");
    stack.berth_ok(&["down", "-v"]);
    let (containers, networks, volumes) = engine.leftovers(&stack.project);
    assert!(
        containers.is_empty() && networks.is_empty() && volumes.is_empty(),
        "down -v left {containers:?} {networks:?} {volumes:?}"
    );
    stack.berth_ok(&["up", "-d", "--wait"]);
    assert_eq!(visits(&engine, port), 1, "down -v removed the data");
}

fn second_up_recreates_nothing_and_a_changed_service_alone_is_recreated(kind: Kind) {
    if !require_root("second_up_recreates_nothing_and_a_changed_service_alone_is_recreated") {
        return;
    }
    let engine = Engine::start(kind);
    let (stack, port) = three_tier(&engine);
    stack.set_env("GREETING", "one");
    stack.berth_ok(&["up", "-d", "--wait"]);

    let t0 = now_arg();
    stack.berth_ok(&["up", "-d", "--wait"]);
    let t1 = now_arg();
    let events = engine.events(&stack.project, &t0, &t1);
    let touched: Vec<_> = events
        .iter()
        .filter(|e| matches!(e.action.as_str(), "create" | "destroy" | "start" | "stop"))
        .collect();
    assert!(
        touched.is_empty(),
        "an unchanged up must not create, destroy, start or stop: {touched:?}"
    );

    stack.set_env("GREETING", "two");
    let t2 = now_arg();
    stack.berth_ok(&["up", "-d", "--wait"]);
    let t3 = now_arg();
    let created: Vec<String> = engine
        .events(&stack.project, &t2, &t3)
        .into_iter()
        .filter(|e| e.action == "create")
        .map(|e| e.service)
        .collect();
    assert_eq!(
        created,
        vec!["api".to_owned()],
        "only the service whose environment changed is recreated"
    );
    let body = engine.http_get(port, "/cgi-bin/visits");
    assert!(body.contains(r#""message": "two""#), "{body}");
}

fn healthy_chain_starts_in_order_from_events(kind: Kind) {
    if !require_root("healthy_chain_starts_in_order_from_events") {
        return;
    }
    let engine = Engine::start(kind);
    let mut compose = String::from("services:\n");
    let depth = 4;
    for i in 0..depth {
        compose.push_str(&format!(
            "  s{i}:\n    image: busybox\n    stop_grace_period: 1s\n    command: [\"sh\", \"-c\", \"sleep 1; touch /tmp/ok; exec sleep 2147483647\"]\n    healthcheck: {{test: [\"CMD\", \"test\", \"-f\", \"/tmp/ok\"], interval: 500ms, retries: 20}}\n"
        ));
        if i > 0 {
            compose.push_str(&format!(
                "    depends_on:\n      s{}:\n        condition: service_healthy\n",
                i - 1
            ));
        }
    }
    let stack = Stack::new(&engine, "chain", &compose);
    let t0 = now_arg();
    stack.berth_ok(&["up", "-d", "--wait"]);
    let t1 = now_arg();
    let events = engine.events(&stack.project, &t0, &t1);
    let time_of = |service: &str, action: &str| {
        events
            .iter()
            .find(|e| e.service == service && e.action.starts_with(action))
            .map(|e| e.time_nano)
            .unwrap_or_else(|| panic!("no {action} event for {service}: {events:?}"))
    };
    for i in 1..depth {
        let healthy = time_of(&format!("s{}", i - 1), "health_status: healthy");
        let started = time_of(&format!("s{i}"), "start");
        assert!(started >= healthy, "s{i} started before s{} was healthy", i - 1);
    }
}

/// A depends on B being healthy; C depends on D, which depends on E. B turns healthy only once C has started
/// (C writes the flag B's healthcheck looks for), so the graph-driven start is the only way `up` succeeds:
/// level by level ([B, E], [A, D], [C]) would hold C until A's wait for B ends, and B would turn unhealthy.
fn each_service_starts_when_its_own_dependencies_hold(kind: Kind) {
    if !require_root("each_service_starts_when_its_own_dependencies_hold") {
        return;
    }
    let engine = Engine::start(kind);
    let sleeper = "    image: busybox\n    stop_signal: SIGKILL\n    command: [\"sleep\", \"2147483647\"]\n";
    let compose = format!(
        "services:\n  a:\n{sleeper}    depends_on: {{b: {{condition: service_healthy}}}}\n  b:\n{sleeper}    volumes: [flag:/flag]\n    healthcheck: {{test: [\"CMD\", \"test\", \"-f\", \"/flag/c-started\"], interval: 1s, timeout: 5s, retries: 120}}\n  c:\n    image: busybox\n    stop_signal: SIGKILL\n    command: [\"sh\", \"-c\", \"touch /flag/c-started; exec sleep 2147483647\"]\n    volumes: [flag:/flag]\n    depends_on: [d]\n  d:\n{sleeper}    depends_on: [e]\n  e:\n{sleeper}volumes:\n  flag: {{}}\n"
    );
    let stack = Stack::new(&engine, "graph", &compose);
    let t0 = now_arg();
    stack.berth_ok(&["up", "-d"]);
    let t1 = now_arg();
    let events = engine.events(&stack.project, &t0, &t1);
    let time_of = |service: &str, action: &str| {
        events
            .iter()
            .find(|e| e.service == service && e.action.starts_with(action))
            .map(|e| e.time_nano)
            .unwrap_or_else(|| panic!("no {action} event for {service}: {events:?}"))
    };
    let b_healthy = time_of("b", "health_status: healthy");
    // C's create, not its start event: an engine stamps `start` once start returns, and under load B's probe
    // can see C's flag first. A level-by-level scheduler would not even create C before B is healthy.
    assert!(
        time_of("c", "create") < b_healthy,
        "C must be created before B is healthy"
    );
    assert!(time_of("a", "start") >= b_healthy, "A waited for B to be healthy");
    assert!(time_of("d", "start") <= time_of("c", "start"), "C waited for D");

    let t2 = now_arg();
    stack.berth_ok(&["down", "-v"]);
    let t3 = now_arg();
    let events = engine.events(&stack.project, &t2, &t3);
    let destroyed = |service: &str| {
        events
            .iter()
            .find(|e| e.service == service && e.action == "destroy")
            .map(|e| e.time_nano)
            .unwrap_or_else(|| panic!("no destroy event for {service}: {events:?}"))
    };
    let died = |service: &str| {
        events
            .iter()
            .find(|e| e.service == service && e.action == "die")
            .map(|e| e.time_nano)
            .unwrap_or_else(|| panic!("no die event for {service}: {events:?}"))
    };
    for (dependent, dependency) in [("a", "b"), ("c", "d"), ("d", "e")] {
        assert!(
            destroyed(dependent) <= died(dependency),
            "{dependent} is gone before {dependency} stops"
        );
    }
    let (containers, networks, volumes) = engine.leftovers(&stack.project);
    assert!(containers.is_empty() && networks.is_empty() && volumes.is_empty());
}

fn cycle_is_refused_before_anything_is_created(kind: Kind) {
    if !require_root("cycle_is_refused_before_anything_is_created") {
        return;
    }
    let engine = Engine::start(kind);
    let compose = "services:\n  a:\n    image: busybox\n    depends_on: [b]\n  b:\n    image: busybox\n    depends_on: [c]\n  c:\n    image: busybox\n    depends_on: [a]\n";
    let stack = Stack::new(&engine, "cycle", compose);
    let out = stack.berth(&["up", "-d"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(err.contains("cycle"), "the error names the cycle: {err}");
    let (containers, networks, volumes) = engine.leftovers(&stack.project);
    assert!(containers.is_empty() && networks.is_empty() && volumes.is_empty());
}

fn abort_on_container_exit_returns_that_exit_code(kind: Kind) {
    if !require_root("abort_on_container_exit_returns_that_exit_code") {
        return;
    }
    let engine = Engine::start(kind);
    let compose = "services:\n  job:\n    image: busybox\n    command: [\"sh\", \"-c\", \"echo working; sleep 1; exit 3\"]\n  idle:\n    image: busybox\n    stop_grace_period: 1s\n    command: [\"sleep\", \"2147483647\"]\n";
    let stack = Stack::new(&engine, "abort", compose);
    let out = stack.berth(&["up", "--abort-on-container-exit", "--no-color"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(3),
        "exit code of the container that stopped; stdout: {stdout}\nstderr: {stderr}"
    );
    let prefixed = stdout
        .lines()
        .any(|l| l.starts_with(&format!("{}-job-1", stack.project)) && l.ends_with("| working"));
    assert!(prefixed, "attached logs are prefixed with the container name: {stdout}");
    let running = engine.docker_lines(&[
        "ps",
        "--filter",
        &format!("label=com.docker.compose.project={}", stack.project),
        "-q",
    ]);
    assert!(running.is_empty(), "the stack was stopped");
}
