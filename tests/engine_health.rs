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
    let seq = actions(&e, &of);
    assert_eq!(
        seq,
        ["create", "start", "die", "start", "restart", "die", "start", "restart", "die"],
        "policy restarts emit start then restart"
    );

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

/// The container's events so far (exec events left out), in order.
fn actions(e: &Engine, name: &str) -> Vec<String> {
    e.docker(&[
        "events",
        "--since",
        "0",
        "--until",
        &format!("{}", chrono_now() + 1),
        "--filter",
        &format!("container={name}"),
        "--format",
        "{{.Action}}",
    ])
    .lines()
    .filter(|l| !l.starts_with("exec_") && !l.starts_with("health_status"))
    .map(str::to_owned)
    .collect()
}

#[test]
fn docker_restart_events() {
    let Some(e) = Engine::with_busybox("docker_restart_events") else {
        return;
    };
    let name = format!("rs-{}", suffix());
    e.run_detached(&name, &[], &["sleep", "300"]);
    e.docker(&["restart", "-t", "1", &name]);
    let seq = actions(&e, &name);
    // sleep as PID 1 ignores SIGTERM: dockerd's order is kill (15), kill (9), die, stop, start, restart.
    assert_eq!(
        seq,
        ["create", "start", "kill", "kill", "die", "stop", "start", "restart"],
        "docker restart events"
    );
    assert_eq!(field(&e, &name, "{{.State.Status}}"), "running");
}

/// busybox with an image HEALTHCHECK (`test -f /tmp/ready`, 30 s, 1 retry), loaded as `<tag>`.
fn load_image_with_healthcheck(e: &Engine, tag: &str) {
    let dir = tempfile::tempdir().unwrap();
    let x = Command::new("tar")
        .arg("xf")
        .arg(engine_support::busybox_tar())
        .arg("-C")
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(x.success());
    let mpath = dir.path().join("manifest.json");
    let mut manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(&mpath).unwrap()).unwrap();
    let cfg_name = manifest[0]["Config"].as_str().unwrap().to_owned();
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join(&cfg_name)).unwrap()).unwrap();
    cfg["config"]["Healthcheck"] = serde_json::json!({
        "Test": ["CMD-SHELL", "test -f /tmp/ready"],
        "Interval": 30_000_000_000i64,
        "Retries": 1
    });
    let data = serde_json::to_vec(&cfg).unwrap();
    std::fs::remove_file(dir.path().join(&cfg_name)).unwrap();
    let tmp_cfg = dir.path().join("cfg.tmp");
    std::fs::write(&tmp_cfg, &data).unwrap();
    let sum = Command::new("sha256sum").arg(&tmp_cfg).output().unwrap();
    let hex = String::from_utf8_lossy(&sum.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    std::fs::rename(&tmp_cfg, dir.path().join(format!("{hex}.json"))).unwrap();
    manifest[0]["Config"] = serde_json::json!(format!("{hex}.json"));
    manifest[0]["RepoTags"] = serde_json::json!([tag]);
    std::fs::write(&mpath, serde_json::to_vec(&manifest).unwrap()).unwrap();
    let tar = dir.path().join("img.tar");
    let c = Command::new("tar")
        .arg("cf")
        .arg(&tar)
        .arg("-C")
        .arg(dir.path())
        .args(["manifest.json", &format!("{hex}.json")])
        .arg(manifest[0]["Layers"][0].as_str().unwrap())
        .status()
        .unwrap();
    assert!(c.success());
    e.docker(&["load", "-i", tar.to_str().unwrap()]);
}

