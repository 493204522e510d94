//! `POST /images/create?fromSrc=-`: `docker import` of a root filesystem tarball sent as the request body,
//! with `repo`, `tag`, `message`, `platform` and any number of `changes`.

use super::{ApiResult, AppState};
use crate::error::{EngineError, IoContext};
use crate::images::import::ImportRequest;
use crate::images::ImageRef;
use axum::body::Body;
use axum::response::{IntoResponse, Response};

/// Imports the body; `query` is every `key=value` of the request (changes repeat).
pub(super) async fn import(engine: AppState, query: &[(String, String)], body: Body) -> ApiResult<Response> {
    let get = |k: &str| {
        query
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    if get("fromSrc") != "-" {
        return Err(EngineError::BadRequest(format!(
            "fromSrc {:?}: berth imports only from the request body (fromSrc=-); download the archive first",
            get("fromSrc")
        ))
        .into());
    }
    let req = ImportRequest {
        changes: query
            .iter()
            .filter(|(k, _)| k == "changes")
            .map(|(_, v)| v.clone())
            .collect(),
        message: get("message").to_owned(),
        platform: get("platform").to_owned(),
        tag: tag_of(get("repo"), get("tag"))?,
    };
    let tmp = super::stream::spool(body, &engine.config.tmp_dir(), "image archive").await?;
    let store = engine.images.clone();
    let image = tokio::task::spawn_blocking(move || {
        let mut f = std::io::BufReader::with_capacity(1 << 20, tmp.reopen().ctx(|| "reading the upload file".into())?);
        store.import(&mut f, &req).map(|img| (img, req.tag))
    })
    .await
    .map_err(|e| EngineError::internal("importing", e))??;
    let (image, tag) = image;
    let name = tag.map(|t| t.to_string()).unwrap_or_else(|| image.id.clone());
    engine.events.image_event("import", &name);
    let line = serde_json::json!({ "status": image.id }).to_string() + "\r\n";
    Ok(([("Content-Type", "application/json")], line).into_response())
}

fn tag_of(repo: &str, tag: &str) -> ApiResult<Option<ImageRef>> {
    if repo.is_empty() {
        return Ok(None);
    }
    let text = if tag.is_empty() {
        repo.to_owned()
    } else {
        format!("{repo}:{tag}")
    };
    let r = ImageRef::parse(&text).map_err(|e| EngineError::BadRequest(format!("repo {text:?}: {e}")))?;
    Ok(Some(if r.tag.is_none() && r.digest.is_none() {
        r.with_tag("latest")
    } else {
        r
    }))
}
