//! Layer downloads: streamed through sha256 into a partial file and, at the same time, into the layer
//! unpacker; resumed from the partial file with an HTTP range after an interruption; shared between
//! concurrent pulls (one download per digest). Completed, verified blobs wait in `<root>/pulls/blobs`
//! until an image that uses them is committed (then they move into the blob store).

use super::client::{registry_error, Endpoint};
use super::manifest::Descriptor;
use super::progress::{short, Progress};
use crate::error::{EngineError, IoContext, Result};
use crate::images::blobs::digest_hex;
use crate::images::ImageStore;
use crate::state::LayerRecord;
use bytes::Bytes;
use futures::future::{BoxFuture, FutureExt, Shared};
use futures::StreamExt;
use oci_client::client::BlobResponse;
use oci_client::manifest::OciDescriptor;
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, watch, Semaphore};

/// Layers downloaded at once per engine (dockerd's default).
const MAX_CONCURRENT: usize = 3;

/// State of one layer job, watched by every pull waiting for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerState {
    /// Queued behind other downloads.
    Waiting,
    /// Bytes received so far.
    Downloading { current: u64, total: u64 },
    /// Download done, unpacking finishing.
    Extracting,
}

type JobResult = std::result::Result<LayerRecord, Arc<String>>;

#[derive(Clone)]
struct Job {
    state: watch::Receiver<LayerState>,
    done: Shared<BoxFuture<'static, JobResult>>,
}

/// The download area of one engine and the in-flight map.
pub struct Downloads {
    partial: PathBuf,
    complete: PathBuf,
    store: Arc<ImageStore>,
    inflight: Mutex<HashMap<String, Job>>,
    slots: Arc<Semaphore>,
}

impl Downloads {
    /// Opens (creating) `<root>/pulls`.
    pub fn open(root: &Path, store: Arc<ImageStore>) -> Result<Arc<Self>> {
        let partial = root.join("pulls").join("partial");
        let complete = root.join("pulls").join("blobs");
        for d in [&partial, &complete] {
            std::fs::create_dir_all(d).ctx(|| format!("creating {}", d.display()))?;
        }
        Ok(Arc::new(Downloads {
            partial,
            complete,
            store,
            inflight: Mutex::new(HashMap::new()),
            slots: Arc::new(Semaphore::new(MAX_CONCURRENT)),
        }))
    }

    fn complete_path(&self, digest: &str) -> Result<PathBuf> {
        Ok(self.complete.join(digest_hex(digest)?))
    }

    fn have_blob(&self, digest: &str) -> bool {
        self.store.blobs().contains(digest) || self.complete_path(digest).map(|p| p.is_file()).unwrap_or(false)
    }

    /// Makes layer `desc` (with uncompressed digest `diff_id`) present: unpacked, its blob downloaded and
    /// verified. Reports progress under the layer's short id.
    pub async fn layer(
        self: &Arc<Self>,
        ep: &Endpoint,
        desc: &Descriptor,
        diff_id: &str,
        progress: &Progress,
    ) -> Result<LayerRecord> {
        let id = short(&desc.digest);
        let unpacked = self.store.layer_dir(diff_id)?.is_dir();
        if unpacked && self.have_blob(&desc.digest) {
            progress.layer(&id, "Already exists");
            let store = self.store.clone();
            let (blob, diff) = (desc.digest.clone(), diff_id.to_owned());
            return blocking(move || store.ensure_layer(&blob, Some(&diff))).await;
        }
        let job = self.job(ep, desc, diff_id);
        let mut state = job.state.clone();
        let mut done = job.done.clone();
        let mut last = None;
        loop {
            let s = state.borrow_and_update().clone();
            if last.as_ref() != Some(&s) {
                match &s {
                    LayerState::Waiting => progress.layer(&id, "Waiting"),
                    LayerState::Downloading { current, total } => progress.bytes(&id, "Downloading", *current, *total),
                    LayerState::Extracting => {
                        progress.layer(&id, "Verifying Checksum");
                        progress.layer(&id, "Download complete");
                        progress.layer(&id, "Extracting");
                    }
                }
                last = Some(s);
            }
            let finished = tokio::select! {
                r = &mut done => Some(r),
                // An error means the job ended: `done` is ready.
                c = state.changed() => if c.is_err() { Some((&mut done).await) } else { None },
            };
            if let Some(r) = finished {
                let rec = r.map_err(|e| EngineError::BadRequest(e.to_string()))?;
                progress.layer(&id, "Pull complete");
                return Ok(rec);
            }
        }
    }

