//! The berth CLI's side of berth's incremental context transfer (engine/src/build/sync.rs): for a context it has
//! sent to berth's engine before, the regular files whose digest, size, mode and mtime are as the engine accepted
//! them last time are listed in `.berth-build/manifest.json` (`sync.keep`) instead of being sent, and files are
//! only read when their stat changed (a per-context stat cache: size, mtime, ctime, inode -> sha256).
//!
//! The state of a context lives in `$XDG_CACHE_HOME/berth/build-contexts/<sha256 of its path>.json` (else
//! `~/.cache/...`): the key the engine keeps the context under, the stat cache, and what the engine accepted. An
//! engine that does not hold what the manifest keeps answers 409, and the CLI sends the whole context again.
//! Only used with berth's engine (dockerd would take `.berth-build/` as part of the context).

use anyhow::Result;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A stat-cache entry is trusted only when the file last changed this long before it was hashed: a change in
/// the same coarse clock tick as the hashing would leave the stat as it was (git's "racily clean" files).
const RACY_NS: i128 = 100_000_000;

/// What the engine holds of a file: the fields it checks a kept file against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Held {
    digest: String,
    size: u64,
    mode: u32,
    mtime: u64,
}

/// A file's stat when it was hashed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Seen {
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
    ino: u64,
    dev: u64,
    hashed_at_ns: i128,
    digest: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    key: String,
    #[serde(default)]
    seen: BTreeMap<String, Seen>,
    #[serde(default)]
    accepted: BTreeMap<String, Held>,
}

/// The sync of one context for one build request.
#[derive(Debug)]
pub struct ContextSync {
    file: PathBuf,
    state: State,
    /// What this request makes the engine hold (the accepted set once it answers 200).
    next: BTreeMap<String, Held>,
    keep: Vec<serde_json::Value>,
}

/// A regular file's fate in the tar: sent with this content, or kept (left out).
pub enum FileAction {
    /// Send it; the bytes were read to hash it (None: not read, stream it from the file).
    Send(Option<Vec<u8>>),
    /// Leave it out: the engine holds it.
    Keep,
}

fn now_ns() -> i128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

/// A key no other context or client picks: the context's path, the time and the process, hashed.
fn unique(context: &Path) -> String {
    let seed = format!("{}\0{}\0{}", context.display(), now_ns(), std::process::id());
    hex::encode(&Sha256::digest(seed.as_bytes())[..16])
}

fn ns(s: i64, n: i64) -> i128 {
    i128::from(s) * 1_000_000_000 + i128::from(n)
}

impl ContextSync {
    /// The sync state of `context` (None: no cache directory to keep it in).
    pub fn open(context: &Path) -> Option<ContextSync> {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
        let id = hex::encode(Sha256::digest(context.as_os_str().as_encoded_bytes()));
        let file = base.join("berth").join("build-contexts").join(format!("{id}.json"));
        Some(ContextSync::at(file, context))
    }

    /// The sync state kept in `file`, for `context`.
    fn at(file: PathBuf, context: &Path) -> ContextSync {
        let state = std::fs::read(&file)
            .ok()
            .and_then(|b| serde_json::from_slice::<State>(&b).ok())
            .filter(|s| !s.key.is_empty())
            .unwrap_or_else(|| State {
                key: unique(context),
                ..State::default()
            });
        ContextSync {
            file,
            state,
            next: BTreeMap::new(),
            keep: Vec::new(),
        }
    }

    /// Whether this request sends every file (nothing kept).
    pub fn is_full(&self) -> bool {
        self.keep.is_empty()
    }

    /// Forgets what the engine was thought to hold (after a 409): everything is sent.
    pub fn resend_all(&mut self) {
        self.state.accepted.clear();
        self.next.clear();
        self.keep.clear();
    }

    /// Decides about the regular file `rel` at `path` (`meta`: its lstat; `mode`/`mtime` as the tar header has
    /// them): kept when the engine holds it as it is, else sent.
    pub fn file(
        &mut self,
        rel: &str,
        path: &Path,
        meta: &std::fs::Metadata,
        mode: u32,
        mtime: u64,
    ) -> Result<FileAction> {
        let (digest, data) = self.digest(rel, path, meta)?;
        let held = Held {
            digest,
            size: meta.len(),
            mode,
            mtime,
        };
        let keep = self.state.accepted.get(rel) == Some(&held);
        if keep {
            self.keep.push(serde_json::json!({
                "path": rel, "digest": held.digest, "size": held.size, "mode": held.mode, "mtime": held.mtime
            }));
        }
        self.next.insert(rel.to_owned(), held);
        Ok(if keep { FileAction::Keep } else { FileAction::Send(data) })
    }

