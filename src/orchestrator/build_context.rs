//! The build context as the docker CLI sends it to `POST /build`: the context directory as a tar (owners 0:0,
//! modes and times kept) without what `.dockerignore` excludes, the Dockerfile and `.dockerignore` always kept;
//! a Dockerfile from outside the context (or `dockerfile_inline`) is added under a hidden name that the added
//! `.dockerignore` lines keep out of the image, as `docker build -f` does.
//!
//! Applying `.dockerignore` here (not only in the engine) is what dockerd's classic builder expects: it only
//! reads the file to drop the Dockerfile and itself.

use super::build_sync::{ContextSync, FileAction};
use super::spec::{BuildSpec, DockerfileSource};
use anyhow::{bail, Context, Result};
use dockerignore::Ignore;
use sha2::{Digest, Sha256};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A context tar ready to send, and the Dockerfile's name inside it (the `dockerfile` query parameter).
pub struct ContextTar {
    /// The tar bytes.
    pub tar: Vec<u8>,
    /// Dockerfile path inside the tar.
    pub dockerfile: String,
    /// The Dockerfile's text (to point failures at their line).
    pub dockerfile_text: String,
}

/// Makes the context of `spec`; errors name the service and what is missing. With `sync` (berth's engine), the
/// regular files the engine holds as they are are left out and listed in the manifest (build_sync.rs).
pub fn make(service: &str, spec: &BuildSpec, mut sync: Option<&mut ContextSync>) -> Result<ContextTar> {
    let context = super::from_build::check_context(service, &spec.context)?;
    let (inside, text) = dockerfile(service, &context, &spec.dockerfile)?;
    let ignore_name = ignore_file(&context, inside.as_deref());
    let ignore_text = ignore_name
        .as_ref()
        .map(|n| std::fs::read_to_string(context.join(n)).unwrap_or_default())
        .unwrap_or_default();
    let ignore =
        Ignore::parse(".dockerignore", &ignore_text).map_err(|e| anyhow::anyhow!("service {service:?}: {e}"))?;
    let mut keep = vec![".dockerignore".to_owned()];
    keep.extend(inside.clone());
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    let reserved = context.join(super::build_ext::DIR).symlink_metadata().is_ok();
    if reserved {
        // The user's own `.berth-build/` goes as it is, so the context is sent whole.
        sync = None;
    }
    walk(&mut builder, &context, &ignore, &keep, "", sync.as_deref_mut())
        .with_context(|| format!("service {service:?}: reading build context {}", context.display()))?;
    if super::build_ext::needed(spec) || sync.is_some() {
        if reserved {
            bail!(
                "service {service:?}: the build context has {}, a name berth reserves for build secrets and additional contexts",
                super::build_ext::DIR
            );
        }
        super::build_ext::append(&mut builder, service, spec, sync.map(|s| s.manifest()))?;
    }
    let dockerfile_name = match inside {
        Some(name) => name,
        None => {
            // Out of the context or inline: a hidden name, and a `.dockerignore` that drops it (and itself).
            let name = format!(".dockerfile.{}", &hex::encode(Sha256::digest(text.as_bytes()))[..20]);
            append_file(&mut builder, &name, text.as_bytes(), 0o644)?;
            let ignore = format!("{}\n.dockerignore\n{name}\n", ignore_text.trim_end());
            append_file(&mut builder, ".dockerignore", ignore.as_bytes(), 0o644)?;
            name
        }
    };
    let tar = builder.into_inner().context("finishing the context tar")?;
    Ok(ContextTar {
        tar,
        dockerfile: dockerfile_name,
        dockerfile_text: text,
    })
}

/// The Dockerfile's path relative to the context (None: outside it, or inline) and its text.
fn dockerfile(service: &str, context: &Path, source: &DockerfileSource) -> Result<(Option<String>, String)> {
    let path = match source {
        DockerfileSource::Inline(text) => return Ok((None, text.clone())),
        DockerfileSource::File(path) => path,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("service {service:?}: Dockerfile {} not found", path.display())
        }
        Err(e) => bail!("service {service:?}: cannot read Dockerfile {}: {e}", path.display()),
    };
    let inside = path
        .strip_prefix(context)
        .ok()
        .filter(|rel| !rel.components().any(|c| c == std::path::Component::ParentDir))
        .map(|rel| rel.to_string_lossy().into_owned());
    Ok((inside, text))
}

