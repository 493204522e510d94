//! Container endpoints.

use super::complete::{complete, complete_all, strip_empty, CONFIG_EMPTY_OMITTED};
use super::stream::{hijack, stream_response, wants_upgrade};
use super::{parse_json, qbool, ApiResult, AppState};
use crate::containers::{AttachOutput, CreateRequest, ListOptions, LogOptions, WaitCondition};
use crate::error::EngineError;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use bollard::models::{ContainerCreateBody, ContainerCreateResponse, ContainerInspectResponse, ContainerSummary};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

type Q = Query<HashMap<String, String>>;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/containers/create", post(create))
        .route("/containers/json", get(list))
        .route("/containers/{id}/json", get(inspect))
        .route("/containers/{id}/start", post(start))
        .route("/containers/{id}/stop", post(stop))
        .route("/containers/{id}/restart", post(restart))
        .route("/containers/{id}/kill", post(kill))
        .route("/containers/{id}/wait", post(wait))
        .route("/containers/{id}", delete(remove))
        .route("/containers/{id}/{alias}", delete(remove_link))
        .route("/containers/{id}/logs", get(logs))
        .route("/containers/{id}/attach", post(attach))
        .route("/containers/{id}/attach/ws", get(super::attach_ws::attach_ws))
        .route("/containers/{id}/rename", post(rename))
        .route("/containers/{id}/pause", post(pause))
        .route("/containers/{id}/unpause", post(unpause))
        .route("/containers/{id}/resize", post(resize))
}

/// Create-body fields that bollard's model dropped but clients still send.
#[derive(serde::Deserialize)]
struct LegacyCreateFields {
    #[serde(rename = "MacAddress")]
    mac_address: Option<String>,
}

async fn create(
    State(engine): State<AppState>,
    Query(q): Q,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<ContainerCreateResponse>)> {
    let body_bytes = body;
    let body: ContainerCreateBody = parse_json(&body_bytes, "container config")?;
    // The body parsed above, so this only picks a field out of valid JSON.
    let legacy: LegacyCreateFields =
        serde_json::from_slice(&body_bytes).unwrap_or(LegacyCreateFields { mac_address: None });
    let req = CreateRequest {
        name: q.get("name").cloned(),
        platform: q.get("platform").cloned().filter(|p| !p.is_empty()),
        body,
        mac_address: legacy.mac_address,
    };
    let c = engine.containers.clone();
    let (id, warnings) = tokio::task::spawn_blocking(move || c.create(req))
        .await
        .map_err(|e| EngineError::internal("creating the container", e))??;
    Ok((StatusCode::CREATED, Json(ContainerCreateResponse { id, warnings })))
}

async fn list(State(engine): State<AppState>, Query(q): Q) -> ApiResult<Json<Vec<serde_json::Value>>> {
    let opts = ListOptions {
        all: qbool(q.get("all")),
        limit: q
            .get("limit")
            .and_then(|l| l.parse::<i64>().ok())
            .filter(|l| *l > 0)
            .map(|l| l as usize),
        filters: ListOptions::parse_filters(q.get("filters").map(String::as_str).unwrap_or(""))?,
    };
    let list = engine.containers.list(&opts)?;
    let mut docs = complete_all::<ContainerSummary>(&list, SUMMARY_OMITTED);
    docs.iter_mut().for_each(|d| strip_empty(d, MOUNT_EMPTY_OMITTED));
    if let Ok(nets) = engine.networks.get().await {
        for doc in &mut docs {
            super::container_doc::add_summary_legacy_fields(doc, &nets);
        }
    }
    Ok(Json(docs))
}

/// Fields dockerd leaves out of a container inspect document when they are empty (`omitempty` pointers).
const INSPECT_OMITTED: &[&str] = &[
    "/Node",
    "/SizeRw",
    "/SizeRootFs",
    "/ImageManifestDescriptor",
    "/State/Health",
    "/Config/Healthcheck",
    "/Config/StopTimeout",
    "/Config/StopSignal",
    "/Config/Shell",
    "/Config/MacAddress",
    "/Config/NetworkDisabled",
    "/Config/ArgsEscaped",
    "/HostConfig/Init",
    // dockerd's EndpointIPAMConfig fields are all `omitempty`.
    "/NetworkSettings/Networks/*/IPAMConfig/IPv4Address",
    "/NetworkSettings/Networks/*/IPAMConfig/IPv6Address",
    "/NetworkSettings/Networks/*/IPAMConfig/LinkLocalIPs",
];

/// `omitempty` fields of dockerd's `MountPoint` that are not pointers (inspect and list entries), left out when
/// zero; the container document adds `HostConfig.Annotations` and the `Config` ones
/// (`complete::CONFIG_EMPTY_OMITTED`).
const MOUNT_EMPTY_OMITTED: &[&str] = &["/Mounts/*/Type", "/Mounts/*/Name", "/Mounts/*/Driver"];

