//! The build context: the request body (a tar, plain or gzip/bzip2/xz/zstd-compressed, or a bare Dockerfile) unpacked into
//! a directory, the Dockerfile read from it, then `.dockerignore` (or `<Dockerfile>.dockerignore`) applied.

use super::dockerfile::{self, Dockerfile};
use super::ext::Extensions;
use super::ignore::Ignore;
use std::io::{BufReader, Read};
use std::path::Path;

/// Why a context could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// berth's context sync refused the request (400 or 409, before the build starts).
    #[error(transparent)]
    Sync(#[from] super::sync::SyncError),
    /// The build fails with this message.
    #[error("{0}")]
    Build(String),
}

impl From<String> for PrepareError {
    fn from(s: String) -> Self {
        PrepareError::Build(s)
    }
}

/// Unpacks `body` (read as it arrives) into `dir`, moves berth's extension directory to `ext_dir` (before
/// anything reads the context), completes a synced context with the engine's kept files (`root`: the engine's
/// state root), reads and parses the Dockerfile `name`, applies the ignore file.
pub fn prepare(
    root: &Path,
    body: Box<dyn Read + Send>,
    dir: &Path,
    name: &str,
    ext_dir: &Path,
) -> Result<(Dockerfile, Extensions), PrepareError> {
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let name = if name.is_empty() { "Dockerfile" } else { name };
    let mut ext = Extensions::default();
    let text = match open(body)? {
        Body::Tar(mut r) => {
            // Secrets stay in memory: they reach a RUN through a tmpfs only (stage/run_step.rs).
            let secrets = format!("{}/secrets/", super::ext::DIR);
            let u = super::unpack::unpack(&mut r, dir, &|p| p.starts_with(&secrets))
                .map_err(|e| format!("unpacking the build context: {e}"))?;
            // The client writes the whole body before it reads the answer: what follows the tar is read too.
            std::io::copy(&mut r, &mut std::io::sink()).map_err(|e| format!("reading the build context: {e}"))?;
            ext = Extensions::take(dir, ext_dir, u.held)?;
            ext.index = match &ext.sync {
                Some(req) => Some(std::sync::Arc::new(super::sync::apply(root, dir, req)?)),
                None => u.index.map(std::sync::Arc::new),
            };
            read_dockerfile(dir, name)?
        }
        Body::Plain(text) => text,
    };
    let df = dockerfile::parse(name, &text)?;
    let ignore = read_ignore(dir, name)?;
    if !ignore.is_empty() {
        apply(dir, &ignore, name).map_err(|e| format!("applying .dockerignore: {e}"))?;
    }
    Ok((df, ext))
}

enum Body {
    Tar(Box<dyn Read + Send>),
    Plain(String),
}

/// Tells a tar (compressed or not) from a bare Dockerfile by the first bytes of `body`.
fn open(mut body: Box<dyn Read + Send>) -> Result<Body, String> {
    let mut head = Vec::with_capacity(512);
    (&mut body)
        .take(512)
        .read_to_end(&mut head)
        .map_err(|e| format!("reading the build context: {e}"))?;
    let compressed = super::compress::Compression::detect(&head) != super::compress::Compression::None;
    let is_tar = head.is_empty() || (head.len() >= 262 && &head[257..262] == b"ustar");
    let mut r = BufReader::with_capacity(1 << 20, std::io::Cursor::new(head).chain(body));
    if compressed {
        return Ok(Body::Tar(
            super::compress::decompressed(r).map_err(|e| format!("reading the build context: {e}"))?,
        ));
    }
    if is_tar {
        return Ok(Body::Tar(Box::new(r)));
    }
    let mut text = String::new();
    r.read_to_string(&mut text)
        .map_err(|_| "the build context is neither a tar archive nor a UTF-8 Dockerfile".to_owned())?;
    Ok(Body::Plain(text))
}

fn read_dockerfile(dir: &Path, name: &str) -> Result<String, String> {
    let (rel, escaped) = super::paths::clean(name);
    if escaped {
        return Err(format!("the Dockerfile ({name}) must be within the build context"));
    }
    let path = super::paths::resolve(dir, &rel, true).map_err(|e| e.to_string())?;
    let alt = dir.join(rel.to_lowercase());
    let path = if !path.is_file() && name == "Dockerfile" && alt.is_file() {
        alt
    } else {
        path
    };
    std::fs::read_to_string(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("Cannot locate specified Dockerfile: {name}"),
        _ => format!("reading {name}: {e}"),
    })
}

fn read_ignore(dir: &Path, name: &str) -> Result<Ignore, String> {
    let specific = format!("{}.dockerignore", super::paths::clean(name).0);
    for candidate in [specific.as_str(), ".dockerignore"] {
        if let Ok(text) = std::fs::read_to_string(dir.join(candidate)) {
            return Ignore::parse(candidate, &text);
        }
    }
    Ok(Ignore::default())
}

/// Removes what the ignore file excludes (directories only when nothing under them is kept). The folders holding
/// the Dockerfile stay even when it goes: the docker CLI sends them (it adds an exception for the Dockerfile) and
/// dockerd then removes only the file.
fn apply(dir: &Path, ignore: &Ignore, dockerfile: &str) -> std::io::Result<()> {
    let df_rel = super::paths::clean(dockerfile).0;
    let mut dirs = Vec::new();
    for e in walkdir::WalkDir::new(dir).min_depth(1) {
        let e = e.map_err(std::io::Error::other)?;
        let rel = e
            .path()
            .strip_prefix(dir)
            .map_err(std::io::Error::other)?
            .to_string_lossy()
            .into_owned();
        if !ignore.excluded(&rel) {
            continue;
        }
        if e.file_type().is_dir() {
            if !df_rel.starts_with(&format!("{rel}/")) {
                dirs.push(e.path().to_owned());
            }
        } else {
            std::fs::remove_file(e.path())?;
        }
    }
    // Deepest first; a directory that still holds kept files stays.
    for d in dirs.iter().rev() {
        let _ = std::fs::remove_dir(d);
    }
    Ok(())
}
