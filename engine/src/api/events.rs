//! `GET /events`: past events from `since`, then live ones until `until`, one JSON object per line.

use super::{ApiResult, AppState};
use crate::error::EngineError;
use crate::events::EventFilter;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::collections::HashMap;
use tokio::sync::broadcast::error::RecvError;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/events", get(events))
}

/// Docker's `since`/`until`: unix seconds with an optional fraction, or RFC 3339; nanoseconds.
fn parse_time(v: Option<&String>) -> ApiResult<Option<i64>> {
    let Some(v) = v.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Ok(t.timestamp_nanos_opt());
    }
    let (secs, frac) = v.split_once('.').unwrap_or((v, "0"));
    let s: i64 = secs
        .parse()
        .map_err(|_| EngineError::BadRequest(format!("invalid time {v:?}: expected unix seconds or RFC 3339")))?;
    let nanos: i64 = format!("{frac:0<9}").get(..9).and_then(|f| f.parse().ok()).unwrap_or(0);
    Ok(Some(s.saturating_mul(1_000_000_000).saturating_add(nanos)))
}

fn line(m: &bollard::models::EventMessage) -> Bytes {
    let mut v = serde_json::to_vec(m).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

async fn events(State(engine): State<AppState>, Query(q): Query<HashMap<String, String>>) -> ApiResult<Response> {
    let since = parse_time(q.get("since"))?;
    let until = parse_time(q.get("until"))?;
    let filter = EventFilter::parse(q.get("filters").map(String::as_str).unwrap_or(""))?;
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let (past, mut rx) = engine.events.replay_and_subscribe(since.unwrap_or(i64::MAX));
    let in_window = move |m: &bollard::models::EventMessage| until.is_none_or(|u| m.time_nano.unwrap_or(0) <= u);
    let first: Vec<Bytes> = past
        .iter()
        .filter(|m| in_window(m) && filter.matches(m))
        .map(line)
        .collect();
    let (tx, body_rx) = tokio::sync::mpsc::channel::<Bytes>(256);
    tokio::spawn(async move {
        for b in first {
            if tx.send(b).await.is_err() {
                return;
            }
        }
        // Docker sends the headers first; an empty chunk flushes them so clients see the stream open.
        let _ = tx.send(Bytes::new()).await;
        let deadline = until.map(|u| {
            tokio::time::Instant::now() + std::time::Duration::from_nanos(u.saturating_sub(now).max(0) as u64)
        });
        loop {
            let next = async {
                match deadline {
                    Some(d) => tokio::time::timeout_at(d, rx.recv()).await.ok(),
                    None => Some(rx.recv().await),
                }
            };
            tokio::select! {
                r = next => match r {
                    None | Some(Err(RecvError::Closed)) => return,
                    Some(Err(RecvError::Lagged(_))) => continue,
                    Some(Ok(m)) => {
                        if in_window(&m) && filter.matches(&m) && tx.send(line(&m)).await.is_err() {
                            return;
                        }
                    }
                },
                _ = tx.closed() => return,
            }
        }
    });
    let stream = futures::stream::unfold(body_rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
    });
    Ok(([("Content-Type", "application/json")], Body::from_stream(stream)).into_response())
}
