//! Exec endpoints: create, start (hijacked multiplexed or raw tty stream, or detached), inspect, resize.

use super::stream::{frame, wants_upgrade};
use super::{parse_json, ApiResult, AppState};
use crate::containers::LogChunk;
use crate::error::EngineError;
use crate::exec::{ExecPipes, ExecRequest};
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bollard::models::{ExecConfig, ExecInspectResponse, ExecStartConfig, ProcessConfig};
use hyper_util::rt::TokioIo;
use runtime::logfile::LogStream;
use runtime::ProcessSpec;
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/containers/{id}/exec", post(create))
        .route("/exec/{id}/start", post(start))
        .route("/exec/{id}/json", get(inspect))
        .route("/exec/{id}/resize", post(resize))
}

fn console_size(v: Option<&Vec<usize>>) -> ApiResult<Option<(u16, u16)>> {
    match v.map(Vec::as_slice) {
        None | Some([]) | Some([0, 0]) => Ok(None),
        Some([h, w]) => Ok(Some((
            (*h).min(u16::MAX as usize) as u16,
            (*w).min(u16::MAX as usize) as u16,
        ))),
        Some(_) => Err(EngineError::BadRequest("ConsoleSize: expected [height, width]".into()).into()),
    }
}

async fn create(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    let cfg: ExecConfig = parse_json(&body, "exec config")?;
    let rec = engine.containers.resolve(&id)?;
    let cmd = cfg.cmd.clone().unwrap_or_default();
    if cmd.is_empty() {
        return Err(EngineError::BadRequest("No exec command specified".into()).into());
    }
    let user = cfg.user.clone().filter(|u| !u.is_empty());
    let process = ProcessSpec {
        args: cmd,
        env: exec_env(&engine, &rec, cfg.env.clone().unwrap_or_default(), user.as_deref()),
        cwd: cfg.working_dir.clone().filter(|w| !w.is_empty()),
        user,
        privileged: cfg.privileged == Some(true),
        tty: cfg.tty.unwrap_or(false),
        ..Default::default()
    };
    let req = ExecRequest {
        process,
        attach_stdin: cfg.attach_stdin.unwrap_or(false),
        attach_stdout: cfg.attach_stdout.unwrap_or(false),
        attach_stderr: cfg.attach_stderr.unwrap_or(false),
        console_size: console_size(cfg.console_size.as_ref())?,
        detach_keys: super::detach::parse(cfg.detach_keys.as_deref().unwrap_or(""))?,
    };
    let id = engine.execs.create(&rec, req)?;
    // bollard's IdResponse serialises its field as `id`; Docker answers `Id`, which strict clients need.
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "Id": id }))))
}

/// The exec's environment: the request's, plus the exec user's HOME when neither it nor the container's
/// config sets one (the container's process has its own user's HOME, as runc adds it, which is not the exec
/// user's: dockerd's `exec -u 1000` without a passwd entry sees HOME=/).
fn exec_env(
    engine: &crate::Engine,
    rec: &crate::state::ContainerRecord,
    mut env: Vec<String>,
    user: Option<&str>,
) -> Vec<String> {
    let has_home = |env: &[String]| env.iter().any(|e| e.split('=').next() == Some("HOME"));
    let Some(user) = user else { return env };
    if has_home(&env) || has_home(rec.config.env.as_deref().unwrap_or_default()) {
        return env;
    }
    // A user the container does not know fails the exec itself, with its own error.
    if let Ok(home) = engine.containers.runtime().home_of(&rec.id, user) {
        env.push(format!("HOME={home}"));
    }
    env
}