/// `<Dockerfile>.dockerignore` next to a Dockerfile inside the context wins over `.dockerignore`.
fn ignore_file(context: &Path, dockerfile: Option<&str>) -> Option<PathBuf> {
    let specific = dockerfile.map(|d| PathBuf::from(format!("{d}.dockerignore")));
    [specific, Some(PathBuf::from(".dockerignore"))]
        .into_iter()
        .flatten()
        .find(|p| context.join(p).is_file())
}

/// Appends directory `dir` under `prefix` (an additional context: its own `.dockerignore` applies).
pub fn append_dir(builder: &mut tar::Builder<Vec<u8>>, dir: &Path, prefix: &str) -> Result<()> {
    let text = std::fs::read_to_string(dir.join(".dockerignore")).unwrap_or_default();
    let ignore = Ignore::parse(".dockerignore", &text).map_err(anyhow::Error::msg)?;
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_size(0);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    builder.append_data(&mut h, format!("{prefix}/"), std::io::empty())?;
    walk(builder, dir, &ignore, &[], &format!("{prefix}/"), None)
}

/// Appends what `ignore` keeps of `context`, each name prefixed with `prefix`.
fn walk(
    builder: &mut tar::Builder<Vec<u8>>,
    context: &Path,
    ignore: &Ignore,
    keep: &[String],
    prefix: &str,
    mut sync: Option<&mut ContextSync>,
) -> Result<()> {
    let mut it = walkdir::WalkDir::new(context)
        .min_depth(1)
        .sort_by_file_name()
        .into_iter();
    while let Some(entry) = it.next() {
        let entry = entry?;
        let rel = entry.path().strip_prefix(context)?.to_string_lossy().into_owned();
        if ignore.excluded(&rel) && !keep.contains(&rel) {
            // A directory's contents may still be kept by a `!` pattern; without one, skip it whole.
            if entry.file_type().is_dir() && !ignore.has_exceptions() {
                it.skip_current_dir();
            }
            continue;
        }
        append_entry(builder, entry.path(), &format!("{prefix}{rel}"), sync.as_deref_mut())?;
    }
    Ok(())
}

fn header(meta: &std::fs::Metadata, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(meta.mode() & 0o7777);
    h.set_mtime(u64::try_from(meta.mtime()).unwrap_or(0));
    // As the docker CLI sends it: everything owned by root.
    h.set_uid(0);
    h.set_gid(0);
    h.set_size(0);
    h
}

fn append_entry(
    builder: &mut tar::Builder<Vec<u8>>,
    path: &Path,
    rel: &str,
    sync: Option<&mut ContextSync>,
) -> Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    let ft = meta.file_type();
    if ft.is_dir() {
        let mut h = header(&meta, tar::EntryType::Directory);
        builder.append_data(&mut h, format!("{rel}/"), std::io::empty())?;
    } else if ft.is_symlink() {
        let mut h = header(&meta, tar::EntryType::Symlink);
        let target = std::fs::read_link(path)?;
        builder.append_link(&mut h, rel, target)?;
    } else if ft.is_file() {
        let mut h = header(&meta, tar::EntryType::Regular);
        h.set_size(meta.len());
        // `.dockerignore` is always sent: make() may append a rewritten one after the walk.
        let sync = sync.filter(|_| rel != ".dockerignore");
        let mtime = h.mtime()?;
        match sync
            .map(|s| s.file(rel, path, &meta, meta.mode() & 0o7777, mtime))
            .transpose()?
        {
            Some(FileAction::Keep) => {}
            Some(FileAction::Send(Some(data))) => {
                h.set_size(data.len() as u64);
                builder.append_data(&mut h, rel, &data[..])?;
            }
            _ => builder.append_data(&mut h, rel, std::fs::File::open(path)?)?,
        }
    }
    // Sockets, fifos and devices are not sent (the docker CLI refuses some; none belongs in an image).
    Ok(())
}

