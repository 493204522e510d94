//! `docker import`: an image of one layer made from a root filesystem tarball (plain, gzip or zstd), with a
//! config of the host's platform and the given `changes`.

use super::config::{History, ImageConfigFile, RootFs};
use super::{ImageRef, ImageStore};
use crate::error::{EngineError, Result};
use crate::state::ImageRecord;
use bollard::models::ImageConfig;
use std::io::Read;

/// What an import makes.
#[derive(Debug, Clone, Default)]
pub struct ImportRequest {
    /// Dockerfile instructions applied to the config (see [`super::changes`]).
    pub changes: Vec<String>,
    /// Commit message, kept as the config's history comment.
    pub message: String,
    /// `os/arch` (empty: the host's).
    pub platform: String,
    /// Tag to give the image.
    pub tag: Option<ImageRef>,
}

impl ImageStore {
    /// Stores `src` as the single layer of a new image.
    #[tracing::instrument(skip(self, src), err(level = "debug"))]
    pub fn import(&self, src: &mut dyn Read, req: &ImportRequest) -> Result<ImageRecord> {
        let _ingest = self.ingest_guard();
        let blob = self.blobs().put(src, None)?;
        let layer = self
            .ensure_layer(&blob.digest, None)
            .map_err(|e| EngineError::BadRequest(format!("importing: the archive is not a tar stream: {e}")))?;
        let mut config = ImageConfig::default();
        super::changes::apply(&mut config, &req.changes)?;
        let (os, arch) = platform(&req.platform)?;
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let file = ImageConfigFile {
            architecture: arch,
            os,
            variant: None,
            created: Some(now.clone()),
            author: None,
            comment: None,
            docker_version: Some(env!("CARGO_PKG_VERSION").into()),
            config,
            rootfs: RootFs {
                typ: "layers".into(),
                diff_ids: vec![layer.diff_id.clone()],
            },
            history: vec![History {
                created: Some(now),
                created_by: Some(String::new()),
                comment: Some(req.message.clone()),
                ..History::default()
            }],
        };
        let bytes = serde_json::to_vec(&file).map_err(|e| EngineError::internal("image config", e))?;
        let config_blob = self.blobs().put_bytes(&bytes, None)?;
        let tags: Vec<ImageRef> = req.tag.iter().cloned().collect();
        self.commit_image(&config_blob.digest, vec![layer], &tags)
    }
}

/// `os[/arch]`, the host's by default; only the host's can run here.
fn platform(p: &str) -> Result<(String, String)> {
    let host = super::load::host_arch();
    let mut parts = p.split('/').filter(|s| !s.is_empty());
    let os = parts.next().unwrap_or("linux");
    let arch = parts.next().unwrap_or(host);
    if os != "linux" {
        return Err(EngineError::BadRequest(format!(
            "platform {p:?}: only linux images can be imported"
        )));
    }
    Ok((os.to_owned(), arch.to_owned()))
}
