//! The plugin family answered as a dockerd with no plugin installed: the list is empty, a named plugin is
//! not found (404, dockerd's message), and installing one is refused with a clear error, since berth runs
//! no managed plugins (its volume and network drivers are built in).

use super::AppState;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/plugins", get(list))
        .route("/plugins/privileges", get(no_plugins))
        .route("/plugins/pull", post(no_plugins))
        .route("/plugins/create", post(no_plugins))
        .route("/plugins/{*rest}", any(not_found))
}

async fn list() -> Json<Vec<serde_json::Value>> {
    Json(Vec::new())
}

fn message(status: StatusCode, text: String) -> Response {
    (status, Json(serde_json::json!({ "message": text }))).into_response()
}

fn not_found_message(name: &str) -> String {
    format!("plugin \"{name}\" not found")
}

/// `/plugins/{name}[/{action}]`: names may hold slashes (`vieux/sshfs`), so the action is the known last word.
async fn not_found(Path(rest): Path<String>) -> Response {
    const ACTIONS: [&str; 6] = ["json", "enable", "disable", "push", "set", "upgrade"];
    let name = match rest.rsplit_once('/') {
        Some((name, action)) if ACTIONS.contains(&action) => name,
        _ => rest.as_str(),
    };
    message(StatusCode::NOT_FOUND, not_found_message(name))
}

async fn no_plugins() -> Response {
    message(
        StatusCode::NOT_IMPLEMENTED,
        "berth's engine does not install managed plugins (its volume and network drivers are built in)".into(),
    )
}
