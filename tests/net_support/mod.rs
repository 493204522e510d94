//! Shared helpers of the network tests that compare berth's engine with a stock dockerd, each in a
//! test-owned network namespace (`net_bridge_options`, `net_link_local`).
#![allow(dead_code)]

use std::sync::Arc;

use crate::orchestrator_support::{Engine, Kind, Netns};

/// The engine of `kind` in `ns`: berth's, or a stock dockerd.
pub fn engine_in(kind: Kind, ns: &Arc<Netns>) -> Engine {
    match kind {
        Kind::Berth => Engine::start_in(Kind::Berth, ns.clone()),
        Kind::Dockerd => Engine::start_stock_dockerd_in(ns.clone()),
    }
}

/// Runs `script` with sh inside `ns`, asserting success; its stdout.
pub fn sh(ns: &Netns, script: &str) -> String {
    let out = ns.command("sh").args(["-c", script]).output().expect("sh");
    assert!(
        out.status.success(),
        "in {}: {script}: {}",
        ns.0,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The docker CLI against `engine`, asserting success; its trimmed stdout.
pub fn docker_ok(engine: &Engine, args: &[&str]) -> String {
    let out = engine.docker(args);
    assert!(
        out.status.success(),
        "{:?}: docker {args:?}: {}",
        engine.kind,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A busybox container that only waits, on `network` with `extra` run options.
pub fn sleeper(engine: &Engine, name: &str, network: &str, extra: &[&str]) {
    let mut args = vec!["run", "-d", "--name", name, "--network", network];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]);
    docker_ok(engine, &args);
}