    /// The file's sha256: from the stat cache when its stat is unchanged (and not racy), else read and hashed.
    fn digest(&mut self, rel: &str, path: &Path, meta: &std::fs::Metadata) -> Result<(String, Option<Vec<u8>>)> {
        let stat = |hashed_at_ns: i128, digest: String| Seen {
            size: meta.len(),
            mtime_ns: ns(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: ns(meta.ctime(), meta.ctime_nsec()),
            ino: meta.ino(),
            dev: meta.dev(),
            hashed_at_ns,
            digest,
        };
        if let Some(seen) = self.state.seen.get(rel) {
            let same = stat(seen.hashed_at_ns, seen.digest.clone()) == *seen;
            if same && seen.ctime_ns.max(seen.mtime_ns) + RACY_NS < seen.hashed_at_ns {
                return Ok((seen.digest.clone(), None));
            }
        }
        // The time is taken before reading: a change after it shows as a newer ctime next time.
        let at = now_ns();
        let data = std::fs::read(path)?;
        let digest = hex::encode(Sha256::digest(&data));
        self.state.seen.insert(rel.to_owned(), stat(at, digest.clone()));
        Ok((digest, Some(data)))
    }

    /// The manifest's `sync` member.
    pub fn manifest(&self) -> serde_json::Value {
        serde_json::json!({ "key": self.state.key, "keep": self.keep })
    }

    /// Records that the engine accepted the request (it answered 200): it now holds this request's files.
    pub fn accepted(mut self) {
        self.state.accepted = std::mem::take(&mut self.next);
        // Files gone from the context leave the stat cache too.
        let accepted = &self.state.accepted;
        self.state.seen.retain(|k, _| accepted.contains_key(k));
        let save = || -> std::io::Result<()> {
            let dir = self.file.parent().ok_or_else(|| std::io::Error::other("no parent"))?;
            std::fs::create_dir_all(dir)?;
            let tmp = dir.join(format!(".{}.{}", std::process::id(), now_ns()));
            std::fs::write(&tmp, serde_json::to_vec(&self.state)?)?;
            std::fs::rename(&tmp, &self.file)
        };
        // Without the state the next build only sends everything again.
        if let Err(e) = save() {
            tracing::debug!("keeping the build context state {}: {e}", self.file.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide(file: &Path, ctx: &Path, rel: &str) -> (bool, ContextSync) {
        let mut sync = ContextSync::at(file.to_owned(), ctx);
        let path = ctx.join(rel);
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let mtime = u64::try_from(meta.mtime()).unwrap();
        let kept = matches!(sync.file(rel, &path, &meta, 0o644, mtime).unwrap(), FileAction::Keep);
        (kept, sync)
    }

    #[test]
    fn a_file_is_kept_only_as_the_engine_accepted_it() {
        let tmp = tempfile::tempdir().unwrap();
        let (state, ctx) = (tmp.path().join("state.json"), tmp.path().join("ctx"));
        std::fs::create_dir_all(&ctx).unwrap();
        std::fs::write(ctx.join("a"), "one").unwrap();
        let (kept, sync) = decide(&state, &ctx, "a");
        assert!(!kept, "nothing was accepted yet");
        // Not accepted (the engine refused or never answered): still sent.
        assert!(!decide(&state, &ctx, "a").0);
        sync.accepted();
        let (kept, sync) = decide(&state, &ctx, "a");
        assert!(kept, "accepted and unchanged");
        assert_eq!(sync.manifest()["keep"][0]["path"], "a");
        let key = sync.manifest()["key"].clone();
        sync.accepted();
        // Same size, same mtime, new content: the ctime changed, so it is read again and sent.
        let mtime = std::fs::metadata(ctx.join("a")).unwrap().modified().unwrap();
        std::fs::write(ctx.join("a"), "two").unwrap();
        let f = std::fs::File::options().write(true).open(ctx.join("a")).unwrap();
        f.set_modified(mtime).unwrap();
        let (kept, mut sync) = decide(&state, &ctx, "a");
        assert!(!kept, "an edit is sent");
        assert_eq!(sync.manifest()["key"], key, "the key stays");
        sync.resend_all();
        assert!(sync.is_full());
    }
}
