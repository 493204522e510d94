//! Every conformance case through the library: the canonical document equals Docker Compose's output,
//! refused cases are refused with a located message, and every accepted case fits the typed model.

mod support;

use compose::{load, load_document};
use serde_json::Value;
use std::path::PathBuf;
use support::options;

fn conformance_dir() -> Option<PathBuf> {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/config");
    // Canonical, so the expected `{{ROOT}}` matches the loader's resolved paths even when shared/ is a symlink.
    d.canonicalize().ok().filter(|d| d.is_dir())
}

#[test]
fn all_cases_agree_with_docker_compose() {
    let Some(root) = conformance_dir() else {
        eprintln!("!!! SKIPPED (needs ../shared/conformance): all_cases_agree_with_docker_compose");
        return;
    };
    // Path expansion of `~` reads the process HOME, as Compose does; the expectations were recorded with this one.
    std::env::set_var("HOME", "/nonexistent-home");
    let root_s = root
        .canonicalize()
        .unwrap_or(root.clone())
        .to_string_lossy()
        .into_owned();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(root.join("cases"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    cases.sort();
    assert!(cases.len() >= 128, "expected the whole corpus");
    let mut failures = Vec::new();
    for case in &cases {
        let name = case
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let opts = options(&root, case);
        let expected = case.join("expected.json");
        if !expected.exists() {
            match load_document(&opts) {
                Ok(_) => failures.push(format!("{name}: accepted what Compose refuses")),
                Err(e) => {
                    if e.location.is_none() {
                        failures.push(format!("{name}: error without file:line:column: {e}"));
                    }
                }
            }
            continue;
        }
        let want: Value =
            serde_json::from_str(&std::fs::read_to_string(&expected).unwrap_or_default()).unwrap_or_default();
        let got = match load_document(&opts) {
            Ok(l) => l,
            Err(e) => {
                failures.push(format!("{name}: refused: {e}"));
                continue;
            }
        };
        let text = serde_json::to_string(&compose::output::escape_dollars(&compose::output::printable(
            &got.document,
            compose::output::Format::Json,
        )))
        .unwrap_or_default();
        let got_v: Value = serde_json::from_str(&text.replace(&root_s, "{{ROOT}}")).unwrap_or_default();
        if got_v != want {
            failures.push(format!("{name}: differs from Docker Compose"));
        }
        if let Err(e) = load(&opts) {
            failures.push(format!("{name}: does not fit the typed model: {e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
