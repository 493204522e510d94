//! Pulling an image: resolve the reference (mirrors first for Docker Hub), fetch and verify the manifest,
//! pick the platform from an index, fetch the config, download and unpack layers in parallel, commit.

use super::client::{registry_error, Endpoint};
use super::manifest::{self, ImageManifest, Manifest, Platform, ACCEPT};
use super::progress::{short, Progress};
use super::Registry;
use crate::error::{EngineError, Result};
use crate::images::config::ImageConfigFile;
use crate::images::ImageRef;
use crate::state::ImageRecord;
use imageref::credentials::Credentials;
use imageref::reference::DOCKER_HUB;

/// What to pull.
#[derive(Debug, Clone)]
pub struct PullRequest {
    /// The image.
    pub reference: ImageRef,
    /// Platform to pick from an index.
    pub platform: Platform,
    /// Credentials for the image's registry.
    pub credentials: Option<Credentials>,
}

/// A finished pull.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The stored image.
    pub image: ImageRecord,
    /// Digest of the manifest (or index) the reference resolved to.
    pub digest: String,
    /// Whether anything new was stored.
    pub updated: bool,
}

/// A manifest as fetched: body digest and parsed content.
struct Resolved {
    endpoint: Endpoint,
    top_digest: String,
    manifest: ImageManifest,
}

impl Registry {
    /// Pulls `req`, reporting Docker-style progress. On any failure nothing new is recorded in the store
    /// (verified blobs may stay in the download area for the next attempt).
    #[tracing::instrument(skip(self, progress), fields(image = %req.reference), err(level = "debug"))]
    pub async fn pull(&self, req: &PullRequest, progress: &Progress) -> Result<Pulled> {
        let r = &req.reference;
        let resolved = self.resolve(req).await?;
        let header_id = r.tag.clone().or_else(|| r.digest.clone()).unwrap_or_default();
        progress.header(&header_id, format!("Pulling from {}", r.familiar_name()));
        let m = &resolved.manifest;
        let config_bytes = self.fetch_config(&resolved.endpoint, m).await?;
        let config = ImageConfigFile::parse(&config_bytes)
            .map_err(|e| EngineError::BadRequest(format!("image config {} of {r}: {e}", m.config.digest)))?;
        if config.rootfs.diff_ids.len() != m.layers.len() {
            return Err(EngineError::BadRequest(format!(
                "image {r}: its config lists {} layers, its manifest {}",
                config.rootfs.diff_ids.len(),
                m.layers.len()
            )));
        }
        let existing = self.db.image(&m.config.digest)?;
        let layers = if existing.is_some() {
            None
        } else {
            for l in &m.layers {
                progress.layer(&short(&l.digest), "Pulling fs layer");
            }
            let jobs = m
                .layers
                .iter()
                .zip(&config.rootfs.diff_ids)
                .map(|(l, d)| self.downloads.layer(&resolved.endpoint, l, d, progress));
            Some(futures::future::try_join_all(jobs).await?)
        };
        let updated = layers.is_some();
        let image = self.commit(req, &resolved, &config_bytes, layers).await?;
        progress.status(format!("Digest: {}", resolved.top_digest));
        let name = r
            .familiar_tagged()
            .unwrap_or_else(|| format!("{}@{}", r.familiar_name(), resolved.top_digest));
        if updated {
            progress.status(format!("Status: Downloaded newer image for {name}"));
        } else {
            progress.status(format!("Status: Image is up to date for {name}"));
        }
        Ok(Pulled {
            image,
            digest: resolved.top_digest,
            updated,
        })
    }

    /// Mirrors (for Docker Hub) in order, then the registry itself.
    pub(super) fn endpoints(&self, req: &PullRequest) -> Vec<Endpoint> {
        let r = &req.reference;
        let mut out = Vec::new();
        if r.registry == DOCKER_HUB {
            for m in &self.settings.mirrors {
                out.push(Endpoint::new(&self.settings, r, &m.host, None));
            }
        }
        out.push(Endpoint::new(&self.settings, r, &r.registry, req.credentials.as_ref()));
        out
    }

