//! The plugin family, answered as a dockerd with no plugin installed: the list is empty and a named plugin is
//! not found (404, dockerd's message). Pull and privileges do what dockerd does first, resolving the plugin
//! at its registry (so an unreachable registry is the same 500, and privileges the same empty list); create
//! reads the uploaded plugin as dockerd does. A plugin that resolves or reads well is then refused (501):
//! berth runs no managed plugins (its volume and network drivers are built in).

use super::{ApiResult, AppState};
use crate::error::{EngineError, IoContext};
use crate::images::ImageRef;
use crate::registry::client::{registry_error, Endpoint};
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::HashMap;

type Q = Query<HashMap<String, String>>;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/plugins", get(list))
        .route("/plugins/privileges", get(privileges))
        .route("/plugins/pull", post(pull))
        .route("/plugins/create", post(create))
        .route("/plugins/{*rest}", any(not_found))
}

async fn list() -> Json<Vec<Value>> {
    Json(Vec::new())
}

fn message(status: StatusCode, text: String) -> Response {
    (status, Json(json!({ "message": text }))).into_response()
}

/// `/plugins/{name}[/{action}]`: names may hold slashes (`vieux/sshfs`), so the action is the known last word.
async fn not_found(Path(rest): Path<String>) -> Response {
    const ACTIONS: [&str; 6] = ["json", "enable", "disable", "push", "set", "upgrade"];
    let name = match rest.rsplit_once('/') {
        Some((name, action)) if ACTIONS.contains(&action) => name,
        _ => rest.as_str(),
    };
    message(StatusCode::NOT_FOUND, format!("plugin \"{name}\" not found"))
}

fn unsupported(name: &str) -> EngineError {
    EngineError::NotImplemented(format!(
        "plugin {name}: berth's engine does not run managed plugins (its volume and network drivers are built in)"
    ))
}

/// A plugin reference from query parameter `field` (400 naming it; dockerd answers these with a 500).
fn plugin_ref(field: &str, value: Option<&String>) -> ApiResult<ImageRef> {
    let value = value.map(String::as_str).unwrap_or("");
    ImageRef::parse(value).map_err(|e| EngineError::BadRequest(format!("{field}: {e}")).into())
}

/// The plugin's config (its image config blob), fetched from its registry as dockerd's resolver does.
async fn fetch_config(engine: &AppState, headers: &HeaderMap, r: &ImageRef) -> ApiResult<Value> {
    let creds = super::distribution::credentials(headers, &r.registry)?;
    let ep = Endpoint::new(engine.registry.settings(), r, &r.registry, creds.as_ref());
    let reference = match &r.digest {
        Some(d) => ep.digested(d),
        None => ep.tagged(r.tag.as_deref().unwrap_or("latest")),
    };
    let (_, _, config) = ep
        .client
        .pull_manifest_and_config(&reference, &ep.auth)
        .await
        .map_err(|e| registry_error("error resolving plugin reference", &ep.host, e))?;
    serde_json::from_str(&config).map_err(|e| EngineError::internal(format!("plugin {r}: config"), e).into())
}

/// `POST /plugins/pull?remote=`: the granted privileges (body) are read, the plugin resolved at its registry.
#[tracing::instrument(skip_all, err(Debug, level = "debug"))]
async fn pull(State(engine): State<AppState>, headers: HeaderMap, Query(q): Q, body: Bytes) -> ApiResult<Response> {
    if !body.iter().all(u8::is_ascii_whitespace) {
        serde_json::from_slice::<Vec<bollard::models::PluginPrivilege>>(&body)
            .map_err(|e| EngineError::BadRequest(format!("failed to parse privileges: {e}")))?;
    }
    let r = plugin_ref("remote", q.get("remote"))?;
    fetch_config(&engine, &headers, &r).await?;
    Err(unsupported(&r.to_string()).into())
}

/// `GET /plugins/privileges?remote=`: what the plugin's config asks for. As dockerd (20.10 to 27), a plugin
/// that cannot be fetched asks for nothing: the pull that follows reports the error.
#[tracing::instrument(skip_all, err(Debug, level = "debug"))]
async fn privileges(State(engine): State<AppState>, headers: HeaderMap, Query(q): Q) -> ApiResult<Json<Value>> {
    let r = plugin_ref("remote", q.get("remote"))?;
    match fetch_config(&engine, &headers, &r).await {
        Ok(config) => Ok(Json(computed_privileges(&config))),
        Err(e) => {
            tracing::info!("plugin {r}: {}", e.0);
            Ok(Json(json!([])))
        }
    }
}

