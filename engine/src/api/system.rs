//! `/_ping`, `/version`, `/info`.

use super::{ApiResult, AppState, API_VERSION, MIN_API_VERSION};
use crate::state::ContainerStatus;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bollard::models::{
    SystemInfo, SystemInfoCgroupDriverEnum, SystemInfoCgroupVersionEnum, SystemVersion, SystemVersionComponents,
    SystemVersionPlatform,
};
use std::collections::HashMap;

/// berth's version, reported as the server version.
const VERSION: &str = env!("CARGO_PKG_VERSION");

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/_ping", get(ping).head(ping))
        .route("/version", get(version))
        .route("/info", get(info))
}

async fn ping() -> Response {
    (
        [
            ("API-Version", API_VERSION),
            ("OSType", "linux"),
            ("Docker-Experimental", "false"),
            ("Builder-Version", "1"),
            (header::CACHE_CONTROL.as_str(), "no-cache, no-store, must-revalidate"),
            (header::PRAGMA.as_str(), "no-cache"),
            (header::CONTENT_TYPE.as_str(), "text/plain; charset=utf-8"),
        ],
        "OK",
    )
        .into_response()
}

fn kernel_version() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

fn arch() -> &'static str {
    crate::images::load::host_arch()
}

async fn version() -> Json<serde_json::Value> {
    let mut details = HashMap::new();
    details.insert("ApiVersion".to_owned(), API_VERSION.to_owned());
    details.insert("MinAPIVersion".to_owned(), MIN_API_VERSION.to_owned());
    details.insert("Os".to_owned(), "linux".to_owned());
    details.insert("Arch".to_owned(), arch().to_owned());
    details.insert("KernelVersion".to_owned(), kernel_version());
    details.insert("Experimental".to_owned(), "false".to_owned());
    Json(super::complete::complete(
        &SystemVersion {
            platform: Some(SystemVersionPlatform { name: "berth".into() }),
            components: Some(vec![SystemVersionComponents {
                name: "Engine".into(),
                version: VERSION.into(),
                details: Some(details),
            }]),
            version: Some(VERSION.into()),
            api_version: Some(API_VERSION.into()),
            min_api_version: Some(MIN_API_VERSION.into()),
            git_commit: Some(String::new()),
            go_version: Some(String::new()),
            os: Some("linux".into()),
            arch: Some(arch().into()),
            kernel_version: Some(kernel_version()),
            experimental: Some(false),
            build_time: Some(String::new()),
        },
        &[],
    ))
}

async fn info(State(engine): State<AppState>, version: super::ApiVersion) -> ApiResult<Json<serde_json::Value>> {
    let containers = engine.db.containers()?;
    let count = |f: &dyn Fn(&crate::state::ContainerRecord) -> bool| containers.iter().filter(|c| f(c)).count() as i64;
    let running = count(&|c| c.state.status == ContainerStatus::Running && !c.state.paused);
    let paused = count(&|c| c.state.paused);
    let cgroup_v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let mut doc = super::complete::complete(
        &SystemInfo {
            id: Some(format!("berth-{}", engine.config.root.display())),
            containers: Some(containers.len() as i64),
            containers_running: Some(running),
            containers_paused: Some(paused),
            containers_stopped: Some(containers.len() as i64 - running - paused),
            images: Some(engine.db.images()?.len() as i64),
            driver: Some("overlay".into()),
            docker_root_dir: Some(engine.config.root.display().to_string()),
            memory_limit: Some(true),
            swap_limit: Some(true),
            cpu_cfs_period: Some(true),
            cpu_cfs_quota: Some(true),
            cpu_shares: Some(true),
            pids_limit: Some(true),
            logging_driver: Some("json-file".into()),
            cgroup_driver: Some(SystemInfoCgroupDriverEnum::CGROUPFS),
            cgroup_version: Some(if cgroup_v2 {
                SystemInfoCgroupVersionEnum::_2
            } else {
                SystemInfoCgroupVersionEnum::_1
            }),
            kernel_version: Some(kernel_version()),
            operating_system: Some(os_name()),
            os_type: Some("linux".into()),
            architecture: Some(std::env::consts::ARCH.into()),
            ncpu: std::thread::available_parallelism().ok().map(|n| n.get() as i64),
            mem_total: mem_total(),
            name: nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()),
            server_version: Some(VERSION.into()),
            live_restore_enabled: Some(true),
            experimental_build: Some(false),
            security_options: Some(vec!["name=seccomp,profile=builtin".into()]),
            system_time: Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)),
            swarm: Some(bollard::models::SwarmInfo {
                local_node_state: Some(bollard::models::LocalNodeState::INACTIVE),
                control_available: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        },
        INFO_OMITTED,
    );
    add_legacy_info_fields(&mut doc, version);
    Ok(Json(doc))
}

/// Fields of `/info` that API 1.47 and older carry but bollard's current model dropped. dockerd reports
/// `BridgeNfIp*tables` from the sysctls (false when `br_netfilter` is not loaded), nil lists as `null`.
fn add_legacy_info_fields(doc: &mut serde_json::Value, version: super::ApiVersion) {
    let sysctl_on =
        |name: &str| std::fs::read_to_string(format!("/proc/sys/net/bridge/{name}")).is_ok_and(|v| v.trim() == "1");
    doc["BridgeNfIptables"] = sysctl_on("bridge-nf-call-iptables").into();
    doc["BridgeNfIp6tables"] = sysctl_on("bridge-nf-call-ip6tables").into();
    doc["KernelMemoryTCP"] = true.into();
    if version < super::ApiVersion(1, 42) {
        doc["KernelMemory"] = true.into();
    }
    doc["DefaultAddressPools"] = serde_json::Value::Null;
    doc["Swarm"]["RemoteManagers"] = serde_json::Value::Null;
    for commit in ["ContainerdCommit", "RuncCommit", "InitCommit"] {
        let id = doc[commit]["ID"].clone();
        doc[commit]["Expected"] = if id.is_null() { "".into() } else { id };
    }
}

/// Parts of `/info` dockerd leaves out outside a swarm or without the matching feature.
const INFO_OMITTED: &[&str] = &[
    "/Swarm/Cluster",
    "/ProductLicense",
    "/CDISpecDirs",
    "/Containerd",
    "/FirewallBackend",
    "/DiscoveredDevices",
    "/NRI",
];

fn os_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_owned()))
        })
        .unwrap_or_else(|| "Linux".into())
}

fn mem_total() -> Option<i64> {
    let s = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: i64 = s
        .lines()
        .find(|l| l.starts_with("MemTotal:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}
