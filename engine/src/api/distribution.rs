//! Distribution endpoints: pull (`POST /images/create`), push (`POST /images/{name}/push`), login
//! (`POST /auth`), history, save (`GET /images/{name}/get`, `GET /images/get`) and `POST /images/prune`.
//! Pull and push stream Docker's JSON progress lines, so `docker pull`/`docker push` show progress.

use super::{ApiError, ApiResult, AppState};
use crate::error::EngineError;
use crate::images::ImageRef;
use crate::registry::client::Endpoint;
use crate::registry::push::PushRequest;
use crate::registry::{Platform, Progress, ProgressMessage, PullRequest};
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use imageref::credentials::{self as auth, Credentials};
use std::collections::HashMap;
use tokio::sync::mpsc;

type Q = Query<HashMap<String, String>>;

/// Header docker clients put registry credentials in.
const AUTH_HEADER: &str = "X-Registry-Auth";

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/images/create", post(create))
        .route("/auth", post(login))
        .route("/images/get", axum::routing::get(save_many))
        .route("/images/prune", post(prune))
}

/// Credentials from `X-Registry-Auth`, else from the engine user's docker config.
pub(super) fn credentials(headers: &HeaderMap, registry: &str) -> ApiResult<Option<Credentials>> {
    if let Some(v) = headers.get(AUTH_HEADER) {
        let v = v
            .to_str()
            .map_err(|_| EngineError::BadRequest(format!("{AUTH_HEADER}: not ASCII")))?;
        if let Some(c) = auth::decode_header(v).map_err(EngineError::from)? {
            return Ok(Some(c));
        }
    }
    let Some(path) = auth::docker_config_path() else {
        return Ok(None);
    };
    match auth::DockerConfig::load(&path).and_then(|c| c.credentials(registry)) {
        Ok(c) => Ok(c),
        Err(e) => {
            tracing::warn!("ignoring {}: {e}", path.display());
            Ok(None)
        }
    }
}

/// The reference `fromImage` + `tag` name (tag may also be a digest, as docker sends for `name@sha256:...`).
fn pull_reference(q: &HashMap<String, String>) -> ApiResult<ImageRef> {
    let image = q
        .get("fromImage")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| EngineError::BadRequest("fromImage is required".into()))?;
    let text = match q.get("tag").filter(|t| !t.is_empty()) {
        Some(t) if t.starts_with("sha256:") => format!("{image}@{t}"),
        Some(t) => format!("{image}:{t}"),
        None => image.clone(),
    };
    Ok(ImageRef::parse(&text).map_err(|e| EngineError::BadRequest(e.to_string()))?)
}

/// `POST /images/create?fromImage=&tag=&platform=`.
#[tracing::instrument(skip_all, err(Debug, level = "debug"))]
async fn create(
    State(engine): State<AppState>,
    Query(q): Q,
    Query(pairs): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    if q.get("fromSrc").is_some_and(|s| !s.is_empty()) {
        return super::import::import(engine, &pairs, body).await;
    }
    let reference = pull_reference(&q)?;
    let platform = Platform::parse(q.get("platform").map(String::as_str).unwrap_or(""))?;
    let credentials = credentials(&headers, &reference.registry)?;
    let req = PullRequest {
        reference,
        platform,
        credentials,
    };
    let registry = engine.registry.clone();
    let (progress, rx) = Progress::channel();
    let (events, pulled) = (engine.events.clone(), req.reference.to_string());
    let task = tokio::spawn(async move {
        let r = registry.pull(&req, &progress).await.map(|_| ());
        if r.is_ok() {
            events.image_event("pull", &pulled);
        }
        r
    });
    stream_progress(rx, task).await
}

