//! Container endpoints beyond the lifecycle: `update`, `export`, `prune`, and `DELETE ?link=1`.

use super::{parse_json, ApiResult, AppState};
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bollard::models::{ContainerUpdateBody, EventMessageTypeEnum};
use std::collections::HashMap;
use std::io::Write;
use tokio::sync::mpsc;

type Q = Query<HashMap<String, String>>;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/containers/{id}/update", post(update))
        .route("/containers/{id}/export", get(export))
        .route("/containers/prune", post(prune))
}

async fn update(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    let body: ContainerUpdateBody = parse_json(&body, "container update")?;
    let warnings = engine.containers.update(&id, body)?;
    // dockerd's Go nil slice: `"Warnings": null` when there is nothing to say.
    let warnings = (!warnings.is_empty()).then_some(warnings);
    Ok(Json(serde_json::json!({ "Warnings": warnings })))
}

async fn prune(State(engine): State<AppState>, Query(q): Q) -> ApiResult<Json<serde_json::Value>> {
    let filters = crate::filters::parse(
        q.get("filters").map(String::as_str).unwrap_or(""),
        &["until", "label", "label!"],
    )?;
    let (deleted, space) = engine.containers.prune(&filters).await?;
    let reclaimed = HashMap::from([("reclaimed".to_owned(), space.to_string())]);
    (engine.events).publish(EventMessageTypeEnum::CONTAINER, "prune", "", reclaimed, None);
    Ok(Json(serde_json::json!({
        "ContainersDeleted": super::null_if_empty(deleted),
        "SpaceReclaimed": space,
    })))
}

/// A writer that hands what it is given to an HTTP body, chunk by chunk.
struct ChannelWriter(mpsc::Sender<std::io::Result<Bytes>>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The container's filesystem (its image layers and changes, without volumes) as a tar stream.
async fn export(State(engine): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let rec = engine.containers.resolve(&id)?;
    let bundle = engine.containers.runtime().bundle_dir(&rec.id).join("rootfs");
    let mount = match runtime::rootfs::is_mounted(&bundle) {
        true => None,
        false => Some(engine.containers.mount_for_copy(&rec.id)?),
    };
    let (tx, mut rx) = mpsc::channel::<std::io::Result<Bytes>>(16);
    let id = rec.id.clone();
    tokio::task::spawn_blocking(move || {
        let _mount = mount;
        let mut b = tar::Builder::new(std::io::BufWriter::with_capacity(1 << 16, ChannelWriter(tx.clone())));
        b.follow_symlinks(false);
        let res = b
            .append_dir_all(".", &bundle)
            .and_then(|_| b.into_inner())
            .and_then(|mut w| w.flush());
        if let Err(e) = res {
            tracing::warn!(container = %id, "export: {e}");
            let _ = tx.blocking_send(Err(e));
        }
    });
    engine.events.container_event(&engine.db, &rec.id, "export", &[]);
    let stream = futures::stream::poll_fn(move |cx| rx.poll_recv(cx));
    Ok(([("Content-Type", "application/x-tar")], Body::from_stream(stream)).into_response())
}
