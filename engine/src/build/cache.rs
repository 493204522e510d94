//! The build cache: a step's key (parent image, instruction, build args in scope, source content) maps to the image
//! it made, in `<root>/build/cache/<key>`. An entry whose image is gone is a miss.

use super::image::ImageState;
use crate::images::ImageStore;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The cache of one engine root.
pub struct Cache {
    dir: PathBuf,
}

/// A step's cache key.
pub fn key(parent: Option<&str>, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(parent.unwrap_or("scratch"));
    for p in parts {
        h.update([0u8]);
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())
}

impl Cache {
    /// The cache under `root`.
    pub fn open(root: &Path) -> Self {
        let dir = root.join("build").join("cache");
        let _ = std::fs::create_dir_all(&dir);
        Cache { dir }
    }

    /// The image a step with `key` made, if it is still there.
    pub fn get(&self, images: &ImageStore, key: &str) -> Option<ImageState> {
        let id = std::fs::read_to_string(self.dir.join(key)).ok()?;
        ImageState::load(images, id.trim()).ok()
    }

    /// Remembers that `key` made `id`.
    pub fn put(&self, key: &str, id: &str) {
        let tmp = self.dir.join(format!(".{key}.{:x}", rand::random::<u32>()));
        if std::fs::write(&tmp, id)
            .and_then(|_| std::fs::rename(&tmp, self.dir.join(key)))
            .is_err()
        {
            let _ = std::fs::remove_file(&tmp);
        }
    }

    /// Forgets every entry (`POST /build/prune`); returns how many there were.
    pub fn clear(&self) -> u64 {
        let mut n = 0;
        if let Ok(rd) = std::fs::read_dir(&self.dir) {
            for e in rd.flatten() {
                if std::fs::remove_file(e.path()).is_ok() {
                    n += 1;
                }
            }
        }
        n
    }
}
