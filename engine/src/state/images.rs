//! Image rows and tags.

use super::{from_json, to_json, StateDb, IMAGES, TAGS};
use crate::error::{EngineError, Result};
use redb::{ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};

/// One stored image: its config blob and layers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// `sha256:<hex>` of the config blob (Docker's image id).
    pub id: String,
    /// Layers bottom-most first.
    pub layers: Vec<LayerRecord>,
    /// Registry manifest digests (`name@sha256:...`) known for this image.
    #[serde(default)]
    pub repo_digests: Vec<String>,
    /// RFC 3339 creation time from the image config.
    pub created: Option<String>,
    /// Unpacked size in bytes.
    pub size: u64,
    /// When the image was stored (RFC 3339).
    pub stored_at: String,
    /// The local image this one was made from by a build step or a commit (dockerd's `Parent`); none for
    /// pulled or loaded images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

/// One layer of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// `sha256:<hex>` of the uncompressed tar: names the unpacked directory.
    pub diff_id: String,
    /// Digest of the blob as stored (compressed or not).
    pub blob: String,
    /// Unpacked size in bytes.
    pub size: u64,
}

impl StateDb {
    /// Stores an image and points `tags` at it (moving tags from other images).
    pub fn put_image(&self, rec: &ImageRecord, tags: &[String]) -> Result<()> {
        let tx = self.db.begin_write()?;
        {
            let mut images = tx.open_table(IMAGES)?;
            images.insert(rec.id.as_str(), to_json(rec)?.as_slice())?;
            let mut t = tx.open_table(TAGS)?;
            for tag in tags {
                t.insert(tag.as_str(), rec.id.as_str())?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// One image by full id.
    pub fn image(&self, id: &str) -> Result<Option<ImageRecord>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(IMAGES)?;
        let v = t.get(id)?;
        v.map(|g| from_json(g.value())).transpose()
    }

    /// Every image.
    pub fn images(&self) -> Result<Vec<ImageRecord>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(IMAGES)?;
        let mut out = Vec::new();
        for row in t.iter()? {
            let (_, v) = row?;
            out.push(from_json(v.value())?);
        }
        Ok(out)
    }

    /// The image a fully qualified tag points at.
    pub fn tag_target(&self, tag: &str) -> Result<Option<String>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(TAGS)?;
        let v = t.get(tag)?;
        Ok(v.map(|g| g.value().to_owned()))
    }

    /// Every (tag, image id) pair.
    pub fn tags(&self) -> Result<Vec<(String, String)>> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(TAGS)?;
        let mut out = Vec::new();
        for row in t.iter()? {
            let (k, v) = row?;
            out.push((k.value().to_owned(), v.value().to_owned()));
        }
        Ok(out)
    }

    /// Points a tag at an image.
    pub fn set_tag(&self, tag: &str, id: &str) -> Result<()> {
        let tx = self.db.begin_write()?;
        {
            if tx.open_table(IMAGES)?.get(id)?.is_none() {
                return Err(EngineError::NotFound(format!("No such image: {id}")));
            }
            tx.open_table(TAGS)?.insert(tag, id)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Removes a tag; returns whether it existed.
    pub fn remove_tag(&self, tag: &str) -> Result<bool> {
        let tx = self.db.begin_write()?;
        let existed = tx.open_table(TAGS)?.remove(tag)?.is_some();
        tx.commit()?;
        Ok(existed)
    }

    /// Removes an image row and every tag pointing at it.
    pub fn remove_image(&self, id: &str) -> Result<Vec<String>> {
        let tx = self.db.begin_write()?;
        let removed_tags;
        {
            let mut tags = tx.open_table(TAGS)?;
            let doomed: Vec<String> = tags
                .iter()?
                .filter_map(|r| r.ok())
                .filter(|(_, v)| v.value() == id)
                .map(|(k, _)| k.value().to_owned())
                .collect();
            for t in &doomed {
                tags.remove(t.as_str())?;
            }
            removed_tags = doomed;
            tx.open_table(IMAGES)?.remove(id)?;
        }
        tx.commit()?;
        Ok(removed_tags)
    }
}
