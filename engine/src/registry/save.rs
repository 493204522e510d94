//! Image export and history: `docker save` archives that are also OCI image layouts (as Docker 25+
//! writes them: `manifest.json` and `index.json` over one `blobs/sha256` tree), and `docker history`.
//! (Lives beside the registry code because it shares the manifest types.)

use super::manifest::{self, Descriptor, ImageManifest};
use crate::error::{EngineError, IoContext, Result};
use crate::images::{ImageRef, ImageStore};
use crate::state::ImageRecord;
use bytes::Bytes;
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use tokio::sync::mpsc;

/// OCI image config media type.
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// Writes `images` (each with the tags to record) as one archive.
pub fn write_archive(
    store: &ImageStore,
    images: &[(ImageRecord, Vec<ImageRef>)],
    tmp: &Path,
    out: impl Write,
) -> Result<()> {
    let mut tar = tar::Builder::new(out);
    let mut written = HashSet::new();
    let mut docker_manifest = Vec::new();
    let mut index = Vec::new();
    let io = |e: std::io::Error| EngineError::internal("writing the image archive", e);
    for (img, tags) in images {
        let config = store.blobs().read_verified(&img.id)?;
        add_blob(&mut tar, &mut written, &img.id, &config).map_err(io)?;
        let mut layers = Vec::new();
        for l in &img.layers {
            let size = add_layer(store, &mut tar, &mut written, &l.blob, &l.diff_id, tmp)?;
            layers.push(Descriptor {
                media_type: manifest::OCI_LAYER.into(),
                digest: l.diff_id.clone(),
                size,
                platform: None,
            });
        }
        let m = ImageManifest {
            schema_version: 2,
            media_type: Some(manifest::OCI_MANIFEST.into()),
            config: Descriptor {
                media_type: OCI_CONFIG.into(),
                digest: img.id.clone(),
                size: config.len() as u64,
                platform: None,
            },
            layers,
        };
        let body = serde_json::to_vec(&m).map_err(|e| EngineError::internal("encoding a manifest", e))?;
        let digest = manifest::sha256(&body);
        add_blob(&mut tar, &mut written, &digest, &body).map_err(io)?;
        let path = |d: &str| format!("blobs/sha256/{}", d.trim_start_matches("sha256:"));
        docker_manifest.push(serde_json::json!({
            "Config": path(&img.id),
            "RepoTags": tags.iter().filter_map(|t| t.familiar_tagged()).collect::<Vec<_>>(),
            "Layers": img.layers.iter().map(|l| path(&l.diff_id)).collect::<Vec<_>>(),
        }));
        let entry = |ann: serde_json::Value| serde_json::json!({"mediaType": manifest::OCI_MANIFEST, "digest": digest, "size": body.len(), "annotations": ann});
        if tags.is_empty() {
            index.push(serde_json::json!({"mediaType": manifest::OCI_MANIFEST, "digest": digest, "size": body.len()}));
        }
        for t in tags {
            index.push(entry(serde_json::json!({
                "io.containerd.image.name": t.to_string(),
                "org.opencontainers.image.ref.name": t.tag.clone().unwrap_or_default(),
            })));
        }
    }
    let json = |v: serde_json::Value| serde_json::to_vec(&v).unwrap_or_default();
    add_file(
        &mut tar,
        "oci-layout",
        &json(serde_json::json!({"imageLayoutVersion": "1.0.0"})),
    )
    .map_err(io)?;
    add_file(
        &mut tar,
        "index.json",
        &json(serde_json::json!({"schemaVersion": 2, "mediaType": manifest::OCI_INDEX, "manifests": index})),
    )
    .map_err(io)?;
    add_file(
        &mut tar,
        "manifest.json",
        &json(serde_json::Value::Array(docker_manifest)),
    )
    .map_err(io)?;
    tar.into_inner().map_err(io)?.flush().map_err(io)?;
    Ok(())
}

fn header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h
}

fn add_file<W: Write>(tar: &mut tar::Builder<W>, path: &str, data: &[u8]) -> std::io::Result<()> {
    tar.append_data(&mut header(data.len() as u64), path, data)
}

fn add_blob<W: Write>(
    tar: &mut tar::Builder<W>,
    written: &mut HashSet<String>,
    digest: &str,
    data: &[u8],
) -> std::io::Result<()> {
    if written.insert(digest.to_owned()) {
        add_file(
            tar,
            &format!("blobs/sha256/{}", digest.trim_start_matches("sha256:")),
            data,
        )?;
    }
    Ok(())
}

