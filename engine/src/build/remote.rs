//! Remote build contexts (`remote=`), as dockerd's classic builder takes them: a git repository (`git://`,
//! `git@`, `github.com/`, or an http(s) URL whose path ends in `.git`, with `#ref:dir`), fetched with git; any
//! other http(s) URL, downloaded (a tar, or a Dockerfile alone). Failures keep dockerd's wording, and its
//! status: fetching is the engine's work, so a remote that cannot be reached is a 500, as with dockerd.

use crate::error::{EngineError, IoContext, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use tempfile::NamedTempFile;

/// Whether `remote` names a git repository (moby's `urlutil.IsGitURL`: `.git` then an optional fragment).
fn is_git(remote: &str) -> bool {
    if ["git://", "github.com/", "git@"].iter().any(|p| remote.starts_with(p)) {
        return true;
    }
    let base = match remote.split_once('#') {
        Some((base, fragment)) if !fragment.is_empty() => base,
        Some(_) => return false,
        None => remote,
    };
    is_http(remote) && base.len() > 4 && base.ends_with("git")
}

fn is_http(remote: &str) -> bool {
    remote.starts_with("http://") || remote.starts_with("https://")
}

/// The build context `remote` names, as a tar file under `tmp` (the request body is not read then).
#[tracing::instrument(skip(tmp), err(Debug, level = "debug"))]
pub async fn context(remote: &str, tmp: &Path) -> Result<NamedTempFile> {
    let work = tempfile::Builder::new()
        .prefix("remote")
        .tempdir_in(tmp)
        .ctx(|| format!("creating a directory in {}", tmp.display()))?;
    if is_git(remote) {
        let dir = clone(remote, work.path()).await?;
        return tar_dir(dir, tmp.to_owned()).await;
    }
    if !is_http(remote) {
        return Err(EngineError::BadRequest(format!(
            "remote: remoteURL ({remote}) could not be recognized as URL"
        )));
    }
    let fetched = super::fetch::fetch(remote, work.path(), None)
        .await
        .map_err(|e| EngineError::Internal(format!("error downloading remote context {remote}: {e}")))?;
    let path = fetched.path;
    let tmp = tmp.to_owned();
    tokio::task::spawn_blocking(move || downloaded_context(&path, &tmp))
        .await
        .map_err(|e| EngineError::internal("reading the remote context", e))?
}

/// Runs git with the protocols a build URL may use (no `ext::` or `file://` smuggled in by a fragment or a
/// submodule), never prompting.
async fn git(dir: &Path, args: &[&str]) -> Result<()> {
    let out = tokio::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ALLOW_PROTOCOL", "git:http:https:ssh")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .ctx(|| "running git (is it installed?)".into())?;
    if out.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    let code = out.status.code().map_or("signal".into(), |c| c.to_string());
    Err(EngineError::Internal(format!("{text}: exit status {code}")))
}

/// Fetches `remote` (`url#ref:dir`) into `work`; returns the context directory. As dockerd: init, fetch
/// the ref shallowly, check it out with its submodules.
async fn clone(remote: &str, work: &Path) -> Result<PathBuf> {
    let (url, fragment) = remote.split_once('#').unwrap_or((remote, ""));
    let (reference, subdir) = fragment.split_once(':').unwrap_or((fragment, ""));
    let url = match url.strip_prefix("github.com/") {
        Some(_) => format!("https://{url}"),
        None => url.to_owned(),
    };
    // dockerd 20.10 fetches `master` when no ref is given; HEAD is the repository's default branch either way.
    let reference = if reference.is_empty() { "HEAD" } else { reference };
    let root = work.join("repo");
    std::fs::create_dir_all(&root).ctx(|| format!("creating {}", root.display()))?;
    let fetching = |e: EngineError| EngineError::Internal(format!("error fetching: {e}"));
    git(&root, &["init", "-q"]).await.map_err(fetching)?;
    git(&root, &["remote", "add", "origin", &url]).await.map_err(fetching)?;
    git(&root, &["fetch", "--depth", "1", "--", "origin", reference])
        .await
        .map_err(fetching)?;
    let checkout = |e: EngineError| EngineError::Internal(format!("error checking out {reference}: {e}"));
    git(&root, &["checkout", "-q", "FETCH_HEAD"]).await.map_err(checkout)?;
    git(&root, &["submodule", "update", "--init", "--recursive", "--depth", "1"])
        .await
        .map_err(checkout)?;
    let dir = root.join(subdir);
    let inside = dir.canonicalize().is_ok_and(|d| d.starts_with(&root) && d.is_dir());
    if !inside {
        return Err(EngineError::BadRequest(format!(
            "remote: error setting git context, not a directory: {subdir}"
        )));
    }
    Ok(dir)
}

/// `dir` as a tar file under `tmp` (symlinks kept as links).
async fn tar_dir(dir: PathBuf, tmp: PathBuf) -> Result<NamedTempFile> {
    tokio::task::spawn_blocking(move || {
        let file = NamedTempFile::new_in(&tmp).ctx(|| format!("creating a file in {}", tmp.display()))?;
        let mut builder = tar::Builder::new(file.as_file());
        builder.follow_symlinks(false);
        builder
            .append_dir_all(".", &dir)
            .ctx(|| format!("packing {}", dir.display()))?;
        builder.finish().ctx(|| "packing the git context".into())?;
        drop(builder);
        Ok(file)
    })
    .await
    .map_err(|e| EngineError::internal("packing the git context", e))?
}

/// A downloaded context: an archive as it is, anything else the Dockerfile of an otherwise empty context.
fn downloaded_context(path: &Path, tmp: &Path) -> Result<NamedTempFile> {
    let data = std::fs::read(path).ctx(|| format!("reading {}", path.display()))?;
    let gzip = data.starts_with(&[0x1f, 0x8b]);
    let tar = data.get(257..262) == Some(b"ustar".as_slice());
    let mut file = NamedTempFile::new_in(tmp).ctx(|| format!("creating a file in {}", tmp.display()))?;
    if gzip || tar {
        file.write_all(&data).ctx(|| "storing the remote context".into())?;
        return Ok(file);
    }
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    let mut builder = tar::Builder::new(file.as_file_mut());
    builder
        .append_data(&mut header, "Dockerfile", data.as_slice())
        .ctx(|| "packing the remote Dockerfile".into())?;
    builder.finish().ctx(|| "packing the remote Dockerfile".into())?;
    drop(builder);
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_urls_are_told_apart_as_dockerd_does() {
        for git in [
            "git://h/r",
            "git@h:r.git",
            "github.com/a/b",
            "https://h/r.git",
            "http://h/r.git#main:dir",
        ] {
            assert!(is_git(git), "{git}");
        }
        for other in ["https://h/ctx.tar", "https://h/r.git#", "abc", "-", "file:///tmp/r.git"] {
            assert!(!is_git(other), "{other}");
        }
    }
}
