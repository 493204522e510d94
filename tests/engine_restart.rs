//! `berth engine stop` / `start` with containers running: they stay listed, logs intact, stop still works.

mod engine_support;

use engine_support::{require_root, Engine};
use std::time::Duration;

#[test]
fn containers_survive_engine_restart() {
    if !require_root("containers_survive_engine_restart") {
        return;
    }
    let e = Engine::start();
    e.load_busybox();
    let name = format!("live{}", std::process::id());
    let script = "trap 'echo bye; exit 0' TERM; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done";
    e.docker(&["run", "-d", "--name", &name, "busybox", "sh", "-c", script]);
    assert!(e.eventually(Duration::from_secs(5), || e.docker(&["logs", &name]).contains("tick 3")));
    let old_pid = e.pid();
    e.berth(&["engine", "stop"]);
    assert!(
        !e.berth_raw(&["engine", "status"]).status.success(),
        "engine still answers after stop"
    );
    e.berth(&["engine", "start"]);
    assert_ne!(e.pid(), old_pid);

    let ps = e.docker(&["ps", "--format", "{{.Names}} {{.State}}"]);
    assert!(ps.contains(&format!("{name} running")), "after restart: {ps}");
    let logs = e.docker(&["logs", &name]);
    assert!(logs.starts_with("tick 0\ntick 1\n"), "logs lost their start: {logs}");
    e.docker(&["stop", "-t", "5", &name]);
    assert_eq!(
        e.docker(&["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", &name])
            .trim(),
        "exited 0"
    );
    assert!(e.docker(&["logs", "--tail", "1", &name]).contains("bye"));
}

#[test]
fn one_engine_per_root_and_stale_socket_replaced() {
    if !require_root("one_engine_per_root_and_stale_socket_replaced") {
        return;
    }
    let e = Engine::start();
    let other_socket = e.dir.path().join("other.sock");
    let second = std::process::Command::new(engine_support::berth_bin())
        .args(["engine", "run"])
        .env("BERTH_ROOT", &e.root)
        .env("BERTH_HOST", format!("unix://{}", other_socket.display()))
        .output()
        .unwrap();
    assert!(!second.status.success());
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("already running"),
        "{second:?}"
    );
    assert!(!other_socket.exists());

    let pid = e.pid();
    assert!(std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap()
        .success());
    assert!(e.eventually(Duration::from_secs(5), || !e
        .berth_raw(&["engine", "status"])
        .status
        .success()));
    assert!(e.socket.exists(), "kill -9 leaves the socket file behind");
    e.berth(&["engine", "start"]);
    assert_ne!(e.pid(), pid);
    assert_eq!(
        e.docker(&["version", "--format", "{{.Server.APIVersion}}"]).trim(),
        "1.47"
    );
}
