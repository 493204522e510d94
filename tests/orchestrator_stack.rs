//! `berth up/ps/down` against a real engine (dockerd by default; BERTH_TEST_ENGINE=berth for berth's own),
//! through the Docker Engine API only.

mod orchestrator_support;

use orchestrator_support::{free_port, http_get, now_arg, require_root, Engine, Stack};

/// A busybox stack: a "cache" with a healthcheck, an API writing a counter into the named volume, a front
/// publishing 127.0.0.1:PORT that asks the API by service name.
fn three_tier(port: u16, api_env: &str) -> String {
    format!(
        r#"
services:
  cache:
    image: busybox
    command: ["sh", "-c", "touch /tmp/ready; exec sleep 2147483647"]
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 1s
      retries: 10
  api:
    image: busybox
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "test", "-x", "/www/cgi-bin/count"]
      interval: 500ms
      retries: 20
    depends_on:
      cache:
        condition: service_healthy
    environment:
      GREETING: "{api_env}"
    volumes: ["data:/data"]
    command:
      - sh
      - -c
      - |
        mkdir -p /www/cgi-bin
        printf '#!/bin/sh\nn=$$(cat /data/n 2>/dev/null || echo 0); n=$$((n+1)); echo $$n > /data/n\nprintf "Content-Type: text/plain\\r\\n\\r\\n%%s n=%%s\\n" "$$GREETING" $$n\n' > /www/cgi-bin/count
        chmod +x /www/cgi-bin/count
        exec httpd -f -p 8000 -h /www
  front:
    image: busybox
    stop_grace_period: 1s
    depends_on: [api]
    ports: ["127.0.0.1:{port}:80"]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:80/"]
      interval: 500ms
      retries: 20
    command:
      - sh
      - -c
      - |
        mkdir -p /www/cgi-bin
        echo ok > /www/index.html
        printf '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n"\nwget -q -O - http://api:8000/cgi-bin/count\n' > /www/cgi-bin/index
        chmod +x /www/cgi-bin/index
        exec httpd -f -p 80 -h /www
volumes:
  data:
"#
    )
}

#[test]
fn up_wait_ps_down_keeps_volume_until_dash_v() {
    if !require_root("up_wait_ps_down_keeps_volume_until_dash_v") {
        return;
    }
    let engine = Engine::start();
    let port = free_port();
    let stack = Stack::new(&engine, "tt", &three_tier(port, "hello"));
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
    assert!(http_get(port, "/cgi-bin/index").contains("hello n=1"));

    stack.berth_ok(&["down", "-t", "1"]);
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

    stack.berth_ok(&["up", "-d", "--wait"]);
    assert!(
        http_get(port, "/cgi-bin/index").contains("hello n=2"),
        "the volume's data survived down"
    );
    stack.berth_ok(&["down", "-v", "-t", "1"]);
    let (containers, networks, volumes) = engine.leftovers(&stack.project);
    assert!(
        containers.is_empty() && networks.is_empty() && volumes.is_empty(),
        "down -v left {containers:?} {networks:?} {volumes:?}"
    );
}

#[test]
fn second_up_recreates_nothing_and_a_changed_service_alone_is_recreated() {
    if !require_root("second_up_recreates_nothing_and_a_changed_service_alone_is_recreated") {
        return;
    }
    let engine = Engine::start();
    let port = free_port();
    let stack = Stack::new(&engine, "hash", &three_tier(port, "one"));
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

    stack.write(&three_tier(port, "two"));
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
    assert!(http_get(port, "/cgi-bin/index").contains("two n="));
}

#[test]
fn healthy_chain_starts_in_order_from_events() {
    if !require_root("healthy_chain_starts_in_order_from_events") {
        return;
    }
    let engine = Engine::start();
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

#[test]
fn cycle_is_refused_before_anything_is_created() {
    if !require_root("cycle_is_refused_before_anything_is_created") {
        return;
    }
    let engine = Engine::start();
    let compose = "services:\n  a:\n    image: busybox\n    depends_on: [b]\n  b:\n    image: busybox\n    depends_on: [c]\n  c:\n    image: busybox\n    depends_on: [a]\n";
    let stack = Stack::new(&engine, "cycle", compose);
    let out = stack.berth(&["up", "-d"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(err.contains("cycle"), "the error names the cycle: {err}");
    let (containers, networks, volumes) = engine.leftovers(&stack.project);
    assert!(containers.is_empty() && networks.is_empty() && volumes.is_empty());
}

#[test]
fn abort_on_container_exit_returns_that_exit_code() {
    if !require_root("abort_on_container_exit_returns_that_exit_code") {
        return;
    }
    let engine = Engine::start();
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
