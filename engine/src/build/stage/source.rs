//! What a name in `FROM`, `COPY --from` and `RUN --mount=from=` refers to: a named context sent with the build
//! (first, as BuildKit resolves them), an earlier stage, or an image (pulled when missing).

use super::super::copy::{content_hash, copy, Owner, Source};
use super::super::ext::Named;
use super::super::image::ImageState;
use super::super::words::expand;
use super::{cache, on_mount, Builder, Done, Kind, Out, StageDef, StepResult};
use bollard::models::ImageConfig;
use std::path::PathBuf;

/// Files a step reads from.
pub(super) enum Src {
    /// An image or a built stage (mounted for the step).
    Image(Box<ImageState>),
    /// A directory of a named context.
    Dir(PathBuf),
}

impl Builder {
    /// What `name` refers to from stage `i`; `what` names it in errors and output.
    pub(super) async fn source(
        &self,
        name: &str,
        stages: &[StageDef],
        i: usize,
        done: &Done,
        out: &Out,
    ) -> StepResult<(Src, String)> {
        match self.ext.context(name) {
            Some(Named::Dir(dir)) => return Ok((Src::Dir(dir.clone()), format!("context {name}"))),
            Some(Named::Image(r)) => {
                return Ok((
                    Src::Image(Box::new(self.image(r, out).await?)),
                    format!("context {name}"),
                ))
            }
            None => {}
        }
        match self.stage_ref(stages, i, name) {
            Some(j) => {
                let img = done[j].clone().ok_or_else(|| format!("stage {name} was not built"))?;
                Ok((Src::Image(Box::new(img)), format!("stage {name}")))
            }
            None => Ok((
                Src::Image(Box::new(self.image(name, out).await?)),
                format!("image {name}"),
            )),
        }
    }

    /// The base of stage `i`: scratch, a named context (an image or a directory's files), an earlier stage (by
    /// name only) or an image.
    pub(super) async fn from(&self, stages: &[StageDef], i: usize, done: &Done, out: &Out) -> StepResult<ImageState> {
        let Kind::From { image, platform, .. } = &stages[i].from.kind else {
            return Err("not a FROM instruction".into());
        };
        if let Some(p) = platform {
            let p = expand(p, &self.meta_args, self.df.escape)?;
            check_platform(&p)?;
        }
        let name = expand(image, &self.meta_args, self.df.escape)?;
        if name.is_empty() {
            return Err("base name (FROM) should not be blank".into());
        }
        if name == "scratch" && self.ext.context(&name).is_none() {
            return Ok(ImageState::scratch());
        }
        // FROM takes stages by name, never by number: `FROM 0` is an image.
        if name.parse::<usize>().is_ok() && self.ext.context(&name).is_none() {
            return self.image(&name, out).await;
        }
        match self.source(&name, stages, i, done, out).await? {
            (Src::Image(img), _) => Ok(*img),
            (Src::Dir(dir), what) => self.dir_base(dir, what).await,
        }
    }

    /// A named directory context as a base, as BuildKit takes it: an image of the directory's files (one layer,
    /// owned by root, modes kept) and no config. Cached by the files' content hash.
    async fn dir_base(&self, dir: PathBuf, what: String) -> StepResult<ImageState> {
        let src = Source::Path {
            host: dir,
            name: String::new(),
        };
        let sources = vec![src];
        let hashed = sources.clone();
        let hash = tokio::task::spawn_blocking(move || content_hash(&hashed))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("{what}: {e}"))?;
        let key = cache::key(None, &["from-dir", &hash]);
        if !self.opts.no_cache {
            if let Some(hit) = self.cache.get(&self.engine.images, &key) {
                return Ok(hit);
            }
        }
        let scratch = ImageState::scratch();
        let root = self.engine.config.root.clone();
        let layer = on_mount(self.engine.clone(), root, scratch.clone(), move |m| {
            copy(&m.rootfs, &sources, "/", true, false, Owner::default())
        })
        .await?;
        let entry = super::super::History {
            created_by: Some(format!("FROM {what}")),
            ..Default::default()
        };
        let (images, cfg) = (self.engine.images.clone(), ImageConfig::default());
        let img = tokio::task::spawn_blocking(move || scratch.commit(&images, cfg, entry, layer))
            .await
            .map_err(|e| format!("committing: {e}"))?
            .map_err(|e| e.to_string())?;
        self.cache.put(&key, img.id.as_deref().unwrap_or_default());
        Ok(img)
    }

    /// A stored image by reference, pulled when missing (unless `BERTH_BUILD_PULL=never`).
    pub(super) async fn image(&self, name: &str, out: &Out) -> StepResult<ImageState> {
        let r = crate::images::ImageRef::parse(name).map_err(|e| format!("invalid reference format: {name}: {e}"))?;
        let images = &self.engine.images;
        if images.resolve(&r.to_string()).is_err() {
            if std::env::var("BERTH_BUILD_PULL").as_deref() == Ok("never") {
                return Err(format!(
                    "pull access denied for {name}: the image is not in the engine and BERTH_BUILD_PULL=never"
                ));
            }
            out.say(format!("Pulling image {name}\n"));
            let platform = crate::registry::manifest::Platform::host();
            self.engine
                .registry
                .ensure_image(&r.to_string(), platform, None)
                .await
                .map_err(|e| e.to_string())?;
        }
        ImageState::load(images, &r.to_string()).map_err(|e| e.to_string())
    }
}

fn check_platform(p: &str) -> StepResult<()> {
    let want = format!("linux/{}", crate::images::load::host_arch());
    if p == want || p.starts_with(&format!("{want}/")) {
        Ok(())
    } else {
        Err(format!(
            "platform {p} is not supported: berth builds for this machine's platform ({want}) only"
        ))
    }
}
