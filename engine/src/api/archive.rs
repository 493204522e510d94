//! `docker cp`: `GET`/`HEAD`/`PUT /containers/{id}/archive`, through the running container's root
//! (`/proc/<pid>/root`, so its mounts are seen) with every symlink resolved inside that root (no escape).

use super::{ApiResult, AppState};
use crate::error::EngineError;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::Engine as _;
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, PathBuf};

pub(super) fn routes() -> Router<AppState> {
    Router::new().route(
        "/containers/{id}/archive",
        get(get_archive).head(get_archive).put(put_archive),
    )
}

/// Resolves `path` inside `root`, following symlinks as the container would (absolute ones from `root`), never
/// leaving `root`. The last component is followed only when `follow_last`.
pub fn secure_join(root: &std::path::Path, path: &str, follow_last: bool) -> Result<PathBuf, EngineError> {
    let mut todo: Vec<String> = path
        .split('/')
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .rev()
        .collect();
    let mut cur: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(c) = todo.pop() {
        match c.as_str() {
            "." => continue,
            ".." => {
                cur.pop();
                continue;
            }
            _ => {}
        }
        let candidate = root.join(cur.join("/")).join(&c);
        let is_last = todo.is_empty();
        match std::fs::symlink_metadata(&candidate) {
            Ok(m) if m.file_type().is_symlink() && (!is_last || follow_last) => {
                links += 1;
                if links > 40 {
                    return Err(EngineError::BadRequest(format!(
                        "{path}: too many levels of symbolic links"
                    )));
                }
                let target = std::fs::read_link(&candidate).map_err(|e| EngineError::internal("reading a link", e))?;
                if target.is_absolute() {
                    cur.clear();
                }
                for comp in target.components().rev() {
                    if let Component::Normal(s) = comp {
                        todo.push(s.to_string_lossy().into_owned());
                    } else if let Component::ParentDir = comp {
                        todo.push("..".into());
                    }
                }
            }
            _ => cur.push(c),
        }
    }
    Ok(root.join(cur.join("/")))
}

/// What a copy of a stopped container holds mounted; the binds go before the rootfs under them.
#[derive(Default)]
struct CopyRoot {
    _binds: Option<super::archive_mounts::CopyBinds>,
    _mount: Option<crate::containers::CopyMount>,
}

/// Where the container's files are: a running container's root through /proc (volumes included), else its
/// rootfs mounted with its volumes and binds for the length of the copy (held by the returned guard).
fn container_root(engine: &AppState, id: &str) -> ApiResult<(PathBuf, CopyRoot)> {
    let rec = engine.containers.resolve(id)?;
    if rec.state.pid > 0 && std::path::Path::new(&format!("/proc/{}/root", rec.state.pid)).exists() {
        return Ok((
            PathBuf::from(format!("/proc/{}/root", rec.state.pid)),
            CopyRoot::default(),
        ));
    }
    let mount = engine.containers.mount_for_copy(&rec.id)?;
    let root = mount.rootfs.clone();
    let binds = super::archive_mounts::CopyBinds::mount(engine, &rec.id, &root)?;
    Ok((
        root,
        CopyRoot {
            _binds: Some(binds),
            _mount: Some(mount),
        },
    ))
}

fn path_q(q: &HashMap<String, String>) -> ApiResult<String> {
    q.get("path")
        .filter(|p| !p.is_empty())
        .cloned()
        .ok_or_else(|| EngineError::BadRequest("path is required".into()).into())
}

fn stat_header(name: &str, m: &std::fs::Metadata, link: &str) -> String {
    let mut mode = m.mode() & 0o777;
    let ft = m.file_type();
    // Go's os.FileMode bits, which the docker CLI decodes.
    if ft.is_dir() {
        mode |= 1 << 31;
    }
    if ft.is_symlink() {
        mode |= 1 << 27;
    }
    let mtime = chrono::DateTime::from_timestamp(m.mtime(), m.mtime_nsec() as u32).unwrap_or_default();
    let v = serde_json::json!({
        "name": name, "size": m.size(), "mode": mode,
        "mtime": mtime.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true), "linkTarget": link
    });
    base64::engine::general_purpose::STANDARD.encode(v.to_string())
}

