//! `GET /system/df`: disk usage of images, containers (writable layers), volumes and the build cache, in the
//! shape of API 1.47 (`LayersSize`, `Images`, `Containers`, `Volumes`, `BuildCache`).

use super::complete::complete_all;
use super::{ApiResult, AppState};
use crate::containers::{dir_size, ListOptions};
use crate::error::EngineError;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use bollard::models::{ImageSummary, Volume, VolumeUsageData};
use serde_json::{json, Value};

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/system/df", get(df))
}

async fn df(State(engine): State<AppState>, version: super::ApiVersion) -> ApiResult<Json<Value>> {
    let e = engine.clone();
    let (mut images, layers_size) = tokio::task::spawn_blocking(move || images(&e))
        .await
        .map_err(|err| EngineError::internal("system df", err))??;
    super::images::add_virtual_size(&mut images, version);
    let e = engine.clone();
    let containers = tokio::task::spawn_blocking(move || containers(&e))
        .await
        .map_err(|err| EngineError::internal("system df", err))??;
    let e = engine.clone();
    let volumes = tokio::task::spawn_blocking(move || volumes(&e))
        .await
        .map_err(|err| EngineError::internal("system df", err))??;
    // No BuildKit, so no BuildKit cache records: dockerd without BuildKit answers `null` too.
    let mut doc = json!({
        "LayersSize": layers_size,
        "Images": images,
        "Containers": containers,
        "Volumes": volumes,
        "BuildCache": null,
    });
    if version < super::ApiVersion(1, 42) {
        doc["BuilderSize"] = json!(0);
    }
    Ok(Json(doc))
}

fn images(engine: &AppState) -> ApiResult<(Vec<Value>, i64)> {
    let mut out: Vec<ImageSummary> = Vec::new();
    for img in engine.db.images()? {
        let tags = engine.images.tags_of(&img.id)?;
        out.push(super::images::summary(engine, &img, &tags)?);
    }
    out.sort_by(|a, b| b.created.cmp(&a.created));
    let layers = out.iter().map(|i| i.size).sum();
    Ok((complete_all(&out, &[]), layers))
}

fn containers(engine: &AppState) -> ApiResult<Vec<Value>> {
    let opts = ListOptions {
        all: true,
        ..Default::default()
    };
    let list = engine.containers.list(&opts)?;
    let sized: Vec<_> = list
        .into_iter()
        .map(|mut c| {
            let rw = c.id.as_deref().map(|id| engine.containers.size_rw(id)).unwrap_or(0) as i64;
            c.size_rw = Some(rw);
            c.size_root_fs = Some(rw + image_size(engine, c.image_id.as_deref()));
            c
        })
        .collect();
    Ok(complete_all(&sized, &[]))
}

fn image_size(engine: &AppState, image_id: Option<&str>) -> i64 {
    image_id
        .and_then(|id| engine.db.image(id).ok().flatten())
        .map(|i| i.size as i64)
        .unwrap_or(0)
}

fn volumes(engine: &AppState) -> ApiResult<Vec<Value>> {
    let vols = engine.volumes.open()?;
    let users = vols.users()?;
    let apis: Vec<Volume> = vols
        .all()?
        .iter()
        .map(|v| Volume {
            usage_data: Some(VolumeUsageData {
                size: dir_size(&v.mountpoint) as i64,
                ref_count: users.get(&v.name).map_or(0, |u| u.len() as i64),
            }),
            ..super::volumes::to_api(v)
        })
        .collect();
    Ok(complete_all(&apis, &[]))
}