/// Adds a layer as an uncompressed tar named by its diff id; returns its size.
fn add_layer<W: Write>(
    store: &ImageStore,
    tar: &mut tar::Builder<W>,
    written: &mut HashSet<String>,
    blob: &str,
    diff_id: &str,
    tmp: &Path,
) -> Result<u64> {
    let mut src = BufReader::with_capacity(1 << 20, store.blobs().open_blob(blob)?);
    let head = src.fill_buf().ctx(|| format!("reading blob {blob}"))?.to_vec();
    let mut plain: Box<dyn Read> = if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::bufread::MultiGzDecoder::new(src))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(zstd::stream::read::Decoder::with_buffer(src).ctx(|| "starting zstd".into())?)
    } else {
        Box::new(src)
    };
    // The tar header needs the size first: decompress to a scratch file.
    let mut scratch = tempfile::tempfile_in(tmp).ctx(|| format!("creating a scratch file in {}", tmp.display()))?;
    let size = std::io::copy(&mut plain, &mut scratch).ctx(|| format!("decompressing blob {blob}"))?;
    if written.insert(diff_id.to_owned()) {
        use std::io::Seek;
        scratch
            .seek(std::io::SeekFrom::Start(0))
            .ctx(|| "rewinding a scratch file".into())?;
        let path = format!("blobs/sha256/{}", diff_id.trim_start_matches("sha256:"));
        tar.append_data(&mut header(size), path, &mut scratch)
            .map_err(|e| EngineError::internal("writing the image archive", e))?;
    }
    Ok(size)
}

/// `docker history` entries, newest first.
///
/// Older entries name the local image that ends there (one of `all` whose history and layers begin this
/// image's), with its tags, as dockerd's parent chain names them; other entries are `<missing>`.
pub fn history(store: &ImageStore, img: &ImageRecord, all: &[ImageRecord]) -> Result<Vec<serde_json::Value>> {
    let raw = store.blobs().read_verified(&img.id)?;
    let v: serde_json::Value =
        serde_json::from_slice(&raw).map_err(|e| EngineError::BadRequest(format!("image config {}: {e}", img.id)))?;
    let tags: Vec<String> = store
        .tags_of(&img.id)?
        .iter()
        .filter_map(|t| t.familiar_tagged())
        .collect();
    let entries = v.get("history").and_then(|h| h.as_array()).cloned().unwrap_or_default();
    let ancestors = ancestors(store, img, all, &entries);
    let mut sizes = img.layers.iter().map(|l| l.size);
    let mut out: Vec<serde_json::Value> = entries
        .iter()
        .enumerate()
        .map(|(k, h)| {
            let empty = h.get("empty_layer").and_then(|e| e.as_bool()).unwrap_or(false);
            let size = if empty { 0 } else { sizes.next().unwrap_or(0) };
            let created = h
                .get("created")
                .and_then(|c| c.as_str())
                .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
                .map(|t| t.timestamp())
                .unwrap_or(0);
            let (id, tags): (String, serde_json::Value) = match ancestors.get(&k) {
                Some((id, tags)) if !tags.is_empty() => (id.clone(), tags.clone().into()),
                Some((id, _)) => (id.clone(), serde_json::Value::Null),
                None => ("<missing>".into(), serde_json::Value::Null),
            };
            serde_json::json!({
                "Id": id,
                "Created": created,
                "CreatedBy": h.get("created_by").and_then(|c| c.as_str()).unwrap_or(""),
                "Tags": tags,
                "Size": size,
                "Comment": h.get("comment").and_then(|c| c.as_str()).unwrap_or(""),
            })
        })
        .collect();
    out.reverse();
    if let Some(top) = out.first_mut() {
        top["Id"] = img.id.clone().into();
        top["Tags"] = tags.into();
    }
    Ok(out)
}

/// History index (bottom-first) → id and tags of the local image whose history ends at that entry.
fn ancestors(
    store: &ImageStore,
    img: &ImageRecord,
    all: &[ImageRecord],
    entries: &[serde_json::Value],
) -> std::collections::HashMap<usize, (String, Vec<String>)> {
    let mut out = std::collections::HashMap::new();
    let prefix = |r: &ImageRecord| {
        r.layers.len() <= img.layers.len() && r.layers.iter().zip(&img.layers).all(|(a, b)| a.diff_id == b.diff_id)
    };
    for r in all.iter().filter(|r| r.id != img.id && prefix(r)) {
        let Ok(raw) = store.blobs().read_verified(&r.id) else {
            continue;
        };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&raw) else {
            continue;
        };
        let hist = v.get("history").and_then(|h| h.as_array()).cloned().unwrap_or_default();
        if hist.is_empty() || hist.len() >= entries.len() || hist[..] != entries[..hist.len()] {
            continue;
        }
        let tags: Vec<String> = store
            .tags_of(&r.id)
            .unwrap_or_default()
            .iter()
            .filter_map(|t| t.familiar_tagged())
            .collect();
        // A tagged image wins over an untagged one that ends at the same entry.
        let slot = out
            .entry(hist.len() - 1)
            .or_insert_with(|| (r.id.clone(), tags.clone()));
        if slot.1.is_empty() && !tags.is_empty() {
            *slot = (r.id.clone(), tags);
        }
    }
    out
}

/// A blocking `Write` that sends its bytes as chunks into a response body channel.
pub struct ChannelWriter {
    tx: mpsc::Sender<Bytes>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    /// Writes into `tx` (64 KiB chunks).
    pub fn new(tx: mpsc::Sender<Bytes>) -> Self {
        ChannelWriter {
            tx,
            buf: Vec::with_capacity(64 << 10),
        }
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 64 << 10 {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            let chunk = Bytes::from(std::mem::take(&mut self.buf));
            self.tx
                .blocking_send(chunk)
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))?;
        }
        Ok(())
    }
}