    /// The running job for this blob, or a new one.
    fn job(self: &Arc<Self>, ep: &Endpoint, desc: &Descriptor, diff_id: &str) -> Job {
        let mut map = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(j) = map.get(&desc.digest) {
            return j.clone();
        }
        let (tx, rx) = watch::channel(LayerState::Waiting);
        let this = self.clone();
        let (ep, desc2, diff) = (ep.clone(), desc.clone(), diff_id.to_owned());
        let task = tokio::spawn(async move {
            let r = this
                .run(&ep, &desc2, &diff, &tx)
                .await
                .map_err(|e| Arc::new(e.to_string()));
            this.inflight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&desc2.digest);
            r
        });
        let done = async move {
            task.await
                .unwrap_or_else(|e| Err(Arc::new(format!("layer download task failed: {e}"))))
        }
        .boxed()
        .shared();
        let job = Job { state: rx, done };
        map.insert(desc.digest.clone(), job.clone());
        job
    }

    #[tracing::instrument(skip(self, ep, tx), fields(blob = %desc.digest), err(level = "debug"))]
    async fn run(
        &self,
        ep: &Endpoint,
        desc: &Descriptor,
        diff_id: &str,
        tx: &watch::Sender<LayerState>,
    ) -> Result<LayerRecord> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|e| EngineError::internal("download slots", e))?;
        let complete = self.complete_path(&desc.digest)?;
        let store = self.store.clone();
        let (blob, diff) = (desc.digest.clone(), diff_id.to_owned());
        if self.have_blob(&desc.digest) {
            // Finished by an earlier (interrupted) pull: only unpack.
            let _ = tx.send(LayerState::Extracting);
            return blocking(move || {
                let _ingest = store.ingest_guard();
                match std::fs::File::open(&complete) {
                    Ok(f) => store.ensure_layer_from(f, &blob, Some(&diff)),
                    Err(_) => store.ensure_layer(&blob, Some(&diff)),
                }
            })
            .await;
        }
        let unpack_needed = !self.store.layer_dir(diff_id)?.is_dir();
        self.download(ep, desc, diff_id, unpack_needed, tx).await
    }

    async fn download(
        &self,
        ep: &Endpoint,
        desc: &Descriptor,
        diff_id: &str,
        unpack_needed: bool,
        tx: &watch::Sender<LayerState>,
    ) -> Result<LayerRecord> {
        let partial = self.partial.join(digest_hex(&desc.digest)?);
        let mut offset = tokio::fs::metadata(&partial).await.map(|m| m.len()).unwrap_or(0);
        if offset > desc.size {
            offset = 0;
        }
        let oci_desc = OciDescriptor {
            digest: desc.digest.clone(),
            size: desc.size as i64,
            media_type: desc.media_type.clone(),
            ..Default::default()
        };
        let what = format!("downloading blob {}", desc.digest);
        let reference = ep.digested(&desc.digest);
        ep.client
            .store_auth_if_needed(ep.reference.resolve_registry(), &ep.auth)
            .await;
        let resp = ep
            .client
            .pull_blob_stream_partial(&reference, &oci_desc, offset, None)
            .await
            .map_err(|e| registry_error(&what, &ep.host, e))?;
        let stream = match resp {
            BlobResponse::Full(s) => {
                offset = 0;
                s
            }
            BlobResponse::Partial(s) => s,
        };
        tracing::debug!(offset, "blob download starts");
        let mut hasher = Sha256::new();
        if offset > 0 {
            hasher = hash_prefix(&partial, offset, hasher).await?;
        }
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(offset == 0)
            .open(&partial)
            .await
            .ctx(|| format!("opening {}", partial.display()))?;
        if offset > 0 {
            file.set_len(offset)
                .await
                .ctx(|| format!("truncating {}", partial.display()))?;
            tokio::io::AsyncSeekExt::seek(&mut file, std::io::SeekFrom::Start(offset))
                .await
                .ctx(|| format!("seeking {}", partial.display()))?;
        }
        let (chunks, unpacker) = if unpack_needed {
            let (ctx, crx) = mpsc::channel::<std::result::Result<Bytes, String>>(32);
            let prefix = std::fs::File::open(&partial)
                .ctx(|| format!("opening {}", partial.display()))?
                .take(offset);
            let store = self.store.clone();
            let (blob, diff) = (desc.digest.clone(), diff_id.to_owned());
            let handle = tokio::task::spawn_blocking(move || {
                let _ingest = store.ingest_guard();
                store.ensure_layer_from(prefix.chain(ChannelReader::new(crx)), &blob, Some(&diff))
            });
            (Some(ctx), Some(handle))
        } else {
            (None, None)
        };
        let result = self
            .receive(stream, &mut file, &mut hasher, offset, desc, chunks.as_ref(), tx)
            .await;
        drop(file);
        let outcome = result.and_then(|_| {
            let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
            if actual != desc.digest {
                let _ = std::fs::remove_file(&partial);
                return Err(EngineError::BadRequest(format!(
                    "blob {} from {} failed verification: its content hashes to {actual}; refusing it (nothing was stored)",
                    desc.digest, ep.host
                )));
            }
            Ok(())
        });
        if let (Err(e), Some(c)) = (&outcome, &chunks) {
            let _ = c.send(Err(e.to_string())).await;
        }
        drop(chunks);
        let _ = tx.send(LayerState::Extracting);
        let unpacked = match unpacker {
            Some(h) => Some(h.await.map_err(|e| EngineError::internal("unpacking a layer", e))),
            None => None,
        };
        outcome?;
        let complete = self.complete_path(&desc.digest)?;
        tokio::fs::rename(&partial, &complete)
            .await
            .ctx(|| format!("moving {} into place", partial.display()))?;
        match unpacked {
            Some(r) => r?,
            None => {
                let store = self.store.clone();
                let (blob, diff) = (desc.digest.clone(), diff_id.to_owned());
                blocking(move || {
                    store.ensure_layer_from(
                        std::fs::File::open(&complete).ctx(|| "opening a downloaded blob".into())?,
                        &blob,
                        Some(&diff),
                    )
                })
                .await
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn receive(
        &self,
        mut stream: oci_client::client::SizedStream,
        file: &mut tokio::fs::File,
        hasher: &mut Sha256,
        offset: u64,
        desc: &Descriptor,
        chunks: Option<&mpsc::Sender<std::result::Result<Bytes, String>>>,
        tx: &watch::Sender<LayerState>,
    ) -> Result<()> {
        let mut current = offset;
        let mut reported = 0u64;
        let _ = tx.send(LayerState::Downloading {
            current,
            total: desc.size,
        });
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| EngineError::Internal(format!("downloading blob {}: {e}", desc.digest)))?;
            current += chunk.len() as u64;
            if current > desc.size {
                return Err(EngineError::BadRequest(format!(
                    "blob {} is larger than the {} bytes its manifest says; refusing it",
                    desc.digest, desc.size
                )));
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await.ctx(|| "writing a partial blob".into())?;
            if let Some(c) = chunks {
                // The unpacker ending early (a bad tar) shows up as its own error below.
                let _ = c.send(Ok(chunk)).await;
            }
            if current - reported >= 512 * 1024 || current == desc.size {
                reported = current;
                let _ = tx.send(LayerState::Downloading {
                    current,
                    total: desc.size,
                });
            }
        }
        file.flush().await.ctx(|| "writing a partial blob".into())?;
        if current != desc.size {
            return Err(EngineError::Internal(format!(
                "downloading blob {}: connection ended after {current} of {} bytes",
                desc.digest, desc.size
            )));
        }
        Ok(())
    }

    /// Moves a verified downloaded blob into the blob store (no-op when it is there already).
    pub fn adopt(&self, digest: &str) -> Result<()> {
        if self.store.blobs().contains(digest) {
            let _ = std::fs::remove_file(self.complete_path(digest)?);
            return Ok(());
        }
        let src = self.complete_path(digest)?;
        let dst = self.store.blobs().path(digest)?;
        match std::fs::rename(&src, &dst) {
            Ok(()) => Ok(()),
            Err(_) if dst.is_file() => Ok(()),
            Err(e) => Err(EngineError::internal(format!("moving blob {digest} into the store"), e)),
        }
    }

    /// Removes finished and partial downloads no pull is using (for `image prune`).
    pub fn clear_idle(&self) -> Result<u64> {
        let busy: Vec<String> = self
            .inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        let mut freed = 0;
        for dir in [&self.partial, &self.complete] {
            for e in std::fs::read_dir(dir)
                .ctx(|| format!("listing {}", dir.display()))?
                .flatten()
            {
                let name = format!("sha256:{}", e.file_name().to_string_lossy());
                if !busy.contains(&name) {
                    freed += e.metadata().map(|m| m.len()).unwrap_or(0);
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        Ok(freed)
    }
}

/// Hashes the first `len` bytes of a partial file (resuming a download).
async fn hash_prefix(path: &Path, len: u64, mut hasher: Sha256) -> Result<Sha256> {
    let path = path.to_owned();
    blocking(move || {
        let mut f = std::fs::File::open(&path)
            .ctx(|| format!("opening {}", path.display()))?
            .take(len);
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf).ctx(|| format!("reading {}", path.display()))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok(hasher)
    })
    .await
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| EngineError::internal("a blocking task", e))?
}

/// A blocking reader over chunks sent from the download task; an `Err` chunk fails the read.
struct ChannelReader {
    rx: mpsc::Receiver<std::result::Result<Bytes, String>>,
    cur: Bytes,
}

impl ChannelReader {
    fn new(rx: mpsc::Receiver<std::result::Result<Bytes, String>>) -> Self {
        ChannelReader { rx, cur: Bytes::new() }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.cur = b,
                Some(Err(e)) => return Err(std::io::Error::other(e)),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur.split_to(n));
        Ok(n)
    }
}
