//! Loading image archives: `docker save` (docker-archive) and OCI image layout tarballs, in one pass over the tar.

use super::blobs::digest_hex;
use super::store::ImageStore;
use crate::error::{EngineError, Result};
use crate::state::{ImageRecord, LayerRecord};
use imageref::ImageRef;
use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};
use serde::Deserialize;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// Small metadata files kept in memory rather than stored as blobs.
const META_FILES: [&str; 4] = ["manifest.json", "index.json", "oci-layout", "repositories"];

/// One image that was loaded.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The stored image.
    pub image: ImageRecord,
    /// Tags now pointing at it.
    pub tags: Vec<ImageRef>,
}

/// An entry of a docker-archive `manifest.json`.
#[derive(Debug, Deserialize)]
struct ArchiveManifest {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// What one pass over the archive found.
#[derive(Default)]
struct Contents {
    /// Archive path → digest of the stored file.
    files: HashMap<PathBuf, String>,
    /// Archive path → link target (already resolved against the link's directory).
    links: HashMap<PathBuf, PathBuf>,
    /// Metadata files by name.
    meta: HashMap<String, Vec<u8>>,
}

impl Contents {
    fn digest_of(&self, path: &str) -> Result<String> {
        let mut p = clean(Path::new(path))
            .ok_or_else(|| EngineError::BadRequest(format!("image archive: bad path {path:?} in manifest")))?;
        for _ in 0..16 {
            if let Some(d) = self.files.get(&p) {
                return Ok(d.clone());
            }
            match self.links.get(&p) {
                Some(t) => p = t.clone(),
                None => break,
            }
        }
        Err(EngineError::BadRequest(format!(
            "image archive: {path} is named in the manifest but not in the archive"
        )))
    }
}

/// Loads every image of an archive into the store.
#[tracing::instrument(skip_all, err(level = "debug"))]
pub fn load_archive(store: &ImageStore, src: impl Read) -> Result<Vec<Loaded>> {
    let _ingest = store.ingest_guard();
    let contents = scan(store, src)?;
    if let Some(m) = contents.meta.get("manifest.json") {
        load_docker_archive(store, &contents, m)
    } else if let Some(i) = contents.meta.get("index.json") {
        load_oci_layout(store, &contents, i)
    } else {
        Err(EngineError::BadRequest(
            "image archive has neither manifest.json (docker save) nor index.json (OCI layout)".into(),
        ))
    }
}

/// Stores every regular file as a blob (OCI `blobs/sha256/<hex>` files must match their name) and keeps metadata.
fn scan(store: &ImageStore, src: impl Read) -> Result<Contents> {
    let mut archive = tar::Archive::new(src);
    let mut out = Contents::default();
    let bad = |e: std::io::Error| EngineError::BadRequest(format!("image archive: not a readable tar: {e}"));
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let raw = entry.path().map_err(bad)?.into_owned();
        let Some(path) = clean(&raw) else {
            if raw
                .components()
                .any(|c| matches!(c, Component::ParentDir | Component::RootDir))
            {
                return Err(EngineError::BadRequest(format!(
                    "image archive: entry {} leaves the archive",
                    raw.display()
                )));
            }
            continue;
        };
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            let target = entry.link_name().map_err(bad)?.unwrap_or_default().into_owned();
            let base = if kind.is_symlink() {
                path.parent().unwrap_or(Path::new("")).join(&target)
            } else {
                target
            };
            let resolved = clean(&base).ok_or_else(|| {
                EngineError::BadRequest(format!("image archive: link {} leaves the archive", raw.display()))
            })?;
            out.links.insert(path, resolved);
            continue;
        }
        if !kind.is_file() {
            continue;
        }
        let name = path.to_string_lossy().into_owned();
        if META_FILES.contains(&name.as_str()) {
            let mut data = Vec::new();
            entry.by_ref().take(16 << 20).read_to_end(&mut data).map_err(bad)?;
            out.meta.insert(name, data);
            continue;
        }
        let expected = oci_blob_digest(&path);
        let put = store.blobs().put(&mut entry, expected.as_deref())?;
        out.files.insert(path, put.digest);
    }
    Ok(out)
}

/// `blobs/sha256/<hex>` → `sha256:<hex>` (the name is the digest in an OCI layout).
fn oci_blob_digest(path: &Path) -> Option<String> {
    let s = path.to_str()?;
    let hex = s.strip_prefix("blobs/sha256/")?;
    let d = format!("sha256:{hex}");
    digest_hex(&d).is_ok().then_some(d)
}

