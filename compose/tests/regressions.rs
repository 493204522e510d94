//! The regression corpus: documents on which berth once differed from Docker Compose v2.40.3 (most found by the
//! differential fuzzer, `tests/difffuzz/`). Each case records Compose's answer: `expected.json` (its
//! `config --format json`, paths under the case as `{{ROOT}}`) or `expected.err` (it refuses; berth must refuse
//! too, naming where). Record a new case with `tests/difffuzz/compare.py --record COMPOSE CASE_DIR`.

mod support;

use compose::load_document;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn cases() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/regressions");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    cases.sort();
    cases
}

/// What is wrong with berth's answer on one case, if anything.
fn check(case: &Path) -> Option<String> {
    let case = case.canonicalize().ok()?;
    let opts = support::options(&case, &case);
    let expected = case.join("expected.json");
    let result = load_document(&opts);
    if !expected.exists() {
        return match result {
            Ok(_) => Some("accepted what Compose refuses".into()),
            Err(e) if e.location.is_none() && e.key_path.is_none() => {
                Some(format!("refused without naming where: {e}"))
            }
            Err(_) => None,
        };
    }
    let loaded = match result {
        Ok(l) => l,
        Err(e) => return Some(format!("refused what Compose accepts: {e}")),
    };
    let want: Value = serde_json::from_str(&std::fs::read_to_string(&expected).ok()?).ok()?;
    let text = serde_json::to_string(&compose::output::escape_dollars(&compose::output::printable(
        &loaded.document,
        compose::output::Format::Json,
    )))
    .ok()?;
    let got: Value = serde_json::from_str(&text.replace(&*case.to_string_lossy(), "{{ROOT}}")).ok()?;
    (got != want).then(|| {
        format!(
            "differs from Docker Compose:\n  berth:   {}\n  compose: {}",
            serde_json::to_string(&got).unwrap_or_default(),
            serde_json::to_string(&want).unwrap_or_default()
        )
    })
}

#[test]
fn every_regression_case_agrees_with_docker_compose() {
    std::env::set_var("HOME", "/nonexistent-home");
    let cases = cases();
    assert!(
        cases.len() >= 20,
        "the regression corpus is missing ({} cases)",
        cases.len()
    );
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| check(c).map(|f| format!("{}: {f}", c.file_name().unwrap_or_default().to_string_lossy())))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
