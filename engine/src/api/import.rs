//! `POST /images/create?fromSrc=`: `docker import` of a root filesystem tarball sent as the request body
//! (`fromSrc=-`) or downloaded from a URL, with `repo`, `tag`, `message`, `platform` and any number of `changes`.

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
    let src = get("fromSrc");
    let (archive, url) = match src {
        "-" => {
            let tmp = super::stream::spool(body, &engine.config.tmp_dir(), "image archive").await?;
            (Archive::Body(tmp), None)
        }
        _ => {
            let (dir, path, url) = download(src, &engine.config.tmp_dir()).await?;
            (Archive::Downloaded { _dir: dir, path }, Some(url))
        }
    };
    let store = engine.images.clone();
    let image = tokio::task::spawn_blocking(move || {
        let mut f = std::io::BufReader::with_capacity(1 << 20, archive.open()?);
        store.import(&mut f, &req).map(|img| (img, req.tag))
    })
    .await
    .map_err(|e| EngineError::internal("importing", e))??;
    let (image, tag) = image;
    let name = tag.map(|t| t.to_string()).unwrap_or_else(|| image.id.clone());
    engine.events.image_event("import", &name);
    let mut lines = String::new();
    if let Some(url) = url {
        lines += &(serde_json::json!({ "status": format!("Downloading from {url}") }).to_string() + "\r\n");
    }
    lines += &(serde_json::json!({ "status": image.id }).to_string() + "\r\n");
    Ok(([("Content-Type", "application/json")], lines).into_response())
}

/// Where the archive to import lies until it is read.
enum Archive {
    /// The request body, spooled.
    Body(tempfile::NamedTempFile),
    /// A download, in its own directory (removed with it).
    Downloaded {
        /// Kept so the directory lives until the import has read the file.
        _dir: tempfile::TempDir,
        /// The downloaded file.
        path: std::path::PathBuf,
    },
}

impl Archive {
    fn open(&self) -> crate::error::Result<std::fs::File> {
        match self {
            Archive::Body(tmp) => tmp.reopen().ctx(|| "reading the upload file".into()),
            Archive::Downloaded { path, .. } => std::fs::File::open(path).ctx(|| format!("reading {}", path.display())),
        }
    }
}

/// Downloads `src` (http:// assumed when it has no scheme, as dockerd does) into a new directory under `tmp`.
/// Failures take dockerd's statuses: the server's 404, 400 and 403 are passed on, anything else is a 500.
async fn download(src: &str, tmp: &std::path::Path) -> ApiResult<(tempfile::TempDir, std::path::PathBuf, String)> {
    use crate::build::fetch::FetchError;
    let url = if src.contains("://") {
        src.to_owned()
    } else {
        format!("http://{src}")
    };
    if reqwest::Url::parse(&url).is_err() {
        return Err(EngineError::BadRequest(format!("fromSrc {src:?}: not a URL")).into());
    }
    let dir = tempfile::Builder::new()
        .prefix("import")
        .tempdir_in(tmp)
        .ctx(|| format!("creating a directory in {}", tmp.display()))?;
    let fetched = crate::build::fetch::fetch(&url, dir.path(), None).await.map_err(|e| {
        let text = e.to_string();
        match e {
            FetchError::Status { status, .. } if status == reqwest::StatusCode::NOT_FOUND => {
                EngineError::NotFound(text)
            }
            FetchError::Status { status, .. } if status == reqwest::StatusCode::BAD_REQUEST => {
                EngineError::BadRequest(text)
            }
            FetchError::Status { status, .. } if status == reqwest::StatusCode::FORBIDDEN => {
                EngineError::Forbidden(text)
            }
            _ => EngineError::Internal(text),
        }
    })?;
    Ok((dir, fetched.path, url))
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
