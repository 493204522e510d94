//! create + start + wait + remove of `busybox true` through the Docker API of a real berth engine.
//! Needs root, the berth binary (BERTH_BIN or target/{release,debug}/berth) and busybox.tar
//! (BERTH_TEST_IMAGES or tests/images/out).

use bollard::query_parameters::{
    CreateContainerOptions, ImportImageOptions, RemoveContainerOptions, StartContainerOptions, WaitContainerOptions,
};
use bollard::Docker;
use criterion::{criterion_group, criterion_main, Criterion};
use futures::StreamExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn berth_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_BIN") {
        return p.into();
    }
    let rel = workspace().join("target/release/berth");
    if rel.exists() {
        rel
    } else {
        workspace().join("target/debug/berth")
    }
}

fn images_dir() -> PathBuf {
    std::env::var_os("BERTH_TEST_IMAGES")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("tests/images/out"))
}

struct EngineProc {
    dir: tempfile::TempDir,
}

impl EngineProc {
    fn berth(&self, args: &[&str]) {
        let st = Command::new(berth_bin())
            .args(args)
            .env("BERTH_ROOT", self.dir.path().join("root"))
            .env("BERTH_HOST", format!("unix://{}", self.socket().display()))
            .status()
            .expect("running berth");
        assert!(st.success(), "berth {args:?} failed");
    }
    fn socket(&self) -> PathBuf {
        self.dir.path().join("berth.sock")
    }
}

impl Drop for EngineProc {
    fn drop(&mut self) {
        self.berth(&["engine", "stop"]);
    }
}

async fn one_cycle(docker: &Docker) {
    let body = bollard::models::ContainerCreateBody {
        image: Some("busybox".into()),
        cmd: Some(vec!["true".into()]),
        ..Default::default()
    };
    let id = docker
        .create_container(None::<CreateContainerOptions>, body)
        .await
        .expect("create")
        .id;
    let mut wait = docker.wait_container(
        &id,
        Some(WaitContainerOptions {
            condition: "next-exit".into(),
        }),
    );
    docker
        .start_container(&id, None::<StartContainerOptions>)
        .await
        .expect("start");
    let code = wait.next().await.expect("wait ended").expect("wait").status_code;
    assert_eq!(code, 0);
    docker
        .remove_container(
            &id,
            Some(RemoveContainerOptions {
                force: true,
                ..Default::default()
            }),
        )
        .await
        .expect("remove");
}

fn bench(c: &mut Criterion) {
    if !std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
    {
        eprintln!("!!! SKIPPED (needs root): api_lifecycle bench");
        return;
    }
    let engine = EngineProc {
        dir: tempfile::Builder::new().prefix("berth-bench-").tempdir().unwrap(),
    };
    engine.berth(&["engine", "start"]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let docker =
        Docker::connect_with_unix(&engine.socket().display().to_string(), 60, bollard::API_DEFAULT_VERSION).unwrap();
    let tar = std::fs::read(images_dir().join("busybox.tar")).expect("busybox.tar (run tests/images/build.sh)");
    rt.block_on(async {
        let mut s = docker.import_image(ImportImageOptions::default(), bollard::body_full(tar.into()), None);
        while let Some(m) = s.next().await {
            m.expect("load");
        }
    });
    c.bench_function("create+start+wait+remove busybox true", |b| {
        b.iter(|| rt.block_on(one_cycle(&docker)))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50);
    targets = bench
}
criterion_main!(benches);
