//! Real clients against the engine, as their users run them: the Docker SDK for Python and
//! testcontainers-python (tests/clients, pytest, from the venv tests/setup.sh makes), once on Debian's dockerd
//! and once on berth's engine; both must pass every case. Each run prints its pytest summary line, so the counts
//! of both engines stand side by side in the test output.

#[allow(unused_macros)]
mod orchestrator_support;

use orchestrator_support::{berth_bin, require_root, Engine, Kind};
use std::path::{Path, PathBuf};

#[test]
fn python_clients_on_dockerd() {
    python_clients(Kind::Dockerd)
}

#[test]
fn python_clients_on_berth() {
    python_clients(Kind::Berth)
}

/// The Python with `docker`, `testcontainers` and `pytest` (tests/setup.sh installs it there).
fn python() -> Option<PathBuf> {
    let p = std::env::var_os("BERTH_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/berth-py/bin/python"));
    p.is_file().then_some(p)
}

fn python_clients(kind: Kind) {
    if !require_root("python_clients") {
        return;
    }
    let Some(py) = python() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the client venv is missing: run tests/setup.sh"
        );
        eprintln!("!!! SKIPPED python_clients: no /opt/berth-py (run tests/setup.sh)");
        return;
    };
    let engine = Engine::start(kind);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients");
    let out = engine
        .host_command(py.to_str().expect("utf-8 path"))
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts="])
        .arg(&dir)
        .env("DOCKER_HOST", engine.host())
        .env("BERTH_BIN", berth_bin())
        .env("TESTCONTAINERS_RYUK_DISABLED", "true")
        .env_remove("DOCKER_CONTEXT")
        .output()
        .expect("pytest");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = stdout
        .lines()
        .rev()
        .find(|l| l.contains(" passed") || l.contains(" failed"));
    eprintln!("python clients on {kind:?}: {}", summary.unwrap_or("no summary"));
    assert!(
        out.status.success(),
        "python clients failed on {kind:?}:\n{stdout}\n{}\nengine log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        engine.log()
    );
}
