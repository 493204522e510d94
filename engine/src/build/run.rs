//! RUN: a build container made from the step's parent image through the container service (so it gets the
//! isolation of any container: namespaces, cgroup, seccomp, capabilities, network), its output streamed, its
//! changes turned into a layer, and the container removed with its anonymous volumes whatever happened.

use super::image::{layer_from_upper, ImageState};
use super::{BuildOptions, Out};
use crate::containers::{CreateRequest, LogOptions, WaitCondition};
use crate::engine::Engine;
use crate::error::EngineError;
use crate::state::LayerRecord;
use bollard::models::{ContainerCreateBody, HealthConfig, HostConfig};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Label on build containers (so they can be told apart and swept).
pub const BUILD_LABEL: &str = "io.berth.build";

/// What a RUN step runs.
pub struct RunSpec {
    /// argv.
    pub argv: Vec<String>,
    /// Environment (config env plus build args).
    pub env: Vec<String>,
    /// `RUN --network` or the build's network mode.
    pub network: Option<String>,
    /// `RUN --mount` binds (`host:target[:ro]`).
    pub binds: Vec<String>,
    /// `RUN --mount=type=tmpfs` targets and options.
    pub tmpfs: HashMap<String, String>,
    /// Every `--mount` target: the directories the runtime made for them are not part of the layer.
    pub stubs: Vec<String>,
}

/// Runs `spec` on `parent`; returns the layer of its changes (None when it changed nothing).
pub async fn run(
    engine: &Arc<Engine>,
    opts: &BuildOptions,
    parent: &ImageState,
    spec: RunSpec,
    out: &Out,
) -> Result<Option<LayerRecord>, String> {
    let image = parent
        .id
        .clone()
        .ok_or("RUN needs a base image with a shell: this stage is FROM scratch with no files")?;
    let cfg = &parent.file.config;
    let body = ContainerCreateBody {
        image: Some(image),
        cmd: Some(spec.argv),
        entrypoint: Some(Vec::new()),
        env: Some(spec.env),
        // WORKDIR keeps an absolute path as written (`/a/./b/../c/`); the runtime wants it clean.
        working_dir: cfg
            .working_dir
            .as_deref()
            .filter(|w| !w.is_empty())
            .map(|w| format!("/{}", super::paths::clean(w).0)),
        user: cfg.user.clone(),
        labels: Some(HashMap::from([(BUILD_LABEL.to_owned(), "run".to_owned())])),
        healthcheck: Some(HealthConfig {
            test: Some(vec!["NONE".into()]),
            ..Default::default()
        }),
        host_config: Some(HostConfig {
            binds: (!spec.binds.is_empty()).then_some(spec.binds),
            tmpfs: (!spec.tmpfs.is_empty()).then_some(spec.tmpfs),
            ..host_config(opts, spec.network)
        }),
        ..Default::default()
    };
    let (id, _) = engine
        .containers
        .create(CreateRequest {
            name: None,
            body,
            platform: None,
            mac_address: None,
        })
        .map_err(|e| e.to_string())?;
    out.say(format!(" ---> Running in {}\n", &id[..12]));
    let result = run_created(engine, &id, parent, &spec.stubs, out).await;
    if let Err(e) = engine.containers.remove_with_volumes(&id, true, true).await {
        tracing::warn!(container = %id, "removing a build container: {e}");
    }
    out.say(format!("Removing intermediate container {}\n", &id[..12]));
    result
}

fn host_config(opts: &BuildOptions, network: Option<String>) -> HostConfig {
    HostConfig {
        network_mode: network.or_else(|| opts.network_mode.clone()).filter(|n| !n.is_empty()),
        extra_hosts: (!opts.extra_hosts.is_empty()).then(|| opts.extra_hosts.clone()),
        shm_size: opts.shm_size,
        memory: opts.memory,
        memory_swap: opts.memory_swap,
        cpu_shares: opts.cpu_shares,
        cpu_period: opts.cpu_period,
        cpu_quota: opts.cpu_quota,
        cpuset_cpus: opts.cpuset_cpus.clone(),
        ..Default::default()
    }
}

async fn run_created(
    engine: &Arc<Engine>,
    id: &str,
    parent: &ImageState,
    stubs: &[String],
    out: &Out,
) -> Result<Option<LayerRecord>, String> {
    engine.containers.start(id).await.map_err(|e| e.to_string())?;
    let logs = LogOptions {
        stdout: true,
        stderr: true,
        follow: true,
        ..Default::default()
    };
    let mut tail: Vec<String> = Vec::new();
    if let Ok((_, mut rx)) = engine.containers.logs(id, logs) {
        while let Some(chunk) = rx.recv().await {
            let text = String::from_utf8_lossy(&chunk.data).into_owned();
            tail.extend(text.lines().map(str::to_owned));
            if tail.len() > 5 {
                tail.drain(..tail.len() - 5);
            }
            // The classic builder shows a RUN's stderr in red; clients tell the streams apart by it.
            if chunk.stream == runtime::logfile::LogStream::Stderr {
                out.say(format!("\x1b[91m{text}\x1b[0m"));
            } else {
                out.say(text);
            }
        }
    }
    let code = engine
        .containers
        .wait(id, WaitCondition::NotRunning)
        .await
        .map_err(|e| e.to_string())?;
    if code != 0 {
        let mut msg = format!("returned a non-zero code: {code}");
        if !tail.is_empty() {
            msg.push_str(&format!(" (last output: {})", tail.join(" | ")));
        }
        return Err(msg);
    }
    let paths = engine.containers.runtime().paths(id);
    let _ = runtime::rootfs::unmount(&paths.rootfs);
    let images = engine.images.clone();
    let lowers = parent.lower_dirs(&images).map_err(|e| e.to_string())?;
    let tmp = super::tmp_dir(&engine.config.root);
    let stubs = stubs.to_vec();
    tokio::task::spawn_blocking(move || {
        let upper = paths.upper;
        remove_stubs(&upper, &lowers, &stubs);
        layer_from_upper(&images, &tmp, &upper, &lowers)
    })
    .await
    .map_err(|e| EngineError::internal("making a layer", e).to_string())?
    .map_err(|e| e.to_string())
}

/// Removes the mount points the runtime made for `--mount` targets (and the parents made only for them) from a
/// build container's upper dir, as BuildKit does: an empty directory or file that no lower layer has.
fn remove_stubs(upper: &Path, lowers: &[PathBuf], targets: &[String]) {
    let in_lower = |rel: &Path| lowers.iter().any(|l| l.join(rel).symlink_metadata().is_ok());
    for t in targets {
        let mut rel = PathBuf::from(super::paths::clean(t).0);
        while !rel.as_os_str().is_empty() && !in_lower(&rel) {
            let host = upper.join(&rel);
            let gone = match host.symlink_metadata() {
                Ok(m) if m.is_dir() => std::fs::remove_dir(&host).is_ok(),
                Ok(m) if m.is_file() && m.len() == 0 => std::fs::remove_file(&host).is_ok(),
                _ => false,
            };
            if !gone {
                break;
            }
            rel = rel.parent().map(Path::to_path_buf).unwrap_or_default();
        }
    }
}
