//! `POST /build` (the classic builder's API: context tar in, JSON-lines progress out), `POST /build/prune`,
//! `POST /commit` and `GET /containers/{id}/changes`.

use super::{parse_json, ApiResult, AppState};
use crate::build::{BuildOptions, PrepareError, Progress, SyncError};
use crate::error::{EngineError, IoContext};
use crate::images::ImageRef;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::collections::HashMap;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/build", post(build))
        .route("/build/prune", post(prune))
        .route("/commit", post(commit))
        .route("/containers/{id}/changes", get(changes))
        .route("/session", post(session))
}

/// `POST /session` opens a BuildKit session (an h2c upgrade) on dockerd. berth builds with the classic builder
/// (`/_ping` says `Builder-Version: 1`, so the docker CLI never asks): a request without the upgrade gets
/// dockerd's refusal, one with it the reason.
async fn session(headers: axum::http::HeaderMap) -> ApiResult<Response> {
    let proto = headers.get(header::UPGRADE).and_then(|v| v.to_str().ok()).unwrap_or("");
    Err(match proto {
        "" => EngineError::BadRequest("no upgrade proto in request".into()),
        "h2c" => EngineError::NotImplemented(
            "BuildKit sessions are not served: berth's engine builds with the classic builder (DOCKER_BUILDKIT=0)"
                .into(),
        ),
        other => EngineError::BadRequest(format!("protocol {other} not supported")),
    }
    .into())
}

/// Query parameters in order, repeated keys kept (`t=a&t=b`).
fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn bad(field: &str, e: impl std::fmt::Display) -> EngineError {
    EngineError::BadRequest(format!("{field}: {e}"))
}

fn int(field: &str, v: &str) -> Result<Option<i64>, EngineError> {
    if v.is_empty() {
        return Ok(None);
    }
    v.parse()
        .map(Some)
        .map_err(|e| bad(field, format!("{v:?} is not a number ({e})")))
}

fn truthy(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes")
}

/// Parses the build query into typed options, naming the parameter that is wrong.
fn options(pairs: &[(String, String)]) -> Result<BuildOptions, EngineError> {
    let mut o = BuildOptions::default();
    let mut seen = std::collections::HashSet::new();
    for (k, v) in pairs {
        // Go's FormValue: a parameter given twice counts once, first value (the Docker SDK sends a second
        // `dockerfile` with the file's text when it lies outside the context). dockerd reads `t` and
        // `extrahosts` as lists.
        if !matches!(k.as_str(), "t" | "extrahosts") && !seen.insert(k.as_str()) {
            continue;
        }
        match k.as_str() {
            "dockerfile" => o.dockerfile = v.clone(),
            "t" if !v.is_empty() => o.tags.push(ImageRef::parse(v).map_err(|e| bad("t", format!("invalid tag {v:?}: {e}")))?),
            "buildargs" if !v.is_empty() => {
                o.build_args = serde_json::from_str(v).map_err(|e| bad("buildargs", format!("expected a JSON object of strings: {e}")))?
            }
            "labels" if !v.is_empty() => {
                o.labels = serde_json::from_str(v).map_err(|e| bad("labels", format!("expected a JSON object of strings: {e}")))?
            }
            "cachefrom" if !v.is_empty() => {
                o.cache_from = serde_json::from_str(v).map_err(|e| bad("cachefrom", format!("expected a JSON array of strings: {e}")))?
            }
            "target" => o.target = Some(v.clone()).filter(|t| !t.is_empty()),
            "nocache" => o.no_cache = truthy(v),
            "q" => o.quiet = truthy(v),
            "networkmode" => o.network_mode = Some(v.clone()).filter(|n| !n.is_empty()),
            "extrahosts" => o.extra_hosts.extend(v.split(',').filter(|s| !s.is_empty()).map(str::to_owned)),
            "shmsize" => o.shm_size = int(k, v)?,
            "memory" => o.memory = int(k, v)?,
            "memswap" => o.memory_swap = int(k, v)?,
            "cpushares" => o.cpu_shares = int(k, v)?,
            "cpuperiod" => o.cpu_period = int(k, v)?,
            "cpuquota" => o.cpu_quota = int(k, v)?,
            "cpusetcpus" => o.cpuset_cpus = Some(v.clone()).filter(|s| !s.is_empty()),
            "platform" => o.platform = Some(v.clone()).filter(|s| !s.is_empty()),
            "version" if v == "2" => {
                return Err(bad("version", "BuildKit builds (version=2) are not supported: berth builds with the classic builder (DOCKER_BUILDKIT=0)"))
            }
            "remote" => o.remote = Some(v.clone()).filter(|r| !r.is_empty()),
            _ => {}
        }
    }
    Ok(o)
}

