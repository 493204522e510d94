//! berth's incremental context transfer (part of its `.berth-build/` extension of `POST /build`, see ext.rs): the
//! berth CLI leaves out of the tar the regular files the engine already holds from its last build of the same
//! context and lists them in the manifest instead:
//!
//! ```json
//! {"sync": {"key": "<client-chosen id>", "keep": [{"path": "big.bin", "digest": "<sha256 hex>", "size": 52428800,
//!           "mode": 420, "mtime": 1764950000}]}}
//! ```
//!
//! The engine keeps, per key, the last context it built (`<root>/build/contexts/<key>/tree`, hard links of the
//! files, and `index.json`: path -> digest, size, mode, mtime, owner, the digest computed by the engine from the
//! content it received). A kept entry must match the index exactly, else the request is refused with 409 and the
//! client sends everything again; matching files are hard-linked into the build's context, so the context the
//! build sees is the one a full tar would have made. The index's digests also let COPY reuse the content hash of
//! unchanged sources (copy.rs `content_hash_with`) without reading them.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The `sync` member of `.berth-build/manifest.json`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncRequest {
    key: String,
    #[serde(default)]
    keep: Vec<Kept>,
}

/// A regular file of the context that the tar leaves out: the engine has it from the last build of `key`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Kept {
    path: String,
    digest: String,
    size: u64,
    mode: u32,
    mtime: u64,
}

/// A regular file of a context as the engine saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// sha256 of the content, hex.
    pub digest: String,
    size: u64,
    mode: u32,
    mtime: u64,
    uid: u32,
    gid: u32,
}

/// The regular files of a build's context (paths relative to it) with their digests.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ContextIndex {
    files: BTreeMap<String, FileEntry>,
}

impl ContextIndex {
    /// The digest of the file at `rel` (relative to the context), if the index has it.
    pub fn digest(&self, rel: &str) -> Option<&str> {
        self.files.get(rel).map(|e| e.digest.as_str())
    }

    /// Records the file at `rel`.
    pub fn insert(&mut self, rel: String, entry: FileEntry) {
        self.files.insert(rel, entry);
    }

    /// Forgets the file at `rel`.
    pub fn remove(&mut self, rel: &str) {
        self.files.remove(rel);
    }
}

impl FileEntry {
    /// The entry of a file with content `digest` and metadata `m`.
    pub fn new(digest: String, m: &std::fs::Metadata) -> Self {
        FileEntry {
            digest,
            size: m.len(),
            mode: m.mode() & 0o7777,
            mtime: u64::try_from(m.mtime()).unwrap_or(0),
            uid: m.uid(),
            gid: m.gid(),
        }
    }
}

/// Why a synced context could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The request is malformed (400); the message names the field.
    #[error("{0}")]
    Bad(String),
    /// The engine does not hold what the request keeps (409): the client should send the whole context.
    #[error("context sync: {0}; send the whole context")]
    Stale(String),
    /// Anything else (the build fails with it).
    #[error("context sync: {0}")]
    Io(String),
}

const FIELD: &str = ".berth-build/manifest.json: sync";

impl SyncRequest {
    /// Checks the fields strictly: a key of `[A-Za-z0-9_-]{1,64}`, clean relative paths inside the context
    /// (never under `.berth-build/`, no duplicates), 64-hex digests.
    pub fn validate(&self) -> Result<(), SyncError> {
        let key_ok = (1..=64).contains(&self.key.len())
            && self
                .key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !key_ok {
            return Err(SyncError::Bad(format!(
                "{FIELD}.key: {:?} is not 1-64 of [A-Za-z0-9_-]",
                self.key
            )));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, k) in self.keep.iter().enumerate() {
            let (clean, escaped) = super::paths::clean(&k.path);
            let reserved = clean == super::ext::DIR || clean.starts_with(&format!("{}/", super::ext::DIR));
            if escaped || clean != k.path || clean.is_empty() || reserved {
                return Err(SyncError::Bad(format!(
                    "{FIELD}.keep[{i}].path: {:?} is not a clean relative path inside the context",
                    k.path
                )));
            }
            if !seen.insert(k.path.as_str()) {
                return Err(SyncError::Bad(format!(
                    "{FIELD}.keep[{i}].path: {:?} is listed twice",
                    k.path
                )));
            }
            if k.digest.len() != 64 || !k.digest.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(SyncError::Bad(format!(
                    "{FIELD}.keep[{i}].digest: expected 64 hex digits"
                )));
            }
        }
        Ok(())
    }
}