/// Every field of dockerd's `mount.Mount` (the `HostConfig.Mounts` entries) is `omitempty`: an entry shows only
/// what the request set. Inner fields first, so an options object left empty goes too.
const HOST_MOUNT_EMPTY_OMITTED: &[&str] = &[
    "/HostConfig/Mounts/*/VolumeOptions/DriverConfig/Name",
    "/HostConfig/Mounts/*/VolumeOptions/DriverConfig/Options",
    "/HostConfig/Mounts/*/VolumeOptions/DriverConfig",
    "/HostConfig/Mounts/*/VolumeOptions/NoCopy",
    "/HostConfig/Mounts/*/VolumeOptions/Labels",
    "/HostConfig/Mounts/*/VolumeOptions/Subpath",
    "/HostConfig/Mounts/*/BindOptions/Propagation",
    "/HostConfig/Mounts/*/BindOptions/NonRecursive",
    "/HostConfig/Mounts/*/BindOptions/CreateMountpoint",
    "/HostConfig/Mounts/*/BindOptions/ReadOnlyNonRecursive",
    "/HostConfig/Mounts/*/BindOptions/ReadOnlyForceRecursive",
    "/HostConfig/Mounts/*/TmpfsOptions/SizeBytes",
    "/HostConfig/Mounts/*/TmpfsOptions/Mode",
    "/HostConfig/Mounts/*/TmpfsOptions/Options",
    "/HostConfig/Mounts/*/ImageOptions/Subpath",
    "/HostConfig/Mounts/*/Type",
    "/HostConfig/Mounts/*/Source",
    "/HostConfig/Mounts/*/Target",
    "/HostConfig/Mounts/*/ReadOnly",
    "/HostConfig/Mounts/*/Consistency",
    "/HostConfig/Mounts/*/BindOptions",
    "/HostConfig/Mounts/*/VolumeOptions",
    "/HostConfig/Mounts/*/ImageOptions",
    "/HostConfig/Mounts/*/TmpfsOptions",
    "/HostConfig/Mounts/*/ClusterOptions",
];

/// Fields dockerd leaves out of container list entries when they are empty.
const SUMMARY_OMITTED: &[&str] = &[
    "/SizeRw",
    "/SizeRootFs",
    "/ImageManifestDescriptor",
    "/Health",
    // An exposed port without a binding has no host side: no `"PublicPort": 0` a client would read as bound.
    "/Ports/*/IP",
    "/Ports/*/PublicPort",
];

async fn inspect(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    version: super::ApiVersion,
) -> ApiResult<Json<serde_json::Value>> {
    let typed: ContainerInspectResponse = engine.containers.inspect(&id)?;
    let mut doc = complete(&typed, INSPECT_OMITTED);
    super::container_doc::go_nil_fields(&mut doc, &typed);
    strip_empty(&mut doc, MOUNT_EMPTY_OMITTED);
    strip_empty(&mut doc, HOST_MOUNT_EMPTY_OMITTED);
    strip_empty(&mut doc, CONFIG_EMPTY_OMITTED);
    strip_empty(&mut doc, &["/HostConfig/Annotations"]);
    let nets = engine.networks.get().await.ok();
    super::container_doc::add_legacy_fields(&mut doc, version, nets.as_deref());
    Ok(Json(doc))
}