    async fn resolve(&self, req: &PullRequest) -> Result<Resolved> {
        let mut last = None;
        for ep in self.endpoints(req) {
            match self.resolve_at(&ep, req).await {
                Ok(m) => return Ok(m),
                Err(e) => {
                    tracing::debug!(host = %ep.host, "manifest not available: {e}");
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| EngineError::Internal("no registry endpoint".into())))
    }

    /// The raw manifest (or index) `r` names at `ep`: by digest, else tag, else `latest`.
    pub(super) async fn top_manifest(&self, ep: &Endpoint, r: &ImageRef, what: &str) -> Result<Vec<u8>> {
        let reference = match (&r.digest, &r.tag) {
            (Some(d), _) => ep.digested(d),
            (None, Some(t)) => ep.tagged(t),
            (None, None) => ep.tagged("latest"),
        };
        let (body, _) = ep
            .client
            .pull_manifest_raw(&reference, &ep.auth, ACCEPT)
            .await
            .map_err(|e| registry_error(what, &ep.host, e))?;
        Ok(body.to_vec())
    }

    async fn resolve_at(&self, ep: &Endpoint, req: &PullRequest) -> Result<Resolved> {
        let r = &req.reference;
        let what = format!("manifest for {r}");
        let body = self.top_manifest(ep, r, &what).await?;
        let top_digest = manifest::sha256(&body);
        if let Some(want) = &r.digest {
            if *want != top_digest {
                return Err(EngineError::BadRequest(format!(
                    "{what}: content hashes to {top_digest}, not the requested digest"
                )));
            }
        }
        let manifest = match manifest::parse(&body, &what)? {
            Manifest::Image(m) => m,
            Manifest::Index(entries) => {
                let pick = manifest::select(&entries, &req.platform, &what)?;
                let what = format!("manifest {} ({}) of {r}", pick.digest, req.platform);
                let (body, _) = ep
                    .client
                    .pull_manifest_raw(&ep.digested(&pick.digest), &ep.auth, ACCEPT)
                    .await
                    .map_err(|e| registry_error(&what, &ep.host, e))?;
                if manifest::sha256(&body) != pick.digest {
                    return Err(EngineError::BadRequest(format!(
                        "{what}: content does not match its digest"
                    )));
                }
                match manifest::parse(&body, &what)? {
                    Manifest::Image(m) => m,
                    Manifest::Index(_) => {
                        return Err(EngineError::BadRequest(format!(
                            "{what}: an index inside an index is not supported"
                        )))
                    }
                }
            }
        };
        Ok(Resolved {
            endpoint: ep.clone(),
            top_digest,
            manifest,
        })
    }

    pub(super) async fn fetch_config(&self, ep: &Endpoint, m: &ImageManifest) -> Result<Vec<u8>> {
        let digest = &m.config.digest;
        if let Ok(data) = self.store.blobs().read_verified(digest) {
            return Ok(data);
        }
        if m.config.size > 16 << 20 {
            return Err(EngineError::BadRequest(format!(
                "image config {digest} is {} bytes; refusing configs over 16 MiB",
                m.config.size
            )));
        }
        let desc = oci_client::manifest::OciDescriptor {
            digest: digest.clone(),
            size: m.config.size as i64,
            ..Default::default()
        };
        let mut data = Vec::new();
        ep.client
            .pull_blob(&ep.digested(digest), &desc, &mut data)
            .await
            .map_err(|e| registry_error(&format!("image config {digest}"), &ep.host, e))?;
        if manifest::sha256(&data) != *digest {
            return Err(EngineError::BadRequest(format!(
                "image config {digest} failed verification; refusing it"
            )));
        }
        Ok(data)
    }

    async fn commit(
        &self,
        req: &PullRequest,
        resolved: &Resolved,
        config: &[u8],
        layers: Option<Vec<crate::state::LayerRecord>>,
    ) -> Result<ImageRecord> {
        let (store, db, downloads) = (self.store.clone(), self.db.clone(), self.downloads.clone());
        let r = req.reference.clone();
        let config = config.to_vec();
        let config_digest = resolved.manifest.config.digest.clone();
        let blobs: Vec<String> = resolved.manifest.layers.iter().map(|l| l.digest.clone()).collect();
        let repo_digest = format!("{}@{}", r.name(), resolved.top_digest);
        tokio::task::spawn_blocking(move || {
            let _ingest = store.ingest_guard();
            let tags: Vec<ImageRef> = r.tag.iter().map(|t| r.with_tag(t)).collect();
            let previous = db.image(&config_digest)?;
            let mut rec = match (layers, previous.clone()) {
                (Some(layers), _) => {
                    store.blobs().put_bytes(&config, Some(&config_digest))?;
                    for b in &blobs {
                        downloads.adopt(b)?;
                    }
                    // A garbage collection between unpacking and now may have removed an unreferenced
                    // layer dir: unpack again from the (now stored) blob when so.
                    let layers = layers
                        .into_iter()
                        .map(|l| store.ensure_layer(&l.blob, Some(&l.diff_id)))
                        .collect::<Result<Vec<_>>>()?;
                    store.commit_image(&config_digest, layers, &tags)?
                }
                (None, Some(prev)) => prev,
                (None, None) => {
                    return Err(EngineError::Internal(format!(
                        "image {config_digest} vanished during the pull"
                    )))
                }
            };
            let mut digests = previous.map(|p| p.repo_digests).unwrap_or_default();
            digests.retain(|d| !d.starts_with(&format!("{}@", r.name())) || *d == repo_digest);
            if !digests.contains(&repo_digest) {
                digests.push(repo_digest);
            }
            rec.repo_digests = digests;
            let tag_keys: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
            db.put_image(&rec, &tag_keys)?;
            Ok(rec)
        })
        .await
        .map_err(|e| EngineError::internal("committing a pulled image", e))?
    }
}

impl Registry {
    /// The hook for pulling on container create (`pull_policy: missing`): the local image when `name`
    /// resolves, else a pull of it. Container create itself still answers 404 "No such image" (as dockerd
    /// does, so docker clients pull and retry); the orchestrator calls this (or `POST /images/create`).
    pub async fn ensure_image(
        &self,
        name: &str,
        platform: Platform,
        credentials: Option<Credentials>,
    ) -> Result<ImageRecord> {
        match self.store.resolve(name) {
            Ok(img) => Ok(img),
            Err(EngineError::NotFound(_)) => {
                let reference = ImageRef::parse(name).map_err(|e| EngineError::BadRequest(e.to_string()))?;
                let req = PullRequest {
                    reference,
                    platform,
                    credentials,
                };
                Ok(self.pull(&req, &Progress::none()).await?.image)
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_come_first_for_docker_hub_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("daemon.json"),
            r#"{"registry-mirrors":["http://127.0.0.1:5999"]}"#,
        )
        .unwrap();
        let db = std::sync::Arc::new(crate::state::StateDb::open(&dir.path().join("state.redb")).unwrap());
        let store = std::sync::Arc::new(crate::images::ImageStore::open(dir.path(), db.clone()).unwrap());
        let reg = Registry::open(dir.path(), store, db).unwrap();
        let req = |r: &str| PullRequest {
            reference: ImageRef::parse(r).unwrap(),
            platform: Platform::host(),
            credentials: None,
        };
        let hosts: Vec<String> = reg.endpoints(&req("redis:7")).into_iter().map(|e| e.host).collect();
        assert_eq!(hosts, ["127.0.0.1:5999", "registry-1.docker.io"]);
        let hosts: Vec<String> = reg
            .endpoints(&req("quay.io/a/b:1"))
            .into_iter()
            .map(|e| e.host)
            .collect();
        assert_eq!(hosts, ["quay.io"]);
    }
}
