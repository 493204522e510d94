//! `berth bridge convert`: golden files for the examples, strict schema validation (1.30 and the newest
//! schemas kubernetes-validate has), `kubectl kustomize` of each overlay, errors and located warnings.

mod bridge_support;

use bridge_support::*;
use std::path::Path;
use std::process::Command;

/// Kubernetes versions the manifests are validated against: the oldest supported here and the newest schemas.
const K8S_VERSIONS: &[&str] = &["1.30.0", "1.37.0"];

fn golden_name(file: &Path) -> String {
    file.parent()
        .and_then(|d| d.file_name())
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// Compares `text` with `tests/golden/bridge/<name>`; BERTH_UPDATE_GOLDEN=1 rewrites it.
fn check_golden(name: &str, text: &str) {
    let path = repo().join("tests/golden/bridge").join(name);
    if std::env::var("BERTH_UPDATE_GOLDEN").as_deref() == Ok("1") {
        std::fs::write(&path, text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (BERTH_UPDATE_GOLDEN=1 writes it)", path.display()));
    if want != text {
        let diff: Vec<String> = want
            .lines()
            .zip(text.lines())
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .take(5)
            .map(|(i, (a, b))| format!("line {}:\n  golden: {a}\n  now:    {b}", i + 1))
            .collect();
        panic!(
            "{} differs from the conversion ({} vs {} lines):\n{}\n(BERTH_UPDATE_GOLDEN=1 rewrites it after a deliberate change)",
            path.display(),
            want.lines().count(),
            text.lines().count(),
            diff.join("\n")
        );
    }
}

#[test]
fn examples_and_fixtures_match_their_golden_files() {
    let root = repo().to_string_lossy().into_owned();
    for file in examples().into_iter().chain(fixtures()) {
        let name = golden_name(&file);
        let (stream, warnings) = convert_stdout(&file, &[]);
        assert!(documents(&stream).len() > 3, "{name}: too few objects");
        check_golden(&format!("{name}.yaml"), &stream);
        check_golden(&format!("{name}.warnings"), &warnings.replace(&root, "<repo>"));
    }
}

fn validate(files: &[std::path::PathBuf], what: &str) {
    for version in K8S_VERSIONS {
        let out = Command::new("python3")
            .args(["-m", "kubernetes_validate", "--strict", "--quiet", "-k", version])
            .args(files)
            .output()
            .expect("run kubernetes-validate");
        assert!(
            out.status.success(),
            "{what} fails strict validation against Kubernetes {version}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn manifests_pass_strict_validation_and_overlays_build() {
    let test = "manifests_pass_strict_validation_and_overlays_build";
    if !have("python3 -m kubernetes_validate --version", test) || !have("kubectl version --client", test) {
        return;
    }
    for file in examples().into_iter().chain(fixtures()) {
        let name = golden_name(&file);
        let dir = tempfile::tempdir().unwrap();
        let out = convert(&file, &["-o", dir.path().to_str().unwrap()]);
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        let mut base: Vec<_> = std::fs::read_dir(dir.path().join("base"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().is_some_and(|n| n != "kustomization.yaml"))
            .collect();
        base.sort();
        validate(&base, &format!("{name}: base"));
        for overlay in std::fs::read_dir(dir.path().join("overlays")).unwrap() {
            let overlay = overlay.unwrap().path();
            let built = Command::new("kubectl")
                .arg("kustomize")
                .arg(&overlay)
                .output()
                .expect("run kubectl");
            assert!(
                built.status.success(),
                "{name}: kubectl kustomize {}: {}",
                overlay.display(),
                String::from_utf8_lossy(&built.stderr)
            );
            let objects = documents(&String::from_utf8_lossy(&built.stdout));
            assert_eq!(
                objects.len(),
                base.len(),
                "{name}: the overlay builds every object of the base"
            );
            let rendered = dir
                .path()
                .join(format!("{}.yaml", overlay.file_name().unwrap().to_string_lossy()));
            std::fs::write(&rendered, &built.stdout).unwrap();
            validate(&[rendered], &format!("{name}: overlay {}", overlay.display()));
        }
    }
}

#[test]
fn build_without_image_is_an_error_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let compose = dir.path().join("compose.yaml");
    std::fs::write(&compose, "services:\n  app:\n    build: .\n").unwrap();
    let out_dir = dir.path().join("out");
    let out = convert(&compose, &["-o", out_dir.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a build without image converted: {stderr}");
    assert!(
        stderr.contains("compose.yaml:3:"),
        "the error names file and line: {stderr}"
    );
    assert!(
        stderr.contains("services.app.build") && stderr.contains("image name is needed"),
        "{stderr}"
    );
    assert!(!out_dir.exists(), "nothing is written when the conversion fails");
}

#[test]
fn unmapped_attributes_warn_with_file_line_and_key() {
    let file = repo().join("tests/golden/bridge/full/compose.yaml");
    let (_, warnings) = convert_stdout(&file, &[]);
    let text = std::fs::read_to_string(&file).unwrap();
    for (key, attr) in [
        ("services.db.ulimits", "ulimits:"),
        ("services.api.stop_signal", "stop_signal:"),
        ("services.db.container_name", "container_name:"),
    ] {
        let line = text.lines().position(|l| l.trim_start().starts_with(attr)).unwrap() + 1;
        let want = format!("{}:{line}:", file.display());
        assert!(
            warnings.lines().any(|w| w.contains(&want) && w.contains(key)),
            "no warning at {want} for {key}:\n{warnings}"
        );
    }
}

#[test]
fn output_tree_follows_compose_bridge_layout() {
    let file = repo().join("examples/three-tier/compose.yaml");
    let dir = tempfile::tempdir().unwrap();
    let out = convert(&file, &["-o", dir.path().to_str().unwrap(), "--namespace", "shop-test"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for f in [
        "base/kustomization.yaml",
        "base/0-shop-test-namespace.yaml",
        "base/cache-deployment.yaml",
        "base/cache-expose.yaml",
        "base/front-service.yaml",
        "base/data-persistentVolumeClaim.yaml",
        "base/backend-network-policy.yaml",
        "overlays/desktop/kustomization.yaml",
    ] {
        assert!(dir.path().join(f).is_file(), "{f} missing");
    }
    let deployment = std::fs::read_to_string(dir.path().join("base/cache-deployment.yaml")).unwrap();
    assert!(deployment.contains("namespace: shop-test"), "{deployment}");
    // A second run replaces the base: no stale file stays.
    std::fs::write(dir.path().join("base/stale-deployment.yaml"), "x").unwrap();
    let again = convert(&file, &["-o", dir.path().to_str().unwrap()]);
    assert!(again.status.success());
    assert!(!dir.path().join("base/stale-deployment.yaml").exists());
}