/// `POST /images/{name}/push?tag=` (dispatched from the image routes).
#[tracing::instrument(skip_all, err(Debug, level = "debug"))]
pub(super) async fn push(
    engine: AppState,
    name: &str,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let tag = q.get("tag").filter(|t| !t.is_empty());
    let named_tag = name.rsplit_once(':').is_some_and(|(_, t)| !t.contains('/'));
    let mut reference = ImageRef::parse(name).map_err(|e| EngineError::BadRequest(e.to_string()))?;
    if let Some(t) = tag {
        reference = reference.with_tag(t);
    }
    let credentials = credentials(headers, &reference.registry)?;
    let req = PushRequest {
        reference,
        tag_given: tag.is_some() || named_tag,
        credentials,
    };
    let registry = engine.registry.clone();
    let (progress, rx) = Progress::channel();
    let task = tokio::spawn(async move { registry.push(&req, &progress).await.map(|_| ()) });
    stream_progress(rx, task).await
}

/// Answers with an HTTP error when the operation fails before its first message (as dockerd does),
/// else streams the messages and, on a later failure, Docker's `errorDetail` line.
async fn stream_progress(
    mut rx: mpsc::UnboundedReceiver<ProgressMessage>,
    mut task: tokio::task::JoinHandle<crate::error::Result<()>>,
) -> ApiResult<Response> {
    // The channel closes as a failed task drops its sender: no message at all is a failure before the first
    // one, answered with the HTTP error whichever of the two the runtime notices first.
    let mut outcome = None;
    let first = tokio::select! {
        biased;
        r = &mut task => {
            let r = r.map_err(|e| EngineError::internal("registry task", e))?;
            let m = rx.recv().await;
            match (m.is_none(), r) {
                (true, Err(e)) => return Err(e.into()),
                (_, r) => outcome = Some(r),
            }
            m
        }
        m = rx.recv() => match m {
            Some(m) => Some(m),
            None => {
                (&mut task).await.map_err(|e| EngineError::internal("registry task", e))??;
                outcome = Some(Ok(()));
                None
            }
        },
    };
    let (tx, out) = mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        let mut next = first;
        while let Some(m) = next {
            if tx.send(json_line(&m)).await.is_err() {
                return;
            }
            next = rx.recv().await;
        }
        let result = match outcome {
            Some(r) => r.map_err(|e| e.to_string()),
            None => match task.await {
                Ok(r) => r.map_err(|e| e.to_string()),
                Err(e) => Err(format!("registry task failed: {e}")),
            },
        };
        if let Err(msg) = result {
            let line = serde_json::json!({ "errorDetail": { "message": msg }, "error": msg });
            let _ = tx.send(Bytes::from(format!("{line}\r\n"))).await;
        }
    });
    let body = futures::stream::unfold(out, |mut r| async move {
        r.recv().await.map(|b| (Ok::<_, std::convert::Infallible>(b), r))
    });
    Ok(([("Content-Type", "application/json")], Body::from_stream(body)).into_response())
}

fn json_line(m: &ProgressMessage) -> Bytes {
    let mut s = serde_json::to_string(m).unwrap_or_default();
    s.push_str("\r\n");
    Bytes::from(s)
}

/// `POST /auth`: checks credentials against the registry (docker login); the client stores them.
#[tracing::instrument(skip_all, err(Debug, level = "debug"))]
async fn login(State(engine): State<AppState>, body: Bytes) -> ApiResult<Response> {
    let creds = auth::parse_auth_config(&body)
        .map_err(|e| EngineError::BadRequest(format!("auth request: {e}")))?
        .ok_or_else(|| EngineError::BadRequest("auth request: username and password are required".into()))?;
    let server = creds.server_address.trim();
    let host = server
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or("")
        .to_owned();
    let host = if host.is_empty() || host == "index.docker.io" {
        imageref::reference::DOCKER_HUB.to_owned()
    } else {
        host
    };
    let probe = ImageRef::parse(&format!("{host}/library/berth-login-probe"))
        .map_err(|e| EngineError::BadRequest(format!("serveraddress {server:?}: {e}")))?;
    let ep = Endpoint::new(engine.registry.settings(), &probe, &host, Some(&creds));
    if let Some(why) = check_login(&ep).await? {
        let msg = format!("login to {host} failed: {why}");
        return Ok((StatusCode::UNAUTHORIZED, Json(serde_json::json!({ "message": msg }))).into_response());
    }
    Ok(Json(serde_json::json!({ "Status": "Login Succeeded", "IdentityToken": "" })).into_response())
}

