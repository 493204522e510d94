//! `GET /distribution/{name}/json`: what the registry holds under a name (its manifest's descriptor and the
//! platforms it offers), asked of the registry without pulling; docker-py's `images.get_registry_data`.

use super::{ApiResult, AppState};
use crate::error::EngineError;
use crate::images::ImageRef;
use crate::registry::remote::RemoteImage;
use crate::registry::{Platform, PullRequest};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};

pub(super) fn routes() -> Router<AppState> {
    // A name holds slashes and a `host:port`: one wildcard, the `/json` suffix split off by hand.
    Router::new().route("/distribution/{*rest}", get(inspect))
}

#[tracing::instrument(skip_all, err(Debug, level = "debug"))]
async fn inspect(
    State(engine): State<AppState>,
    headers: HeaderMap,
    Path(rest): Path<String>,
) -> ApiResult<Json<RemoteImage>> {
    let name = rest
        .strip_suffix("/json")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| EngineError::NotFound("page not found".into()))?;
    let reference = ImageRef::parse(name).map_err(|e| EngineError::BadRequest(format!("{name}: {e}")))?;
    let credentials = super::distribution::credentials(&headers, &reference.registry)?;
    let req = PullRequest {
        reference,
        platform: Platform::host(),
        credentials,
    };
    Ok(Json(engine.registry.inspect_remote(&req).await?))
}
