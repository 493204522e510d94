//! Output streams: Docker's multiplexed frames, raw tty streams, and hijacked (upgraded) connections for attach.

use crate::containers::LogChunk;
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use runtime::logfile::LogStream;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

/// Content type of a tty (raw) stream.
pub const RAW: &str = "application/vnd.docker.raw-stream";
/// Content type of a multiplexed stdout/stderr stream.
pub const MULTIPLEXED: &str = "application/vnd.docker.multiplexed-stream";

/// The content type of an output stream: multiplexed frames are announced as such from API 1.42 on; before,
/// dockerd called every stream raw.
pub fn content_type(tty: bool, version: super::ApiVersion) -> &'static str {
    if tty || version < super::ApiVersion(1, 42) {
        RAW
    } else {
        MULTIPLEXED
    }
}

/// Encodes a chunk: raw for a tty, else an 8-byte header (stream, 0, 0, 0, big-endian length) and the payload.
pub fn frame(chunk: &LogChunk, tty: bool) -> Bytes {
    if tty {
        return Bytes::copy_from_slice(&chunk.data);
    }
    let kind = match chunk.stream {
        LogStream::Stdout => 1u8,
        LogStream::Stderr => 2u8,
    };
    let mut out = Vec::with_capacity(8 + chunk.data.len());
    out.extend_from_slice(&[kind, 0, 0, 0]);
    out.extend_from_slice(&(chunk.data.len() as u32).to_be_bytes());
    out.extend_from_slice(&chunk.data);
    Bytes::from(out)
}

/// A streaming HTTP response of chunks.
pub fn stream_response(tty: bool, version: super::ApiVersion, rx: mpsc::Receiver<LogChunk>) -> Response {
    let stream = futures::stream::unfold(rx, move |mut rx| async move {
        rx.recv()
            .await
            .map(|c| (Ok::<_, std::convert::Infallible>(frame(&c, tty)), rx))
    });
    let ct = content_type(tty, version);
    ([(header::CONTENT_TYPE, ct)], Body::from_stream(stream)).into_response()
}

/// Whether the client asked to take over the connection (`Upgrade: tcp`).
pub fn wants_upgrade(headers: &HeaderMap) -> bool {
    headers.get(header::UPGRADE).is_some()
}

/// Answers `101 UPGRADED` and, on the taken-over connection, writes the chunks until the channel ends;
/// bytes the client sends go to `stdin` when given, until it types the `detach_keys` (which ends the attach).
pub fn hijack(
    on_upgrade: hyper::upgrade::OnUpgrade,
    tty: bool,
    version: super::ApiVersion,
    mut rx: mpsc::Receiver<LogChunk>,
    stdin: Option<crate::containers::StdinSink>,
    detach_keys: Vec<u8>,
) -> Response {
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(e) => {
                tracing::warn!("attach: connection upgrade failed: {e}");
                return;
            }
        };
        let io = TokioIo::new(upgraded);
        let (reader, mut writer) = tokio::io::split(io);
        let (reader, mut detached) =
            super::detach::EscapeReader::new(reader, super::detach::on_terminal(detach_keys, tty));
        if let Some(sink) = stdin {
            tokio::spawn(sink.pump(reader));
        } else {
            // Nothing reads the client's input: no sequence can be seen.
            drop(reader);
        }
        loop {
            tokio::select! {
                c = rx.recv() => {
                    let Some(c) = c else { break };
                    if writer.write_all(&frame(&c, tty)).await.is_err() {
                        return;
                    }
                    let _ = writer.flush().await;
                }
                true = async { detached.wait_for(|d| *d).await.is_ok() } => break,
            }
        }
        let _ = writer.shutdown().await;
    });
    let ct = content_type(tty, version);
    (
        StatusCode::SWITCHING_PROTOCOLS,
        [
            (header::CONTENT_TYPE, ct),
            (header::CONNECTION, "Upgrade"),
            (header::UPGRADE, "tcp"),
        ],
    )
        .into_response()
}

/// Writes a request body (an image archive, a build context) to a new file in `dir`, so that the blocking
/// readers after it can seek and reread; `what` names the body in errors.
pub async fn spool(body: Body, dir: &std::path::Path, what: &str) -> crate::error::Result<tempfile::NamedTempFile> {
    use crate::error::{EngineError, IoContext};
    use futures::StreamExt;
    use std::io::Write;
    let tmp = tempfile::NamedTempFile::new_in(dir).ctx(|| format!("creating a file for the {what}"))?;
    let mut f = std::io::BufWriter::with_capacity(1 << 20, tmp.as_file());
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| EngineError::BadRequest(format!("reading the {what}: {e}")))?;
        f.write_all(&chunk).ctx(|| format!("writing the {what} to a file"))?;
    }
    f.flush().ctx(|| format!("writing the {what} to a file"))?;
    drop(f);
    Ok(tmp)
}

/// A request body read synchronously (in a blocking task) as it arrives, never stored: a task forwards the chunks.
/// A failure of the body itself (not of its reader) is kept in `failed`, for the handler to answer 400.
pub struct BlockingBody {
    rx: tokio::sync::mpsc::Receiver<Bytes>,
    cur: Bytes,
    /// Why the body ended early, if it did.
    pub failed: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl BlockingBody {
    /// Starts forwarding `body`; `what` names it in errors.
    pub fn new(body: Body, what: &'static str) -> Self {
        use futures::StreamExt;
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
        let failed = std::sync::Arc::new(std::sync::Mutex::new(None));
        let f = failed.clone();
        tokio::spawn(async move {
            let mut stream = body.into_data_stream();
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(c) => {
                        if tx.send(c).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        *f.lock().unwrap_or_else(|p| p.into_inner()) = Some(format!("reading the {what}: {e}"));
                        return;
                    }
                }
            }
        });
        BlockingBody {
            rx,
            cur: Bytes::new(),
            failed,
        }
    }
}

impl std::io::Read for BlockingBody {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(c) => self.cur = c,
                None => {
                    let failed = self.failed.lock().unwrap_or_else(|p| p.into_inner()).clone();
                    return match failed {
                        Some(m) => Err(std::io::Error::other(m)),
                        None => Ok(0),
                    };
                }
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        bytes::Buf::advance(&mut self.cur, n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_have_docker_headers() {
        let c = LogChunk {
            stream: LogStream::Stderr,
            data: b"hi\n".to_vec(),
        };
        assert_eq!(&frame(&c, false)[..], &[2, 0, 0, 0, 0, 0, 0, 3, b'h', b'i', b'\n']);
        assert_eq!(&frame(&c, true)[..], b"hi\n");
    }
}