fn line(p: &Progress) -> Bytes {
    let v = match p {
        Progress::Stream(s) => serde_json::json!({ "stream": s }),
        Progress::Aux(id) => serde_json::json!({ "aux": { "ID": id } }),
    };
    Bytes::from(format!("{v}\r\n"))
}

/// The final line of a failed build, as dockerd's classic builder writes it: a RUN that exited non-zero carries
/// its exit status as `errorDetail.code` (docker-py and the docker CLI read it); other failures have none.
fn error_line(msg: &str) -> serde_json::Value {
    // The status is the number after dockerd's fixed wording, which berth's RUN error keeps (clients match on it).
    let code = msg
        .split_once("returned a non-zero code: ")
        .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|n| *n != 0);
    match code {
        Some(code) => serde_json::json!({ "errorDetail": { "code": code, "message": msg }, "error": msg }),
        None => serde_json::json!({ "errorDetail": { "message": msg }, "error": msg }),
    }
}

#[tracing::instrument(skip_all, err(Debug, level = "debug"))]
async fn build(State(engine): State<AppState>, RawQuery(q): RawQuery, body: Body) -> ApiResult<Response> {
    let opts = options(&query_pairs(q.as_deref()))?;
    if let Some(p) = &opts.platform {
        let want = format!("linux/{}", crate::images::load::host_arch());
        if p != &want && !p.starts_with(&format!("{want}/")) {
            return Err(bad(
                "platform",
                format!("{p} is not supported: berth builds for {want} only"),
            )
            .into());
        }
    }
    let tmp_dir = crate::build::tmp_dir(&engine.config.root);
    std::fs::create_dir_all(&tmp_dir).ctx(|| format!("creating {}", tmp_dir.display()))?;
    // The context is unpacked as it arrives (never spooled: no second copy on disk, secrets never written).
    let (reader, failed): (Box<dyn std::io::Read + Send>, _) = match &opts.remote {
        Some(remote) => {
            let upload = crate::build::remote::context(remote, &tmp_dir).await?;
            let file = upload.reopen().ctx(|| "reading the fetched build context".to_owned())?;
            (Box::new(file), None)
        }
        None => {
            let b = super::stream::BlockingBody::new(body, "build context");
            let failed = b.failed.clone();
            (Box::new(b), Some(failed))
        }
    };
    // Unpacked before answering, so that a refused context sync (berth's extension) is a status, not a stream.
    let prepared = crate::build::prepare(&engine, &opts, reader).await;
    if let Some(m) = failed.and_then(|f| f.lock().unwrap_or_else(|p| p.into_inner()).take()) {
        if let Ok(p) = prepared {
            crate::build::discard(p).await;
        }
        return Err(EngineError::BadRequest(m).into());
    }
    let prepared = match prepared {
        Ok(p) => p,
        Err(PrepareError::Sync(SyncError::Stale(m))) => return Err(EngineError::Conflict(m).into()),
        Err(PrepareError::Sync(SyncError::Bad(m))) => return Err(EngineError::BadRequest(m).into()),
        Err(e) => return Err(EngineError::Internal(e.to_string()).into()),
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Progress>(256);
    let (out_tx, out_rx) = tokio::sync::mpsc::channel::<Bytes>(256);
    let span = tracing::info_span!("build", tags = ?opts.tags.iter().map(|t| t.to_string()).collect::<Vec<_>>());
    tokio::spawn(tracing::Instrument::instrument(
        async move {
            let job = tokio::spawn(crate::build::run(engine.clone(), opts, prepared, tx));
            while let Some(p) = rx.recv().await {
                let _ = out_tx.send(line(&p)).await;
            }
            let result = job.await.unwrap_or_else(|e| Err(format!("the build task failed: {e}")));
            match result {
                Ok(id) => engine.events.image_event("build", &id),
                Err(msg) => {
                    tracing::info!("build failed: {msg}");
                    let v = error_line(&msg);
                    let _ = out_tx.send(Bytes::from(format!("{v}\r\n"))).await;
                }
            }
        },
        span,
    ));
    let stream = futures::stream::unfold(out_rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, std::convert::Infallible>(b), rx))
    });
    Ok(([(header::CONTENT_TYPE, "application/json")], Body::from_stream(stream)).into_response())
}

