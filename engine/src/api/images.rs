//! Image endpoints: load, list, inspect, tag, delete.

use super::{qbool, ApiResult, ApiVersion, AppState};
use crate::error::{EngineError, IoContext};
use crate::images::load::{load_archive, Loaded};
use crate::images::store::Deleted;
use crate::images::ImageRef;
use crate::state::ImageRecord;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bollard::models::{ImageDeleteResponseItem, ImageInspect, ImageInspectRootFs, ImageSummary};
use std::collections::HashMap;

type Q = Query<HashMap<String, String>>;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/images/load", post(load))
        .route("/images/json", get(list))
        .route(
            "/images/{*rest}",
            get(super::distribution::get_any)
                .delete(delete)
                .post(super::distribution::post_any),
        )
}

#[tracing::instrument(skip_all, err(Debug, level = "debug"))]
async fn load(State(engine): State<AppState>, Query(q): Q, body: Body) -> ApiResult<Response> {
    let tmp = super::stream::spool(body, &engine.config.tmp_dir(), "image archive").await?;
    let store = engine.images.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        let f = std::io::BufReader::with_capacity(1 << 20, tmp.reopen().ctx(|| "reading the upload file".into())?);
        load_archive(&store, f)
    })
    .await
    .map_err(|e| EngineError::internal("loading images", e))?;
    // dockerd has already answered 200 when it finds the archive bad: the error is the stream's last message.
    let loaded = match loaded {
        Ok(l) => l,
        Err(EngineError::BadRequest(m)) => return Ok(stream_error(&m)),
        Err(e) => return Err(e.into()),
    };
    for l in &loaded {
        let names: Vec<String> = if l.tags.is_empty() {
            vec![l.image.id.clone()]
        } else {
            l.tags.iter().map(|t| t.to_string()).collect()
        };
        names.iter().for_each(|n| engine.events.image_event("load", n));
    }
    let quiet = qbool(q.get("quiet"));
    let mut out = String::new();
    for line in load_messages(&loaded) {
        if !quiet {
            tracing::info!("{}", line.trim_end());
        }
        out.push_str(&serde_json::json!({ "stream": line }).to_string());
        out.push('\n');
    }
    Ok(([("Content-Type", "application/json")], out).into_response())
}

/// A JSON message stream that ends in an error, as dockerd reports failures found after it started answering.
pub(super) fn stream_error(message: &str) -> Response {
    let line = serde_json::json!({ "errorDetail": { "message": message }, "error": message }).to_string();
    ([("Content-Type", "application/json")], line + "\n").into_response()
}

fn load_messages(loaded: &[Loaded]) -> Vec<String> {
    let mut lines = Vec::new();
    for l in loaded {
        if l.tags.is_empty() {
            lines.push(format!("Loaded image ID: {}\n", l.image.id));
        }
        for t in &l.tags {
            lines.push(format!(
                "Loaded image: {}\n",
                t.familiar_tagged().unwrap_or_else(|| t.to_string())
            ));
        }
    }
    lines
}

async fn list(
    State(engine): State<AppState>,
    Query(q): Q,
    version: ApiVersion,
) -> ApiResult<Json<Vec<serde_json::Value>>> {
    let filters = q.get("filters").map(String::as_str).unwrap_or("");
    let want = super::distribution::ImageFilters::parse(filters)?;
    let mut out = Vec::new();
    for img in engine.db.images()? {
        let tags = engine.images.tags_of(&img.id)?;
        let labels = if want.wants_labels() {
            engine.images.config_of(&img.id)?.config.labels.unwrap_or_default()
        } else {
            HashMap::new()
        };
        if !want.matches(&tags, &labels) {
            continue;
        }
        out.push(summary(&engine, &img, &tags)?);
    }
    out.sort_by(|a, b| b.created.cmp(&a.created));
    let mut docs = super::complete::complete_all(&out, &["/Manifests", "/Descriptor"]);
    add_virtual_size(&mut docs, version);
    Ok(Json(docs))
}

/// Image summaries before API 1.44 also carry `VirtualSize` (the same figure as `Size`).
pub(super) fn add_virtual_size(docs: &mut [serde_json::Value], version: ApiVersion) {
    if version < ApiVersion(1, 44) {
        for d in docs {
            d["VirtualSize"] = d["Size"].clone();
        }
    }
}

fn created_unix(img: &ImageRecord) -> i64 {
    img.created
        .as_deref()
        .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
        .map(|t| t.timestamp())
        .unwrap_or(0)
}

pub(super) fn summary(engine: &AppState, img: &ImageRecord, tags: &[ImageRef]) -> ApiResult<ImageSummary> {
    let labels = engine.images.config_of(&img.id)?.config.labels.unwrap_or_default();
    let containers = engine.db.containers()?.iter().filter(|c| c.image_id == img.id).count() as i64;
    Ok(ImageSummary {
        id: img.id.clone(),
        parent_id: img.parent.clone().unwrap_or_default(),
        repo_tags: tags.iter().filter_map(|t| t.familiar_tagged()).collect(),
        repo_digests: img.repo_digests.clone(),
        created: created_unix(img),
        size: img.size as i64,
        shared_size: -1,
        labels,
        containers,
        manifests: None,
        descriptor: None,
    })
}

