//! Helpers of the `berth bridge convert` tests: running the converter, reading its YAML stream, and the
//! external checkers (kubectl kustomize, kubernetes-validate) that CI installs.

#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The berth binary: BERTH_BIN, else cargo's build of this package.
pub fn berth() -> PathBuf {
    std::env::var_os("BERTH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_berth")))
}

/// Runs `berth -f <file> bridge convert <args>` with the examples' variables unset (their defaults apply).
pub fn convert(file: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(berth());
    cmd.arg("-f").arg(file).args(["bridge", "convert"]).args(args);
    for v in [
        "FRONT_PORT",
        "GREETING",
        "COMPOSE_PROJECT_NAME",
        "COMPOSE_PROFILES",
        "COMPOSE_FILE",
    ] {
        cmd.env_remove(v);
    }
    cmd.output().expect("run berth")
}

/// `convert --stdout` that must succeed: the stream's text and the warnings (stderr).
pub fn convert_stdout(file: &Path, args: &[&str]) -> (String, String) {
    let mut all = vec!["--stdout"];
    all.extend_from_slice(args);
    let out = convert(file, &all);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "convert {} failed: {stderr}", file.display());
    (String::from_utf8(out.stdout).expect("utf-8 stream"), stderr)
}

/// The documents of a multi-document YAML stream, as JSON values.
pub fn documents(stream: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(stream)
        .map(|d| serde::Deserialize::deserialize(d).expect("a YAML document"))
        .filter(|v: &Value| !v.is_null())
        .collect()
}

/// The canonical model of a Compose file (`berth config --format json`).
pub fn canonical(file: &Path) -> Value {
    let out = Command::new(berth())
        .arg("-f")
        .arg(file)
        .args(["config", "--format", "json"])
        .output()
        .expect("run berth config");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("config json")
}

/// Whether an external checker runs (`probe` is a shell command); in CI (CI=true) a missing one fails the test.
pub fn have(probe: &str, test: &str) -> bool {
    let tool = probe;
    let found = Command::new("sh")
        .args(["-c", &format!("{probe} >/dev/null 2>&1")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{test} needs {tool} (tests/setup.sh installs it)");
        }
        eprintln!("!!! SKIPPED {test}: {tool} not found (tests/setup.sh installs it)");
    }
    found
}

/// The example Compose files (`examples/*/compose.yaml`), sorted.
pub fn examples() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(repo().join("examples"))
        .expect("examples dir")
        .filter_map(|e| e.ok().map(|e| e.path().join("compose.yaml")))
        .filter(|p| p.exists())
        .collect();
    v.sort();
    v
}

/// The test inputs under tests/golden/bridge/ (`<name>/compose.yaml`), sorted.
pub fn fixtures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(repo().join("tests/golden/bridge"))
        .expect("golden dir")
        .filter_map(|e| e.ok().map(|e| e.path().join("compose.yaml")))
        .filter(|p| p.exists())
        .collect();
    v.sort();
    v
}
