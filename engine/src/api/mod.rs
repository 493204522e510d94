//! The Docker Engine API over axum: versioned and unversioned paths, Docker's error bodies.

mod archive;
mod archive_mounts;
mod attach_ws;
mod build;
pub mod complete;
mod container_doc;
mod container_ops;
mod containers;
mod detach;
mod distribution;
mod distribution_inspect;
mod events;
mod exec;
mod images;
mod import;
pub mod networks;
mod plugins;
mod search;
mod stream;
mod swarm;
mod system;
mod system_df;
mod top_stats;
pub mod volumes;

use crate::engine::Engine;
use crate::error::EngineError;
use axum::body::Bytes;
use axum::extract::Request;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::sync::Arc;

/// The API version berth speaks.
pub const API_VERSION: &str = "1.47";
/// The oldest API version berth accepts.
pub const MIN_API_VERSION: &str = "1.24";

/// Shared state of every handler.
pub type AppState = Arc<Engine>;

/// An error as the API returns it: `{"message": ...}` with Docker's status code.
#[derive(Debug)]
pub struct ApiError(pub EngineError);

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self.0 {
            EngineError::BadRequest(_) => StatusCode::BAD_REQUEST,
            EngineError::NotFound(_) => StatusCode::NOT_FOUND,
            EngineError::Conflict(_) => StatusCode::CONFLICT,
            EngineError::Forbidden(_) => StatusCode::FORBIDDEN,
            EngineError::NotModified(_) => return StatusCode::NOT_MODIFIED.into_response(),
            EngineError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            EngineError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::error!("{}", self.0);
        }
        (status, axum::Json(serde_json::json!({ "message": self.0.to_string() }))).into_response()
    }
}

/// Handler result.
pub type ApiResult<T> = Result<T, ApiError>;

/// The router with every endpoint (paths without the `/v1.xx` prefix; see [`service`]).
pub fn router(engine: AppState) -> Router {
    Router::new()
        .merge(system::routes())
        .merge(system_df::routes())
        .merge(images::routes())
        .merge(distribution::routes())
        .merge(distribution_inspect::routes())
        .merge(search::routes())
        .merge(containers::routes())
        .merge(container_ops::routes())
        .merge(exec::routes())
        .merge(events::routes())
        .merge(top_stats::routes())
        .merge(archive::routes())
        .merge(build::routes())
        .merge(volumes::routes())
        .merge(networks::routes())
        .merge(swarm::routes())
        .merge(plugins::routes())
        .fallback(|| async { ApiError(EngineError::NotFound("page not found".into())) })
        .with_state(engine)
}

/// The full service: strips `/v1.xx` (refusing versions outside what berth speaks), then routes.
pub fn service(
    engine: AppState,
) -> impl tower::Service<Request, Response = Response, Error = std::convert::Infallible, Future: Send + 'static>
       + Clone
       + Send
       + Sync
       + 'static {
    tower::Layer::layer(&axum::middleware::from_fn(strip_version), router(engine))
}

/// The API version a request was made in (`/v1.41/...`; berth's own when the path has none), for the few
/// endpoints whose behaviour changed between versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion(pub u32, pub u32);

impl ApiVersion {
    /// The version of a request (berth's own when the middleware did not run, as in unit tests).
    pub fn of(extensions: &axum::http::Extensions) -> ApiVersion {
        extensions.get::<ApiVersion>().copied().unwrap_or(ApiVersion(1, 47))
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ApiVersion {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ApiVersion::of(&parts.extensions))
    }
}

async fn strip_version(mut req: Request, next: axum::middleware::Next) -> Response {
    let path = req.uri().path();
    let mut version = version_tuple(API_VERSION).unwrap_or((1, 47));
    if let Some(rest) = path.strip_prefix("/v") {
        let (ver, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if !ver.is_empty() && ver.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            if let Err(e) = check_version(ver) {
                return ApiError(e).into_response();
            }
            version = version_tuple(ver).unwrap_or(version);
            let pq = match req.uri().query() {
                Some(q) => format!("{tail}?{q}"),
                None => tail.to_owned(),
            };
            let mut parts = req.uri().clone().into_parts();
            parts.path_and_query = pq.parse().ok();
            if let Ok(uri) = Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    req.extensions_mut().insert(ApiVersion(version.0, version.1));
    let span = tracing::info_span!("api", method = %req.method(), path = %req.uri().path());
    let _e = span.enter();
    tracing::debug!("request");
    drop(_e);
    next.run(req).await
}

fn version_tuple(v: &str) -> Option<(u32, u32)> {
    let (a, b) = v.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

fn check_version(v: &str) -> Result<(), EngineError> {
    let got = version_tuple(v).ok_or_else(|| EngineError::BadRequest(format!("invalid API version {v:?}")))?;
    let max = version_tuple(API_VERSION).unwrap_or((1, 47));
    let min = version_tuple(MIN_API_VERSION).unwrap_or((1, 24));
    if got > max {
        return Err(EngineError::BadRequest(format!(
            "client version {v} is too new. Maximum supported API version is {API_VERSION}"
        )));
    }
    if got < min {
        return Err(EngineError::BadRequest(format!(
            "client version {v} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
        )));
    }
    Ok(())
}

/// Parses a JSON body into a bollard model, naming the field that is wrong. Keys match the model's fields
/// whatever their case, as Go's decoder matches them (the Docker SDK for Python sends `CPURealtimePeriod`).
pub(crate) fn parse_json<T: serde::Serialize + serde::de::DeserializeOwned + 'static>(
    body: &Bytes,
    what: &str,
) -> Result<T, ApiError> {
    if body.is_empty() {
        return serde_json::from_slice(b"{}").map_err(|e| ApiError(EngineError::BadRequest(format!("{what}: {e}"))));
    }
    let positioned = |e: serde_json::Error| ApiError(EngineError::BadRequest(format!("{what}: invalid JSON: {e}")));
    let mut value: serde_json::Value = serde_json::from_slice(body).map_err(positioned)?;
    if let Some(template) = complete::template::<T>() {
        complete::recase_keys(&mut value, &template);
    }
    // On an error, the body's own parse names the line and column of the bad field.
    serde_json::from_value(value).map_err(|_| {
        serde_json::from_slice::<T>(body).err().map_or_else(
            || ApiError(EngineError::BadRequest(format!("{what}: invalid JSON"))),
            positioned,
        )
    })
}

/// A list as dockerd's Go encoder writes it: `null` when empty (a nil slice).
pub(crate) fn null_if_empty<T: serde::Serialize>(items: Vec<T>) -> serde_json::Value {
    if items.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::to_value(items).unwrap_or(serde_json::Value::Null)
    }
}

/// Docker's boolean query values: `1`, `true`, `True` (anything else is false, empty is false).
pub(crate) fn qbool(v: Option<&String>) -> bool {
    matches!(v.map(|s| s.to_ascii_lowercase()).as_deref(), Some("1" | "true" | "yes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert!(check_version("1.47").is_ok());
        assert!(check_version("1.24").is_ok());
        assert!(check_version("1.99").is_err());
        assert!(check_version("1.12").is_err());
        assert!(check_version("x").is_err());
    }
}