/// Lexically normalises an archive path; None for the root or for paths leaving the archive.
fn clean(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

fn load_docker_archive(store: &ImageStore, c: &Contents, manifest: &[u8]) -> Result<Vec<Loaded>> {
    let entries: Vec<ArchiveManifest> = serde_json::from_slice(manifest)
        .map_err(|e| EngineError::BadRequest(format!("image archive: manifest.json: {e}")))?;
    let mut out = Vec::new();
    for m in entries {
        let config = c.digest_of(&m.config)?;
        let blobs = m.layers.iter().map(|l| c.digest_of(l)).collect::<Result<Vec<_>>>()?;
        let tags = parse_tags(m.repo_tags.unwrap_or_default().iter().map(String::as_str))?;
        out.push(store_image(store, &config, &blobs, tags)?);
    }
    Ok(out)
}

fn load_oci_layout(store: &ImageStore, c: &Contents, index: &[u8]) -> Result<Vec<Loaded>> {
    let index: ImageIndex = serde_json::from_slice(index)
        .map_err(|e| EngineError::BadRequest(format!("image archive: index.json: {e}")))?;
    let mut out = Vec::new();
    for desc in index.manifests() {
        let tags = oci_tags(desc)?;
        let manifest = resolve_manifest(store, c, desc, 0)?;
        let config = manifest.config().digest().to_string();
        let blobs: Vec<String> = manifest.layers().iter().map(|l| l.digest().to_string()).collect();
        for b in blobs.iter().chain(std::iter::once(&config)) {
            if !store.blobs().contains(b) {
                return Err(EngineError::BadRequest(format!(
                    "image archive: blob {b} is referenced but not in the archive"
                )));
            }
        }
        out.push(store_image(store, &config, &blobs, tags)?);
    }
    Ok(out)
}

/// Follows nested indexes down to the linux/amd64 (host) manifest.
fn resolve_manifest(store: &ImageStore, c: &Contents, desc: &Descriptor, depth: u8) -> Result<ImageManifest> {
    let digest = desc.digest().to_string();
    let _ = c;
    let data = store.blobs().read_verified(&digest)?;
    let v: serde_json::Value = serde_json::from_slice(&data)
        .map_err(|e| EngineError::BadRequest(format!("image archive: blob {digest}: {e}")))?;
    if v.get("manifests").is_some() {
        if depth > 2 {
            return Err(EngineError::BadRequest("image archive: indexes nested too deep".into()));
        }
        let idx: ImageIndex = serde_json::from_value(v)
            .map_err(|e| EngineError::BadRequest(format!("image archive: index {digest}: {e}")))?;
        let pick = idx
            .manifests()
            .iter()
            .find(|d| {
                d.platform()
                    .as_ref()
                    .is_some_and(|p| is_host_platform(&p.os().to_string(), &p.architecture().to_string()))
            })
            .or_else(|| idx.manifests().iter().find(|d| d.platform().is_none()))
            .ok_or_else(|| {
                EngineError::BadRequest(format!(
                    "image archive: index {digest} has no manifest for linux/{}",
                    host_arch()
                ))
            })?;
        return resolve_manifest(store, c, pick, depth + 1);
    }
    serde_json::from_value(v).map_err(|e| EngineError::BadRequest(format!("image archive: manifest {digest}: {e}")))
}

fn is_host_platform(os: &str, arch: &str) -> bool {
    os == "linux" && arch == host_arch()
}

/// The host's architecture in OCI spelling.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn oci_tags(desc: &Descriptor) -> Result<Vec<ImageRef>> {
    let Some(ann) = desc.annotations() else {
        return Ok(Vec::new());
    };
    if let Some(full) = ann.get("io.containerd.image.name") {
        return parse_tags(std::iter::once(full.as_str()));
    }
    match ann.get("org.opencontainers.image.ref.name") {
        // A bare tag ("latest") has no repository to attach to: Docker leaves such images untagged too.
        Some(name) if name.contains('/') || name.contains(':') => parse_tags(std::iter::once(name.as_str())),
        _ => Ok(Vec::new()),
    }
}

fn parse_tags<'a>(tags: impl Iterator<Item = &'a str>) -> Result<Vec<ImageRef>> {
    tags.map(|t| ImageRef::parse(t).map_err(|e| EngineError::BadRequest(format!("image archive: RepoTags: {e}"))))
        .collect()
}

fn store_image(store: &ImageStore, config: &str, blobs: &[String], tags: Vec<ImageRef>) -> Result<Loaded> {
    let cfg = store.config_of(config)?;
    if cfg.rootfs.diff_ids.len() != blobs.len() {
        return Err(EngineError::BadRequest(format!(
            "image archive: image {config} has {} layers in its config but {} in its manifest",
            cfg.rootfs.diff_ids.len(),
            blobs.len()
        )));
    }
    let layers = blobs
        .iter()
        .zip(&cfg.rootfs.diff_ids)
        .map(|(b, d)| store.ensure_layer(b, Some(d)))
        .collect::<Result<Vec<LayerRecord>>>()?;
    let image = store.commit_image(config, layers, &tags)?;
    Ok(Loaded { image, tags })
}