#[test]
fn health_survives_engine_restart_and_image_healthcheck_merges() {
    if !require_root("health_survives_engine_restart_and_image_healthcheck_merges") {
        return;
    }
    let e = Engine::start();
    let tag = format!("hcimg{}:latest", suffix());
    load_image_with_healthcheck(&e, &tag);
    let name = format!("hp-{}", suffix());
    // --health-interval alone keeps the image's test and retries (Docker merges field by field).
    e.docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        "none",
        "--health-interval",
        "1s",
        &tag,
        "sleep",
        "300",
    ]);
    assert_eq!(
        field(
            &e,
            &name,
            "{{json .Config.Healthcheck.Test}} {{.Config.Healthcheck.Interval}} {{.Config.Healthcheck.Retries}}"
        ),
        r#"["CMD-SHELL","test -f /tmp/ready"] 1s 1"#
    );
    assert!(e.eventually(Duration::from_secs(15), || {
        field(&e, &name, "{{.State.Health.Status}} {{len .State.Health.Log}}") == "unhealthy 3"
    }));
    let health =
        |e: &Engine| -> serde_json::Value { serde_json::from_str(&field(e, &name, "{{json .State.Health}}")).unwrap() };
    let before = health(&e);
    e.berth(&["engine", "stop"]);
    e.berth(&["engine", "start"]);
    let after = health(&e);
    assert_eq!(after["Status"], "unhealthy", "after engine restart: {after}");
    assert!(
        after["FailingStreak"].as_i64() >= before["FailingStreak"].as_i64(),
        "{before} -> {after}"
    );
    let starts = |h: &serde_json::Value| -> Vec<String> {
        h["Log"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["Start"].as_str().unwrap().to_owned())
            .collect()
    };
    let (b, a) = (starts(&before), starts(&after));
    assert!(a.len() >= 3, "probe log lost: {after}");
    // The results from before the stop are kept, in order (newer probes after the restart may follow).
    let last = b.last().unwrap();
    let pos = a
        .iter()
        .position(|s| s == last)
        .unwrap_or_else(|| panic!("last result lost: {before} -> {after}"));
    assert_eq!(a[..=pos], b[b.len() - (pos + 1)..], "{before} -> {after}");
    // Probes go on after the restart with the saved streak.
    e.docker(&["exec", &name, "touch", "/tmp/ready"]);
    assert!(
        e.eventually(Duration::from_secs(10), || field(&e, &name, "{{.State.Health.Status}}")
            == "healthy")
    );
    assert_eq!(field(&e, &name, "{{.State.Health.FailingStreak}}"), "0");
}

fn chrono_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn init_makes_stop_immediate() {
    let Some(e) = Engine::with_busybox("init_makes_stop_immediate") else {
        return;
    };
    let name = format!("in-{}", suffix());
    e.run_detached(&name, &["--init"], &["sleep", "300"]);
    e.docker(&["stop", &name]);
    assert_eq!(field(&e, &name, "{{.State.Status}}"), "exited");
    // 143 = SIGTERM: the init passed stop's signal on to `sleep`; without it the container would have waited out
    // the grace period and died of SIGKILL (137).
    assert_eq!(field(&e, &name, "{{.State.ExitCode}}"), "143");
}

#[test]
fn a_ready_service_is_healthy_before_its_first_interval() {
    let Some(e) = Engine::with_busybox("a_ready_service_is_healthy_before_its_first_interval") else {
        return;
    };
    let name = format!("early-{}", suffix());
    e.run_detached(
        &name,
        &["--health-cmd", "test -f /etc/passwd", "--health-interval", "300s"],
        &["sleep", "600"],
    );
    // Docker's first probe would come after 300 s; berth's early probes see the ready service at once.
    let healthy = e.eventually(Duration::from_secs(60), || {
        field(&e, &name, "{{.State.Health.Status}}") == "healthy"
    });
    assert!(healthy, "still {}", field(&e, &name, "{{.State.Health.Status}}"));
    assert_eq!(
        field(&e, &name, "{{len .State.Health.Log}}"),
        "1",
        "only the successful early probe is logged"
    );

    // Early failures are neither counted nor logged: with retries 1, Docker's schedule would make this container
    // unhealthy only at its first regular probe.
    let failing = format!("early-fail-{}", suffix());
    e.run_detached(
        &failing,
        &[
            "--health-cmd",
            "false",
            "--health-interval",
            "300s",
            "--health-retries",
            "1",
        ],
        &["sleep", "600"],
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(field(&e, &failing, "{{.State.Health.Status}}"), "starting");
    assert_eq!(field(&e, &failing, "{{len .State.Health.Log}}"), "0");
    e.docker(&["rm", "-f", &name, &failing]);
}
