//! `docker commit` and `docker diff`: a container's upper directory as a new image (with `changes` instructions
//! applied to its config) or as a list of changed paths.

use super::dockerfile::parse_trigger;
use super::image::{layer_from_upper, ImageState};
use super::meta::{self, MetaCtx};
use crate::engine::Engine;
use crate::error::{EngineError, Result};
use crate::images::ImageRef;
use bollard::models::ImageConfig;
use std::sync::Arc;

/// `POST /commit` options.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// Container name or id.
    pub container: String,
    /// Tag for the image.
    pub tag: Option<ImageRef>,
    /// History comment.
    pub comment: Option<String>,
    /// Author.
    pub author: Option<String>,
    /// Dockerfile instructions applied to the config (`CMD ["x"]`, `ENV A=1`...).
    pub changes: Vec<String>,
    /// A config replacing the container's (the request body), when given.
    pub config: Option<ImageConfig>,
}

fn container_image_config(c: &bollard::models::ContainerConfig) -> ImageConfig {
    ImageConfig {
        user: c.user.clone(),
        exposed_ports: c.exposed_ports.clone(),
        env: c.env.clone(),
        cmd: c.cmd.clone(),
        healthcheck: c.healthcheck.clone(),
        volumes: c.volumes.clone(),
        working_dir: c.working_dir.clone(),
        entrypoint: c.entrypoint.clone(),
        on_build: c.on_build.clone(),
        labels: c.labels.clone(),
        stop_signal: c.stop_signal.clone(),
        shell: c.shell.clone(),
        ..Default::default()
    }
}

/// Commits a container's changes as a new image; returns its id.
pub async fn commit(engine: &Arc<Engine>, opts: CommitOptions) -> Result<String> {
    let rec = engine.containers.resolve(&opts.container)?;
    let parent = ImageState::load(&engine.images, &rec.image_id)?;
    let mut cfg = opts
        .config
        .clone()
        .unwrap_or_else(|| container_image_config(&rec.config));
    let mut cmd_set = true;
    for (i, change) in opts.changes.iter().enumerate() {
        let ins = parse_trigger(change).map_err(|e| EngineError::BadRequest(format!("changes[{i}]: {e}")))?;
        if let super::dockerfile::Kind::Workdir(w) = &ins.kind {
            cfg.working_dir = Some(join_workdir(cfg.working_dir.as_deref(), w));
            continue;
        }
        let vars = Default::default();
        meta::apply(
            &ins.kind,
            &mut cfg,
            MetaCtx {
                vars: &vars,
                escape: '\\',
                cmd_set: &mut cmd_set,
            },
        )
        .map_err(|e| EngineError::BadRequest(format!("changes[{i}] {change:?}: {e}")))?;
    }
    let images = engine.images.clone();
    let upper = engine.containers.runtime().paths(&rec.id).upper;
    let tmp = super::tmp_dir(&engine.config.root);
    std::fs::create_dir_all(&tmp).map_err(|e| EngineError::internal("creating the build tmp dir", e))?;
    let created_by = std::iter::once(rec.path.clone())
        .chain(rec.args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    let (author, comment) = (opts.author.clone(), opts.comment.clone());
    let state = tokio::task::spawn_blocking(move || -> Result<ImageState> {
        let lowers = parent.lower_dirs(&images)?;
        let layer = if upper.is_dir() {
            layer_from_upper(&images, &tmp, &upper, &lowers)?
        } else {
            None
        };
        let mut base = parent.clone();
        if author.is_some() {
            base.file.author = author;
        }
        base.file.comment = comment.clone();
        let entry = super::History {
            created_by: Some(created_by),
            comment,
            ..Default::default()
        };
        base.commit(&images, cfg, entry, layer)
    })
    .await
    .map_err(|e| EngineError::internal("committing", e))??;
    let id = state.id.clone().unwrap_or_default();
    if let Some(t) = &opts.tag {
        engine.images.tag(&id, t)?;
    }
    Ok(id)
}

/// A `WORKDIR` change: absolute, or relative to the current working directory (as in a Dockerfile).
fn join_workdir(current: Option<&str>, w: &str) -> String {
    let base = current.filter(|d| !d.is_empty()).unwrap_or("/");
    let path = if w.starts_with('/') {
        w.to_owned()
    } else {
        format!("{base}/{w}")
    };
    format!("/{}", super::paths::clean(&path).0)
}

/// `docker diff`: (path, kind) with Docker's kinds 0 changed, 1 added, 2 deleted.
pub fn container_changes(engine: &Arc<Engine>, container: &str) -> Result<Vec<(String, u8)>> {
    let rec = engine.containers.resolve(container)?;
    let img = engine.images.resolve(&rec.image_id)?;
    let lowers = engine.images.lower_dirs(&img)?;
    let upper = engine.containers.runtime().paths(&rec.id).upper;
    if !upper.is_dir() {
        return Ok(Vec::new());
    }
    let list = super::diff::changes(&upper, &lowers)
        .map_err(|e| EngineError::internal("reading the container's changes", e))?;
    Ok(list
        .into_iter()
        .map(|(p, k)| {
            let code = match k {
                super::Change::Changed => 0,
                super::Change::Added => 1,
                super::Change::Deleted => 2,
            };
            (p, code)
        })
        .collect())
}
