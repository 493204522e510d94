//! Dockerfile builds in the engine with the classic builder's semantics (no BuildKit): the context unpacked once,
//! `.dockerignore` applied, the Dockerfile parsed, stages the target needs evaluated in order, one committed image
//! per step (its cache entry), RUN in build containers, COPY/ADD/WORKDIR on step mounts, layers diffed from
//! overlay upper directories.

mod archive;
mod cache;
mod cache_from;
mod commit;
mod compress;
mod context;
mod copy;
mod diff;
mod dockerfile;
mod ext;
pub(crate) mod fetch;
mod gofmt;
use dockerignore as ignore;
mod image;
mod lines;
mod meta;
mod mount;
mod paths;
pub mod remote;
mod run;
mod run_mount;
mod stage;
mod sync;
mod unpack;
mod words;

pub use crate::images::config::{History, ImageConfigFile};
pub use commit::{commit, container_changes, CommitOptions};
pub use diff::{changes, Change};
pub use image::{layer_from_upper, ImageState};
pub use mount::recover;
pub use run::BUILD_LABEL;

use crate::engine::Engine;
use crate::images::ImageRef;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::mpsc;

/// `POST /build` options (query parameters, parsed at the API edge).
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// `remote`: a git repository or URL the context comes from instead of the request body.
    pub remote: Option<String>,
    /// Dockerfile path inside the context.
    pub dockerfile: String,
    /// Tags for the result.
    pub tags: Vec<ImageRef>,
    /// `--build-arg` values (None: take it from the engine's environment, as Docker does for `--build-arg K`).
    pub build_args: HashMap<String, Option<String>>,
    /// `--label`s.
    pub labels: HashMap<String, String>,
    /// Stage to stop at.
    pub target: Option<String>,
    /// Ignore the cache.
    pub no_cache: bool,
    /// Only the final id.
    pub quiet: bool,
    /// Network mode for RUN.
    pub network_mode: Option<String>,
    /// `--add-host`s for RUN.
    pub extra_hosts: Vec<String>,
    /// /dev/shm size for RUN.
    pub shm_size: Option<i64>,
    /// Memory limit for RUN.
    pub memory: Option<i64>,
    /// Memory+swap limit for RUN.
    pub memory_swap: Option<i64>,
    /// CPU shares for RUN.
    pub cpu_shares: Option<i64>,
    /// CPU CFS period for RUN.
    pub cpu_period: Option<i64>,
    /// CPU CFS quota for RUN.
    pub cpu_quota: Option<i64>,
    /// CPUs for RUN.
    pub cpuset_cpus: Option<String>,
    /// Target platform (only this machine's).
    pub platform: Option<String>,
    /// Images whose steps may be reused (local only).
    pub cache_from: Vec<String>,
}

/// A progress message of a build.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// Text for the client's output.
    Stream(String),
    /// The built image's id.
    Aux(String),
}

/// Where a stage's progress goes: its own channel (unbounded, so a stage never waits for the stages before it
/// to be shown), and whether the build is quiet.
#[derive(Debug, Clone)]
pub(crate) struct Out {
    tx: mpsc::UnboundedSender<Progress>,
    quiet: bool,
}

impl Out {
    pub(crate) fn new(tx: mpsc::UnboundedSender<Progress>, quiet: bool) -> Self {
        Out { tx, quiet }
    }

    /// Text for the client (nothing when quiet).
    pub(crate) fn say(&self, s: impl Into<String>) {
        if !self.quiet {
            let _ = self.tx.send(Progress::Stream(s.into()));
        }
    }
}

/// Where a build keeps its scratch files (removed at the next engine start).
pub(crate) fn tmp_dir(root: &Path) -> PathBuf {
    root.join("build").join("tmp")
}

/// A build's context made ready (unpacked, synced, Dockerfile parsed), and its scratch directory.
pub struct Prepared {
    work: PathBuf,
    result: Result<(dockerfile::Dockerfile, ext::Extensions), String>,
}

pub use context::PrepareError;
pub use sync::SyncError;

/// Unpacks the context `body` (a tar, possibly compressed, or a bare Dockerfile; read in a blocking task as it
/// arrives) and reads the Dockerfile. A refused context sync is the error (the API answers it with a status); any
/// other failure is kept for `run` to report as the build's error, as the classic builder streams it.
pub async fn prepare(
    engine: &Engine,
    opts: &BuildOptions,
    body: Box<dyn std::io::Read + Send>,
) -> Result<Prepared, PrepareError> {
    let root = engine.config.root.clone();
    let work = tmp_dir(&root).join(format!("{:016x}", rand::random::<u64>()));
    let ctx_dir = work.join("context");
    let df_name = opts.dockerfile.clone();
    let (w, ext_dir) = (work.clone(), work.join("ext"));
    let prepared = tokio::task::spawn_blocking(move || {
        let r = context::prepare(&root, body, &ctx_dir, &df_name, &ext_dir);
        if matches!(r, Err(PrepareError::Sync(_))) {
            let _ = std::fs::remove_dir_all(&w);
        }
        r
    })
    .await
    .map_err(|e| PrepareError::Build(format!("preparing the build context: {e}")))?;
    let result = match prepared {
        Ok(p) => Ok(p),
        Err(PrepareError::Build(e)) => Err(e),
        Err(e) => return Err(e),
    };
    Ok(Prepared { work, result })
}

/// Builds a prepared context; streams progress to `tx`; returns the image id. Errors are the message the client
/// shows. The scratch directory goes whatever happens (just after).
pub async fn run(
    engine: Arc<Engine>,
    opts: BuildOptions,
    prepared: Prepared,
    tx: mpsc::Sender<Progress>,
) -> Result<String, String> {
    let Prepared { work, result } = prepared;
    let result = match result {
        Ok((df, ext)) => {
            stage::Builder::new(engine, opts, work.join("context"), df, ext, tx)
                .run()
                .await
        }
        Err(e) => Err(e),
    };
    // Removed after the answer (unlinking a large context takes a while); the next engine start clears leftovers.
    tokio::task::spawn_blocking(move || std::fs::remove_dir_all(&work));
    result
}

/// Drops a prepared context that will not be built.
pub async fn discard(prepared: Prepared) {
    let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(&prepared.work)).await;
}

/// Forgets the build cache (`POST /build/prune`); returns how many entries went.
pub fn prune(root: &Path) -> u64 {
    sync::prune(root);
    cache::Cache::open(root).clear()
}