/// A token service proves credentials by issuing a token; a registry with basic auth by answering an
/// authenticated request (the catalog). `Some(reason)` when the registry refused them.
async fn check_login(ep: &Endpoint) -> ApiResult<Option<String>> {
    use crate::registry::client::registry_error;
    use oci_client::errors::OciDistributionError as E;
    match ep
        .client
        .auth(&ep.reference, &ep.auth, oci_client::RegistryOperation::Pull)
        .await
    {
        Ok(Some(_)) => return Ok(None),
        Ok(None) => {}
        Err(E::AuthenticationFailure(m)) => return Ok(Some(format!("incorrect username or password ({})", m.trim()))),
        Err(e) => return Err(registry_error("login", &ep.host, e).into()),
    }
    match ep.client.catalog(&ep.reference, &ep.auth, Some(1), None).await {
        Ok(_) => Ok(None),
        Err(E::UnauthorizedError { .. }) => Ok(Some("incorrect username or password".into())),
        // Registries without a catalog still answered an authenticated request.
        Err(E::RegistryError { .. }) | Err(E::ServerError { .. }) => Ok(None),
        Err(e) => Err(registry_error("login", &ep.host, e).into()),
    }
}

/// `GET /images/{name}/history`, `GET /images/{name}/get`, else the image routes' `GET /images/{name}/json`.
pub(super) async fn get_any(
    State(engine): State<AppState>,
    axum::extract::Path(rest): axum::extract::Path<String>,
    version: super::ApiVersion,
) -> Response {
    if let Some(name) = rest.strip_suffix("/history") {
        return result(history(&engine, name));
    }
    if let Some(name) = rest.strip_suffix("/get") {
        return result(save(engine.clone(), vec![name.to_owned()]).await);
    }
    super::images::get_image(State(engine), axum::extract::Path(rest), version)
        .await
        .into_response()
}

/// `POST /images/{name}/push`, else the image routes' `POST /images/{name}/tag`.
pub(super) async fn post_any(
    State(engine): State<AppState>,
    axum::extract::Path(rest): axum::extract::Path<String>,
    Query(q): Q,
    headers: HeaderMap,
) -> Response {
    if let Some(name) = rest.strip_suffix("/push") {
        return result(push(engine, name, &q, &headers).await);
    }
    super::images::post_image(State(engine), axum::extract::Path(rest), Query(q))
        .await
        .into_response()
}

fn result<T: IntoResponse>(r: ApiResult<T>) -> Response {
    match r {
        Ok(v) => v.into_response(),
        Err(e) => e.into_response(),
    }
}

/// Image history from the config's `history`, newest first; layer sizes from the unpacked layers.
fn history(engine: &AppState, name: &str) -> ApiResult<Json<Vec<serde_json::Value>>> {
    let img = engine.images.resolve(name)?;
    let all = engine.db.images()?;
    let items = crate::registry::save::history(&engine.images, &img, &all)?;
    Ok(Json(items))
}

/// `GET /images/get?names=a&names=b`: one archive with several images.
async fn save_many(State(engine): State<AppState>, Query(q): Query<Vec<(String, String)>>) -> Response {
    let names: Vec<String> = q.into_iter().filter(|(k, _)| k == "names").map(|(_, v)| v).collect();
    if names.is_empty() {
        return ApiError(EngineError::BadRequest(
            "names is required (one or more images to save)".into(),
        ))
        .into_response();
    }
    result(save(engine, names).await)
}

