//! Attached stdin: what a client types or pipes (`docker run -i`, `docker attach`) goes into the container's stdin
//! FIFO, which the monitor hands to the workload (or to its terminal).
//!
//! The engine opens the FIFO read-write, which never blocks, before the container runs: the docker CLI attaches
//! first and starts second, and may send all of its input (and its EOF) in between. A FIFO drops its buffer when
//! its last holder closes it, so the engine lets go only once the monitor holds the read end. With `StdinOnce`
//! that release is the container's EOF; otherwise the monitor's own writer keeps stdin open for the next attach.

use super::{Action, ContainerEvent, Containers};
use crate::error::{EngineError, Result};
use crate::state::ContainerStatus;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWriteExt};
use tokio::sync::broadcast;

/// The engine's writer on one container's stdin, for one attach.
pub struct StdinSink {
    file: tokio::fs::File,
    id: String,
    events: broadcast::Receiver<ContainerEvent>,
    containers: Arc<Containers>,
}

impl Containers {
    /// A writer on the stdin of `ident`; None when the container was not created with `OpenStdin` (Docker then
    /// ignores the client's input too).
    pub fn open_stdin(self: &Arc<Self>, ident: &str) -> Result<Option<StdinSink>> {
        let rec = self.resolve(ident)?;
        if !rec.config.open_stdin.unwrap_or(false) {
            return Ok(None);
        }
        // Subscribed before opening, so a start between the two is not missed.
        let events = self.subscribe();
        let path = self
            .runtime
            .ensure_stdin_fifo(&rec.id)
            .map_err(super::lifecycle::runtime_err)?;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| EngineError::Internal(format!("opening the stdin of {}: {e}", rec.name)))?;
        Ok(Some(StdinSink {
            file: tokio::fs::File::from_std(file),
            id: rec.id,
            events,
            containers: self.clone(),
        }))
    }

    /// Whether the container still has to start before its stdin has a reader (None: it is gone).
    fn awaits_start(&self, id: &str) -> Option<bool> {
        let rec = self.resolve(id).ok()?;
        Some(matches!(rec.state.status, ContainerStatus::Created))
    }
}

impl StdinSink {
    /// Copies `input` into the container until the client closes it, then lets go of the FIFO (see the module
    /// doc for when).
    #[tracing::instrument(skip_all, fields(id = %self.id))]
    pub async fn pump(mut self, mut input: impl AsyncRead + Unpin) {
        if let Err(e) = tokio::io::copy(&mut input, &mut self.file).await {
            tracing::debug!("stdin copy ended: {e}");
        }
        let _ = self.file.flush().await;
        self.wait_for_reader().await;
    }

    /// Returns once the container has started (its monitor opens the read end before it reports the start), or
    /// went away without starting.
    async fn wait_for_reader(&mut self) {
        loop {
            if self.containers.awaits_start(&self.id) != Some(true) {
                return;
            }
            match self.events.recv().await {
                Ok(ev) if ev.id == self.id && matches!(ev.action, Action::Destroy) => return,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}
