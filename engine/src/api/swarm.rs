//! The swarm family (`/swarm`, `/nodes`, `/services`, `/tasks`, `/secrets`, `/configs`) answered as a dockerd
//! that is not part of a swarm: 503 with dockerd's own messages, so clients that probe or clean up swarm
//! objects carry on. berth never joins or starts a swarm.

use super::AppState;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::{Json, Router};

/// dockerd's answer on manager-only endpoints of a node outside any swarm.
const NOT_A_MANAGER: &str = "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.";
/// dockerd's answer on leaving or unlocking a swarm the node is not part of.
const NOT_IN_A_SWARM: &str = "This node is not part of a swarm";
/// berth's answer on init and join: it does not run a swarm.
const NO_SWARM_MODE: &str = "berth's engine does not run swarm mode: swarm init and join are not available";

pub(super) fn routes() -> Router<AppState> {
    let mut r = Router::new()
        .route("/swarm", any(not_a_manager))
        .route("/swarm/update", any(not_a_manager))
        .route("/swarm/unlockkey", any(not_a_manager))
        .route("/swarm/leave", post(not_in_a_swarm))
        .route("/swarm/unlock", post(not_in_a_swarm))
        .route("/swarm/init", post(no_swarm_mode))
        .route("/swarm/join", post(no_swarm_mode));
    for family in ["/nodes", "/services", "/tasks", "/secrets", "/configs"] {
        r = r
            .route(family, any(not_a_manager))
            .route(&format!("{family}/{{*rest}}"), any(not_a_manager));
    }
    r
}

/// A 503 with dockerd's message body.
pub(super) fn unavailable(message: &str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(serde_json::json!({ "message": message })),
    )
        .into_response()
}

async fn not_a_manager() -> Response {
    unavailable(NOT_A_MANAGER)
}

async fn not_in_a_swarm() -> Response {
    unavailable(NOT_IN_A_SWARM)
}

async fn no_swarm_mode() -> Response {
    unavailable(NO_SWARM_MODE)
}
