//! `docker save` (docker-archive + OCI layout in one tarball), `docker history`, `docker image prune`
//! and `docker images` filters, through the docker CLI against berth; skopeo reads the saved archive.

mod engine_support;
mod registry_support;
use registry_support::*;

#[test]
fn save_history_prune_and_filters() {
    if !require_root("save_history_prune_and_filters") {
        return;
    }
    let e = Engine::start();
    e.berth(&["image", "load", "-i", busybox_tar().to_str().unwrap()]);
    let id = e.inspect("busybox:latest", "{{.Id}}").unwrap();

    let hist = e.docker(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.ID}}|{{.CreatedBy}}|{{.Size}}",
        "busybox",
    ]);
    assert!(
        hist.starts_with(&format!("{id}|berth tests/images/mkimage.py")),
        "history: {hist}"
    );

    // save → both formats readable by skopeo, and loadable by another engine.
    let tmp = tempfile::tempdir().unwrap();
    let saved = tmp.path().join("busybox-save.tar");
    e.docker(&["save", "-o", saved.to_str().unwrap(), "busybox:latest"]);
    for transport in ["docker-archive", "oci-archive"] {
        let out = std::process::Command::new("skopeo")
            .args(["inspect", "--raw", &format!("{transport}:{}", saved.display())])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "skopeo {transport}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let other = Engine::start();
    let out = other.docker(&["load", "-i", saved.to_str().unwrap()]);
    assert!(out.contains("Loaded image: busybox:latest"), "{out}");
    assert_eq!(other.inspect("busybox:latest", "{{.Id}}").unwrap(), id);

    // Filters: a labelled image and a dangling one.
    let layer = tmp.path().join("l.tar");
    std::fs::create_dir_all(tmp.path().join("l/etc")).unwrap();
    std::fs::write(tmp.path().join("l/etc/x"), "x").unwrap();
    assert!(std::process::Command::new("tar")
        .arg("-C")
        .arg(tmp.path().join("l"))
        .arg("-cf")
        .arg(&layer)
        .arg(".")
        .status()
        .unwrap()
        .success());
    let labelled = tmp.path().join("labelled.tar");
    let mk = |out: &std::path::Path, tag: &str, label: &str| {
        let st = std::process::Command::new("python3")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/images/mkarchive.py"))
            .args([
                "--layer",
                layer.to_str().unwrap(),
                "--tag",
                tag,
                "--out",
                out.to_str().unwrap(),
                "--label",
                label,
            ])
            .status()
            .unwrap();
        assert!(st.success());
    };
    mk(&labelled, "app:1", "tier=web");
    e.berth(&["image", "load", "-i", labelled.to_str().unwrap()]);
    let ids = |filter: &str| {
        e.docker(&["images", "-q", "--no-trunc", "--filter", filter])
            .lines()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let app = e.inspect("app:1", "{{.Id}}").unwrap();
    assert_eq!(ids("label=tier=web"), vec![app.clone()]);
    assert_eq!(ids("label=tier"), vec![app.clone()]);
    assert!(ids("label=tier=db").is_empty());
    assert_eq!(ids("reference=busy*"), vec![id.clone()]);
    assert_eq!(ids("reference=app:1"), vec![app.clone()]);
    assert!(ids("dangling=true").is_empty());
    mk(&labelled, "app:1", "tier=api"); // app:1 moves to a new image: the old one is left dangling
    e.berth(&["image", "load", "-i", labelled.to_str().unwrap()]);
    assert_eq!(ids("dangling=true"), vec![app.clone()]);
    assert!(!ids("dangling=false").contains(&app));
    let bad = e.docker_raw(&["images", "--filter", "until=1h"]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("until"));

    // prune: untagged only by default; -a removes every unused image.
    let out = e.docker(&["image", "prune", "-f"]);
    assert!(out.contains(&app), "prune: {out}");
    assert!(ids("dangling=true").is_empty());
    assert!(e.inspect("busybox:latest", "{{.Id}}").is_some());
    let out = e.docker(&["image", "prune", "-a", "-f"]);
    assert!(out.contains(&id), "prune -a: {out}");
    assert!(e.docker(&["images", "-q"]).trim().is_empty());
    assert!(
        e.blobs().is_empty() && e.layers().is_empty(),
        "prune left blobs {:?} / layers {:?}",
        e.blobs(),
        e.layers()
    );
}
