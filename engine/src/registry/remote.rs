//! What a registry holds under a name, without pulling it (`GET /distribution/{name}/json`): the top
//! manifest's descriptor and the platforms it offers.

use super::client::Endpoint;
use super::manifest::{self, Manifest, PlatformSpec, OCI_INDEX, OCI_MANIFEST};
use super::{PullRequest, Registry};
use crate::error::{EngineError, Result};
use serde::Serialize;

/// dockerd's `DistributionInspect` document.
#[derive(Debug, Clone, Serialize)]
pub struct RemoteImage {
    /// The manifest (or index) the name points at.
    #[serde(rename = "Descriptor")]
    pub descriptor: RemoteDescriptor,
    /// Platforms it offers (an index's entries, or a single manifest's config).
    #[serde(rename = "Platforms")]
    pub platforms: Vec<PlatformSpec>,
}

/// An OCI descriptor as dockerd writes it here.
#[derive(Debug, Clone, Serialize)]
pub struct RemoteDescriptor {
    /// Media type of the top manifest.
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// `sha256:<hex>` of its bytes.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
}

impl Registry {
    /// Looks `req`'s reference up at its registry (mirrors first for Docker Hub); nothing is stored.
    #[tracing::instrument(skip(self), fields(image = %req.reference), err(level = "debug"))]
    pub async fn inspect_remote(&self, req: &PullRequest) -> Result<RemoteImage> {
        let mut last = None;
        for ep in self.endpoints(req) {
            match self.inspect_at(&ep, req).await {
                Ok(found) => return Ok(found),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| EngineError::Internal("no registry endpoint".into())))
    }

    async fn inspect_at(&self, ep: &Endpoint, req: &PullRequest) -> Result<RemoteImage> {
        let what = format!("manifest for {}", req.reference);
        let body = self.top_manifest(ep, &req.reference, &what).await?;
        let parsed = manifest::parse(&body, &what)?;
        let platforms = match &parsed {
            Manifest::Index(entries) => entries.iter().filter_map(|d| d.platform.clone()).collect(),
            Manifest::Image(m) => {
                let config = self.fetch_config(ep, m).await?;
                config_platform(&config).into_iter().collect()
            }
        };
        Ok(RemoteImage {
            descriptor: RemoteDescriptor {
                media_type: media_type_of(&body, &parsed),
                digest: manifest::sha256(&body),
                size: body.len() as u64,
            },
            platforms,
        })
    }
}

/// The media type a manifest declares, or the one its shape implies (OCI manifests may leave it out).
fn media_type_of(body: &[u8], parsed: &Manifest) -> String {
    let declared = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("mediaType").and_then(|m| m.as_str()).map(str::to_owned));
    declared.unwrap_or_else(|| {
        match parsed {
            Manifest::Index(_) => OCI_INDEX,
            Manifest::Image(_) => OCI_MANIFEST,
        }
        .to_owned()
    })
}

/// The platform an image config names (`os`, `architecture`, `variant`).
fn config_platform(config: &[u8]) -> Option<PlatformSpec> {
    serde_json::from_slice(config).ok()
}
