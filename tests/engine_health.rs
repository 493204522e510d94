//! Health checks, events, restart policies and init through the docker CLI against berth's engine.

mod engine_support;
use engine_support::{require_root, suffix, Engine};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn field(e: &Engine, name: &str, fmt: &str) -> String {
    e.docker(&["inspect", "-f", fmt, name]).trim().to_owned()
}

fn docker_cmd(e: &Engine) -> Command {
    let mut c = Command::new(engine_support::docker_bin());
    c.env("DOCKER_HOST", format!("unix://{}", e.socket.display()))
        .env("DOCKER_CONFIG", e.dir.path().join("docker-config"));
    c
}

#[test]
fn health_starting_unhealthy_healthy_with_events() {
    if !require_root("health_starting_unhealthy_healthy_with_events") {
        return;
    }
    let e = Engine::start();
    e.load_busybox();
    let name = format!("hc-{}", suffix());
    let mut events = docker_cmd(&e)
        .args([
            "events",
            "--filter",
            "event=health_status",
            "--filter",
            &format!("container={name}"),
            "--format",
            "{{.Action}}",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let out = events.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    e.docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        "none",
        "--health-cmd",
        "test -f /tmp/ok",
        "--health-interval",
        "1s",
        "--health-retries",
        "2",
        "busybox",
        "sleep",
        "300",
    ]);
    assert_eq!(field(&e, &name, "{{.State.Health.Status}}"), "starting");
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(15)).unwrap(),
        "health_status: unhealthy"
    );
    assert_eq!(field(&e, &name, "{{.State.Health.Status}}"), "unhealthy");
    let log = field(&e, &name, "{{json .State.Health.Log}}");
    assert!(log.contains("\"ExitCode\":1"), "probe log: {log}");
    e.docker(&["exec", &name, "touch", "/tmp/ok"]);
    let t = Instant::now();
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        "health_status: healthy"
    );
    eprintln!("healthy event {:?} after the probe could succeed", t.elapsed());
    assert_eq!(field(&e, &name, "{{.State.Health.Status}}"), "healthy");
    assert_eq!(field(&e, &name, "{{.State.Health.FailingStreak}}"), "0");
    let n: usize = field(&e, &name, "{{len .State.Health.Log}}").parse().unwrap();
    assert!((1..=5).contains(&n), "log length {n}");
    let ps = e.docker(&["ps", "--filter", &format!("name={name}"), "--format", "{{.Status}}"]);
    assert!(ps.contains("(healthy)"), "ps status: {ps}");
    let _ = events.kill();
    let _ = events.wait();
    // Probes never pile up: nothing but the main process and at most one probe is left in the container.
    let top = e.docker(&["exec", &name, "ps", "-o", "comm"]);
    assert!(top.lines().filter(|l| l.trim() == "test").count() <= 1, "{top}");
}

#[test]
fn restart_policies_and_user_stop() {
    if !require_root("restart_policies_and_user_stop") {
        return;
    }
    let e = Engine::start();
    e.load_busybox();
    let of = format!("of-{}", suffix());
    e.docker(&[
        "run",
        "-d",
        "--name",
        &of,
        "--network",
        "none",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "exit 1",
    ]);
    assert!(e.eventually(Duration::from_secs(20), || field(
        &e,
        &of,
        "{{.RestartCount}} {{.State.Status}}"
    ) == "2 exited"));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        field(&e, &of, "{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}"),
        "2 exited 1"
    );
    let die = e.docker(&[
        "events",
        "--since",
        "0",
        "--until",
        &format!("{}", chrono_now() + 1),
        "--filter",
        &format!("container={of}"),
        "--filter",
        "event=die",
        "--format",
        "{{.Action}} {{index .Actor.Attributes \"exitCode\"}}",
    ]);
    assert_eq!(die.lines().count(), 3, "die events: {die}");
    assert!(die.lines().all(|l| l == "die 1"), "{die}");

    let us = format!("us-{}", suffix());
    e.docker(&[
        "run",
        "-d",
        "--name",
        &us,
        "--network",
        "none",
        "--restart",
        "unless-stopped",
        "busybox",
        "sleep",
        "300",
    ]);
    e.docker(&["stop", "-t", "1", &us]);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(field(&e, &us, "{{.State.Status}} {{.RestartCount}}"), "exited 0");

    let al = format!("al-{}", suffix());
    e.docker(&[
        "run",
        "-d",
        "--name",
        &al,
        "--network",
        "none",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "sleep 2; exit 0",
    ]);
    e.berth(&["engine", "stop"]);
    std::thread::sleep(Duration::from_secs(3));
    e.berth(&["engine", "start"]);
    // It exited while the engine was down: the policy restarts it after the engine comes back.
    assert!(
        e.eventually(Duration::from_secs(10), || field(&e, &al, "{{.State.Status}}")
            == "running")
    );
    assert!(field(&e, &al, "{{.RestartCount}}").parse::<i64>().unwrap() >= 1);
    assert_eq!(field(&e, &us, "{{.State.Status}}"), "exited");
}

fn chrono_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn init_makes_stop_immediate() {
    if !require_root("init_makes_stop_immediate") {
        return;
    }
    let e = Engine::start();
    e.load_busybox();
    let name = format!("in-{}", suffix());
    e.docker(&[
        "run",
        "-d",
        "--init",
        "--name",
        &name,
        "--network",
        "none",
        "busybox",
        "sleep",
        "300",
    ]);
    let t = Instant::now();
    e.docker(&["stop", &name]);
    let took = t.elapsed();
    eprintln!("docker stop with --init took {took:?}");
    assert!(
        took < Duration::from_secs(5),
        "stop waited for the grace period: {took:?}"
    );
    assert_eq!(field(&e, &name, "{{.State.Status}}"), "exited");
}
