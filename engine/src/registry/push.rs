//! Pushing an image: layers (gzip-compressed into the store first when they are plain tars, as docker
//! does), the config, then a Docker schema2 manifest (OCI for zstd or plain layers) under the tag.

use super::client::{registry_error, Endpoint};
use super::manifest::{self, Descriptor, ImageManifest};
use super::progress::{short, Progress};
use super::Registry;
use crate::error::{EngineError, IoContext, Result};
use crate::images::ImageRef;
use crate::state::{ImageRecord, LayerRecord};
use futures::StreamExt;
use imageref::credentials::Credentials;
use std::io::Read;

/// What to push.
#[derive(Debug, Clone)]
pub struct PushRequest {
    /// Repository and tag (no tag: every local tag of the repository).
    pub reference: ImageRef,
    /// Whether the caller named a tag.
    pub tag_given: bool,
    /// Credentials for the registry.
    pub credentials: Option<Credentials>,
}

/// One pushed tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// The tag.
    pub tag: String,
    /// Manifest digest.
    pub digest: String,
    /// Manifest size in bytes.
    pub size: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Registry {
    /// Pushes the image(s) `req` names, reporting Docker-style progress.
    #[tracing::instrument(skip(self, progress), fields(image = %req.reference), err(level = "debug"))]
    pub async fn push(&self, req: &PushRequest, progress: &Progress) -> Result<Vec<Pushed>> {
        let r = &req.reference;
        let tags: Vec<ImageRef> = if req.tag_given {
            vec![r.clone()]
        } else {
            let mut t: Vec<ImageRef> = self
                .db
                .tags()?
                .into_iter()
                .filter_map(|(t, _)| ImageRef::parse(&t).ok())
                .filter(|t| t.name() == r.name())
                .collect();
            t.sort_by_key(|t| t.to_string());
            t
        };
        if tags.is_empty() {
            return Err(EngineError::NotFound(format!(
                "An image does not exist locally with the tag: {}",
                r.familiar_name()
            )));
        }
        progress.status(format!("The push refers to repository [{}]", r.familiar_name()));
        let ep = Endpoint::new(&self.settings, r, &r.registry, req.credentials.as_ref());
        let mut out = Vec::new();
        for t in &tags {
            out.push(self.push_tag(&ep, t, progress).await?);
        }
        Ok(out)
    }

    async fn push_tag(&self, ep: &Endpoint, r: &ImageRef, progress: &Progress) -> Result<Pushed> {
        let img = self.store.resolve(&r.to_string())?;
        let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
        let target = ep.tagged(&tag);
        for l in img.layers.iter().rev() {
            progress.layer(&short(&l.diff_id), "Preparing");
        }
        let img = self.compress_plain_layers(img).await?;
        let mut layers = Vec::new();
        let mut kinds = Vec::new();
        for l in &img.layers {
            let (desc, kind) = self.push_layer(ep, l, progress).await?;
            layers.push(desc);
            kinds.push(kind);
        }
        let config = self.store.blobs().read_verified(&img.id)?;
        let config_desc = Descriptor {
            media_type: manifest::DOCKER_CONFIG.into(),
            digest: img.id.clone(),
            size: config.len() as u64,
            platform: None,
        };
        if !self.exists(ep, &img.id).await? {
            ep.client
                .push_blob(&ep.digested(&img.id), config, &img.id)
                .await
                .map_err(|e| registry_error(&format!("pushing config {}", img.id), &ep.host, e))?;
        }
        let docker = kinds.iter().all(|k| *k == Compression::Gzip);
        let mut m = ImageManifest {
            schema_version: 2,
            media_type: Some(
                if docker {
                    manifest::DOCKER_MANIFEST
                } else {
                    manifest::OCI_MANIFEST
                }
                .into(),
            ),
            config: config_desc,
            layers,
        };
        if !docker {
            m.config.media_type = "application/vnd.oci.image.config.v1+json".into();
            for (l, k) in m.layers.iter_mut().zip(&kinds) {
                l.media_type = match k {
                    Compression::Gzip => manifest::OCI_LAYER_GZIP,
                    Compression::Zstd => manifest::OCI_LAYER_ZSTD,
                    Compression::None => manifest::OCI_LAYER,
                }
                .into();
            }
        }
        let body = serde_json::to_vec(&m).map_err(|e| EngineError::internal("encoding a manifest", e))?;
        let digest = manifest::sha256(&body);
        let size = body.len();
        let content_type = m
            .media_type
            .clone()
            .unwrap_or_default()
            .parse()
            .map_err(|e| EngineError::internal("manifest media type", e))?;
        ep.client
            .push_manifest_raw(&target, body, content_type)
            .await
            .map_err(|e| registry_error(&format!("pushing manifest {r}"), &ep.host, e))?;
        self.record_repo_digest(&img.id, &format!("{}@{digest}", r.name()))?;
        progress.status(format!("{tag}: digest: {digest} size: {size}"));
        progress.send(super::ProgressMessage {
            detail: Some(Default::default()),
            aux: Some(serde_json::json!({ "Tag": tag, "Digest": digest, "Size": size })),
            ..Default::default()
        });
        Ok(Pushed { tag, digest, size })
    }

    async fn exists(&self, ep: &Endpoint, digest: &str) -> Result<bool> {
        ep.client
            .store_auth_if_needed(ep.reference.resolve_registry(), &ep.auth)
            .await;
        ep.client
            .blob_exists(&ep.digested(digest), digest)
            .await
            .map_err(|e| registry_error(&format!("checking blob {digest}"), &ep.host, e))
    }

    async fn push_layer(
        &self,
        ep: &Endpoint,
        l: &LayerRecord,
        progress: &Progress,
    ) -> Result<(Descriptor, Compression)> {
        let id = short(&l.diff_id);
        let path = self.store.blobs().path(&l.blob)?;
        let size = std::fs::metadata(&path)
            .ctx(|| format!("reading blob {} of layer {}", l.blob, l.diff_id))?
            .len();
        let kind = sniff(&path)?;
        let desc = Descriptor {
            media_type: manifest::DOCKER_LAYER_GZIP.into(),
            digest: l.blob.clone(),
            size,
            platform: None,
        };
        if self.exists(ep, &l.blob).await? {
            progress.layer(&id, "Layer already exists");
            return Ok((desc, kind));
        }
        let file = tokio::fs::File::open(&path)
            .await
            .ctx(|| format!("opening {}", path.display()))?;
        let p = progress.clone();
        let id2 = id.clone();
        let mut sent = 0u64;
        let stream = tokio_util_stream(file).map(move |chunk| {
            if let Ok(c) = &chunk {
                sent += c.len() as u64;
                p.bytes(&id2, "Pushing", sent, size);
            }
            chunk.map_err(oci_client::errors::OciDistributionError::IoError)
        });
        ep.client
            .push_blob_stream(&ep.digested(&l.blob), stream, &l.blob, Some(size))
            .await
            .map_err(|e| registry_error(&format!("pushing layer {}", l.blob), &ep.host, e))?;
        progress.layer(&id, "Pushed");
        Ok((desc, kind))
    }

    /// Plain tar layers are compressed (gzip) into the store once; the image then refers to the
    /// compressed blob, so later pushes reuse it.
    async fn compress_plain_layers(&self, img: ImageRecord) -> Result<ImageRecord> {
        let (store, db) = (self.store.clone(), self.db.clone());
        tokio::task::spawn_blocking(move || {
            let _ingest = store.ingest_guard();
            let mut img = img;
            let mut changed = false;
            for l in &mut img.layers {
                let path = store.blobs().path(&l.blob)?;
                if sniff(&path)? != Compression::None {
                    continue;
                }
                let src = std::fs::File::open(&path).ctx(|| format!("opening {}", path.display()))?;
                let mut gz = flate2::read::GzEncoder::new(
                    std::io::BufReader::with_capacity(1 << 20, src),
                    flate2::Compression::fast(),
                );
                let put = store.blobs().put(&mut gz, None)?;
                l.blob = put.digest;
                changed = true;
            }
            if changed {
                db.put_image(&img, &[])?;
            }
            Ok(img)
        })
        .await
        .map_err(|e| EngineError::internal("compressing layers", e))?
    }

    fn record_repo_digest(&self, image_id: &str, repo_digest: &str) -> Result<()> {
        let Some(mut rec) = self.db.image(image_id)? else {
            return Ok(());
        };
        let name = repo_digest.split('@').next().unwrap_or_default().to_owned();
        rec.repo_digests.retain(|d| !d.starts_with(&format!("{name}@")));
        rec.repo_digests.push(repo_digest.to_owned());
        self.db.put_image(&rec, &[])
    }
}

/// The compression of a blob, from its first bytes.
fn sniff(path: &std::path::Path) -> Result<Compression> {
    let mut head = [0u8; 4];
    let mut f = std::fs::File::open(path).ctx(|| format!("opening {}", path.display()))?;
    let n = f.read(&mut head).ctx(|| format!("reading {}", path.display()))?;
    Ok(if n >= 2 && head[..2] == [0x1f, 0x8b] {
        Compression::Gzip
    } else if n == 4 && head == [0x28, 0xb5, 0x2f, 0xfd] {
        Compression::Zstd
    } else {
        Compression::None
    })
}

/// A file as a stream of 1 MiB chunks.
fn tokio_util_stream(
    file: tokio::fs::File,
) -> impl futures::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static {
    futures::stream::unfold(file, |mut f| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 1 << 20];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    })
}
