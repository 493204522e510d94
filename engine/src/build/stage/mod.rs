//! The build loop: stages (ARGs before FROM, named stages, every stage up to the target), one step per
//! instruction with the classic builder's output lines, cache lookups, and the final tags. Stages that do not
//! depend on each other build at the same time; each writes its progress to its own channel and the channels
//! are forwarded in stage order, so the output reads as the classic builder's sequential one.

mod copy_step;
mod run_step;
mod schedule;
mod source;

use super::cache::{self, Cache};
use super::cache_from::CacheSources;
use super::dockerfile::{Dockerfile, Instr, Kind};
use super::ext::Extensions;
use super::image::ImageState;
use super::meta::{self, MetaCtx};
use super::mount::StepMount;
use super::words::{expand, Vars};
use super::{BuildOptions, Out, Progress};
use crate::engine::Engine;
use crate::images::store::short_id;
use crate::state::LayerRecord;
use bollard::models::ImageConfig;
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
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
    /// Where this stage's progress goes.
    out: Out,
}

/// The stages built so far (index: stage number), as a stage sees them when it starts.
type Done = Vec<Option<ImageState>>;

/// One build.
pub struct Builder {
    engine: Arc<Engine>,
    opts: BuildOptions,
    ctx: PathBuf,
    df: Dockerfile,
    tx: mpsc::Sender<Progress>,
    cache: Cache,
    sources: CacheSources,
    total: usize,
    used: Mutex<BTreeSet<String>>,
    meta_args: HashMap<String, String>,
    /// Secrets and named contexts sent with the build.
    ext: Extensions,
}

type StepResult<T> = Result<T, String>;

impl Builder {
    /// A build of `df` in the unpacked context `ctx`.
    pub fn new(
        engine: Arc<Engine>,
        opts: BuildOptions,
        ctx: PathBuf,
        df: Dockerfile,
        ext: Extensions,
        tx: mpsc::Sender<Progress>,
    ) -> Self {
        let cache = Cache::open(&engine.config.root);
        let sources = CacheSources::load(&engine.images, &opts.cache_from);
        Builder {
            engine,
            opts,
            ctx,
            df,
            tx,
            cache,
            sources,
            total: 0,
            used: Mutex::new(BTreeSet::new()),
            meta_args: HashMap::new(),
            ext,
        }
    }