async fn prune(State(engine): State<AppState>) -> ApiResult<Json<serde_json::Value>> {
    let n = crate::build::prune(&engine.config.root);
    Ok(Json(
        serde_json::json!({ "CachesDeleted": Vec::<String>::new(), "SpaceReclaimed": 0, "EntriesDeleted": n }),
    ))
}

async fn commit(
    State(engine): State<AppState>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> ApiResult<(axum::http::StatusCode, Json<serde_json::Value>)> {
    let pairs = query_pairs(q.as_deref());
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(a, _)| a == k)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let container = get("container").ok_or_else(|| bad("container", "a container name or id is required"))?;
    let tag = match get("repo") {
        Some(repo) => {
            let full = match get("tag") {
                Some(t) => format!("{repo}:{t}"),
                None => repo,
            };
            Some(ImageRef::parse(&full).map_err(|e| bad("repo", format!("invalid reference {full:?}: {e}")))?)
        }
        None => None,
    };
    let config: Option<bollard::models::ImageConfig> = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        Some(parse_json(&body, "commit config")?)
    };
    let opts = crate::build::CommitOptions {
        container,
        tag,
        comment: get("comment"),
        author: get("author"),
        changes: pairs
            .iter()
            .filter(|(k, _)| k == "changes")
            .flat_map(|(_, v)| v.lines().map(str::to_owned).collect::<Vec<_>>())
            .filter(|c| !c.trim().is_empty())
            .collect(),
        config,
    };
    let id = crate::build::commit(&engine, opts).await?;
    engine.events.image_event("commit", &id);
    Ok((axum::http::StatusCode::CREATED, Json(serde_json::json!({ "Id": id }))))
}

async fn changes(
    State(engine): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<HashMap<&'static str, serde_json::Value>>>> {
    let eng = engine.clone();
    let list = tokio::task::spawn_blocking(move || crate::build::container_changes(&eng, &id))
        .await
        .map_err(|e| EngineError::internal("reading changes", e))??;
    Ok(Json(
        list.into_iter()
            .map(|(p, k)| HashMap::from([("Path", serde_json::json!(p)), ("Kind", serde_json::json!(k))]))
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_count_once_except_lists() {
        let pairs = query_pairs(Some(
            "dockerfile=D&dockerfile=FROM%20x&extrahosts=a%3A1.2.3.4&extrahosts=b%3A5.6.7.8",
        ));
        let o = options(&pairs).unwrap();
        assert_eq!(o.dockerfile, "D");
        assert_eq!(o.extra_hosts, ["a:1.2.3.4", "b:5.6.7.8"]);
    }

    #[test]
    fn a_failed_run_carries_its_exit_code() {
        let msg = "Dockerfile:2: RUN exit 3: The command '/bin/sh -c exit 3' returned a non-zero code: 3";
        assert_eq!(error_line(msg)["errorDetail"]["code"], 3);
        assert_eq!(error_line(msg)["error"], msg);
        let other = error_line("Cannot locate specified Dockerfile: Dockerfile");
        assert!(other["errorDetail"].get("code").is_none(), "{other}");
    }

    #[test]
    fn build_query() {
        let pairs = query_pairs(Some("t=a%3A1&t=b&buildargs=%7B%22X%22%3A%221%22%7D&nocache=1&memory=5"));
        let o = options(&pairs).unwrap();
        assert_eq!(o.tags.len(), 2);
        assert_eq!(o.build_args.get("X"), Some(&Some("1".into())));
        assert!(o.no_cache);
        assert_eq!(o.memory, Some(5));
        assert!(options(&query_pairs(Some("memory=x"))).is_err());
    }
}
