//! The steps done on a step mount: WORKDIR, and COPY and ADD with sources from the context, another stage, an
//! image, here-documents or (ADD) URLs.

use super::super::copy::Source;
use super::super::dockerfile::{CopySrc, Instr, Kind};
use super::super::fetch::{self, is_url, Checksum};
use super::super::meta::shell_of;
use super::super::mount::StepMount;
use super::super::words::expand;
use super::source::Src;
use super::{cache, on_mount, Builder, Done, StageDef, StageRun, StepResult};

impl Builder {
    pub(super) async fn workdir(&self, w: &str, st: &mut StageRun) -> StepResult<()> {
        let vars = self.vars(st);
        let w = expand(w, &vars, self.df.escape)?;
        let mut cfg = st.img.file.config.clone();
        let base = cfg
            .working_dir
            .clone()
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "/".into());
        // As dockerd's normalizeWorkdir: an absolute path is kept as written, a relative one joined and cleaned.
        let path = if w.starts_with('/') {
            w.clone()
        } else {
            format!("/{}", super::super::paths::clean(&format!("{base}/{w}")).0)
        };
        cfg.working_dir = Some(path.clone());
        let key = cache::key(
            st.img.id.as_deref(),
            &["workdir", &path, &serde_json::to_string(&cfg).unwrap_or_default()],
        );
        let root = self.engine.config.root.clone();
        let created_by = format!("{} #(nop) WORKDIR {path}", shell_of(&cfg).join(" "));
        self.step_with(st, key, cfg, created_by, move |engine, parent| async move {
            on_mount(engine, root, parent, move |m| {
                let host = super::super::paths::resolve(&m.rootfs, &path, true).map_err(|e| e.to_string())?;
                std::fs::create_dir_all(&host).map_err(|e| format!("creating {path}: {e}"))
            })
            .await
        })
        .await
    }

    pub(super) async fn copy(
        &self,
        ins: &Instr,
        st: &mut StageRun,
        stages: &[StageDef],
        i: usize,
        done: &Done,
    ) -> StepResult<()> {
        let Kind::Copy {
            add,
            srcs,
            dest,
            from,
            chown,
            chmod,
            exclude,
            checksum,
        } = &ins.kind
        else {
            return Err("not a COPY".into());
        };
        let (add, vars, esc) = (*add, self.vars(st), self.df.escape);
        let dest_x = expand(dest, &vars, esc)?;
        let cfg = st.img.file.config.clone();
        let wd = cfg
            .working_dir
            .clone()
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "/".into());
        let dest_is_dir = dest_x.ends_with('/') || dest_x == "." || dest_x.ends_with("/.");
        let dest_abs = if dest_x.starts_with('/') {
            dest_x.clone()
        } else {
            format!("{wd}/{dest_x}")
        };
        // The source root: the context, a named context, another stage or an image (mounted for the step).
        let (src, what) = match from {
            Some(f) => {
                let f = expand(f, &vars, esc)?;
                let (src, what) = self.source(&f, stages, i, done, &st.out).await?;
                (Some(src), what)
            }
            None => (None, "build context".to_owned()),
        };
        let root = self.engine.config.root.clone();
        // dockerd keeps the owners of files copied from a stage or image unless told otherwise.
        let keep = chown.is_none() && matches!(src, Some(Src::Image(_)));
        let (src_mount, src_root) = match src {
            Some(Src::Image(s)) => {
                let lowers = s.lower_dirs(&self.engine.images).map_err(|e| e.to_string())?;
                let m = StepMount::new(&root, lowers).map_err(|e| e.to_string())?;
                let rootfs = m.rootfs.clone();
                (Some(m), rootfs)
            }
            Some(Src::Dir(d)) => (None, d),
            None => (None, self.ctx.clone()),
        };
        let mut paths = Vec::new();
        let mut inline = Vec::new();
        let mut fetched = Vec::new();
        for s in srcs {
            match s {
                CopySrc::Path(p) => {
                    let p = expand(p, &vars, esc)?;
                    if add && is_url(&p) {
                        fetched.push(self.fetch(&p, checksum.as_deref(), dest_is_dir).await?);
                    } else {
                        paths.push(p);
                    }
                }
                CopySrc::HereDoc { body, expand: x } => {
                    let data = if *x { expand(body, &vars, esc)? } else { body.clone() };
                    inline.push(data);
                }
            }
        }
        if checksum.is_some() && !paths.is_empty() {
            return Err("checksum can't be specified for non-HTTP(S) sources".into());
        }
        let sources = {
            let (src_root, what, exclude) = (src_root.clone(), what.clone(), exclude.clone());
            let (ctx, index, memo) = (
                self.ctx.clone(),
                self.ext.index.clone(),
                root.join("build").join("sums"),
            );
            tokio::task::spawn_blocking(move || -> StepResult<_> {
                let mut r = super::super::copy::resolve_sources(&src_root, &paths, &what, &exclude)?;
                r.extend(fetched.into_iter().map(|f| Source::Remote {
                    host: f.path,
                    name: f.name,
                }));
                for (n, data) in inline.into_iter().enumerate() {
                    r.push(Source::Inline {
                        name: format!("heredoc-{n}"),
                        data: data.into_bytes(),
                    });
                }
                let h = super::super::copy::content_hash_with(&r, &ctx, index.as_deref(), &memo)
                    .map_err(|e| e.to_string())?;
                Ok((r, h))
            })
            .await
            .map_err(|e| e.to_string())??
        };
        let (sources, hash) = sources;
        let kw = if add { "ADD" } else { "COPY" };
        // As dockerd words it: `COPY [--chown=X]dir:<hash> in <dest as written> ` (no space after the chown).
        let what = match sources.as_slice() {
            [Source::Path { host, .. }] if host.is_dir() => "dir",
            [_] => "file",
            _ => "multi",
        };
        let chown_x = chown.as_deref().map(|c| expand(c, &vars, esc)).transpose()?;
        let created_by = format!(
            "{} #(nop) {kw} {}{what}:{} in {dest_x} ",
            shell_of(&cfg).join(" "),
            chown_x.as_deref().map(|c| format!("--chown={c}")).unwrap_or_default(),
            &hash[..64.min(hash.len())]
        );
        let key = cache::key(
            st.img.id.as_deref(),
            &[
                kw,
                &dest_abs,
                &format!("{dest_is_dir}"),
                &format!("{chown:?} {chmod:?}"),
                &hash,
                &serde_json::to_string(&cfg).unwrap_or_default(),
            ],
        );
        let (chown, chmod) = (chown_x, chmod.clone());
        let result = self
            .step_with(st, key, cfg, created_by, move |engine, parent| async move {
                on_mount(engine, root, parent, move |m| {
                    let ids = chown
                        .as_deref()
                        .map(|c| super::super::copy::parse_chown(&m.rootfs, c))
                        .transpose()?;
                    let chmod = chmod.as_deref().map(super::super::copy::parse_chmod).transpose()?;
                    let owner = super::super::copy::Owner { ids, keep, chmod };
                    super::super::copy::copy(&m.rootfs, &sources, &dest_abs, dest_is_dir, add, owner)
                })
                .await
            })
            .await;
        drop(src_mount);
        result
    }

    /// Fetches an ADD URL into the build's scratch dir; `--checksum` is checked against the content.
    async fn fetch(&self, url: &str, checksum: Option<&str>, dest_is_dir: bool) -> StepResult<fetch::Fetched> {
        let want = checksum
            .map(str::parse::<Checksum>)
            .transpose()
            .map_err(|e| e.to_string())?;
        if dest_is_dir && fetch::file_name(url).is_none() {
            return Err(format!("cannot determine filename from url: {url}"));
        }
        let dir = self.ctx.with_file_name("downloads");
        fetch::fetch(url, &dir, want.as_ref()).await.map_err(|e| e.to_string())
    }
}
