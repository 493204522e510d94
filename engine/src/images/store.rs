//! The image store: blobs, unpacked layers shared between images, image rows and tags in the state database.
//! Loading and (later) registry pulls both go through it: put blobs (streamed + verified), unpack layers,
//! then commit the image.

use super::blobs::{digest_hex, BlobStore};
use super::config::ImageConfigFile;
use super::unpack::unpack_layer;
use crate::error::{EngineError, IoContext, Result};
use crate::state::{ImageRecord, LayerRecord, StateDb};
use imageref::ImageRef;
use sha2::{Digest as _, Sha256};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard};

/// The image store of one engine root.
pub struct ImageStore {
    blobs: BlobStore,
    layers: PathBuf,
    db: Arc<StateDb>,
    /// Ingests (loads, pulls) hold it shared; garbage collection exclusively, so it never removes
    /// blobs of an image still being stored.
    gc_lock: RwLock<()>,
}

impl ImageStore {
    /// Opens the store under `root`, using `db` for image rows.
    pub fn open(root: &Path, db: Arc<StateDb>) -> Result<Self> {
        let blobs = BlobStore::open(root)?;
        let layers = root.join("layers");
        std::fs::create_dir_all(&layers).ctx(|| format!("creating {}", layers.display()))?;
        Ok(ImageStore {
            blobs,
            layers,
            db,
            gc_lock: RwLock::new(()),
        })
    }

    /// Held while blobs and layers of a new image are being stored (see `gc`).
    pub fn ingest_guard(&self) -> RwLockReadGuard<'_, ()> {
        self.gc_lock.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The content store.
    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// Directory of an unpacked layer.
    pub fn layer_dir(&self, diff_id: &str) -> Result<PathBuf> {
        Ok(self.layers.join(digest_hex(diff_id)?))
    }

