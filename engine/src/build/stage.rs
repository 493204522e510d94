//! The build loop: stages (ARGs before FROM, named stages, a target and the stages it needs), one step per
//! instruction with the classic builder's output lines, cache lookups, and the final tags.

use super::cache::{self, Cache};
use super::dockerfile::{CmdForm, CopySrc, Dockerfile, Instr, Kind};
use super::image::ImageState;
use super::meta::{self, MetaCtx};
use super::mount::StepMount;
use super::words::{expand, Vars};
use super::{BuildOptions, Progress};
use crate::engine::Engine;
use crate::images::store::short_id;
use crate::state::LayerRecord;
use bollard::models::ImageConfig;
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Build args every RUN sees when given, without an ARG (Docker's predefined proxy args).
const PROXY_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// A stage as written.
struct StageDef {
    name: Option<String>,
    from: Instr,
    body: Vec<Instr>,
}

/// A stage being built.
struct StageRun {
    img: ImageState,
    cmd_set: bool,
    /// ARGs declared in this stage with their values (None: declared without a value).
    args: Vec<(String, Option<String>)>,
}

/// One build.
pub struct Builder {
    engine: Arc<Engine>,
    opts: BuildOptions,
    ctx: PathBuf,
    df: Dockerfile,
    tx: mpsc::Sender<Progress>,
    cache: Cache,
    step: usize,
    total: usize,
    used: BTreeSet<String>,
    meta_args: HashMap<String, String>,
}

type StepResult<T> = Result<T, String>;

impl Builder {
    /// A build of `df` in the unpacked context `ctx`.
    pub fn new(
        engine: Arc<Engine>,
        opts: BuildOptions,
        ctx: PathBuf,
        df: Dockerfile,
        tx: mpsc::Sender<Progress>,
    ) -> Self {
        let cache = Cache::open(&engine.config.root);
        Builder {
            engine,
            opts,
            ctx,
            df,
            tx,
            cache,
            step: 0,
            total: 0,
            used: BTreeSet::new(),
            meta_args: HashMap::new(),
        }
    }

    async fn say(&self, s: impl Into<String>) {
        if !self.opts.quiet {
            let _ = self.tx.send(Progress::Stream(s.into())).await;
        }
    }

    fn where_(&self, ins: &Instr) -> String {
        let name = if self.opts.dockerfile.is_empty() {
            "Dockerfile"
        } else {
            &self.opts.dockerfile
        };
        if ins.line == 0 {
            format!("{name}: ONBUILD trigger {}", ins.text)
        } else {
            format!("{name}:{}: {}", ins.line, ins.text)
        }
    }

    /// Runs the build; returns the final image id.
    pub async fn run(mut self) -> StepResult<String> {
        let (meta, stages) = self.split()?;
        for ins in &meta {
            if let Kind::Arg(pairs) = &ins.kind {
                for (k, v) in pairs {
                    let vars: Vars = self.meta_args.clone();
                    let default = v
                        .as_deref()
                        .map(|v| expand(v, &vars, self.df.escape))
                        .transpose()
                        .map_err(|e| format!("{}: {e}", self.where_(ins)))?;
                    if let Some(val) = self.arg_value(k).or(default) {
                        self.meta_args.insert(k.clone(), val);
                    }
                }
            }
        }
        let target = match &self.opts.target {
            Some(t) if !t.is_empty() => stages
                .iter()
                .position(|s| s.name.as_deref() == Some(&t.to_lowercase()))
                .ok_or_else(|| format!("failed to reach build target {t} in Dockerfile"))?,
            _ => stages.len() - 1,
        };
        let needed = self.needed(&stages, target);
        self.total = stages
            .iter()
            .enumerate()
            .filter(|(i, _)| needed[*i])
            .map(|(_, s)| 1 + s.body.len())
            .sum();
        let mut done: Vec<Option<ImageState>> = vec![None; stages.len()];
        for i in 0..=target {
            if needed[i] {
                done[i] = Some(self.run_stage(&stages, i, &done).await?);
            }
        }
        let mut fin = done[target].take().ok_or("the target stage was not built")?;
        if !self.opts.labels.is_empty() {
            fin = self.cli_labels(fin).await?;
        }
        self.finish(fin).await
    }

    fn split(&self) -> StepResult<(Vec<Instr>, Vec<StageDef>)> {
        let mut meta = Vec::new();
        let mut stages: Vec<StageDef> = Vec::new();
        for ins in &self.df.instrs {
            match (&ins.kind, stages.last_mut()) {
                (Kind::From { name, .. }, _) => stages.push(StageDef {
                    name: name.clone(),
                    from: ins.clone(),
                    body: Vec::new(),
                }),
                (Kind::Arg(_), None) => meta.push(ins.clone()),
                (_, None) => {
                    return Err(format!(
                        "{}: no build stage in current context (the first instruction must be FROM)",
                        self.where_(ins)
                    ))
                }
                (_, Some(s)) => s.body.push(ins.clone()),
            }
        }
        if stages.is_empty() {
            return Err("Dockerfile: no build stage in current context (a FROM instruction is missing)".into());
        }
        Ok((meta, stages))
    }

    /// The value of a build arg given with the build (`--build-arg`), marking it used.
    fn arg_value(&mut self, name: &str) -> Option<String> {
        let v = self.opts.build_args.get(name)?.clone();
        self.used.insert(name.to_owned());
        v.or_else(|| std::env::var(name).ok())
    }

    fn stage_ref(&self, stages: &[StageDef], before: usize, name: &str) -> Option<usize> {
        let lname = name.to_lowercase();
        if let Ok(n) = name.parse::<usize>() {
            return (n < before).then_some(n);
        }
        stages[..before].iter().position(|s| s.name.as_deref() == Some(&lname))
    }

    /// Which stages the target needs (itself, its base stages, stages it copies from).
    fn needed(&self, stages: &[StageDef], target: usize) -> Vec<bool> {
        let mut need = vec![false; stages.len()];
        let mut todo = vec![target];
        while let Some(i) = todo.pop() {
            if need[i] {
                continue;
            }
            need[i] = true;
            if let Kind::From { image, .. } = &stages[i].from.kind {
                let img = expand(image, &self.meta_args, self.df.escape).unwrap_or_default();
                todo.extend(self.stage_ref(stages, i, &img));
            }
            for ins in &stages[i].body {
                if let Kind::Copy { from: Some(f), .. } = &ins.kind {
                    todo.extend(self.stage_ref(stages, i, f));
                }
            }
        }
        need
    }

    async fn run_stage(
        &mut self,
        stages: &[StageDef],
        i: usize,
        done: &[Option<ImageState>],
    ) -> StepResult<ImageState> {
        let def = &stages[i];
        self.step += 1;
        self.say(format!("Step {}/{} : {}\n", self.step, self.total, def.from.text))
            .await;
        let img = self
            .from(stages, i, done)
            .await
            .map_err(|e| format!("{}: {e}", self.where_(&def.from)))?;
        let triggers = img.file.config.on_build.clone().unwrap_or_default();
        let mut st = StageRun {
            img,
            cmd_set: false,
            args: Vec::new(),
        };
        st.img.file.config.on_build = None;
        if let Some(id) = &st.img.id {
            self.say(format!(" ---> {}\n", short_id(id))).await;
        }
        if !triggers.is_empty() {
            self.say(format!(
                "# Executing {} build trigger{}\n",
                triggers.len(),
                if triggers.len() == 1 { "" } else { "s" }
            ))
            .await;
        }
        for t in &triggers {
            let ins = super::dockerfile::parse_trigger(t)?;
            self.run_step(&ins, &mut st, stages, i, done)
                .await
                .map_err(|e| format!("{}: {e}", self.where_(&ins)))?;
        }
        for ins in &def.body {
            self.step += 1;
            self.say(format!("Step {}/{} : {}\n", self.step, self.total, ins.text))
                .await;
            self.run_step(ins, &mut st, stages, i, done)
                .await
                .map_err(|e| format!("{}: {e}", self.where_(ins)))?;
        }
        Ok(st.img)
    }

    async fn from(&mut self, stages: &[StageDef], i: usize, done: &[Option<ImageState>]) -> StepResult<ImageState> {
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
        if name == "scratch" {
            return Ok(ImageState::scratch());
        }
        if let Some(j) = self
            .stage_ref(stages, i, &name)
            .filter(|_| name.parse::<usize>().is_err())
        {
            return done[j].clone().ok_or_else(|| format!("stage {name} was not built"));
        }
        self.image(&name).await
    }

    /// A stored image by reference, pulled when missing (unless `BERTH_BUILD_PULL=never`).
    async fn image(&self, name: &str) -> StepResult<ImageState> {
        let r = crate::images::ImageRef::parse(name).map_err(|e| format!("invalid reference format: {name}: {e}"))?;
        let images = &self.engine.images;
        if images.resolve(&r.to_string()).is_err() {
            if std::env::var("BERTH_BUILD_PULL").as_deref() == Ok("never") {
                return Err(format!(
                    "pull access denied for {name}: the image is not in the engine and BERTH_BUILD_PULL=never"
                ));
            }
            self.say(format!("Pulling image {name}\n")).await;
            let platform = crate::registry::manifest::Platform::host();
            self.engine
                .registry
                .ensure_image(&r.to_string(), platform, None)
                .await
                .map_err(|e| e.to_string())?;
        }
        ImageState::load(images, &r.to_string()).map_err(|e| e.to_string())
    }

    fn vars(&self, st: &StageRun) -> Vars {
        let mut v: Vars = HashMap::new();
        for (k, val) in &st.args {
            if let Some(val) = val {
                v.insert(k.clone(), val.clone());
            }
        }
        for e in st.img.file.config.env.iter().flatten() {
            if let Some((k, val)) = e.split_once('=') {
                v.insert(k.to_owned(), val.to_owned());
            }
        }
        v
    }

    async fn run_step(
        &mut self,
        ins: &Instr,
        st: &mut StageRun,
        stages: &[StageDef],
        i: usize,
        done: &[Option<ImageState>],
    ) -> StepResult<()> {
        match &ins.kind {
            Kind::Arg(pairs) => self.arg(pairs, st).await,
            Kind::Run {
                cmd, network, heredocs, ..
            } => self.run_cmd(cmd, heredocs, network.clone(), st).await,
            Kind::Copy { .. } => self.copy(ins, st, stages, i, done).await,
            Kind::Workdir(w) => self.workdir(w, st).await,
            Kind::From { .. } => Err("FROM inside a stage".into()),
            other => {
                let mut cfg = st.img.file.config.clone();
                let vars = self.vars(st);
                let text = meta::apply(
                    other,
                    &mut cfg,
                    MetaCtx {
                        vars: &vars,
                        escape: self.df.escape,
                        cmd_set: &mut st.cmd_set,
                    },
                )?;
                if let Kind::Maintainer(m) = other {
                    st.img.file.author = Some(m.clone());
                }
                self.commit_meta(st, cfg, &text).await
            }
        }
    }

    async fn arg(&mut self, pairs: &[(String, Option<String>)], st: &mut StageRun) -> StepResult<()> {
        let mut shown = Vec::new();
        for (k, default) in pairs {
            let vars = self.vars(st);
            let default = default
                .as_deref()
                .map(|d| expand(d, &vars, self.df.escape))
                .transpose()?;
            let value = self
                .arg_value(k)
                .or(default.clone())
                .or_else(|| self.meta_args.get(k).cloned());
            st.args.retain(|(n, _)| n != k);
            st.args.push((k.clone(), value));
            shown.push(match default {
                Some(d) => format!("{k}={d}"),
                None => k.clone(),
            });
        }
        let cfg = st.img.file.config.clone();
        self.commit_meta(st, cfg, &format!("ARG {}", shown.join(" "))).await
    }

    /// Commits a step that only changes the config (cached like any step).
    async fn commit_meta(&mut self, st: &mut StageRun, cfg: ImageConfig, text: &str) -> StepResult<()> {
        let created_by = format!("/bin/sh -c #(nop)  {text}");
        let cfg_json = serde_json::to_string(&cfg).unwrap_or_default();
        let key = cache::key(st.img.id.as_deref(), &["meta", &created_by, &cfg_json]);
        self.step_with(st, key, cfg, created_by, |_, _| async { Ok(None) })
            .await
    }

    /// A step: the cached image for `key`, else `work` (which may make a layer) and a commit.
    async fn step_with<F, Fut>(
        &mut self,
        st: &mut StageRun,
        key: String,
        cfg: ImageConfig,
        created_by: String,
        work: F,
    ) -> StepResult<()>
    where
        F: FnOnce(Arc<Engine>, ImageState) -> Fut,
        Fut: std::future::Future<Output = StepResult<Option<LayerRecord>>>,
    {
        if !self.opts.no_cache {
            if let Some(hit) = self.cache.get(&self.engine.images, &key) {
                self.say(" ---> Using cache\n").await;
                self.say(format!(" ---> {}\n", short_id(hit.id.as_deref().unwrap_or_default())))
                    .await;
                st.img = hit;
                return Ok(());
            }
        }
        let layer = work(self.engine.clone(), st.img.clone()).await?;
        let images = self.engine.images.clone();
        let parent = st.img.clone();
        let next = tokio::task::spawn_blocking(move || {
            parent.commit(
                &images,
                cfg,
                super::History {
                    created_by: Some(created_by),
                    ..Default::default()
                },
                layer,
            )
        })
        .await
        .map_err(|e| format!("committing: {e}"))?
        .map_err(|e| e.to_string())?;
        let id = next.id.clone().unwrap_or_default();
        self.cache.put(&key, &id);
        self.say(format!(" ---> {}\n", short_id(&id))).await;
        st.img = next;
        Ok(())
    }

    async fn run_cmd(
        &mut self,
        cmd: &CmdForm,
        heredocs: &[(String, bool)],
        network: Option<String>,
        st: &mut StageRun,
    ) -> StepResult<()> {
        let cfg = st.img.file.config.clone();
        let form = match (cmd, heredocs.first()) {
            (CmdForm::Shell(s), Some((body, _))) if s.trim_start().starts_with("<<") && heredocs.len() == 1 => {
                CmdForm::Shell(body.clone())
            }
            _ => cmd.clone(),
        };
        let argv = meta::argv(&form, &cfg);
        let mut env = cfg.env.clone().unwrap_or_default();
        let mut shown_args = Vec::new();
        for (k, v) in &st.args {
            if let Some(v) = v {
                shown_args.push(format!("{k}={v}"));
                if !env.iter().any(|e| e.split_once('=').map(|(a, _)| a) == Some(k)) {
                    env.push(format!("{k}={v}"));
                }
            }
        }
        for p in PROXY_ARGS {
            if let Some(v) = self.arg_value(p) {
                env.push(format!("{p}={v}"));
            }
        }
        let created_by = if shown_args.is_empty() {
            argv.join(" ")
        } else {
            format!("|{} {} {}", shown_args.len(), shown_args.join(" "), argv.join(" "))
        };
        let key = cache::key(
            st.img.id.as_deref(),
            &[
                "run",
                &serde_json::to_string(&(&argv, &env, &network)).unwrap_or_default(),
            ],
        );
        let (opts, tx) = (self.opts.clone(), self.tx.clone());
        let spec = super::run::RunSpec {
            argv: argv.clone(),
            env,
            network,
        };
        let shown = format!("{argv:?}");
        self.step_with(st, key, cfg, created_by, move |engine, parent| async move {
            super::run::run(&engine, &opts, &parent, spec, &tx)
                .await
                .map_err(|e| format!("The command '{shown}' {e}"))
        })
        .await
    }

    async fn workdir(&mut self, w: &str, st: &mut StageRun) -> StepResult<()> {
        let vars = self.vars(st);
        let w = expand(w, &vars, self.df.escape)?;
        let mut cfg = st.img.file.config.clone();
        let base = cfg
            .working_dir
            .clone()
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "/".into());
        let path = if w.starts_with('/') {
            w.clone()
        } else {
            format!("{base}/{w}")
        };
        let path = format!("/{}", super::paths::clean(&path).0);
        cfg.working_dir = Some(path.clone());
        let key = cache::key(
            st.img.id.as_deref(),
            &["workdir", &path, &serde_json::to_string(&cfg).unwrap_or_default()],
        );
        let root = self.engine.config.root.clone();
        let created_by = format!("/bin/sh -c #(nop) WORKDIR {path}");
        self.step_with(st, key, cfg, created_by, move |engine, parent| async move {
            on_mount(engine, root, parent, move |m| {
                let host = super::paths::resolve(&m.rootfs, &path, true).map_err(|e| e.to_string())?;
                std::fs::create_dir_all(&host).map_err(|e| format!("creating {path}: {e}"))
            })
            .await
        })
        .await
    }

    async fn copy(
        &mut self,
        ins: &Instr,
        st: &mut StageRun,
        stages: &[StageDef],
        i: usize,
        done: &[Option<ImageState>],
    ) -> StepResult<()> {
        let Kind::Copy {
            add,
            srcs,
            dest,
            from,
            chown,
            chmod,
            exclude,
            checksum: _,
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
        // The source root: the context, another stage or an image (mounted read-mostly for the step).
        let (src_state, what) = match from {
            Some(f) => {
                let f = expand(f, &vars, esc)?;
                match self.stage_ref(stages, i, &f) {
                    Some(j) => (
                        Some(done[j].clone().ok_or_else(|| format!("stage {f} was not built"))?),
                        format!("stage {f}"),
                    ),
                    None => (Some(self.image(&f).await?), format!("image {f}")),
                }
            }
            None => (None, "build context".to_owned()),
        };
        let root = self.engine.config.root.clone();
        let src_mount = match &src_state {
            Some(s) => Some(
                StepMount::new(&root, s.lower_dirs(&self.engine.images).map_err(|e| e.to_string())?)
                    .map_err(|e| e.to_string())?,
            ),
            None => None,
        };
        let src_root = src_mount
            .as_ref()
            .map(|m| m.rootfs.clone())
            .unwrap_or_else(|| self.ctx.clone());
        let mut paths = Vec::new();
        let mut inline = Vec::new();
        for s in srcs {
            match s {
                CopySrc::Path(p) => {
                    if add && (p.starts_with("http://") || p.starts_with("https://")) {
                        return Err(format!("ADD of a URL ({p}) is not supported by berth's builder yet"));
                    }
                    paths.push(expand(p, &vars, esc)?);
                }
                CopySrc::HereDoc { body, expand: x } => {
                    let data = if *x { expand(body, &vars, esc)? } else { body.clone() };
                    inline.push(data);
                }
            }
        }
        let sources = {
            let (src_root, what, exclude) = (src_root.clone(), what.clone(), exclude.clone());
            tokio::task::spawn_blocking(move || -> StepResult<_> {
                let mut r = super::copy::resolve_sources(&src_root, &paths, &what, &exclude)?;
                for (n, data) in inline.into_iter().enumerate() {
                    r.push(super::copy::Source::Inline {
                        name: format!("heredoc-{n}"),
                        data: data.into_bytes(),
                    });
                }
                let h = super::copy::content_hash(&r).map_err(|e| e.to_string())?;
                Ok((r, h))
            })
            .await
            .map_err(|e| e.to_string())??
        };
        let (sources, hash) = sources;
        let kw = if add { "ADD" } else { "COPY" };
        let created_by = format!(
            "/bin/sh -c #(nop) {kw} {}:{} in {dest_abs} ",
            if sources.len() == 1 { "file" } else { "multi" },
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
        let (chown, chmod) = (
            chown.clone().map(|c| expand(&c, &vars, esc)).transpose()?,
            chmod.clone(),
        );
        let result = self
            .step_with(st, key, cfg, created_by, move |engine, parent| async move {
                on_mount(engine, root, parent, move |m| {
                    let ids = chown
                        .as_deref()
                        .map(|c| super::copy::parse_chown(&m.rootfs, c))
                        .transpose()?;
                    let chmod = chmod.as_deref().map(super::copy::parse_chmod).transpose()?;
                    let owner = super::copy::Owner { ids, chmod };
                    super::copy::copy(&m.rootfs, &sources, &dest_abs, dest_is_dir, add, owner)
                })
                .await
            })
            .await;
        drop(src_mount);
        result
    }

    /// `--label`s: one LABEL step each, in key order, after the target stage (as the classic builder does).
    async fn cli_labels(&mut self, img: ImageState) -> StepResult<ImageState> {
        let mut st = StageRun {
            img,
            cmd_set: true,
            args: Vec::new(),
        };
        let mut labels: Vec<(String, String)> = self.opts.labels.clone().into_iter().collect();
        labels.sort();
        for (k, v) in labels {
            let mut cfg = st.img.file.config.clone();
            cfg.labels
                .get_or_insert_with(Default::default)
                .insert(k.clone(), v.clone());
            self.commit_meta(&mut st, cfg, &format!("LABEL {k}={v}")).await?;
        }
        Ok(st.img)
    }

    async fn finish(&mut self, fin: ImageState) -> StepResult<String> {
        let id = fin
            .id
            .clone()
            .ok_or("No image was generated. Is your Dockerfile empty?")?;
        let unused: Vec<&String> = self
            .opts
            .build_args
            .keys()
            .filter(|k| !self.used.contains(*k) && !PROXY_ARGS.contains(&k.as_str()))
            .collect();
        if !unused.is_empty() {
            let mut u: Vec<&String> = unused;
            u.sort();
            let list = u.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ");
            self.say(format!("[Warning] One or more build-args [{list}] were not consumed\n"))
                .await;
        }
        let _ = self.tx.send(Progress::Aux(id.clone())).await;
        self.say(format!("Successfully built {}\n", short_id(&id))).await;
        for t in &self.opts.tags {
            self.engine.images.tag(&id, t).map_err(|e| e.to_string())?;
            self.say(format!(
                "Successfully tagged {}\n",
                t.familiar_tagged().unwrap_or_else(|| t.to_string())
            ))
            .await;
        }
        if self.opts.quiet {
            let _ = self.tx.send(Progress::Stream(format!("{id}\n"))).await;
        }
        Ok(id)
    }
}

/// Runs `f` on a step mount of `parent`, then turns the mount's changes into a layer.
async fn on_mount<F>(engine: Arc<Engine>, root: PathBuf, parent: ImageState, f: F) -> StepResult<Option<LayerRecord>>
where
    F: FnOnce(&StepMount) -> StepResult<()> + Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        let images = &engine.images;
        let lowers = parent.lower_dirs(images).map_err(|e| e.to_string())?;
        let m = StepMount::new(&root, lowers.clone()).map_err(|e| e.to_string())?;
        f(&m)?;
        m.unmount().map_err(|e| e.to_string())?;
        let tmp = super::tmp_dir(&root);
        super::image::layer_from_upper(images, &tmp, &m.upper, &lowers).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| format!("step task: {e}"))?
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
