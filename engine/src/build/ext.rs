//! berth's extension of `POST /build`: build secrets and named build contexts (Compose `build.secrets` and
//! `build.additional_contexts`), which the classic API has no parameter for. The berth CLI sends them inside the
//! context tar under the reserved directory `.berth-build/`, described by `.berth-build/manifest.json`:
//!
//! ```json
//! {"secrets":  {"<id>": {"file": "secrets/0", "uid": 0, "gid": 0, "mode": 256}},
//!  "contexts": {"<name>": {"dir": "contexts/0"}, "<other>": {"image": "busybox:latest"}}}
//! ```
//!
//! The engine moves the directory out of the unpacked context before it reads the Dockerfile or `.dockerignore`,
//! so no COPY, ADD, bind mount or cache key of the context can see it. The berth CLI only sends it to berth's
//! engine (dockerd would take it as part of the context).

use super::unpack::Held;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The reserved directory of the context tar.
pub const DIR: &str = ".berth-build";

/// A secret a RUN may mount: its bytes (held in memory, never on disk), and the owner and mode the client asked
/// for (a `--mount` that sets its own wins).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret {
    /// The bytes.
    pub data: std::sync::Arc<Vec<u8>>,
    /// Owner uid.
    pub uid: Option<u32>,
    /// Owner gid.
    pub gid: Option<u32>,
    /// Permission bits.
    pub mode: Option<u32>,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the bytes (logs).
        f.debug_struct("Secret")
            .field("len", &self.data.len())
            .field("uid", &self.uid)
            .field("gid", &self.gid)
            .field("mode", &self.mode)
            .finish()
    }
}

/// A named build context: `FROM <name>` and `COPY --from=<name>` read it before any stage or image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Named {
    /// A directory sent in the tar.
    Dir(PathBuf),
    /// An image reference (pulled when missing).
    Image(String),
}