/// Streams a `docker save` tarball that is also an OCI image layout (as Docker 25+ writes).
async fn save(engine: AppState, names: Vec<String>) -> ApiResult<Response> {
    let mut images = Vec::new();
    for n in &names {
        let img = engine.images.resolve(n)?;
        let tags = match ImageRef::parse(n) {
            Ok(r) if r.tag.is_some() && engine.images.tags_of(&img.id)?.contains(&r) => vec![r],
            _ if n.starts_with("sha256:") || !n.contains(':') && engine.images.tags_of(&img.id)?.is_empty() => {
                Vec::new()
            }
            _ => engine.images.tags_of(&img.id)?,
        };
        images.push((img, tags));
    }
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    let store = engine.images.clone();
    let tmp = engine.config.tmp_dir();
    tokio::task::spawn_blocking(move || {
        if let Err(e) =
            crate::registry::save::write_archive(&store, &images, &tmp, crate::registry::save::ChannelWriter::new(tx))
        {
            tracing::warn!("image save failed: {e}");
        }
    });
    let body = futures::stream::unfold(rx, |mut r| async move {
        r.recv().await.map(|b| (Ok::<_, std::convert::Infallible>(b), r))
    });
    Ok(([("Content-Type", "application/x-tar")], Body::from_stream(body)).into_response())
}

/// `POST /images/prune?filters={"dangling":["false"]}`: removes unused images (untagged ones by default)
/// and idle downloads.
async fn prune(State(engine): State<AppState>, Query(q): Q) -> ApiResult<Json<serde_json::Value>> {
    let f = crate::filters::parse(
        q.get("filters").map(String::as_str).unwrap_or(""),
        &["dangling", "label", "label!", "until"],
    )?;
    let mut all = false;
    for v in f.get("dangling").into_iter().flatten() {
        all = match v.as_str() {
            "true" | "1" => false,
            "false" | "0" => true,
            other => return Err(EngineError::BadRequest(format!("Invalid filter 'dangling={other}'")).into()),
        };
    }
    let by_labels = f.contains_key("label") || f.contains_key("label!");
    let now = chrono::Utc::now();
    let containers = engine.containers.clone();
    let mut deleted = Vec::new();
    let mut reclaimed = 0u64;
    for img in engine.db.images()? {
        if containers.user_of_image(&img.id).is_some() || (!all && !engine.images.tags_of(&img.id)?.is_empty()) {
            continue;
        }
        let created = chrono::DateTime::parse_from_rfc3339(img.created.as_deref().unwrap_or(""))
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or(now);
        if !crate::filters::until_matches(&f, created, now)? {
            continue;
        }
        if by_labels {
            let labels = engine.images.config_of(&img.id)?.config.labels.unwrap_or_default();
            if !crate::filters::labels_match(&f, &labels) {
                continue;
            }
        }
        for item in engine
            .images
            .delete(&img.id, true, &|id| containers.user_of_image(id))?
        {
            deleted.push(match item {
                crate::images::store::Deleted::Untagged(t) => serde_json::json!({ "Untagged": t }),
                crate::images::store::Deleted::Deleted(id) => {
                    reclaimed += img.size;
                    serde_json::json!({ "Deleted": id })
                }
            });
        }
    }
    reclaimed += engine.registry.clear_downloads()?;
    Ok(Json(
        serde_json::json!({ "ImagesDeleted": super::null_if_empty(deleted), "SpaceReclaimed": reclaimed }),
    ))
}

/// `GET /images/json` filters: `dangling`, `reference` (globs on `name` / `name:tag`), `label`
/// (`key` or `key=value`); every given filter must hold (values of one filter: any may match).
#[derive(Debug, Default, PartialEq)]
pub(super) struct ImageFilters {
    dangling: Option<bool>,
    references: Vec<String>,
    labels: Vec<(String, Option<String>)>,
}

