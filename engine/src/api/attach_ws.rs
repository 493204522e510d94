//! `GET /containers/{id}/attach/ws`: attach over a WebSocket, as dockerd serves it for browsers and clients
//! that cannot take over an HTTP connection. Output is never multiplexed (each message carries raw bytes,
//! whatever the TTY setting); messages the client sends go to stdin until the detach sequence.

use super::containers::attach_output;
use super::detach::EscapeReader;
use super::{qbool, ApiResult, ApiVersion, AppState};
use crate::containers::{LogChunk, StdinSink};
use crate::error::EngineError;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use std::collections::HashMap;
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, watch};

/// How much of the client's input may wait between the socket and the container's stdin.
const STDIN_BUFFER: usize = 64 * 1024;

/// Checks the container and the query before the handshake, so errors are plain HTTP answers as on dockerd.
pub(super) async fn attach_ws(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    version: ApiVersion,
    req: Request,
) -> ApiResult<Response> {
    let keys = super::detach::parse(q.get("detachKeys").map(String::as_str).unwrap_or(""))?;
    let rec = engine.containers.resolve(&id)?;
    let (mut parts, _body) = req.into_parts();
    let upgrade = WebSocketUpgrade::from_request_parts(&mut parts, &())
        .await
        .map_err(|r| EngineError::BadRequest(format!("websocket handshake: {}", r.body_text())))?;
    let mut streams = attach_output(&q);
    // Before API 1.42 dockerd ignored the stream flags of a WebSocket attach and attached all three.
    let all = version < ApiVersion(1, 42);
    streams.stdout |= all;
    streams.stderr |= all;
    let (tty, output) = engine.containers.attach_output(&rec.id, streams)?;
    let keys = super::detach::on_terminal(keys, tty);
    let stdin = match all || qbool(q.get("stdin")) {
        true => engine.containers.open_stdin(&rec.id)?,
        false => None,
    };
    // API 1.28 switched the frames to binary (moby#28176): text frames cannot carry arbitrary bytes.
    let binary = version >= ApiVersion(1, 28);
    Ok(upgrade
        .on_upgrade(move |socket| serve(socket, output, stdin, keys, binary))
        .into_response())
}

/// Sends the output until it ends or the client detaches, then closes the socket.
async fn serve(
    socket: WebSocket,
    mut output: mpsc::Receiver<LogChunk>,
    stdin: Option<StdinSink>,
    keys: Vec<u8>,
    binary: bool,
) {
    let (mut sink, incoming) = socket.split();
    let (input, writer) = tokio::io::duplex(STDIN_BUFFER);
    let (reader, mut detached) = EscapeReader::new(input, keys);
    let (closed_tx, mut closed) = watch::channel(false);
    tokio::spawn(feed_input(incoming, writer, closed_tx));
    match stdin {
        Some(sink) => {
            tokio::spawn(sink.pump(reader));
        }
        // Without stdin the input is still read, for the detach sequence and the client's close.
        None => {
            tokio::spawn(drain(reader));
        }
    }
    loop {
        tokio::select! {
            chunk = output.recv() => {
                let Some(chunk) = chunk else { break };
                if sink.send(message(&chunk, binary)).await.is_err() {
                    return;
                }
            }
            true = async { detached.wait_for(|d| *d).await.is_ok() } => break,
            true = async { closed.wait_for(|c| *c).await.is_ok() } => return,
        }
    }
    let _ = sink.send(Message::Close(None)).await;
}

/// One output chunk as one message, raw bytes (dockerd never multiplexes a WebSocket attach).
fn message(chunk: &LogChunk, binary: bool) -> Message {
    let raw = super::stream::frame(chunk, true);
    match binary {
        true => Message::Binary(raw),
        false => Message::Text(String::from_utf8_lossy(&raw).into_owned().into()),
    }
}

/// Copies the payload of the client's messages into the stdin pipe; says when the client closed the socket.
async fn feed_input(
    mut incoming: futures::stream::SplitStream<WebSocket>,
    mut writer: tokio::io::DuplexStream,
    closed: watch::Sender<bool>,
) {
    while let Some(Ok(msg)) = incoming.next().await {
        let data = match msg {
            Message::Binary(b) => b,
            Message::Text(t) => axum::body::Bytes::copy_from_slice(t.as_str().as_bytes()),
            Message::Close(_) => break,
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        if writer.write_all(&data).await.is_err() {
            break;
        }
    }
    let _ = writer.shutdown().await;
    let _ = closed.send(true);
}

/// Reads the input to its end when no stdin takes it, so a detach sequence is still seen.
async fn drain(mut reader: impl tokio::io::AsyncRead + Unpin) {
    let _ = tokio::io::copy(&mut reader, &mut tokio::io::sink()).await;
}