async fn start(State(engine): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    engine.containers.start(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn timeout_of(q: &HashMap<String, String>) -> ApiResult<Option<i64>> {
    match q.get("t").or_else(|| q.get("timeout")).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => Ok(Some(t.parse().map_err(|_| {
            EngineError::BadRequest(format!("invalid timeout {t:?}: expected seconds"))
        })?)),
    }
}

async fn stop(State(engine): State<AppState>, Path(id): Path<String>, Query(q): Q) -> ApiResult<StatusCode> {
    let t = timeout_of(&q)?;
    engine
        .containers
        .stop(&id, t, q.get("signal").map(String::as_str).filter(|s| !s.is_empty()))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn restart(State(engine): State<AppState>, Path(id): Path<String>, Query(q): Q) -> ApiResult<StatusCode> {
    let t = timeout_of(&q)?;
    // dockerd ends a restart's kill/die/stop/start with a `restart` event.
    let full = engine.containers.resolve(&id)?.id;
    engine.events.restart_on_next_start(&full);
    let res = engine
        .containers
        .restart(&full, t, q.get("signal").map(String::as_str).filter(|s| !s.is_empty()))
        .await;
    if res.is_err() {
        engine.events.cancel_restart(&full);
    }
    res?;
    Ok(StatusCode::NO_CONTENT)
}

async fn kill(State(engine): State<AppState>, Path(id): Path<String>, Query(q): Q) -> ApiResult<StatusCode> {
    engine.containers.kill(&id, q.get("signal").map(String::as_str)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Headers go out at once (clients wait on this before starting the container); the body when it ends.
async fn wait(State(engine): State<AppState>, Path(id): Path<String>, Query(q): Q) -> ApiResult<Response> {
    let cond: WaitCondition = q.get("condition").map(String::as_str).unwrap_or("").parse()?;
    let rec = engine.containers.resolve(&id)?;
    let c = engine.containers.clone();
    let body = futures::stream::once(async move {
        // dockerd writes `"Error": null` when the wait went through.
        let resp = match c.wait(&rec.id, cond).await {
            Ok(code) => serde_json::json!({"Error": null, "StatusCode": code}),
            Err(e) => serde_json::json!({"Error": {"Message": e.to_string()}, "StatusCode": -1}),
        };
        Ok::<_, std::convert::Infallible>(Bytes::from(serde_json::to_vec(&resp).unwrap_or_default()))
    });
    Ok(([("Content-Type", "application/json")], Body::from_stream(body)).into_response())
}

async fn remove(State(engine): State<AppState>, Path(id): Path<String>, Query(q): Q) -> ApiResult<StatusCode> {
    if qbool(q.get("link")) {
        engine.containers.remove_link(&id)?;
        return Ok(StatusCode::NO_CONTENT);
    }
    engine
        .containers
        .remove_with_volumes(&id, qbool(q.get("force")), qbool(q.get("v")))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /containers/<parent>/<alias>?link=1`: a legacy link's path has a slash.
async fn remove_link(
    State(engine): State<AppState>,
    Path((parent, alias)): Path<(String, String)>,
    Query(q): Q,
) -> ApiResult<StatusCode> {
    let path = format!("{parent}/{alias}");
    if !qbool(q.get("link")) {
        return Err(EngineError::NotFound(format!("No such container: {path}")).into());
    }
    engine.containers.remove_link(&path)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Docker's `since`/`until`: unix seconds with an optional fraction, or RFC 3339.
fn parse_time(v: Option<&String>) -> ApiResult<Option<DateTime<Utc>>> {
    let Some(v) = v.filter(|v| !v.is_empty() && *v != "0") else {
        return Ok(None);
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    let (secs, frac) = v.split_once('.').unwrap_or((v, "0"));
    let s: i64 = secs
        .parse()
        .map_err(|_| EngineError::BadRequest(format!("invalid time {v:?}: expected unix seconds")))?;
    let nanos: u32 = format!("{frac:0<9}")[..9].parse().unwrap_or(0);
    Ok(DateTime::from_timestamp(s, nanos))
}

async fn logs(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    version: super::ApiVersion,
    Query(q): Q,
) -> ApiResult<Response> {
    let tail = match q.get("tail").map(String::as_str) {
        None | Some("" | "all") => None,
        Some(n) => Some(
            n.parse::<i64>()
                .map_err(|_| EngineError::BadRequest(format!("invalid tail {n:?}")))?
                .max(0) as usize,
        ),
    };
    let opts = LogOptions {
        stdout: qbool(q.get("stdout")),
        stderr: qbool(q.get("stderr")),
        follow: qbool(q.get("follow")),
        timestamps: qbool(q.get("timestamps")),
        details: qbool(q.get("details")),
        since: parse_time(q.get("since"))?,
        until: parse_time(q.get("until"))?,
        tail,
    };
    let (tty, rx) = engine.containers.logs(&id, opts)?;
    Ok(stream_response(tty, version, rx))
}

async fn attach(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    Query(q): Q,
    mut req: Request,
) -> ApiResult<Response> {
    let version = super::ApiVersion::of(req.extensions());
    let rec = engine.containers.resolve(&id)?;
    let (tty, rx) = engine.containers.attach_output(&rec.id, attach_output(&q))?;
    let stdin = match qbool(q.get("stdin")) && wants_upgrade(req.headers()) {
        true => engine.containers.open_stdin(&rec.id)?,
        false => None,
    };
    if wants_upgrade(req.headers()) {
        if let Some(on) = req.extensions_mut().remove::<hyper::upgrade::OnUpgrade>() {
            let keys = super::detach::parse(q.get("detachKeys").map(String::as_str).unwrap_or(""))?;
            return Ok(hijack(on, tty, version, rx, stdin, keys));
        }
    }
    Ok(stream_response(tty, version, rx))
}

/// The streams an attach asks for (each flag off unless given, as dockerd reads them).
pub(super) fn attach_output(q: &HashMap<String, String>) -> AttachOutput {
    AttachOutput {
        stdout: qbool(q.get("stdout")),
        stderr: qbool(q.get("stderr")),
        logs: qbool(q.get("logs")),
        stream: qbool(q.get("stream")),
    }
}

async fn rename(State(engine): State<AppState>, Path(id): Path<String>, Query(q): Q) -> ApiResult<StatusCode> {
    let name = q
        .get("name")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| EngineError::BadRequest("name is required".into()))?;
    engine.containers.rename(&id, name)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn pause(State(engine): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    engine.containers.pause(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn unpause(State(engine): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    engine.containers.unpause(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn resize(State(engine): State<AppState>, Path(id): Path<String>, Query(q): Q) -> ApiResult<StatusCode> {
    let dim = |k: &str| -> ApiResult<u16> {
        let v = q.get(k).map(String::as_str).unwrap_or("0");
        Ok(v.parse()
            .map_err(|_| EngineError::BadRequest(format!("invalid {k} {v:?}: expected 0..65535")))?)
    };
    let (rows, cols) = (dim("h")?, dim("w")?);
    engine.containers.resize(&id, rows, cols)?;
    Ok(StatusCode::OK)
}