/// One lock per key: builds of the same context take turns to read and replace its kept copy.
fn key_lock(key: &str) -> Arc<Mutex<()>> {
    static LOCKS: Mutex<Option<HashMap<String, Arc<Mutex<()>>>>> = Mutex::new(None);
    let mut g = LOCKS.lock().unwrap_or_else(|p| p.into_inner());
    g.get_or_insert_with(HashMap::new)
        .entry(key.to_owned())
        .or_default()
        .clone()
}

fn kept_dir(root: &Path, key: &str) -> PathBuf {
    root.join("build").join("contexts").join(key)
}

/// Completes the unpacked context `ctx` with the files `req` keeps, indexes it, and keeps it as the key's copy
/// for the next build. Called after `.berth-build/` was taken out and before anything reads the context.
pub fn apply(root: &Path, ctx: &Path, req: &SyncRequest) -> Result<ContextIndex, SyncError> {
    req.validate()?;
    let lock = key_lock(&req.key);
    let _held = lock.lock().unwrap_or_else(|p| p.into_inner());
    let dir = kept_dir(root, &req.key);
    let old: ContextIndex = match std::fs::read(dir.join("index.json")) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| SyncError::Io(format!("reading the kept index: {e}")))?,
        Err(_) if req.keep.is_empty() => ContextIndex::default(),
        Err(_) => return Err(SyncError::Stale(format!("no kept context for key {}", req.key))),
    };
    link_kept(&dir.join("tree"), ctx, req, &old)?;
    let index = index(ctx, req, &old).map_err(|e| SyncError::Io(format!("indexing the context: {e}")))?;
    replace_kept(&dir, ctx, &index).map_err(|e| SyncError::Io(format!("keeping the context: {e}")))?;
    Ok(index)
}

/// Hard-links each kept file from the key's copy into `ctx`; directories it passes through keep the times the
/// tar gave them.
fn link_kept(tree: &Path, ctx: &Path, req: &SyncRequest, old: &ContextIndex) -> Result<(), SyncError> {
    let mut touched: BTreeMap<PathBuf, std::fs::Metadata> = BTreeMap::new();
    for (i, k) in req.keep.iter().enumerate() {
        let want = old.files.get(&k.path);
        let same =
            want.is_some_and(|e| e.digest == k.digest && e.size == k.size && e.mode == k.mode && e.mtime == k.mtime);
        let src = tree.join(&k.path);
        let real = src.symlink_metadata().is_ok_and(|m| m.is_file() && m.len() == k.size);
        if !same || !real {
            return Err(SyncError::Stale(format!("{} is not the kept {}", k.path, k.path)));
        }
        let parent = real_parent(ctx, &k.path, &mut touched)
            .map_err(|e| SyncError::Bad(format!("{FIELD}.keep[{i}].path: {e}")))?;
        let dst = parent.join(k.path.rsplit('/').next().unwrap_or(&k.path));
        if dst.symlink_metadata().is_ok() {
            return Err(SyncError::Bad(format!(
                "{FIELD}.keep[{i}].path: {:?} is also in the tar",
                k.path
            )));
        }
        std::fs::hard_link(&src, &dst).map_err(|e| SyncError::Io(format!("linking {}: {e}", k.path)))?;
    }
    for (d, m) in touched {
        let t = |s: i64, ns: i64| nix::sys::time::TimeSpec::new(s, ns);
        let (a, mt) = (t(m.atime(), m.atime_nsec()), t(m.mtime(), m.mtime_nsec()));
        nix::sys::stat::utimensat(None, &d, &a, &mt, nix::sys::stat::UtimensatFlags::NoFollowSymlink)
            .map_err(|e| SyncError::Io(format!("restoring the times of {}: {e}", d.display())))?;
    }
    Ok(())
}