/// `GET /images/{name}/json` (names may contain `/`).
pub(super) async fn get_image(
    State(engine): State<AppState>,
    Path(rest): Path<String>,
    version: ApiVersion,
) -> ApiResult<Json<serde_json::Value>> {
    let name = rest
        .strip_suffix("/json")
        .ok_or_else(|| EngineError::NotFound("page not found".into()))?;
    let img = engine.images.resolve(name)?;
    let cfg = engine.images.config_of(&img.id)?;
    let tags = engine.images.tags_of(&img.id)?;
    let doc = ImageInspect {
        id: Some(img.id.clone()),
        repo_tags: Some(tags.iter().filter_map(|t| t.familiar_tagged()).collect()),
        repo_digests: Some(img.repo_digests.clone()),
        comment: Some(cfg.comment.clone().unwrap_or_default()),
        created: cfg.created.clone(),
        author: cfg.author.clone(),
        config: Some(cfg.config.clone()),
        architecture: Some(cfg.architecture.clone()),
        variant: cfg.variant.clone(),
        os: Some(cfg.os.clone()),
        size: Some(img.size as i64),
        root_fs: Some(ImageInspectRootFs {
            typ: "layers".into(),
            layers: Some(cfg.rootfs.diff_ids.clone()),
        }),
        graph_driver: Some(bollard::models::DriverData {
            name: "overlay".into(),
            data: HashMap::from([(
                "LowerDir".to_owned(),
                engine
                    .images
                    .lower_dirs(&img)?
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(":"),
            )]),
        }),
        ..Default::default()
    };
    let mut v = super::complete::complete(&doc, INSPECT_OMITTED);
    super::complete::strip_empty(&mut v, super::complete::CONFIG_EMPTY_OMITTED);
    // dockerd keeps an unset Cmd or Entrypoint null (a nil Go slice), as `docker import` without CMD leaves it.
    for (key, unset) in [
        ("Cmd", cfg.config.cmd.is_none()),
        ("Entrypoint", cfg.config.entrypoint.is_none()),
    ] {
        if unset {
            v["Config"][key] = serde_json::Value::Null;
        }
    }
    add_legacy_inspect_fields(&mut v, version, cfg.docker_version.as_deref());
    if version < ApiVersion(1, 44) {
        v["VirtualSize"] = serde_json::json!(img.size);
    }
    // bollard's model no longer has it; dockerd sends it at every version ("" unless made locally).
    v["Parent"] = serde_json::json!(img.parent.clone().unwrap_or_default());
    Ok(Json(v))
}

/// Fields of an image inspect document that bollard's current model dropped but API 1.47 and older still
/// carry: `DockerVersion`, the container-only keys of `Config` (always zero in an image), and before 1.45
/// `Container` and `ContainerConfig`.
fn add_legacy_inspect_fields(v: &mut serde_json::Value, version: ApiVersion, docker_version: Option<&str>) {
    v["DockerVersion"] = serde_json::json!(docker_version.unwrap_or_default());
    if let Some(config) = v.get_mut("Config").and_then(serde_json::Value::as_object_mut) {
        for key in ["Hostname", "Domainname", "Image"] {
            config.entry(key).or_insert(serde_json::json!(""));
        }
        for key in [
            "AttachStdin",
            "AttachStdout",
            "AttachStderr",
            "Tty",
            "OpenStdin",
            "StdinOnce",
        ] {
            config.entry(key).or_insert(serde_json::json!(false));
        }
    }
    if version < ApiVersion(1, 45) {
        v["Container"] = serde_json::json!("");
        v["ContainerConfig"] = super::complete::complete(&bollard::models::ContainerConfig::default(), &[]);
    }
}

/// Fields dockerd leaves out of an image inspect document when empty.
const INSPECT_OMITTED: &[&str] = &[
    "/Variant",
    "/OsVersion",
    "/Descriptor",
    "/Manifests",
    "/Identity",
    "/Config/Healthcheck",
];

/// `POST /images/{name}/tag?repo=&tag=`.
pub(super) async fn post_image(
    State(engine): State<AppState>,
    Path(rest): Path<String>,
    Query(q): Q,
) -> ApiResult<StatusCode> {
    let name = rest
        .strip_suffix("/tag")
        .ok_or_else(|| EngineError::NotFound("page not found".into()))?;
    let repo = q
        .get("repo")
        .filter(|r| !r.is_empty())
        .ok_or_else(|| EngineError::BadRequest("repo is required".into()))?;
    let target = match q.get("tag").filter(|t| !t.is_empty()) {
        Some(t) => format!("{repo}:{t}"),
        None => repo.clone(),
    };
    let r = ImageRef::parse(&target).map_err(|e| EngineError::BadRequest(e.to_string()))?;
    engine.images.tag(name, &r)?;
    engine.events.image_event("tag", &target);
    Ok(StatusCode::CREATED)
}

/// `DELETE /images/{name}?force=`.
async fn delete(
    State(engine): State<AppState>,
    Path(name): Path<String>,
    Query(q): Q,
) -> ApiResult<Json<Vec<ImageDeleteResponseItem>>> {
    let force = qbool(q.get("force"));
    let containers = engine.containers.clone();
    let items = engine.images.delete(&name, force, &|id| containers.user_of_image(id))?;
    for d in &items {
        match d {
            Deleted::Untagged(t) => engine.events.image_event("untag", t),
            Deleted::Deleted(id) => engine.events.image_event("delete", id),
        }
    }
    Ok(Json(
        items
            .into_iter()
            .map(|d| match d {
                Deleted::Untagged(t) => ImageDeleteResponseItem {
                    untagged: Some(t),
                    deleted: None,
                },
                Deleted::Deleted(id) => ImageDeleteResponseItem {
                    untagged: None,
                    deleted: Some(id),
                },
            })
            .collect(),
    ))
}