    /// Progress straight to the client (after every stage's output).
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
        if !self.df.warnings.is_empty() {
            self.say(format!("\x1b[91m{}\x1b[0m", self.df.warnings)).await;
        }
        let (meta, stages) = self.split()?;
        let target = match &self.opts.target {
            Some(t) if !t.is_empty() => stages
                .iter()
                .position(|s| s.name.as_deref() == Some(&t.to_lowercase()))
                .ok_or_else(|| format!("failed to reach build target {t} in Dockerfile"))?,
            _ => stages.len() - 1,
        };
        // The classic builder builds every stage up to the target (an unused one that fails fails the build) and
        // counts the ARGs before FROM as steps.
        let needed: Vec<bool> = (0..stages.len()).map(|i| i <= target).collect();
        self.total = meta.len() + stages[..=target].iter().map(|s| 1 + s.body.len()).sum::<usize>();
        for (n, ins) in meta.iter().enumerate() {
            self.say(format!("Step {}/{} : {}\n", n + 1, self.total, ins.text))
                .await;
        }
        self.meta_args(&meta)?;
        let mut done = self.run_stages(&stages, &needed, meta.len() + 1).await?;
        let fin = done[target].take().ok_or("the target stage was not built")?;
        let fin = if self.opts.labels.is_empty() {
            fin
        } else {
            self.cli_labels(fin).await?
        };
        self.finish(fin).await
    }

    fn meta_args(&mut self, meta: &[Instr]) -> StepResult<()> {
        for ins in meta {
            if let Kind::Arg(pairs) = &ins.kind {
                for (k, v) in pairs {
                    let default = v
                        .as_deref()
                        .map(|v| expand(v, &self.meta_args, self.df.escape))
                        .transpose()
                        .map_err(|e| format!("{}: {e}", self.where_(ins)))?;
                    if let Some(val) = self.arg_value(k).or(default) {
                        self.meta_args.insert(k.clone(), val);
                    }
                }
            }
        }
        Ok(())
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
    fn arg_value(&self, name: &str) -> Option<String> {
        let v = self.opts.build_args.get(name)?.clone();
        self.used
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_owned());
        v.or_else(|| std::env::var(name).ok())
    }

    /// The stage `name` (or number) refers to; a named context of that name wins over a stage, as in BuildKit.
    fn stage_ref(&self, stages: &[StageDef], before: usize, name: &str) -> Option<usize> {
        if self.ext.context(name).is_some() {
            return None;
        }
        let lname = name.to_lowercase();
        if let Ok(n) = name.parse::<usize>() {
            return (n < before).then_some(n);
        }
        stages[..before].iter().position(|s| s.name.as_deref() == Some(&lname))
    }

    /// The stages stage `i` uses: its base stage, the stages it copies from and the stages its RUNs mount.
    fn deps(&self, stages: &[StageDef], i: usize) -> Vec<usize> {
        let mut out = Vec::new();
        if let Kind::From { image, .. } = &stages[i].from.kind {
            let img = expand(image, &self.meta_args, self.df.escape).unwrap_or_default();
            out.extend(self.stage_ref(stages, i, &img));
        }
        for ins in &stages[i].body {
            let froms: Vec<String> = match &ins.kind {
                Kind::Copy { from: Some(f), .. } => vec![f.clone()],
                Kind::Run { mounts, .. } => mounts.iter().filter_map(|m| mount_from(m)).collect(),
                _ => Vec::new(),
            };
            for f in froms {
                let f = expand(&f, &self.meta_args, self.df.escape).unwrap_or(f);
                out.extend(self.stage_ref(stages, i, &f));
            }
        }
        out
    }

    async fn run_stage(
        &self,
        stages: &[StageDef],
        i: usize,
        done: Done,
        out: Out,
        first_step: usize,
    ) -> StepResult<ImageState> {
        let def = &stages[i];
        out.say(format!("Step {first_step}/{} : {}\n", self.total, def.from.text));
        let img = self
            .from(stages, i, &done, &out)
            .await
            .map_err(|e| format!("{}: {e}", self.where_(&def.from)))?;
        let triggers = img.file.config.on_build.clone().unwrap_or_default();
        let mut st = StageRun {
            img,
            cmd_set: false,
            args: Vec::new(),
            out,
        };
        st.img.file.config.on_build = None;
        if let Some(id) = &st.img.id {
            st.out.say(format!(" ---> {}\n", short_id(id)));
        }
        if !triggers.is_empty() {
            st.out.say(format!(
                "# Executing {} build trigger{}\n",
                triggers.len(),
                if triggers.len() == 1 { "" } else { "s" }
            ));
        }
        for t in &triggers {
            let ins = super::dockerfile::parse_trigger(t)?;
            self.run_step(&ins, &mut st, stages, i, &done)
                .await
                .map_err(|e| format!("{}: {e}", self.where_(&ins)))?;
        }
        for (n, ins) in def.body.iter().enumerate() {
            st.out
                .say(format!("Step {}/{} : {}\n", first_step + 1 + n, self.total, ins.text));
            self.run_step(ins, &mut st, stages, i, &done)
                .await
                .map_err(|e| format!("{}: {e}", self.where_(ins)))?;
        }
        Ok(st.img)
    }

    fn vars(&self, st: &StageRun) -> Vars {
        let mut v: Vars = HashMap::new();
        for (k, val) in &st.args {
            if let Some(val) = val {
                v.insert(k.clone(), val.clone());
            }
        }
        // The predefined proxy args count as declared when given with the build.
        for p in PROXY_ARGS {
            if !v.contains_key(*p) {
                if let Some(val) = self.arg_value(p) {
                    v.insert((*p).to_owned(), val);
                }
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
        &self,
        ins: &Instr,
        st: &mut StageRun,
        stages: &[StageDef],
        i: usize,
        done: &Done,
    ) -> StepResult<()> {
        match &ins.kind {
            Kind::Arg(pairs) => self.arg(pairs, st).await,
            Kind::Run {
                cmd,
                network,
                heredocs,
                mounts,
            } => {
                let m = self.run_mounts(mounts, st, stages, i, done).await?;
                self.run_cmd(cmd, heredocs, network.clone(), m, st).await
            }
            Kind::Copy { .. } => self.copy(ins, st, stages, i, done).await,
            Kind::Workdir(w) => self.workdir(w, st).await,
            Kind::From { .. } => Err("FROM inside a stage".into()),
            other => {
                let mut cfg = st.img.file.config.clone();
                if let (Kind::Healthcheck { .. }, Some(note)) = (other, meta::healthcheck_note(&cfg)) {
                    st.out.say(note);
                }
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

    async fn arg(&self, pairs: &[(String, Option<String>)], st: &mut StageRun) -> StepResult<()> {
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
    async fn commit_meta(&self, st: &mut StageRun, cfg: ImageConfig, text: &str) -> StepResult<()> {
        // dockerd's comment command runs through the stage's shell (`/bin/sh -c #(nop)  CMD ...`).
        let created_by = format!("{} #(nop)  {text}", meta::shell_of(&cfg).join(" "));
        let cfg_json = serde_json::to_string(&cfg).unwrap_or_default();
        let key = cache::key(st.img.id.as_deref(), &["meta", &created_by, &cfg_json]);
        self.step_with(st, key, cfg, created_by, |_, _| async { Ok(None) })
            .await
    }

    /// A step: the cached image for `key`, else `work` (which may make a layer) and a commit.
    async fn step_with<F, Fut>(
        &self,
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
            let local = self.cache.get(&self.engine.images, &key);
            let hit = match local.filter(|hit| self.sources.allows_local(hit)) {
                Some(hit) => Some(hit),
                None => self.from_sources(&st.img, &cfg, &created_by).await?,
            };
            if let Some(hit) = hit {
                let id = hit.id.clone().unwrap_or_default();
                self.cache.put(&key, &id);
                st.out.say(" ---> Using cache\n");
                st.out.say(format!(" ---> {}\n", short_id(&id)));
                st.img = hit;
                return Ok(());
            }
        }
        let layer = work(self.engine.clone(), st.img.clone()).await?;
        let entry = super::History {
            created_by: Some(created_by),
            ..Default::default()
        };
        let next = self.commit(&st.img, cfg, entry, layer).await?;
        let id = next.id.clone().unwrap_or_default();
        self.cache.put(&key, &id);
        st.out.say(format!(" ---> {}\n", short_id(&id)));
        st.img = next;
        Ok(())
    }

    /// The step's image remade from a `cachefrom` image whose history has this step after `parent`'s.
    async fn from_sources(
        &self,
        parent: &ImageState,
        cfg: &ImageConfig,
        created_by: &str,
    ) -> StepResult<Option<ImageState>> {
        let Some((entry, layer)) = self.sources.find(parent, created_by) else {
            return Ok(None);
        };
        self.commit(parent, cfg.clone(), entry, layer).await.map(Some)
    }

    async fn commit(
        &self,
        parent: &ImageState,
        cfg: ImageConfig,
        entry: super::History,
        layer: Option<LayerRecord>,
    ) -> StepResult<ImageState> {
        let (images, parent) = (self.engine.images.clone(), parent.clone());
        tokio::task::spawn_blocking(move || parent.commit(&images, cfg, entry, layer))
            .await
            .map_err(|e| format!("committing: {e}"))?
            .map_err(|e| e.to_string())
    }

    /// `--label`s: one LABEL step each, in key order, after the target stage (as the classic builder does).
    async fn cli_labels(&self, img: ImageState) -> StepResult<ImageState> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut st = StageRun {
            img,
            cmd_set: true,
            args: Vec::new(),
            out: Out::new(tx, self.opts.quiet),
        };
        let mut labels: Vec<(String, String)> = self.opts.labels.clone().into_iter().collect();
        labels.sort();
        for (k, v) in labels {
            let mut cfg = st.img.file.config.clone();
            cfg.labels
                .get_or_insert_with(Default::default)
                .insert(k.clone(), v.clone());
            let done = self.commit_meta(&mut st, cfg, &format!("LABEL {k}={v}")).await;
            while let Ok(p) = rx.try_recv() {
                let _ = self.tx.send(p).await;
            }
            done?;
        }
        Ok(st.img)
    }

    async fn finish(&self, fin: ImageState) -> StepResult<String> {
        let id = fin
            .id
            .clone()
            .ok_or("No image was generated. Is your Dockerfile empty?")?;
        let used = self.used.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let unused: Vec<&String> = self
            .opts
            .build_args
            .keys()
            .filter(|k| !used.contains(*k) && !PROXY_ARGS.contains(&k.as_str()))
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

/// The stage or image a `RUN --mount` reads from.
fn mount_from(spec: &str) -> Option<String> {
    match super::run_mount::parse(spec).ok()? {
        super::run_mount::MountSpec::Bind { from, .. } => from,
        _ => None,
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