async fn get_archive(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    method: Method,
) -> ApiResult<Response> {
    let (root, _mount) = container_root(&engine, &id)?;
    let path = path_q(&q)?;
    let host = secure_join(&root, &path, false)?;
    let meta = std::fs::symlink_metadata(&host)
        .map_err(|_| EngineError::NotFound(format!("Could not find the file {path} in container {id}")))?;
    let name = std::path::Path::new(&path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "/".into());
    let link = if meta.file_type().is_symlink() {
        std::fs::read_link(&host)
            .map(|l| l.display().to_string())
            .unwrap_or_default()
    } else {
        String::new()
    };
    let header = stat_header(&name, &meta, &link);
    if method == Method::HEAD {
        return Ok(([("X-Docker-Container-Path-Stat", header)], StatusCode::OK).into_response());
    }
    let data = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
        let mut b = tar::Builder::new(Vec::new());
        b.follow_symlinks(false);
        if meta.is_dir() {
            b.append_dir_all(&name, &host)?;
        } else {
            b.append_path_with_name(&host, &name)?;
        }
        b.into_inner()
    })
    .await
    .map_err(|e| EngineError::internal("archiving", e))?
    .map_err(|e| EngineError::internal(format!("archiving {path}"), e))?;
    Ok((
        [
            ("X-Docker-Container-Path-Stat", header),
            ("Content-Type", "application/x-tar".into()),
        ],
        Body::from(data),
    )
        .into_response())
}

async fn put_archive(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let (root, _mount) = container_root(&engine, &id)?;
    let path = path_q(&q)?;
    let dest = secure_join(&root, &path, true)?;
    let path = path.clone();
    // As dockerd: a missing extraction point is 404 (clients fall back to making it), a file 400.
    match std::fs::metadata(&dest) {
        Err(_) => {
            return Err(EngineError::NotFound(format!("Could not find the file {path} in container {id}")).into())
        }
        Ok(m) if !m.is_dir() => {
            return Err(EngineError::BadRequest("extraction point is not a directory".into()).into())
        }
        Ok(_) => {}
    }
    let p2 = path.clone();
    // As dockerd (no user namespace remapping): the archive's uid/gid are kept. The docker CLI writes 0:0
    // unless `cp -a`; Compose's watch writes the container user's ids. `copyUIDGID` only makes dockerd
    // look a named USER up on the host, which berth does not do.
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let path = p2;
        let mut a = tar::Archive::new(std::io::Cursor::new(body));
        a.set_preserve_permissions(true);
        a.set_preserve_ownerships(true);
        a.set_overwrite(true);
        for entry in a.entries()? {
            let mut entry = entry?;
            let rel = entry.path()?.into_owned();
            // Parent dirs resolved inside the container root: a symlinked dir cannot send the file elsewhere.
            let parent = rel
                .parent()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            let at = secure_join(&root, &format!("{path}/{parent}"), true)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            std::fs::create_dir_all(&at)?;
            let Some(file) = rel.file_name() else { continue };
            entry.unpack(at.join(file))?;
        }
        Ok(())
    })
    .await
    .map_err(|e| EngineError::internal("extracting", e))?
    .map_err(|e| EngineError::BadRequest(format!("extracting into {path}: {e}")))?;
    Ok(StatusCode::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_stay_inside_the_root() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../etc", root.join("rel")).unwrap();
        assert_eq!(secure_join(root, "/abs/passwd", true).unwrap(), root.join("etc/passwd"));
        assert_eq!(secure_join(root, "rel/passwd", true).unwrap(), root.join("etc/passwd"));
        assert_eq!(secure_join(root, "../../x", true).unwrap(), root.join("x"));
        assert_eq!(secure_join(root, "/abs", false).unwrap(), root.join("abs"));
    }
}