/// What the client sent beside the context.
#[derive(Debug, Clone, Default)]
pub struct Extensions {
    /// Secrets by id.
    pub secrets: HashMap<String, Secret>,
    /// Named contexts by name.
    pub contexts: HashMap<String, Named>,
    /// Regular files left out of the tar because the engine kept them (sync.rs).
    pub sync: Option<super::sync::SyncRequest>,
    /// The digests of the context's regular files, when it was synced (COPY's content hash reuses them).
    pub index: Option<std::sync::Arc<super::sync::ContextIndex>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    #[serde(default)]
    secrets: HashMap<String, SecretEntry>,
    #[serde(default)]
    contexts: HashMap<String, ContextEntry>,
    #[serde(default)]
    sync: Option<super::sync::SyncRequest>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretEntry {
    file: String,
    uid: Option<u32>,
    gid: Option<u32>,
    mode: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
enum ContextEntry {
    Dir(String),
    Image(String),
}

impl Extensions {
    /// Moves `<ctx>/.berth-build` (when it holds a manifest) to `out` and reads it, the secrets' bytes from
    /// `held` (the unpacker kept `.berth-build/secrets/` in memory); without a manifest the context is left as
    /// the tar made it (held files written back) and nothing is extended.
    pub fn take(ctx: &Path, out: &Path, held: HashMap<String, Held>) -> Result<Extensions, String> {
        let dir = ctx.join(DIR);
        if !dir.join("manifest.json").is_file() {
            super::unpack::write_back(ctx, held).map_err(|e| format!("unpacking the build context: {e}"))?;
            return Ok(Extensions::default());
        }
        std::fs::rename(&dir, out).map_err(|e| format!("moving {DIR} out of the build context: {e}"))?;
        let text =
            std::fs::read_to_string(out.join("manifest.json")).map_err(|e| format!("{DIR}/manifest.json: {e}"))?;
        let m: Manifest = serde_json::from_str(&text).map_err(|e| format!("{DIR}/manifest.json: {e}"))?;
        let inside = |rel: &str, what: &str| -> Result<PathBuf, String> {
            let (clean, escaped) = super::paths::clean(rel);
            let p = out.join(clean);
            // Not a symlink: the tar could point one anywhere on the engine's host.
            let real = p.symlink_metadata().is_ok_and(|m| !m.file_type().is_symlink());
            if escaped || !real {
                return Err(format!("{DIR}/manifest.json: {what}: {rel} is not in {DIR}"));
            }
            Ok(p)
        };
        let mut ext = Extensions {
            sync: m.sync,
            ..Extensions::default()
        };
        for (id, s) in m.secrets {
            let (clean, escaped) = super::paths::clean(&s.file);
            let data = held
                .get(&format!("{DIR}/{clean}"))
                .filter(|_| !escaped)
                .map(|h| std::sync::Arc::new(h.data.clone()))
                .ok_or_else(|| {
                    format!(
                        "{DIR}/manifest.json: secret {id}: {} is not a file in {DIR}/secrets/",
                        s.file
                    )
                })?;
            let secret = Secret {
                data,
                uid: s.uid,
                gid: s.gid,
                mode: s.mode,
            };
            ext.secrets.insert(id, secret);
        }
        for (name, c) in m.contexts {
            let named = match c {
                ContextEntry::Dir(rel) => Named::Dir(inside(&rel, &format!("context {name}"))?),
                ContextEntry::Image(r) => Named::Image(r),
            };
            ext.contexts.insert(name.to_lowercase(), named);
        }
        Ok(ext)
    }

    /// The named context `name` (names are case-insensitive, as stage names).
    pub fn context(&self, name: &str) -> Option<&Named> {
        self.contexts.get(&name.to_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unpacks a tar of `files` into `ctx` as context.rs does (secrets held).
    fn unpacked(ctx: &Path, files: &[(&str, &str)]) -> HashMap<String, Held> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, data) in files {
            let mut h = crate::test_tar::file_header(data.len());
            b.append_data(&mut h, path, data.as_bytes()).unwrap();
        }
        let t = b.into_inner().unwrap();
        let secrets = format!("{DIR}/secrets/");
        super::super::unpack::unpack(&t[..], ctx, &|p| p.starts_with(&secrets))
            .unwrap()
            .held
    }

    #[test]
    fn manifest_is_moved_out_and_read() {
        let tmp = tempfile::tempdir().unwrap();
        let ctx = tmp.path().join("ctx");
        let held = unpacked(
            &ctx,
            &[
                (".berth-build/secrets/0", "s3cret"),
                (".berth-build/contexts/0/a", "a"),
                (
                    ".berth-build/manifest.json",
                    r#"{"secrets":{"tok":{"file":"secrets/0","mode":288}},"contexts":{"Lib":{"dir":"contexts/0"},"base":{"image":"busybox"}}}"#,
                ),
            ],
        );
        let out = tmp.path().join("ext");
        let ext = Extensions::take(&ctx, &out, held).unwrap();
        assert!(!ctx.join(DIR).exists());
        assert!(!out.join("secrets/0").exists(), "a secret is never written");
        assert_eq!(ext.secrets["tok"].data.as_slice(), b"s3cret");
        assert_eq!(ext.secrets["tok"].mode, Some(0o440));
        assert_eq!(ext.context("lib"), Some(&Named::Dir(out.join("contexts/0"))));
        assert_eq!(ext.context("base"), Some(&Named::Image("busybox".into())));
    }

    #[test]
    fn without_a_manifest_the_directory_is_context() {
        let tmp = tempfile::tempdir().unwrap();
        let ctx = tmp.path().join("ctx");
        let held = unpacked(&ctx, &[(".berth-build/secrets/0", "mine")]);
        let ext = Extensions::take(&ctx, &tmp.path().join("ext"), held).unwrap();
        assert!(ext.secrets.is_empty());
        assert_eq!(
            std::fs::read_to_string(ctx.join(DIR).join("secrets/0")).unwrap(),
            "mine"
        );
    }

    #[test]
    fn paths_outside_the_directory_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let ctx = tmp.path().join("ctx");
        let held = unpacked(
            &ctx,
            &[(
                ".berth-build/manifest.json",
                r#"{"secrets":{"tok":{"file":"../../etc/passwd"}}}"#,
            )],
        );
        let err = Extensions::take(&ctx, &tmp.path().join("ext"), held).unwrap_err();
        assert!(err.contains("secret tok"), "{err}");
    }
}