impl ImageFilters {
    /// Parses Docker's filters JSON (`{"label":["a=b"]}` or the old `{"label":{"a=b":true}}`).
    pub(super) fn parse(json: &str) -> ApiResult<Self> {
        let mut f = ImageFilters::default();
        if json.trim().is_empty() {
            return Ok(f);
        }
        let v: HashMap<String, serde_json::Value> =
            serde_json::from_str(json).map_err(|e| EngineError::BadRequest(format!("invalid filters: {e}")))?;
        for (k, val) in v {
            let values: Vec<String> = match val {
                serde_json::Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect(),
                serde_json::Value::Object(o) => o.keys().cloned().collect(),
                _ => {
                    return Err(
                        EngineError::BadRequest(format!("invalid filters: {k}: expected a list of strings")).into(),
                    )
                }
            };
            match k.as_str() {
                "dangling" => {
                    for v in &values {
                        f.dangling = Some(match v.as_str() {
                            "true" | "1" => true,
                            "false" | "0" => false,
                            other => {
                                return Err(EngineError::BadRequest(format!(
                                    "invalid filter 'dangling={other}': expected true or false"
                                ))
                                .into())
                            }
                        });
                    }
                }
                "reference" => f.references.extend(values),
                "label" => f.labels.extend(values.into_iter().map(|l| match l.split_once('=') {
                    Some((a, b)) => (a.to_owned(), Some(b.to_owned())),
                    None => (l, None),
                })),
                other => {
                    return Err(EngineError::BadRequest(format!(
                        "invalid filter '{other}': berth supports dangling, reference and label"
                    ))
                    .into())
                }
            }
        }
        Ok(f)
    }

    /// Whether the label filter needs the image's labels.
    pub(super) fn wants_labels(&self) -> bool {
        !self.labels.is_empty()
    }

    /// Whether an image with these tags and labels passes.
    pub(super) fn matches(&self, tags: &[ImageRef], labels: &HashMap<String, String>) -> bool {
        if let Some(d) = self.dangling {
            if d != tags.is_empty() {
                return false;
            }
        }
        if !self.references.is_empty() {
            let names: Vec<(String, String)> = tags
                .iter()
                .filter_map(|t| Some((t.familiar_name(), t.familiar_tagged()?)))
                .collect();
            let hit = self
                .references
                .iter()
                .any(|pat| names.iter().any(|(n, nt)| glob(pat, n) || glob(pat, nt)));
            if !hit {
                return false;
            }
        }
        self.labels.iter().all(|(k, v)| match v {
            Some(v) => labels.get(k) == Some(v),
            None => labels.contains_key(k),
        })
    }
}

/// `*` matches any run of characters except `/` (as Docker's path.Match does for references).
fn glob(pat: &str, s: &str) -> bool {
    match pat.split_once('*') {
        None => pat == s,
        Some((head, rest)) => {
            let Some(tail) = s.strip_prefix(head) else { return false };
            (0..=tail.len())
                .filter(|i| tail.is_char_boundary(*i))
                .take_while(|i| !tail[..*i].contains('/'))
                .any(|i| glob(rest, &tail[i..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_filters() {
        let f = ImageFilters::parse(r#"{"reference":["busy*"],"label":["a=1","b"],"dangling":["false"]}"#).unwrap();
        let tags = vec![ImageRef::parse("busybox:1").unwrap()];
        let labels = HashMap::from([("a".to_owned(), "1".to_owned()), ("b".to_owned(), String::new())]);
        assert!(f.matches(&tags, &labels));
        assert!(!f.matches(&tags, &HashMap::new()));
        assert!(!f.matches(&[], &labels));
        assert!(ImageFilters::parse(r#"{"dangling":["true"]}"#)
            .unwrap()
            .matches(&[], &HashMap::new()));
        assert!(ImageFilters::parse(r#"{"reference":["busybox:1"]}"#)
            .unwrap()
            .matches(&tags, &HashMap::new()));
        assert!(!ImageFilters::parse(r#"{"reference":["redis"]}"#)
            .unwrap()
            .matches(&tags, &HashMap::new()));
        assert!(ImageFilters::parse(r#"{"until":["1h"]}"#).is_err());
        assert!(ImageFilters::parse(r#"{"dangling":["maybe"]}"#).is_err());
        assert!(glob("a/*", "a/b") && !glob("*", "a/b"));
    }
}