async fn start(State(engine): State<AppState>, Path(id): Path<String>, mut req: Request) -> ApiResult<Response> {
    let body = axum::body::to_bytes(std::mem::take(req.body_mut()), 1 << 20)
        .await
        .map_err(|e| EngineError::BadRequest(format!("reading exec start body: {e}")))?;
    let cfg: ExecStartConfig = parse_json(&body, "exec start config")?;
    let entry = engine.execs.get(&id)?;
    let rec = engine.containers.resolve(&entry.container_id)?;
    let detach = cfg.detach.unwrap_or(false);
    // As dockerd: the start request's `Tty`, not the exec's, says whether the output is framed (a client that
    // made a tty exec and starts it with `Tty: false` gets frames).
    let tty = cfg.tty.unwrap_or(false);
    let console = console_size(cfg.console_size.as_ref())?;
    let ct = super::stream::content_type(tty, super::ApiVersion::of(req.extensions()));
    let pipes = match engine.execs.start(&rec, &id, detach, console) {
        Ok(pipes) => pipes,
        // dockerd has already answered 200 (or 101) when an attached start fails: the error is the output.
        Err(e) if !detach && !matches!(e, EngineError::NotFound(_)) => return Ok(failed_start(&e, tty, ct, &mut req)),
        Err(e) => return Err(e.into()),
    };
    if detach {
        return Ok(StatusCode::OK.into_response());
    }
    if wants_upgrade(req.headers()) {
        if let Some(on) = req.extensions_mut().remove::<hyper::upgrade::OnUpgrade>() {
            let keys = super::detach::on_terminal(entry.request.detach_keys.clone(), entry.request.process.tty);
            tokio::spawn(async move {
                match on.await {
                    Ok(up) => {
                        let (r, w) = tokio::io::split(TokioIo::new(up));
                        pump(pipes, tty, Some((r, keys)), w).await;
                    }
                    Err(e) => tracing::warn!("exec: connection upgrade failed: {e}"),
                }
            });
            let headers = [
                (header::CONTENT_TYPE, ct),
                (header::CONNECTION, "Upgrade"),
                (header::UPGRADE, "tcp"),
            ];
            return Ok((StatusCode::SWITCHING_PROTOCOLS, headers).into_response());
        }
    }
    // No upgrade: output in the response body, no stdin.
    let (tx, rx) = tokio::io::duplex(64 * 1024);
    tokio::spawn(pump(pipes, tty, None::<(tokio::io::Empty, Vec<u8>)>, tx));
    let stream = tokio_util_like_stream(rx);
    Ok(([(header::CONTENT_TYPE, ct)], Body::from_stream(stream)).into_response())
}

/// The answer to an attached start that failed: the error as the stream's only output, on stdout.
fn failed_start(err: &EngineError, tty: bool, ct: &'static str, req: &mut Request) -> Response {
    let chunk = LogChunk {
        stream: LogStream::Stdout,
        data: format!("{err}\r\n").into_bytes(),
    };
    let bytes = frame(&chunk, tty);
    if wants_upgrade(req.headers()) {
        if let Some(on) = req.extensions_mut().remove::<hyper::upgrade::OnUpgrade>() {
            tokio::spawn(async move {
                if let Ok(up) = on.await {
                    let mut io = TokioIo::new(up);
                    let _ = io.write_all(&bytes).await;
                    let _ = io.shutdown().await;
                }
            });
            let headers = [
                (header::CONTENT_TYPE, ct),
                (header::CONNECTION, "Upgrade"),
                (header::UPGRADE, "tcp"),
            ];
            return (StatusCode::SWITCHING_PROTOCOLS, headers).into_response();
        }
    }
    ([(header::CONTENT_TYPE, ct)], Body::from(bytes)).into_response()
}

fn tokio_util_like_stream(
    rx: tokio::io::DuplexStream,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    futures::stream::unfold(rx, |mut rx| async move {
        let mut buf = vec![0u8; 16 * 1024];
        match rx.read(&mut buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), rx))
            }
        }
    })
}

