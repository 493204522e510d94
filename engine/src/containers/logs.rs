//! Container output for `logs` and `attach`, read from the monitor's log file.

use super::{Action, Containers};
use crate::error::{EngineError, Result};
use chrono::{DateTime, SecondsFormat, Utc};
use runtime::logfile::{between, tail, LogFollower, LogRecord, LogStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// How often a followed log file is re-read.
const POLL: Duration = Duration::from_millis(20);

/// `GET /containers/{id}/logs` options.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// Include stdout.
    pub stdout: bool,
    /// Include stderr.
    pub stderr: bool,
    /// Keep streaming until the container stops.
    pub follow: bool,
    /// Prefix each line with its RFC 3339 time.
    pub timestamps: bool,
    /// Prefix each line with the attributes the log driver stored with it (`docker logs --details`).
    pub details: bool,
    /// Only lines at or after.
    pub since: Option<DateTime<Utc>>,
    /// Only lines at or before.
    pub until: Option<DateTime<Utc>>,
    /// Only the last n lines.
    pub tail: Option<usize>,
}

/// A piece of output on one stream.
#[derive(Debug, Clone)]
pub struct LogChunk {
    /// Which stream.
    pub stream: LogStream,
    /// The bytes (with the timestamp prefix when asked).
    pub data: Vec<u8>,
}

impl Containers {
    /// Streams a container's logs; also returns whether it has a tty (raw stream, no multiplexing).
    #[tracing::instrument(skip(self, opts), err(level = "debug"))]
    pub fn logs(self: &Arc<Self>, ident: &str, opts: LogOptions) -> Result<(bool, mpsc::Receiver<LogChunk>)> {
        let rec = self.resolve(ident)?;
        if !opts.stdout && !opts.stderr {
            return Err(EngineError::BadRequest(
                "Bad parameters: you must choose at least one stream".into(),
            ));
        }
        let driver = rec.host_config.log_config.as_ref().and_then(|l| l.typ.as_deref());
        if driver == Some("none") {
            // dockerd's answer (501): the driver keeps nothing to read; `attach` still streams live output.
            return Err(EngineError::NotImplemented(
                "configured logging driver does not support reading".into(),
            ));
        }
        let tty = rec.config.tty.unwrap_or(false);
        let (tx, rx) = mpsc::channel(256);
        let me = self.clone();
        let events = self.subscribe();
        let path = self.runtime.log_path(&rec.id);
        tokio::spawn(async move { me.pump_logs(rec.id, path, opts, events, tx).await });
        Ok((tty, rx))
    }

    async fn pump_logs(
        self: Arc<Self>,
        id: String,
        path: PathBuf,
        opts: LogOptions,
        mut events: broadcast::Receiver<super::ContainerEvent>,
        tx: mpsc::Sender<LogChunk>,
    ) {
        let mut follower = LogFollower::from_start(&path);
        let mut first = follower.poll().unwrap_or_default();
        first = between(first, opts.since, opts.until);
        if let Some(n) = opts.tail {
            first = tail(first, n);
        }
        if !send_all(&tx, first, &opts).await || !opts.follow {
            return;
        }
        let running = |me: &Self| {
            me.db
                .container(&id)
                .ok()
                .flatten()
                .is_some_and(|r| r.state.status.as_str() == "running")
        };
        while running(&self) {
            let done = wait_for_exit(&mut events, &id, POLL).await;
            let recs = between(follower.poll().unwrap_or_default(), opts.since, opts.until);
            if !send_all(&tx, recs, &opts).await || done {
                break;
            }
        }
        let recs = between(follower.poll().unwrap_or_default(), opts.since, opts.until);
        send_all(&tx, recs, &opts).await;
    }

    /// Output for `attach`: the logs so far when `which.logs`, then (with `which.stream`) live output until
    /// the container's next exit (or removal).
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub fn attach_output(
        self: &Arc<Self>,
        ident: &str,
        which: AttachOutput,
    ) -> Result<(bool, mpsc::Receiver<LogChunk>)> {
        let AttachOutput {
            stdout,
            stderr,
            logs,
            stream,
        } = which;
        let rec = self.resolve(ident)?;
        let tty = rec.config.tty.unwrap_or(false);
        let (tx, rx) = mpsc::channel(256);
        let mut events = self.subscribe();
        let path = self
            .runtime
            .ensure_log_file(&rec.id)
            .map_err(super::lifecycle::runtime_err)?;
        let opts = LogOptions {
            stdout,
            stderr,
            ..Default::default()
        };
        let id = rec.id;
        // Placed now, before the caller answers: a client starts the container as soon as its attach is
        // answered, and output written before a task got round to `from_end` would be skipped.
        let mut follower = match logs {
            true => LogFollower::from_start(&path),
            false => LogFollower::from_end(&path),
        };
        if stream {
            follower = follower.pinned();
        }
        tokio::spawn(async move {
            if !stream {
                send_all(&tx, follower.poll().unwrap_or_default(), &opts).await;
                return;
            }
            loop {
                let done = wait_for_exit(&mut events, &id, POLL).await;
                if !send_all(&tx, follower.poll().unwrap_or_default(), &opts).await || done {
                    break;
                }
            }
        });
        Ok((tty, rx))
    }
}

/// What `attach` sends: which streams, past output (`logs`), live output (`stream`).
#[derive(Debug, Clone, Copy, Default)]
pub struct AttachOutput {
    /// Include stdout.
    pub stdout: bool,
    /// Include stderr.
    pub stderr: bool,
    /// Begin with the output so far.
    pub logs: bool,
    /// Go on with live output.
    pub stream: bool,
}

/// Waits up to `limit`; true when the container died or was removed meanwhile.
async fn wait_for_exit(events: &mut broadcast::Receiver<super::ContainerEvent>, id: &str, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Err(_) => return false,
            Ok(Ok(ev)) if ev.id == id && matches!(ev.action, Action::Die | Action::Destroy) => return true,
            Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(broadcast::error::RecvError::Closed)) => return true,
        }
    }
}

/// Sends the wanted records; false when the receiver is gone.
async fn send_all(tx: &mpsc::Sender<LogChunk>, recs: Vec<LogRecord>, opts: &LogOptions) -> bool {
    for r in recs {
        let wanted = match r.stream {
            LogStream::Stdout => opts.stdout,
            LogStream::Stderr => opts.stderr,
        };
        if !wanted {
            continue;
        }
        let mut data = Vec::with_capacity(r.log.len() + 32);
        if opts.timestamps {
            data.extend_from_slice(r.time.to_rfc3339_opts(SecondsFormat::Nanos, true).as_bytes());
            data.push(b' ');
        }
        if opts.details {
            data.extend_from_slice(details_prefix(r.attrs.as_ref()).as_bytes());
        }
        data.extend_from_slice(r.log.as_bytes());
        if tx.send(LogChunk { stream: r.stream, data }).await.is_err() {
            return false;
        }
    }
    true
}

/// dockerd's `--details` prefix: `k=v,k2=v2 ` (keys sorted, both query-escaped), a lone space without any.
fn details_prefix(attrs: Option<&std::collections::BTreeMap<String, String>>) -> String {
    let pairs: Vec<String> = attrs
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{}={}", query_escape(k), query_escape(v)))
        .collect();
    pairs.join(",") + " "
}

/// Go's `url.QueryEscape`: unreserved bytes kept, space as `+`, the rest `%XX`.
fn query_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
