//! Verbs beyond up/down against a real engine: replicas and --scale, exec and run exit codes, refusal of
//! attributes berth cannot honour yet, and auto-starting berth's own engine.

mod orchestrator_support;

use orchestrator_support::{berth_bin, require_root, Engine, Stack};
use std::process::Command;

#[test]
fn unsupported_attribute_is_refused_by_name_before_any_engine_call() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("compose.yaml"),
        "services:\n  web:\n    image: busybox\n    secrets: [token]\nsecrets:\n  token:\n    file: ./token.txt\n",
    )
    .expect("write");
    std::fs::write(dir.path().join("token.txt"), "x").expect("write");
    // An engine address nothing listens on: the refusal must come before any connection attempt.
    let out = Command::new(berth_bin())
        .current_dir(dir.path())
        .env("DOCKER_HOST", format!("unix://{}/nothing.sock", dir.path().display()))
        .args(["up", "-d"])
        .output()
        .expect("berth");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("services.web.secrets") && err.contains("not supported"),
        "{err}"
    );
    assert!(!err.contains("nothing.sock"), "refused before connecting: {err}");
}

#[test]
fn replicas_scale_exec_and_run_exit_codes() {
    if !require_root("replicas_scale_exec_and_run_exit_codes") {
        return;
    }
    let engine = Engine::start();
    let compose = "services:\n  w:\n    image: busybox\n    stop_signal: SIGKILL\n    deploy: {replicas: 2}\n    environment: {ROLE: worker}\n    command: [\"sleep\", \"2147483647\"]\n";
    let stack = Stack::new(&engine, "verbs", compose);
    stack.berth_ok(&["up", "-d", "--wait"]);
    let ids = stack.berth_ok(&["ps", "-q"]);
    assert_eq!(ids.lines().count(), 2, "deploy.replicas: 2 → two containers");

    stack.berth_ok(&["up", "-d", "--wait", "--scale", "w=3"]);
    let names = stack.berth_ok(&["ps", "--format", "json"]);
    for n in 1..=3 {
        assert!(
            names.contains(&format!("{}-w-{n}", stack.project)),
            "replica {n} exists: {names}"
        );
    }
    stack.berth_ok(&["up", "-d", "--wait", "--scale", "w=1"]);
    assert_eq!(
        stack.berth_ok(&["ps", "-q"]).lines().count(),
        1,
        "scaling down removes the extra replicas"
    );

    let out = stack.berth(&["exec", "-T", "w", "sh", "-c", "echo role=$ROLE; exit 5"]);
    assert_eq!(out.status.code(), Some(5), "exec returns the command's exit code");
    assert!(String::from_utf8_lossy(&out.stdout).contains("role=worker"));

    let out = stack.berth(&["run", "--rm", "-e", "X=y", "w", "sh", "-c", "echo x=$X; exit 6"]);
    assert_eq!(out.status.code(), Some(6), "run returns the one-off's exit code");
    assert!(String::from_utf8_lossy(&out.stdout).contains("x=y"));
    let all = engine.docker_lines(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=com.docker.compose.project={}", stack.project),
        "--format",
        "{{.Names}}",
    ]);
    assert_eq!(all.len(), 1, "run --rm removed its container: {all:?}");
}

#[test]
fn berth_engine_is_started_on_demand() {
    if !require_root("berth_engine_is_started_on_demand") {
        return;
    }
    if std::env::var("BERTH_TEST_ENGINE").as_deref() != Ok("berth") {
        eprintln!("!!! SKIPPED (BERTH_TEST_ENGINE is not berth): berth_engine_is_started_on_demand");
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("borch-auto")
        .tempdir_in("/tmp")
        .expect("temp dir");
    let host = format!("unix://{}/b.sock", dir.path().display());
    let root = dir.path().join("root");
    let berth = |args: &[&str]| {
        Command::new(berth_bin())
            .current_dir(dir.path())
            .env_remove("DOCKER_HOST")
            .env("BERTH_HOST", &host)
            .env("BERTH_ROOT", &root)
            .args(args)
            .output()
            .expect("berth")
    };
    let out = berth(&["-p", "nothing", "ps"]);
    assert!(
        out.status.success(),
        "ps auto-started the engine: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(berth(&["engine", "status"]).status.success());
    assert!(berth(&["engine", "stop"]).status.success());
}