/// The directory `rel`'s parent names in `ctx`: every element a real directory (made, 0755, when missing),
/// never a symlink, so a link never lands outside the context. Records each directory's times before the first
/// change.
fn real_parent(ctx: &Path, rel: &str, touched: &mut BTreeMap<PathBuf, std::fs::Metadata>) -> Result<PathBuf, String> {
    let mut at = ctx.to_owned();
    let parts: Vec<&str> = rel.split('/').collect();
    for part in &parts[..parts.len() - 1] {
        let next = at.join(part);
        match next.symlink_metadata() {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(format!("{part} in {rel:?} is not a directory in the context")),
            Err(_) => {
                remember(&at, touched)?;
                std::fs::create_dir(&next).map_err(|e| format!("creating {part}: {e}"))?;
            }
        }
        at = next;
    }
    remember(&at, touched)?;
    Ok(at)
}

fn remember(dir: &Path, touched: &mut BTreeMap<PathBuf, std::fs::Metadata>) -> Result<(), String> {
    if !touched.contains_key(dir) {
        let m = dir.symlink_metadata().map_err(|e| format!("{}: {e}", dir.display()))?;
        touched.insert(dir.to_owned(), m);
    }
    Ok(())
}

/// Every regular file of `ctx` with its digest: a kept file's is the index's, a received one is hashed here.
fn index(ctx: &Path, req: &SyncRequest, old: &ContextIndex) -> std::io::Result<ContextIndex> {
    let kept: HashMap<&str, &str> = req.keep.iter().map(|k| (k.path.as_str(), k.digest.as_str())).collect();
    let mut files = BTreeMap::new();
    for e in walkdir::WalkDir::new(ctx).min_depth(1) {
        let e = e.map_err(std::io::Error::other)?;
        if !e.file_type().is_file() {
            continue;
        }
        let rel = e
            .path()
            .strip_prefix(ctx)
            .map_err(std::io::Error::other)?
            .to_string_lossy()
            .into_owned();
        let m = e.path().symlink_metadata()?;
        let digest = match kept.get(rel.as_str()) {
            Some(_) => old.files[&rel].digest.clone(),
            None => file_digest(e.path())?,
        };
        files.insert(rel, FileEntry::new(digest, &m));
    }
    Ok(ContextIndex { files })
}

/// sha256 of a file's content, hex.
pub fn file_digest(path: &Path) -> std::io::Result<String> {
    let mut h = Sha256::new();
    std::io::copy(&mut std::fs::File::open(path)?, &mut h)?;
    Ok(hex::encode(h.finalize()))
}

/// Makes `ctx`'s regular files (hard links) and `index` the key's kept copy, replacing the old one whole.
fn replace_kept(dir: &Path, ctx: &Path, index: &ContextIndex) -> std::io::Result<()> {
    let parent = dir.parent().ok_or_else(|| std::io::Error::other("no parent"))?;
    std::fs::create_dir_all(parent)?;
    let name = dir.file_name().unwrap_or_default().to_string_lossy().into_owned();
    let fresh = parent.join(format!(".{name}.new.{:016x}", rand::random::<u64>()));
    let tree = fresh.join("tree");
    std::fs::create_dir_all(&tree)?;
    for rel in index.files.keys() {
        let dst = tree.join(rel);
        if let Some(p) = dst.parent() {
            std::fs::create_dir_all(p)?;
        }
        std::fs::hard_link(ctx.join(rel), dst)?;
    }
    std::fs::write(fresh.join("index.json"), serde_json::to_vec(index)?)?;
    let gone = parent.join(format!(".{name}.old.{:016x}", rand::random::<u64>()));
    let had = std::fs::rename(dir, &gone).is_ok();
    std::fs::rename(&fresh, dir)?;
    if had {
        std::fs::remove_dir_all(&gone)?;
    }
    Ok(())
}

