//! Registry manifests: Docker schema2 and OCI image manifests, manifest lists / OCI indexes, and picking
//! the manifest for a platform.

use crate::error::{EngineError, Result};
use imageref::reference::parse_digest;
use serde::{Deserialize, Serialize};

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker schema2 manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker gzip layer.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// OCI layer media types by compression.
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI gzip layer.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI zstd layer.
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// Everything berth asks a registry for.
pub const ACCEPT: &[&str] = &[OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST];

/// Layer media types berth unpacks (compression is detected from the content).
const LAYER_TYPES: &[&str] = &[
    DOCKER_LAYER_GZIP,
    "application/vnd.docker.image.rootfs.diff.tar",
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_LAYER_ZSTD,
];

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    /// Media type.
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
    /// Platform (index entries only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<PlatformSpec>,
}

/// A platform as written in an index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformSpec {
    /// CPU architecture.
    pub architecture: String,
    /// Operating system.
    pub os: String,
    /// Variant (`v8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// An image manifest (either format).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageManifest {
    /// Always 2.
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    /// Media type (absent in some OCI manifests).
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// Layer blobs, bottom-most first.
    pub layers: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct Index {
    manifests: Vec<Descriptor>,
}

/// A fetched manifest: an index to choose from, or an image manifest.
#[derive(Debug)]
pub enum Manifest {
    /// Manifest list / OCI index entries.
    Index(Vec<Descriptor>),
    /// One image.
    Image(ImageManifest),
}

/// The platform to pull: `os/arch[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// Operating system.
    pub os: String,
    /// Architecture (OCI spelling).
    pub architecture: String,
    /// Variant, when asked for.
    pub variant: Option<String>,
}

impl Platform {
    /// This machine's platform (linux/amd64 here).
    pub fn host() -> Self {
        Platform {
            os: "linux".into(),
            architecture: crate::images::load::host_arch().into(),
            variant: None,
        }
    }

    /// Parses Docker's `--platform` value (`linux/amd64`, `linux/arm64/v8`); empty means the host.
    pub fn parse(s: &str) -> Result<Self> {
        if s.trim().is_empty() {
            return Ok(Self::host());
        }
        let parts: Vec<&str> = s.trim().split('/').collect();
        let bad = || EngineError::BadRequest(format!("platform {s:?}: expected os/arch[/variant], e.g. linux/amd64"));
        if parts.len() < 2 || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        let arch = match parts[1].to_ascii_lowercase().as_str() {
            "x86_64" | "x86-64" => "amd64".to_owned(),
            "aarch64" => "arm64".to_owned(),
            a => a.to_owned(),
        };
        Ok(Platform {
            os: parts[0].to_ascii_lowercase(),
            architecture: arch,
            variant: parts.get(2).map(|v| v.to_string()),
        })
    }

    fn matches(&self, p: &PlatformSpec) -> bool {
        p.os == self.os && p.architecture == self.architecture && (self.variant.is_none() || p.variant == self.variant)
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// Parses a manifest body; `what` names it in errors.
pub fn parse(body: &[u8], what: &str) -> Result<Manifest> {
    let bad = |why: String| EngineError::BadRequest(format!("{what}: {why}"));
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| bad(format!("not JSON: {e}")))?;
    let media = v.get("mediaType").and_then(|m| m.as_str()).unwrap_or("");
    if v.get("schemaVersion").and_then(|s| s.as_u64()) == Some(1) {
        return Err(bad(
            "Docker schema1 manifests are deprecated and not supported; push the image again with a current client"
                .into(),
        ));
    }
    if v.get("manifests").is_some() || media == OCI_INDEX || media == DOCKER_LIST {
        let idx: Index = serde_json::from_value(v).map_err(|e| bad(format!("not a valid index: {e}")))?;
        for d in &idx.manifests {
            parse_digest(&d.digest).map_err(bad)?;
        }
        return Ok(Manifest::Index(idx.manifests));
    }
    let m: ImageManifest = serde_json::from_value(v).map_err(|e| bad(format!("not a valid image manifest: {e}")))?;
    if m.schema_version != 2 {
        return Err(bad(format!(
            "schemaVersion {} is not supported (expected 2)",
            m.schema_version
        )));
    }
    parse_digest(&m.config.digest).map_err(bad)?;
    for l in &m.layers {
        parse_digest(&l.digest).map_err(bad)?;
        if !LAYER_TYPES.contains(&l.media_type.as_str()) {
            return Err(bad(format!(
                "layer {} has media type {:?}; berth unpacks only tar layers (plain, gzip or zstd)",
                l.digest, l.media_type
            )));
        }
    }
    Ok(Manifest::Image(m))
}

/// Picks the index entry for `want`, or says which platforms there are.
pub fn select<'a>(entries: &'a [Descriptor], want: &Platform, what: &str) -> Result<&'a Descriptor> {
    entries
        .iter()
        .find(|d| d.platform.as_ref().is_some_and(|p| want.matches(p)))
        .ok_or_else(|| {
            let have: Vec<String> = entries
                .iter()
                .filter_map(|d| d.platform.as_ref())
                .map(|p| {
                    format!(
                        "{}/{}{}",
                        p.os,
                        p.architecture,
                        p.variant.as_ref().map(|v| format!("/{v}")).unwrap_or_default()
                    )
                })
                .collect();
            EngineError::NotFound(format!(
                "{what}: no matching manifest for {want} in the manifest list entries (has: {})",
                have.join(", ")
            ))
        })
}

/// `sha256:<hex>` of some bytes.
pub fn sha256(data: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    #[test]
    fn picks_platform_from_index() {
        let body = serde_json::json!({"schemaVersion":2,"mediaType":OCI_INDEX,"manifests":[
            {"mediaType":OCI_MANIFEST,"digest":d('a'),"size":1,"platform":{"architecture":"arm64","os":"linux","variant":"v8"}},
            {"mediaType":OCI_MANIFEST,"digest":d('b'),"size":1,"platform":{"architecture":"amd64","os":"linux"}}]});
        let Manifest::Index(e) = parse(body.to_string().as_bytes(), "x").unwrap() else {
            panic!("not an index")
        };
        assert_eq!(
            select(&e, &Platform::parse("linux/amd64").unwrap(), "x")
                .unwrap()
                .digest,
            d('b')
        );
        assert_eq!(
            select(&e, &Platform::parse("linux/arm64/v8").unwrap(), "x")
                .unwrap()
                .digest,
            d('a')
        );
        let err = select(&e, &Platform::parse("linux/s390x").unwrap(), "x")
            .unwrap_err()
            .to_string();
        assert!(err.contains("linux/arm64/v8, linux/amd64"), "{err}");
        assert!(Platform::parse("linux").is_err());
    }

    #[test]
    fn refuses_odd_manifests() {
        assert!(parse(br#"{"schemaVersion":1,"fsLayers":[]}"#, "m")
            .unwrap_err()
            .to_string()
            .contains("schema1"));
        let foreign = serde_json::json!({"schemaVersion":2,"config":{"mediaType":DOCKER_CONFIG,"digest":d('c'),"size":1},
            "layers":[{"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip","digest":d('e'),"size":1}]});
        assert!(parse(foreign.to_string().as_bytes(), "m")
            .unwrap_err()
            .to_string()
            .contains("media type"));
        let bad = serde_json::json!({"schemaVersion":2,"config":{"mediaType":DOCKER_CONFIG,"digest":"sha256:../x","size":1},"layers":[]});
        assert!(parse(bad.to_string().as_bytes(), "m").is_err());
    }
}
