//! The image config blob (Docker / OCI image config JSON), with the runtime part typed by bollard's model.

use bollard::models::ImageConfig;
use serde::{Deserialize, Serialize};

/// An image's config file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfigFile {
    /// CPU architecture (`amd64`).
    #[serde(default)]
    pub architecture: String,
    /// Operating system (`linux`).
    #[serde(default)]
    pub os: String,
    /// Architecture variant (`v8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// RFC 3339 creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// The commit message (`docker commit -m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The Docker version that built the image (`DockerVersion` of image inspect); absent in OCI images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_version: Option<String>,
    /// Defaults for containers (Cmd, Entrypoint, Env, ...).
    #[serde(default)]
    pub config: ImageConfig,
    /// Layer diff ids, bottom-most first.
    pub rootfs: RootFs,
    /// One entry per instruction that made the image, empty-layer ones included.
    #[serde(default)]
    pub history: Vec<History>,
}

/// One history entry of an image config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// RFC 3339 time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The instruction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// No layer for this entry.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

/// The rootfs section of an image config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type")]
    pub typ: String,
    /// Diff ids (`sha256:` of each uncompressed layer tar).
    pub diff_ids: Vec<String>,
}

impl ImageConfigFile {
    /// Parses and checks a config blob.
    pub fn parse(data: &[u8]) -> Result<Self, String> {
        let cfg: ImageConfigFile =
            serde_json::from_slice(data).map_err(|e| format!("not a valid image config: {e}"))?;
        if cfg.rootfs.typ != "layers" {
            return Err(format!("rootfs.type is {:?}, expected \"layers\"", cfg.rootfs.typ));
        }
        for d in &cfg.rootfs.diff_ids {
            imageref::parse_digest(d).map_err(|e| format!("rootfs.diff_ids: {e}"))?;
        }
        Ok(cfg)
    }
}
