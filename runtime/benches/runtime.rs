//! Raw runtime speed: create+start+wait+remove of `busybox true` through the `runtime` crate (no API, no state).
//! Needs root and the `berth` binary as monitor (BERTH_BIN; default target/release/berth, else target/debug/berth).
//! Run: `cargo bench -p runtime --bench runtime`.

use criterion::{criterion_group, criterion_main, Criterion};
use runtime::{ContainerSpec, ProcessSpec, Runtime};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

fn monitor_exe() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_BIN") {
        return PathBuf::from(p);
    }
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target");
    let release = target.join("release/berth");
    if release.exists() {
        release
    } else {
        target.join("debug/berth")
    }
}

fn busybox_layer(dest: &Path) {
    let images = std::env::var_os("BERTH_TEST_IMAGES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/images/out"));
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut tarball = images.join("busybox.tar");
    if !tarball.exists() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/images/build.sh");
        assert!(Command::new(script)
            .arg(tmp.path())
            .status()
            .expect("build.sh")
            .success());
        tarball = tmp.path().join("busybox.tar");
    }
    let outer = tmp.path().join("outer");
    std::fs::create_dir_all(&outer).expect("mkdir");
    assert!(Command::new("tar")
        .arg("xf")
        .arg(&tarball)
        .arg("-C")
        .arg(&outer)
        .status()
        .expect("tar")
        .success());
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(outer.join("manifest.json")).expect("manifest")).expect("json");
    let layer = manifest[0]["Layers"][0].as_str().expect("layer");
    std::fs::create_dir_all(dest).expect("mkdir");
    assert!(Command::new("tar")
        .arg("xf")
        .arg(outer.join(layer))
        .arg("-C")
        .arg(dest)
        .status()
        .expect("tar")
        .success());
}

fn new_id() -> String {
    let mut b = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .expect("urandom");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn bench(c: &mut Criterion) {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("!!! SKIPPED (needs root): runtime bench");
        return;
    }
    let root = tempfile::Builder::new()
        .prefix("berth-bench-")
        .tempdir()
        .expect("tempdir");
    let layer = root.path().join("layer");
    busybox_layer(&layer);
    let rt = Runtime::new(root.path())
        .expect("runtime")
        .with_monitor_exe(monitor_exe());
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    c.bench_function("runtime create+start+wait+remove busybox true", |b| {
        b.iter(|| {
            let id = new_id();
            let spec = ContainerSpec {
                name: "bench".into(),
                hostname: id[..12].to_owned(),
                id: id.clone(),
                lower_dirs: vec![layer.clone()],
                process: ProcessSpec {
                    args: vec!["true".into()],
                    ..Default::default()
                },
                ..Default::default()
            };
            rt.start(&spec).expect("start");
            let rec = tokio.block_on(rt.wait_monitor(&id)).expect("wait");
            assert_eq!(rec.exit_code, 0);
            rt.remove(&id).expect("remove");
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = bench
}
criterion_main!(benches);