/// Appends a regular file `name` holding `data`, owned by root, with `mode`.
pub fn append_file(builder: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8], mode: u32) -> Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(mode);
    h.set_mtime(0);
    h.set_size(data.len() as u64);
    h.set_uid(0);
    h.set_gid(0);
    builder.append_data(&mut h, name, data)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn spec(context: &Path, dockerfile: DockerfileSource) -> BuildSpec {
        BuildSpec {
            context: context.to_owned(),
            dockerfile,
            args: BTreeMap::new(),
            target: None,
            labels: BTreeMap::new(),
            cache_from: vec![],
            tags: vec![],
            network: None,
            extra_hosts: vec![],
            shm_size: None,
            no_cache: false,
            pull: false,
            platform: None,
            secrets: vec![],
            contexts: BTreeMap::new(),
        }
    }

    fn names(tar: &[u8]) -> Vec<String> {
        let mut a = tar::Archive::new(tar);
        a.entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn dockerignore_applies_but_keeps_the_dockerfile() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("Dockerfile"), "FROM scratch\n").unwrap();
        std::fs::write(d.join(".dockerignore"), "Dockerfile\n*.log\nsecret\n").unwrap();
        std::fs::write(d.join("a.log"), "x").unwrap();
        std::fs::write(d.join("app.txt"), "x").unwrap();
        std::fs::create_dir(d.join("secret")).unwrap();
        std::fs::write(d.join("secret/key"), "x").unwrap();
        let made = make("web", &spec(d, DockerfileSource::File(d.join("Dockerfile"))), None).unwrap();
        assert_eq!(made.dockerfile, "Dockerfile");
        assert_eq!(names(&made.tar), [".dockerignore", "Dockerfile", "app.txt"]);
    }

    #[test]
    fn inline_dockerfile_goes_under_a_hidden_ignored_name() {
        let dir = tempfile::tempdir().unwrap();
        let made = make(
            "web",
            &spec(dir.path(), DockerfileSource::Inline("FROM scratch\n".into())),
            None,
        )
        .unwrap();
        assert!(made.dockerfile.starts_with(".dockerfile."), "{}", made.dockerfile);
        assert_eq!(names(&made.tar), [made.dockerfile.clone(), ".dockerignore".to_owned()]);
    }

    #[test]
    fn secrets_and_directory_contexts_go_under_the_reserved_directory() {
        use crate::orchestrator::spec::{BuildSecret, NamedContext, SecretSource};
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("Dockerfile"), "FROM scratch\n").unwrap();
        std::fs::create_dir(d.join("lib")).unwrap();
        std::fs::write(d.join("lib/a"), "x").unwrap();
        std::fs::write(d.join("lib/.dockerignore"), "b\n").unwrap();
        std::fs::write(d.join("lib/b"), "x").unwrap();
        let mut s = spec(d, DockerfileSource::File(d.join("Dockerfile")));
        s.secrets.push(BuildSecret {
            id: "tok".into(),
            source: SecretSource::Bytes(b"v".to_vec()),
            uid: None,
            gid: None,
            mode: None,
        });
        s.contexts.insert("lib".into(), NamedContext::Dir(d.join("lib")));
        s.contexts.insert("img".into(), NamedContext::Image("busybox".into()));
        let made = make("web", &s, None).unwrap();
        let n = names(&made.tar);
        for want in [
            ".berth-build/secrets/0",
            ".berth-build/contexts/1/a",
            ".berth-build/contexts/1/.dockerignore",
            ".berth-build/manifest.json",
        ] {
            assert!(n.contains(&want.to_owned()), "{want} in {n:?}");
        }
        assert!(!n.contains(&".berth-build/contexts/1/b".to_owned()), "{n:?}");
        s.contexts.insert("svc".into(), NamedContext::Service("other".into()));
        assert!(make("web", &s, None).is_err());
    }

    #[test]
    fn missing_context_and_dockerfile_name_the_service() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("gone");
        let err = make(
            "web",
            &spec(&gone, DockerfileSource::File(gone.join("Dockerfile"))),
            None,
        )
        .err()
        .unwrap();
        assert!(format!("{err:#}").contains("\"web\"") && format!("{err:#}").contains("gone"));
        let err = make(
            "api",
            &spec(dir.path(), DockerfileSource::File(dir.path().join("Dockerfile"))),
            None,
        )
        .err()
        .unwrap();
        assert!(format!("{err:#}").contains("Dockerfile") && format!("{err:#}").contains("\"api\""));
    }
}
