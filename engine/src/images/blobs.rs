//! Content-addressed blob store: `<root>/blobs/sha256/<hex>`, every blob verified by its digest.

use crate::error::{EngineError, IoContext, Result};
use sha2::{Digest as _, Sha256};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The blob store of one engine root.
#[derive(Debug, Clone)]
pub struct BlobStore {
    dir: PathBuf,
    tmp: PathBuf,
}

/// A blob written to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutBlob {
    /// `sha256:<hex>` of the content.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
}

impl BlobStore {
    /// Opens (creating) the store under `root`.
    pub fn open(root: &Path) -> Result<Self> {
        let dir = root.join("blobs").join("sha256");
        let tmp = root.join("tmp");
        std::fs::create_dir_all(&dir).ctx(|| format!("creating {}", dir.display()))?;
        std::fs::create_dir_all(&tmp).ctx(|| format!("creating {}", tmp.display()))?;
        Ok(BlobStore { dir, tmp })
    }

    /// Path of a blob (which may not exist).
    pub fn path(&self, digest: &str) -> Result<PathBuf> {
        let hex = digest_hex(digest)?;
        Ok(self.dir.join(hex))
    }

    /// Whether the blob is present.
    pub fn contains(&self, digest: &str) -> bool {
        self.path(digest).map(|p| p.is_file()).unwrap_or(false)
    }

    /// Opens a stored blob for reading.
    pub fn open_blob(&self, digest: &str) -> Result<File> {
        let p = self.path(digest)?;
        File::open(&p).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => EngineError::NotFound(format!("blob {digest} is not in the store")),
            _ => EngineError::internal(format!("opening {}", p.display()), e),
        })
    }

    /// Streams `src` into the store, hashing as it goes; when `expected` is given the content must match it
    /// (nothing is stored otherwise). Concurrent puts of the same content are fine: the rename is atomic.
    pub fn put(&self, src: &mut dyn Read, expected: Option<&str>) -> Result<PutBlob> {
        let tmp = tempfile::NamedTempFile::new_in(&self.tmp).ctx(|| "creating a temporary blob".into())?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 256 * 1024];
        let mut out = std::io::BufWriter::new(tmp.as_file());
        loop {
            let n = src.read(&mut buf).ctx(|| "reading blob content".into())?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n]).ctx(|| "writing a temporary blob".into())?;
            size += n as u64;
        }
        out.flush().ctx(|| "writing a temporary blob".into())?;
        drop(out);
        let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
        if let Some(exp) = expected {
            if exp != digest {
                return Err(EngineError::BadRequest(format!(
                    "blob content does not match its digest: expected {exp}, got {digest}"
                )));
            }
        }
        let dst = self.path(&digest)?;
        if !dst.exists() {
            tmp.persist(&dst)
                .map_err(|e| EngineError::internal(format!("storing {}", dst.display()), e))?;
        }
        Ok(PutBlob { digest, size })
    }

    /// Stores an in-memory blob.
    pub fn put_bytes(&self, data: &[u8], expected: Option<&str>) -> Result<PutBlob> {
        self.put(&mut &data[..], expected)
    }

    /// Reads a whole (small) blob, re-verifying its digest.
    pub fn read_verified(&self, digest: &str) -> Result<Vec<u8>> {
        let mut data = Vec::new();
        self.open_blob(digest)?
            .read_to_end(&mut data)
            .ctx(|| format!("reading blob {digest}"))?;
        let actual = format!("sha256:{}", hex::encode(Sha256::digest(&data)));
        if actual != digest {
            return Err(EngineError::Internal(format!(
                "blob {digest} is corrupt in the store (content hashes to {actual})"
            )));
        }
        Ok(data)
    }

    /// Removes a blob (absent is fine).
    pub fn remove(&self, digest: &str) -> Result<()> {
        let p = self.path(digest)?;
        match std::fs::remove_file(&p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(EngineError::internal(format!("removing {}", p.display()), e))
            }
            _ => Ok(()),
        }
    }

    /// Digests of every stored blob.
    pub fn list(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(&self.dir).ctx(|| format!("listing {}", self.dir.display()))? {
            let e = e.ctx(|| format!("listing {}", self.dir.display()))?;
            if let Some(name) = e.file_name().to_str() {
                out.push(format!("sha256:{name}"));
            }
        }
        Ok(out)
    }
}

/// The hex part of a `sha256:<hex>` digest, validated (so it is safe as a file name).
pub fn digest_hex(digest: &str) -> Result<&str> {
    let hex = digest
        .strip_prefix("sha256:")
        .ok_or_else(|| EngineError::BadRequest(format!("digest {digest:?}: only sha256 digests are supported")))?;
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(EngineError::BadRequest(format!(
            "digest {digest:?}: expected sha256:<64 lowercase hex>"
        )));
    }
    Ok(hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_verifies_and_dedups() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let a = store.put_bytes(b"hello", None).unwrap();
        assert_eq!(
            a.digest,
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert!(store.contains(&a.digest));
        assert_eq!(store.read_verified(&a.digest).unwrap(), b"hello");
        let wrong = format!("sha256:{}", "0".repeat(64));
        assert!(matches!(
            store.put_bytes(b"x", Some(&wrong)),
            Err(EngineError::BadRequest(_))
        ));
        assert!(!store.contains(&wrong));
        assert_eq!(store.list().unwrap().len(), 1);
        assert!(digest_hex("sha256:../../etc").is_err());
    }
}
