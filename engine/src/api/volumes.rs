//! Volume endpoints: create, inspect, list (filters name/label/dangling/driver), remove, prune.

use super::{parse_json, qbool, ApiResult, AppState};
use crate::error::{EngineError, Result};
use crate::volumes::state::Volumes;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use bollard::models::{Volume as ApiVolume, VolumeCreateRequest, VolumeScopeEnum};
use std::collections::{BTreeMap, HashMap};
use volumes::{Volume, VolumeName, ANONYMOUS_LABEL, LOCAL_DRIVER};

type Q = Query<HashMap<String, String>>;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/volumes", get(list))
        .route("/volumes/create", post(create))
        .route("/volumes/prune", post(prune))
        .route("/volumes/{name}", get(inspect).delete(remove).put(update))
}

/// Runs blocking volume work (disk, mounts, database) off the async workers.
async fn blocking<T: Send + 'static>(
    engine: AppState,
    f: impl FnOnce(&Volumes) -> Result<T> + Send + 'static,
) -> ApiResult<T> {
    let out = tokio::task::spawn_blocking(move || {
        let vols = engine.volumes.open()?;
        f(&vols)
    })
    .await
    .map_err(|e| EngineError::internal("volume task", e))??;
    Ok(out)
}

/// A volume document as dockerd writes it: every field, less those it leaves out when empty.
fn complete(v: &ApiVolume) -> serde_json::Value {
    let mut doc = super::complete::complete(v, &["/UsageData", "/ClusterVolume"]);
    if v.options.is_empty() {
        // A volume made without options holds a nil map in dockerd: `"Options": null`.
        doc["Options"] = serde_json::Value::Null;
    }
    doc
}

pub(super) fn to_api(v: &Volume) -> ApiVolume {
    ApiVolume {
        name: v.name.to_string(),
        driver: v.driver.clone(),
        mountpoint: v.mountpoint.display().to_string(),
        created_at: Some(v.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        labels: v.labels.clone().into_iter().collect(),
        scope: Some(VolumeScopeEnum::LOCAL),
        options: v.options.clone().into_iter().collect(),
        ..Default::default()
    }
}

async fn create(State(engine): State<AppState>, body: Bytes) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let req: VolumeCreateRequest = parse_json(&body, "volume config")?;
    if let Some(d) = req.driver.as_deref().filter(|d| !d.is_empty() && *d != LOCAL_DRIVER) {
        return Err(EngineError::NotFound(format!(
            "plugin {d:?} not found: berth has the local volume driver only"
        ))
        .into());
    }
    if req.cluster_volume_spec.is_some() {
        return Err(EngineError::BadRequest(
            "ClusterVolumeSpec: cluster volumes need swarm mode, which berth does not have".into(),
        )
        .into());
    }
    let name = match req.name.as_deref().unwrap_or("") {
        "" => None,
        n => Some(VolumeName::new(n).map_err(|e| EngineError::BadRequest(format!("create {n}: {e}")))?),
    };
    let mut labels: BTreeMap<_, _> = req.labels.unwrap_or_default().into_iter().collect();
    if name.is_none() {
        // As Docker 23+: a volume created without a name is anonymous, so a plain prune (API 1.42+) takes it.
        labels.insert(ANONYMOUS_LABEL.to_string(), String::new());
    }
    let opts: BTreeMap<_, _> = req.driver_opts.unwrap_or_default().into_iter().collect();
    let (vol, _) = blocking(engine, move |v| v.create(name, labels, opts)).await?;
    Ok((StatusCode::CREATED, Json(complete(&to_api(&vol)))))
}

async fn inspect(State(engine): State<AppState>, Path(name): Path<String>) -> ApiResult<Json<serde_json::Value>> {
    let vol = blocking(engine, move |v| {
        v.get(&name)?
            .ok_or_else(|| EngineError::NotFound(format!("get {name}: no such volume")))
    })
    .await?;
    Ok(Json(complete(&to_api(&vol))))
}

async fn list(State(engine): State<AppState>, Query(q): Q) -> ApiResult<Json<serde_json::Value>> {
    let filters = crate::filters::parse(
        q.get("filters").map(String::as_str).unwrap_or(""),
        &["name", "label", "dangling", "driver"],
    )?;
    let vols = blocking(engine, move |v| {
        let users = v.users()?;
        let in_use = |vol: &Volume| users.get(&vol.name).is_some_and(|u| !u.is_empty());
        let mut out = Vec::new();
        for vol in v.all()? {
            if matches_list(&filters, &vol, in_use(&vol))? {
                out.push(to_api(&vol));
            }
        }
        Ok(out)
    })
    .await?;
    let volumes: Vec<serde_json::Value> = vols.iter().map(complete).collect();
    Ok(Json(serde_json::json!({ "Volumes": volumes, "Warnings": [] })))
}