/// Forgets every kept context (`POST /build/prune`).
pub fn prune(root: &Path) {
    let _ = std::fs::remove_dir_all(root.join("build").join("contexts"));
    let _ = std::fs::remove_dir_all(root.join("build").join("sums"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(json: &str) -> SyncRequest {
        serde_json::from_str(json).unwrap()
    }

    fn write(p: &Path, data: &str) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }

    #[test]
    fn bad_fields_are_named() {
        let d = "0".repeat(64);
        for (json, field) in [
            (r#"{"key":"a/b"}"#.to_owned(), "sync.key"),
            (
                format!(r#"{{"key":"k","keep":[{{"path":"../x","digest":"{d}","size":1,"mode":420,"mtime":0}}]}}"#),
                "keep[0].path",
            ),
            (
                format!(
                    r#"{{"key":"k","keep":[{{"path":".berth-build/s","digest":"{d}","size":1,"mode":420,"mtime":0}}]}}"#
                ),
                "keep[0].path",
            ),
            (
                r#"{"key":"k","keep":[{"path":"a","digest":"xyz","size":1,"mode":420,"mtime":0}]}"#.to_owned(),
                "keep[0].digest",
            ),
        ] {
            let err = req(&json).validate().unwrap_err().to_string();
            assert!(err.contains(field), "{err} names {field}");
        }
    }

    #[test]
    fn kept_files_come_back_and_stale_ones_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let (root, c1, c2) = (tmp.path().join("root"), tmp.path().join("c1"), tmp.path().join("c2"));
        write(&c1.join("src/a"), "one");
        write(&c1.join("b"), "two");
        let first = apply(&root, &c1, &req(r#"{"key":"k"}"#)).unwrap();
        let digest = first.digest("src/a").unwrap().to_owned();
        assert_eq!(digest, hex::encode(Sha256::digest(b"one")));
        let m = c1.join("src/a").symlink_metadata().unwrap();
        // The second context has `b` again (sent) and keeps `src/a` (a directory entry came in the tar).
        std::fs::create_dir_all(c2.join("src")).unwrap();
        write(&c2.join("b"), "three");
        let keep = format!(
            r#"{{"key":"k","keep":[{{"path":"src/a","digest":"{digest}","size":3,"mode":{},"mtime":{}}}]}}"#,
            m.mode() & 0o7777,
            m.mtime()
        );
        let second = apply(&root, &c2, &req(&keep)).unwrap();
        assert_eq!(std::fs::read_to_string(c2.join("src/a")).unwrap(), "one");
        assert_eq!(second.digest("b").unwrap(), hex::encode(Sha256::digest(b"three")));
        // A digest the kept copy does not have is stale (409), not a wrong build.
        let c3 = tmp.path().join("c3");
        std::fs::create_dir_all(&c3).unwrap();
        let wrong = keep.replace(&digest, &"f".repeat(64));
        assert!(matches!(apply(&root, &c3, &req(&wrong)), Err(SyncError::Stale(_))));
    }

    #[test]
    fn a_kept_file_never_lands_through_a_symlink() {
        let tmp = tempfile::tempdir().unwrap();
        let (root, c1, c2) = (tmp.path().join("root"), tmp.path().join("c1"), tmp.path().join("c2"));
        write(&c1.join("lib/a"), "one");
        let first = apply(&root, &c1, &req(r#"{"key":"k"}"#)).unwrap();
        let m = c1.join("lib/a").symlink_metadata().unwrap();
        std::fs::create_dir_all(&c2).unwrap();
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, c2.join("lib")).unwrap();
        let keep = format!(
            r#"{{"key":"k","keep":[{{"path":"lib/a","digest":"{}","size":3,"mode":{},"mtime":{}}}]}}"#,
            first.digest("lib/a").unwrap(),
            m.mode() & 0o7777,
            m.mtime()
        );
        let err = apply(&root, &c2, &req(&keep)).unwrap_err();
        assert!(
            matches!(err, SyncError::Bad(ref m) if m.contains("keep[0].path")),
            "{err}"
        );
        assert!(!outside.join("a").exists());
    }
}