/// dockerd's `computePrivileges`: host network, namespaces, mounts, devices and capabilities a plugin asks for.
fn computed_privileges(c: &Value) -> Value {
    let mut out = Vec::new();
    let mut add = |name: &str, description: &str, value: Value| {
        out.push(json!({ "Name": name, "Description": description, "Value": value }));
    };
    let net = c["Network"]["Type"].as_str().unwrap_or("");
    if !matches!(net, "" | "null" | "bridge") {
        add("network", "permissions to access a network", json!([net]));
    }
    if c["IpcHost"].as_bool() == Some(true) {
        add("host ipc namespace", "host ipc namespace access", json!(["true"]));
    }
    if c["PidHost"].as_bool() == Some(true) {
        add("host pid namespace", "host pid namespace access", json!(["true"]));
    }
    for m in c["Mounts"].as_array().into_iter().flatten() {
        if let Some(s) = m["Source"].as_str() {
            add("mount", "host path to mount", json!([s]));
        }
    }
    for d in c["Linux"]["Devices"].as_array().into_iter().flatten() {
        if let Some(p) = d["Path"].as_str() {
            add("device", "host device to access", json!([p]));
        }
    }
    if c["Linux"]["AllowAllDevices"].as_bool() == Some(true) {
        add(
            "allow-all-devices",
            "allow 'rwm' access to all devices",
            json!(["true"]),
        );
    }
    if let Some(caps) = c["Linux"]["Capabilities"].as_array().filter(|c| !c.is_empty()) {
        add("capabilities", "list of additional capabilities required", json!(caps));
    }
    Value::Array(out)
}

/// `POST /plugins/create?name=`: the body is a plugin as dockerd reads it, a tar of `config.json` and `rootfs/`.
#[tracing::instrument(skip_all, err(Debug, level = "debug"))]
async fn create(State(engine): State<AppState>, Query(q): Q, body: Body) -> ApiResult<Response> {
    let name = q.get("name").map(String::as_str).unwrap_or("");
    let r = ImageRef::parse(name)
        .map_err(|e| EngineError::BadRequest(format!("name: failed to parse reference {name}: {e}")))?;
    if r.digest.is_some() {
        return Err(EngineError::BadRequest("name: canonical references are not permitted".into()).into());
    }
    let tmp_dir = crate::build::tmp_dir(&engine.config.root);
    std::fs::create_dir_all(&tmp_dir).ctx(|| format!("creating {}", tmp_dir.display()))?;
    let upload = super::stream::spool(body, &tmp_dir, "plugin").await?;
    let path = upload.path().to_owned();
    tokio::task::spawn_blocking(move || read_plugin_tar(&path))
        .await
        .map_err(|e| EngineError::internal("reading the plugin", e))??;
    Err(unsupported(name).into())
}

/// Checks that a plugin tar holds a valid `config.json` and a `rootfs/` (400 naming what is wrong).
fn read_plugin_tar(path: &std::path::Path) -> crate::error::Result<()> {
    let bad = |m: String| EngineError::BadRequest(m);
    let file = std::fs::File::open(path).ctx(|| format!("opening {}", path.display()))?;
    let mut archive = tar::Archive::new(file);
    let (mut config, mut rootfs) = (false, false);
    for entry in archive
        .entries()
        .map_err(|e| bad(format!("failed to read from tar: {e}")))?
    {
        let entry = entry.map_err(|e| bad(format!("failed to read from tar: {e}")))?;
        let entry_path = entry.path().map_err(|e| bad(format!("failed to read from tar: {e}")))?;
        let p = entry_path.to_string_lossy().trim_start_matches("./").to_owned();
        if p == "config.json" {
            serde_json::from_reader::<_, Value>(entry).map_err(|e| bad(format!("config.json: {e}")))?;
            config = true;
        } else if p == "rootfs" || p.starts_with("rootfs/") {
            rootfs = true;
        }
    }
    match (rootfs, config) {
        (false, _) => Err(bad("no rootfs found in the plugin tar".into())),
        (_, false) => Err(bad("no config.json found in the plugin tar".into())),
        _ => Ok(()),
    }
}