async fn remove(State(engine): State<AppState>, Path(name): Path<String>, Query(q): Q) -> ApiResult<StatusCode> {
    let force = qbool(q.get("force"));
    blocking(engine, move |v| v.remove(&name, force)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn prune(
    State(engine): State<AppState>,
    Query(q): Q,
    version: super::ApiVersion,
) -> ApiResult<Json<serde_json::Value>> {
    let filters = crate::filters::parse(
        q.get("filters").map(String::as_str).unwrap_or(""),
        &["label", "label!", "all"],
    )?;
    // Before API 1.42 prune removed every unused volume, named ones included, as dockerd still does for them.
    let all = version < super::ApiVersion(1, 42)
        || filters
            .get("all")
            .is_some_and(|v| v.iter().any(|x| matches!(x.as_str(), "1" | "true" | "True")));
    let (removed, space) = blocking(engine, move |v| {
        // Since API 1.42 prune spares named volumes unless `all` is given, as Docker does.
        v.prune(|vol| (all || vol.is_anonymous()) && labels_match(&filters, vol))
    })
    .await?;
    Ok(Json(serde_json::json!({
        "VolumesDeleted": super::null_if_empty(removed),
        "SpaceReclaimed": space,
    })))
}

fn matches_list(f: &HashMap<String, Vec<String>>, vol: &Volume, in_use: bool) -> Result<bool> {
    if let Some(names) = f.get("name") {
        if !names.iter().any(|n| vol.name.as_str().contains(n.as_str())) {
            return Ok(false);
        }
    }
    if let Some(drivers) = f.get("driver") {
        if !drivers.contains(&vol.driver) {
            return Ok(false);
        }
    }
    if let Some(d) = f.get("dangling").and_then(|d| d.first()) {
        let dangling = match d.as_str() {
            "1" | "true" | "True" => true,
            "0" | "false" | "False" => false,
            other => {
                return Err(EngineError::BadRequest(format!(
                    "invalid filter 'dangling={other}' (expected true or false)"
                )))
            }
        };
        if dangling == in_use {
            return Ok(false);
        }
    }
    Ok(labels_match(f, vol))
}

/// `label=k` / `label=k=v` must all match; `label!=k` / `label!=k=v` must all not match.
fn labels_match(f: &HashMap<String, Vec<String>>, vol: &Volume) -> bool {
    let has = |want: &String| match want.split_once('=') {
        Some((k, v)) => vol.labels.get(k).is_some_and(|x| x == v),
        None => vol.labels.contains_key(want),
    };
    f.get("label").is_none_or(|ls| ls.iter().all(has)) && f.get("label!").is_none_or(|ls| !ls.iter().any(has))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vol(name: &str, labels: &[(&str, &str)]) -> Volume {
        Volume {
            name: VolumeName::new(name).unwrap(),
            driver: "local".into(),
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            options: BTreeMap::new(),
            created_at: chrono::Utc::now(),
            mountpoint: "/x".into(),
            scope: volumes::Scope::Local,
        }
    }

    #[test]
    fn list_filters() {
        let f = |j: &str| crate::filters::parse(j, &["name", "label", "dangling", "driver"]).unwrap();
        let v = vol("pgdata", &[("app", "db"), ("tier", "")]);
        assert!(matches_list(&f(r#"{"name":["pg"]}"#), &v, false).unwrap());
        assert!(!matches_list(&f(r#"{"name":["web"]}"#), &v, false).unwrap());
        assert!(matches_list(&f(r#"{"label":["app=db","tier"]}"#), &v, false).unwrap());
        assert!(!matches_list(&f(r#"{"label":["app=web"]}"#), &v, false).unwrap());
        assert!(matches_list(&f(r#"{"dangling":["true"]}"#), &v, false).unwrap());
        assert!(!matches_list(&f(r#"{"dangling":{"true":true}}"#), &v, true).unwrap());
        assert!(matches_list(&f(r#"{"dangling":["false"]}"#), &v, true).unwrap());
        assert!(matches_list(&f(r#"{"dangling":["maybe"]}"#), &v, true).is_err());
        assert!(crate::filters::parse(r#"{"colour":["x"]}"#, &["name"]).is_err());
        assert!(crate::filters::parse("[", &["name"]).is_err());
    }

    #[test]
    fn prune_label_filters() {
        let f = crate::filters::parse(r#"{"label!":["keep"]}"#, &["label", "label!", "all"]).unwrap();
        assert!(labels_match(&f, &vol("aa", &[])));
        assert!(!labels_match(&f, &vol("bb", &[("keep", "1")])));
    }

    #[test]
    fn api_shape() {
        let v = to_api(&vol("data", &[("a", "b")]));
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["Name"], "data");
        assert_eq!(json["Scope"], "local");
        assert_eq!(json["Labels"]["a"], "b");
        assert!(json["CreatedAt"].as_str().unwrap().ends_with('Z'));
    }
}

/// `PUT /volumes/{name}` updates cluster volumes, which only a swarm manager has: dockerd outside a swarm answers
/// this 503, and so does berth, which never runs one.
async fn update() -> axum::response::Response {
    super::swarm::unavailable("volume update only valid for cluster volumes, but swarm is unavailable")
}
