//! A bounded property-based fuzz run (schemathesis over ../shared/engine-api/v1.47.yaml, see tests/fuzz) against
//! berth's engine in a private root and network namespace. Generated requests are made host-safe by the hooks
//! (bind sources in the run's temp dir, nothing privileged, every registry, git or download remote pinned to
//! 127.0.0.1:1). Afterwards: the engine still answers, no 5xx other
//! than those dockerd gives too, and once everything is removed through the API nothing is left on the host.
//! The figures are printed (run with --no-capture to see them). BERTH_FUZZ_SECONDS sets the budget (default 60).

#[allow(unused_macros)]
mod orchestrator_support;

use orchestrator_support::{require_root, Engine, Kind};
use std::path::{Path, PathBuf};

/// 5xx answers dockerd gives for the same request (operation, message part). The hooks pin every remote a
/// request names (registry, git repository, download) to 127.0.0.1:1, where nothing listens: dockerd answers
/// those with a 500 naming the failed connection, and so does berth, having tried.
const EXPECTED_5XX: &[(&str, &str)] = &[
    ("DELETE /containers/{id}", "cannot remove the default link name"),
    ("POST /auth", "cannot reach 127.0.0.1:1"),
    ("POST /images/create", "cannot reach 127.0.0.1:1"),
    ("POST /images/create", "failed to GET http://127.0.0.1:1/"),
    ("GET /distribution/{name}/json", "cannot reach 127.0.0.1:1"),
    (
        "POST /plugins/pull",
        "error resolving plugin reference: cannot reach 127.0.0.1:1",
    ),
    ("POST /build", "error fetching: fatal: unable to"),
    ("POST /build", "error downloading remote context http://127.0.0.1:1/"),
    ("GET /images/search", "searching 127.0.0.1:1"),
    ("PUT /volumes/{name}", "swarm is unavailable"),
    ("", "This node is not a swarm manager"),
    ("", "This node is not part of a swarm"),
    ("", "does not run swarm mode"),
];

fn spec() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/engine-api/v1.47.yaml");
    p.is_file().then_some(p)
}

#[test]
fn api_fuzz_keeps_the_engine_up_and_leaks_nothing() {
    if !require_root("api_fuzz") {
        return;
    }
    let py = PathBuf::from(std::env::var("BERTH_PYTHON").unwrap_or_else(|_| "/opt/berth-py/bin/python".into()));
    let (true, Some(spec)) = (py.is_file(), spec()) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "fuzz needs /opt/berth-py and the API spec"
        );
        eprintln!("!!! SKIPPED api_fuzz: no /opt/berth-py or no ../shared/engine-api/v1.47.yaml");
        return;
    };
    let seconds = std::env::var("BERTH_FUZZ_SECONDS").unwrap_or_else(|_| "60".into());
    let engine = Engine::start(Kind::Berth);
    let mut tmp = tempfile::Builder::new()
        .prefix("berth-fuzz")
        .tempdir_in("/tmp")
        .expect("temp dir");
    // BERTH_FUZZ_KEEP=1 keeps the run's directory (responses.ndjson: every request's operation, path and status).
    tmp.disable_cleanup(std::env::var_os("BERTH_FUZZ_KEEP").is_some());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/run.py");
    let out = engine
        .host_command(py.to_str().expect("utf-8"))
        .arg(&script)
        .arg(&engine.socket)
        .arg(tmp.path())
        .arg(&seconds)
        .arg(&spec)
        .output()
        .expect("fuzz run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "fuzz driver failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or("{}")).expect("summary");
    let unexpected: Vec<&serde_json::Value> = summary["server_errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| {
            let (op, msg) = (e["op"].as_str().unwrap_or(""), e["message"].as_str().unwrap_or(""));
            !EXPECTED_5XX
                .iter()
                .any(|(o, m)| (o.is_empty() || *o == op) && msg.contains(m))
        })
        .collect();
    let alive = engine.docker(&["version"]).status.success();
    let panicked = engine.log().contains("panicked");
    // Everything the run made goes through the API; then nothing of it may stay on the host.
    let ids = engine.docker_lines(&["ps", "-aq", "--no-trunc"]);
    for id in &ids {
        let _ = engine.docker(&["rm", "-f", "-v", id]);
    }
    // The predefined networks stay while the engine runs (as dockerd's docker0): only those the run made count.
    let nets: Vec<String> = engine
        .docker_lines(&["network", "ls", "--no-trunc", "--format", "{{.ID}} {{.Name}}"])
        .iter()
        .filter_map(|l| l.split_once(' '))
        .filter(|(_, name)| !matches!(*name, "bridge" | "host" | "none"))
        .map(|(id, _)| id.to_owned())
        .collect();
    let _ = engine.docker(&["network", "prune", "-f"]);
    let _ = engine.docker(&["volume", "prune", "-af"]);
    let leaked = engine.kernel_leftovers(&nets);
    let cgroups: Vec<String> = ids
        .iter()
        .filter(|id| Path::new(&format!("/sys/fs/cgroup/memory/berth/{id}")).exists())
        .cloned()
        .collect();
    eprintln!(
        "api fuzz: {} requests, {} network errors/timeouts, statuses {}, 5xx kinds {} ({} unexpected), \
         engine up: {alive}, panics: {panicked}, leaked: {} kernel objects + {} cgroups {leaked:?}",
        summary["requests"],
        summary["network_errors"],
        summary["statuses"],
        summary["server_errors"].as_array().map_or(0, Vec::len),
        unexpected.len(),
        leaked.len(),
        cgroups.len()
    );
    assert!(alive && !panicked, "engine down or panicked:\n{}", engine.log());
    assert!(unexpected.is_empty(), "unexpected 5xx answers:\n{unexpected:#?}");
    assert!(
        leaked.is_empty() && cgroups.is_empty(),
        "leaked: {leaked:?} {cgroups:?}"
    );
    assert!(
        summary["requests"].as_u64().unwrap_or(0) > 0,
        "no request was sent: {summary}"
    );
}