    /// Unpacks a stored layer blob (plain, gzip or zstd tar) once: if `expected_diff_id` is already unpacked,
    /// nothing is read. The uncompressed stream must hash to `expected_diff_id` when given.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub fn ensure_layer(&self, blob: &str, expected_diff_id: Option<&str>) -> Result<LayerRecord> {
        if let Some(diff_id) = expected_diff_id {
            let dir = self.layer_dir(diff_id)?;
            if dir.is_dir() {
                return Ok(LayerRecord {
                    diff_id: diff_id.to_owned(),
                    blob: blob.to_owned(),
                    size: self.layer_size(diff_id),
                });
            }
        }
        let file = self.blobs.open_blob(blob)?;
        self.ensure_layer_from(file, blob, expected_diff_id)
    }

    /// Unpacks layer `blob` from `src` (its content, e.g. still downloading) without reading the store;
    /// an error from `src` (such as a failed digest check) leaves nothing behind.
    #[tracing::instrument(skip(self, src), err(level = "debug"))]
    pub fn ensure_layer_from(&self, src: impl Read, blob: &str, expected_diff_id: Option<&str>) -> Result<LayerRecord> {
        let tmp = self.layers.join(format!(".tmp-{}", rand::random::<u64>()));
        std::fs::create_dir(&tmp).ctx(|| format!("creating {}", tmp.display()))?;
        let result = self.unpack_into(src, blob, &tmp);
        let (diff_id, size) = match result {
            Ok(v) => v,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(e);
            }
        };
        if let Some(exp) = expected_diff_id {
            if exp != diff_id {
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(EngineError::BadRequest(format!(
                    "layer {blob}: uncompressed content hashes to {diff_id}, but the image config says {exp}"
                )));
            }
        }
        let dst = self.layer_dir(&diff_id)?;
        let _ = std::fs::write(
            self.layers.join(format!("{}.size", digest_hex(&diff_id)?)),
            size.to_string(),
        );
        if std::fs::rename(&tmp, &dst).is_err() {
            // Someone else unpacked the same layer meanwhile: theirs is identical.
            let _ = std::fs::remove_dir_all(&tmp);
            if !dst.is_dir() {
                return Err(EngineError::Internal(format!(
                    "could not move layer into {}",
                    dst.display()
                )));
            }
        }
        Ok(LayerRecord {
            diff_id,
            blob: blob.to_owned(),
            size,
        })
    }

    fn unpack_into(&self, file: impl Read, blob: &str, dir: &Path) -> Result<(String, u64)> {
        let mut hashing = HashingReader::new(decompress(BufReader::with_capacity(256 * 1024, file))?);
        let size = unpack_layer(&mut hashing, dir)?;
        std::io::copy(&mut hashing, &mut std::io::sink())
            .map_err(|e| EngineError::BadRequest(format!("layer {blob}: {e}")))?;
        Ok((hashing.digest(), size))
    }

    fn layer_size(&self, diff_id: &str) -> u64 {
        digest_hex(diff_id)
            .ok()
            .and_then(|h| std::fs::read_to_string(self.layers.join(format!("{h}.size"))).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Records an image whose config blob and layers are stored, and points `tags` at it.
    #[tracing::instrument(skip(self, layers), err(level = "debug"))]
    pub fn commit_image(
        &self,
        config_digest: &str,
        layers: Vec<LayerRecord>,
        tags: &[ImageRef],
    ) -> Result<ImageRecord> {
        self.commit_child(config_digest, layers, tags, None)
    }

    /// [`ImageStore::commit_image`] for an image made locally from `parent` (a build step, a commit).
    #[tracing::instrument(skip(self, layers), err(level = "debug"))]
    pub fn commit_child(
        &self,
        config_digest: &str,
        layers: Vec<LayerRecord>,
        tags: &[ImageRef],
        parent: Option<String>,
    ) -> Result<ImageRecord> {
        let config = self.config_of(config_digest)?;
        if config.rootfs.diff_ids.len() != layers.len() {
            return Err(EngineError::BadRequest(format!(
                "image {config_digest}: config lists {} layers, the manifest {}",
                config.rootfs.diff_ids.len(),
                layers.len()
            )));
        }
        let rec = ImageRecord {
            id: config_digest.to_owned(),
            size: layers.iter().map(|l| l.size).sum(),
            layers,
            repo_digests: Vec::new(),
            created: config.created.clone(),
            stored_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            parent,
        };
        let tag_keys: Vec<String> = tags.iter().filter(|t| t.tag.is_some()).map(|t| t.to_string()).collect();
        self.db.put_image(&rec, &tag_keys)?;
        Ok(rec)
    }

    /// The parsed config of an image.
    pub fn config_of(&self, image_id: &str) -> Result<ImageConfigFile> {
        let data = self.blobs.read_verified(image_id)?;
        ImageConfigFile::parse(&data).map_err(|e| EngineError::BadRequest(format!("image config {image_id}: {e}")))
    }

    /// Finds an image by reference (`busybox`, `busybox:1`), id (`sha256:<hex>`) or unique id prefix.
    pub fn resolve(&self, name: &str) -> Result<ImageRecord> {
        let not_found = || EngineError::NotFound(format!("No such image: {name}"));
        if let Ok(r) = ImageRef::parse(name) {
            if r.digest.is_none() {
                if let Some(id) = self.db.tag_target(&r.to_string())? {
                    return self.db.image(&id)?.ok_or_else(not_found);
                }
            } else if let Some(img) = self.by_repo_digest(&r)? {
                return Ok(img);
            }
        }
        let prefix = name.strip_prefix("sha256:").unwrap_or(name);
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(not_found());
        }
        let matches: Vec<ImageRecord> = self
            .db
            .images()?
            .into_iter()
            .filter(|i| i.id["sha256:".len()..].starts_with(prefix))
            .collect();
        match matches.len() {
            1 => Ok(matches.into_iter().next().ok_or_else(not_found)?),
            0 => Err(not_found()),
            _ => Err(EngineError::BadRequest(format!(
                "image id prefix {name:?} is ambiguous"
            ))),
        }
    }

    fn by_repo_digest(&self, r: &ImageRef) -> Result<Option<ImageRecord>> {
        let want = format!("{}@{}", r.name(), r.digest.as_deref().unwrap_or_default());
        Ok(self
            .db
            .images()?
            .into_iter()
            .find(|i| i.repo_digests.iter().any(|d| *d == want)))
    }

    /// Tags (fully qualified) pointing at an image.
    pub fn tags_of(&self, image_id: &str) -> Result<Vec<ImageRef>> {
        let mut out: Vec<ImageRef> = self
            .db
            .tags()?
            .into_iter()
            .filter(|(_, id)| id == image_id)
            .filter_map(|(t, _)| ImageRef::parse(&t).ok())
            .collect();
        out.sort_by_key(|r| r.to_string());
        Ok(out)
    }

    /// Unpacked layer directories of an image, top-most first (overlayfs lowerdir order).
    pub fn lower_dirs(&self, img: &ImageRecord) -> Result<Vec<PathBuf>> {
        img.layers.iter().rev().map(|l| self.layer_dir(&l.diff_id)).collect()
    }

    /// Points `target` at the image `source` names.
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub fn tag(&self, source: &str, target: &ImageRef) -> Result<()> {
        let img = self.resolve(source)?;
        if target.digest.is_some() {
            return Err(EngineError::BadRequest(
                "refusing to create a tag with a digest reference".into(),
            ));
        }
        self.db.set_tag(&target.to_string(), &img.id)
    }

    /// Untags or deletes an image. `in_use` says whether a container uses an image id; such images are
    /// never deleted (only untagged with `force`). Returns Docker's list of untagged/deleted items.
    #[tracing::instrument(skip(self, in_use), err(level = "debug"))]
    pub fn delete(&self, name: &str, force: bool, in_use: &dyn Fn(&str) -> Option<String>) -> Result<Vec<Deleted>> {
        let img = self.resolve(name)?;
        let tags = self.tags_of(&img.id)?;
        let by_tag = ImageRef::parse(name).ok().filter(|r| tags.contains(r));
        let mut out = Vec::new();
        if let Some(r) = &by_tag {
            if tags.len() > 1 {
                self.db.remove_tag(&r.to_string())?;
                out.push(Deleted::Untagged(r.familiar_tagged().unwrap_or_else(|| r.to_string())));
                return Ok(out);
            }
        } else if tags.len() > 1 && !force {
            return Err(EngineError::Conflict(format!(
                "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                short_id(&img.id)
            )));
        }
        if let Some(cid) = in_use(&img.id) {
            if !force {
                return Err(EngineError::Conflict(format!(
                    "conflict: unable to delete {} (must be forced) - image is being used by container {}",
                    short_id(&img.id),
                    &cid[..12.min(cid.len())]
                )));
            }
            for t in &tags {
                self.db.remove_tag(&t.to_string())?;
                out.push(Deleted::Untagged(t.familiar_tagged().unwrap_or_else(|| t.to_string())));
            }
            return Ok(out);
        }
        for t in self.db.remove_image(&img.id)? {
            let r = ImageRef::parse(&t).ok();
            out.push(Deleted::Untagged(r.and_then(|r| r.familiar_tagged()).unwrap_or(t)));
        }
        out.push(Deleted::Deleted(img.id.clone()));
        self.gc()?;
        Ok(out)
    }

    /// Removes layers, blobs and partial files no image refers to (also cleans up after a crash mid-load).
    #[tracing::instrument(skip(self), err(level = "debug"))]
    pub fn gc(&self) -> Result<()> {
        let _exclusive = self.gc_lock.write().unwrap_or_else(|p| p.into_inner());
        let images = self.db.images()?;
        let mut keep_layers = std::collections::HashSet::new();
        let mut keep_blobs = std::collections::HashSet::new();
        for i in &images {
            keep_blobs.insert(i.id.clone());
            for l in &i.layers {
                keep_layers.insert(digest_hex(&l.diff_id)?.to_owned());
                keep_blobs.insert(l.blob.clone());
            }
        }
        for e in std::fs::read_dir(&self.layers)
            .ctx(|| format!("listing {}", self.layers.display()))?
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            let base = name.strip_suffix(".size").unwrap_or(&name);
            if !keep_layers.contains(base) {
                let p = e.path();
                let _ = if p.is_dir() {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
            }
        }
        for b in self.blobs.list()? {
            if !keep_blobs.contains(&b) {
                self.blobs.remove(&b)?;
            }
        }
        Ok(())
    }
}

/// One item of an image delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deleted {
    /// A tag was removed.
    Untagged(String),
    /// The image was deleted.
    Deleted(String),
}

/// First 12 hex digits of an id.
pub fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..12.min(hex.len())]
}

/// Wraps a reader in a gzip or zstd decoder when its first bytes say so.
fn decompress<'a, R: BufRead + 'a>(mut r: R) -> Result<Box<dyn Read + 'a>> {
    let head = r.fill_buf().ctx(|| "reading a layer".into())?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::bufread::MultiGzDecoder::new(r)))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Ok(Box::new(
            zstd::stream::read::Decoder::with_buffer(r).ctx(|| "starting zstd".into())?,
        ))
    } else {
        Ok(Box::new(r))
    }
}

/// Hashes everything read through it (the diff id of an uncompressed layer).
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> HashingReader<R> {
    fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
        }
    }
    fn digest(self) -> String {
        format!("sha256:{}", hex::encode(self.hasher.finalize()))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}
