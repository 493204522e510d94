//! Images as the builder makes them: the full config file (with history), one committed image per step, layers
//! made from an upper directory and stored like pulled ones.

use crate::error::{EngineError, IoContext, Result};
use crate::images::config::{History, ImageConfigFile, RootFs};
use crate::images::ImageStore;
use crate::state::LayerRecord;
use bollard::models::ImageConfig;
use std::path::{Path, PathBuf};

/// Docker's default PATH, set for `FROM scratch`.
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A build state: the image so far (None id for scratch before any step).
#[derive(Debug, Clone)]
pub struct ImageState {
    /// Image id once committed.
    pub id: Option<String>,
    /// Its config.
    pub file: ImageConfigFile,
    /// Its layers, bottom-most first.
    pub layers: Vec<LayerRecord>,
}

impl ImageState {
    /// The empty image of `FROM scratch`.
    pub fn scratch() -> Self {
        ImageState {
            id: None,
            file: ImageConfigFile {
                architecture: crate::images::load::host_arch().into(),
                os: "linux".into(),
                config: ImageConfig {
                    env: Some(vec![DEFAULT_PATH.into()]),
                    ..Default::default()
                },
                rootfs: RootFs {
                    typ: "layers".into(),
                    diff_ids: Vec::new(),
                },
                ..Default::default()
            },
            layers: Vec::new(),
        }
    }

    /// A stored image.
    pub fn load(images: &ImageStore, id: &str) -> Result<Self> {
        let rec = images.resolve(id)?;
        let data = images.blobs().read_verified(&rec.id)?;
        let file = ImageConfigFile::parse(&data)
            .map_err(|e| EngineError::BadRequest(format!("image {}: unreadable config: {e}", rec.id)))?;
        Ok(ImageState {
            id: Some(rec.id),
            file,
            layers: rec.layers,
        })
    }

    /// Layer directories, top-most first (overlay lowerdir order).
    pub fn lower_dirs(&self, images: &ImageStore) -> Result<Vec<PathBuf>> {
        self.layers.iter().rev().map(|l| images.layer_dir(&l.diff_id)).collect()
    }

    /// Commits the next step: `config` as the new runtime config, the history `entry` (its time and empty_layer
    /// filled in), and `layer` when the step changed files.
    pub fn commit(
        &self,
        images: &ImageStore,
        config: ImageConfig,
        entry: History,
        layer: Option<LayerRecord>,
    ) -> Result<ImageState> {
        // An entry reused from a `cachefrom` image keeps its time, so the next steps still match that history.
        let now = entry
            .created
            .clone()
            .unwrap_or_else(|| chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true));
        let mut file = self.file.clone();
        file.config = config;
        file.created = Some(now.clone());
        // As dockerd stamps its own version on what it builds or commits (`DockerVersion`).
        file.docker_version = Some(env!("CARGO_PKG_VERSION").into());
        file.history.push(History {
            created: Some(now),
            empty_layer: layer.is_none(),
            ..entry
        });
        let mut layers = self.layers.clone();
        if let Some(l) = layer {
            file.rootfs.diff_ids.push(l.diff_id.clone());
            layers.push(l);
        }
        let data = serde_json::to_vec(&file).map_err(|e| EngineError::internal("encoding an image config", e))?;
        let _guard = images.ingest_guard();
        let put = images.blobs().put_bytes(&data, None)?;
        let rec = images.commit_child(&put.digest, layers.clone(), &[], self.id.clone())?;
        Ok(ImageState {
            id: Some(rec.id),
            file,
            layers,
        })
    }
}

/// Turns `upper` (lower layers `lowers`, top-most first) into a stored layer; None when nothing changed.
pub fn layer_from_upper(
    images: &ImageStore,
    tmp: &Path,
    upper: &Path,
    lowers: &[PathBuf],
) -> Result<Option<LayerRecord>> {
    let file = tempfile::NamedTempFile::new_in(tmp).ctx(|| format!("creating a layer file in {}", tmp.display()))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file.as_file());
    let n = super::diff::write_layer(upper, lowers, &mut out)
        .ctx(|| format!("reading the changes in {}", upper.display()))?;
    std::io::Write::flush(&mut out).ctx(|| "writing a layer".into())?;
    drop(out);
    if n == 0 {
        return Ok(None);
    }
    let _guard = images.ingest_guard();
    let mut f = std::fs::File::open(file.path()).ctx(|| "reading the layer back".into())?;
    let put = images.blobs().put(&mut f, None)?;
    let layer = images.ensure_layer(&put.digest, Some(&put.digest))?;
    Ok(Some(layer))
}
