//! `GET /images/search`: asks the term's index (the registry named in it, else Docker Hub's) its `/v1/search`,
//! as dockerd does, and filters the answer (`is-official`, `is-automated`, `stars`).

use super::{ApiResult, AppState};
use crate::error::EngineError;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Docker Hub's index, where a term without a registry is searched.
const HUB_INDEX: &str = "index.docker.io";

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/images/search", get(search))
}

/// One result as the index and dockerd write it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Found {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    star_count: u64,
    #[serde(default)]
    is_official: bool,
    #[serde(default)]
    is_automated: bool,
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    results: Vec<Found>,
}

/// What of the results a search keeps (its `filters`).
#[derive(Debug, Default)]
struct Wanted {
    official: Option<bool>,
    automated: Option<bool>,
    stars: u64,
}

#[tracing::instrument(skip_all, err(Debug, level = "debug"))]
async fn search(
    State(engine): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Vec<Found>>> {
    let term = q
        .get("term")
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| EngineError::BadRequest("term is required: what to search for".into()))?;
    let limit = limit_of(q.get("limit"))?;
    let wanted = wanted_of(q.get("filters").map(String::as_str).unwrap_or(""))?;
    let (index, remote) = split_term(term);
    let scheme = if engine.registry.settings().allows_http(index) {
        "http"
    } else {
        "https"
    };
    let url = reqwest::Url::parse_with_params(
        &format!("{scheme}://{index}/v1/search"),
        &[("q", remote), ("n", &limit.to_string())],
    )
    .map_err(|e| EngineError::BadRequest(format!("term {term:?}: {e}")))?;
    let failed = |e: String| EngineError::Internal(format!("searching {index} for {remote:?}: {e}"));
    let resp = reqwest::get(url).await.map_err(|e| failed(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(failed(format!("the index answered {}", resp.status())).into());
    }
    let answer: Answer = resp.json().await.map_err(|e| failed(e.to_string()))?;
    let kept = answer
        .results
        .into_iter()
        .filter(|f| wanted.keeps(f))
        .take(limit)
        .collect();
    Ok(Json(kept))
}

/// `limit`: 25 by default, 1 to 100 (dockerd's range and message).
fn limit_of(v: Option<&String>) -> ApiResult<usize> {
    let Some(v) = v.filter(|v| !v.is_empty()) else {
        return Ok(25);
    };
    let n: i64 = v
        .parse()
        .map_err(|_| EngineError::BadRequest(format!("invalid limit {v:?}: expected a number")))?;
    if !(1..=100).contains(&n) {
        return Err(EngineError::BadRequest(format!("Limit {n} is outside the range of [1, 100]")).into());
    }
    Ok(n as usize)
}

fn wanted_of(json: &str) -> ApiResult<Wanted> {
    let f = crate::filters::parse(json, &["is-automated", "is-official", "stars"])?;
    let flag = |key: &str| -> ApiResult<Option<bool>> {
        match f.get(key).and_then(|v| v.last()).map(String::as_str) {
            None => Ok(None),
            Some("true" | "1") => Ok(Some(true)),
            Some("false" | "0") => Ok(Some(false)),
            Some(other) => Err(EngineError::BadRequest(format!("Invalid filter '{key}={other}'")).into()),
        }
    };
    let mut stars = 0;
    for v in f.get("stars").into_iter().flatten() {
        stars = stars.max(
            v.parse()
                .map_err(|_| EngineError::BadRequest(format!("Invalid filter 'stars={v}'")))?,
        );
    }
    Ok(Wanted {
        official: flag("is-official")?,
        automated: flag("is-automated")?,
        stars,
    })
}

impl Wanted {
    fn keeps(&self, f: &Found) -> bool {
        self.official.is_none_or(|o| o == f.is_official)
            && self.automated.is_none_or(|a| a == f.is_automated)
            && f.star_count >= self.stars
    }
}

/// `host[:port]/rest` names its index when the first part looks like a host (a dot, a port or localhost);
/// anything else is searched on Docker Hub.
fn split_term(term: &str) -> (&str, &str) {
    match term.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => (first, rest),
        _ => (HUB_INDEX, term),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_name_their_index() {
        assert_eq!(split_term("busybox"), (HUB_INDEX, "busybox"));
        assert_eq!(split_term("library/busybox"), (HUB_INDEX, "library/busybox"));
        assert_eq!(split_term("127.0.0.1:5000/app"), ("127.0.0.1:5000", "app"));
        assert_eq!(split_term("localhost/app"), ("localhost", "app"));
    }

    #[test]
    fn limits_and_filters() {
        assert_eq!(limit_of(None).unwrap(), 25);
        assert!(limit_of(Some(&"0".to_owned())).is_err());
        assert!(limit_of(Some(&"101".to_owned())).is_err());
        let w = wanted_of(r#"{"is-official":["true"],"stars":["3"]}"#).unwrap();
        let f = |official, stars| Found {
            name: "x".into(),
            description: String::new(),
            star_count: stars,
            is_official: official,
            is_automated: false,
        };
        assert!(w.keeps(&f(true, 3)));
        assert!(!w.keeps(&f(false, 9)));
        assert!(!w.keeps(&f(true, 2)));
        assert!(wanted_of(r#"{"stars":["many"]}"#).is_err());
    }
}