fn reader(fd: OwnedFd, stream: LogStream, tx: mpsc::Sender<LogChunk>) {
    let Ok(mut r) = tokio::net::unix::pipe::Receiver::from_owned_fd(fd) else {
        return;
    };
    tokio::spawn(async move {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match r.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if tx
                        .send(LogChunk {
                            stream,
                            data: buf[..n].to_vec(),
                        })
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
    });
}

/// Copies the exec's output to the client (framed unless tty) and the client's input to its stdin; ends the
/// stream only once the exit code is recorded, so the client's inspect that follows sees it.
async fn pump<R, W>(pipes: ExecPipes, tty: bool, client_in: Option<(R, Vec<u8>)>, mut out: W)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let ExecPipes {
        stdin,
        stdout,
        stderr,
        mut exited,
    } = pipes;
    // Typing the detach keys ends the client's session; the process goes on, as with dockerd.
    let mut detached = None;
    if let (Some(fd), Some((cin, keys))) = (stdin, client_in) {
        if let Ok(mut w) = tokio::net::unix::pipe::Sender::from_owned_fd(fd) {
            let (mut cin, seen) = super::detach::EscapeReader::new(cin, keys);
            detached = Some(seen);
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut cin, &mut w).await;
            });
        }
    }
    let mut detached = detached.unwrap_or_else(|| tokio::sync::watch::channel(false).1);
    let (tx, mut rx) = mpsc::channel::<LogChunk>(64);
    if let Some(fd) = stdout {
        reader(fd, LogStream::Stdout, tx.clone());
    }
    if let Some(fd) = stderr {
        reader(fd, LogStream::Stderr, tx.clone());
    }
    drop(tx);
    loop {
        tokio::select! {
            c = rx.recv() => {
                let Some(c) = c else { break };
                if out.write_all(&frame(&c, tty)).await.is_err() {
                    break;
                }
                let _ = out.flush().await;
            }
            true = async { detached.wait_for(|d| *d).await.is_ok() } => {
                let _ = out.shutdown().await;
                return;
            }
        }
    }
    let _ = exited.wait_for(|c| c.is_some()).await;
    let _ = out.shutdown().await;
}

async fn inspect(State(engine): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<serde_json::Value>> {
    let e = engine.execs.get(&id)?;
    let p = &e.request.process;
    let (entrypoint, arguments) = match p.args.split_first() {
        Some((a, rest)) => (Some(a.clone()), Some(rest.to_vec())),
        None => (None, None),
    };
    let doc = ExecInspectResponse {
        can_remove: Some(false),
        detach_keys: Some(String::new()),
        id: Some(e.id.clone()),
        running: Some(e.running),
        exit_code: e.exit_code,
        process_config: Some(ProcessConfig {
            privileged: Some(p.privileged),
            user: p.user.clone().filter(|u| !u.is_empty()),
            tty: Some(p.tty),
            entrypoint,
            arguments,
        }),
        open_stdin: Some(e.request.attach_stdin),
        open_stderr: Some(e.request.attach_stderr),
        open_stdout: Some(e.request.attach_stdout),
        container_id: Some(e.container_id.clone()),
        pid: Some(e.pid),
    };
    // A running exec has no exit code yet: dockerd says null there, not 0.
    // dockerd leaves an empty user out of ProcessConfig (`omitempty`).
    let mut v = super::complete::complete(&doc, &["/ExitCode", "/ProcessConfig/user"]);
    v["ExitCode"] = serde_json::json!(e.exit_code);
    Ok(Json(v))
}

async fn resize(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<StatusCode> {
    let dim = |k: &str| -> ApiResult<u16> {
        let v = q
            .get(k)
            .ok_or_else(|| EngineError::BadRequest(format!("{k} is required")))?;
        v.parse()
            .map_err(|_| EngineError::BadRequest(format!("invalid {k} {v:?}: expected a number")).into())
    };
    let (h, w) = (dim("h")?, dim("w")?);
    engine.execs.resize(&id, h, w)?;
    Ok(StatusCode::OK)
}
