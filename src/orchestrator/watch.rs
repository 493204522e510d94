//! `berth watch` and `up --watch` (Compose's `develop.watch`): file events from the kernel (`notify`, inotify),
//! debounced into batches, each batch handed to `watch_actions`. A rule whose path does not exist yet is
//! watched from its nearest existing parent until it appears. SIGINT/SIGTERM end the watch.

use super::events::EventHub;
use super::spec::ProjectSpec;
use super::up::{self, UpOptions};
use super::watch_actions::{say, ActionSettings, Actions, Watched};
use super::watch_config::ConfigWatch;
use super::watch_filter::RuleFilter;
use anyhow::{bail, Context, Result};
use bollard::Docker;
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

/// A burst of events is one batch once no new event came for this long: an editor's save (write, rename,
/// chmod) comes within a few ms; longer only delays every sync.
const QUIET: Duration = Duration::from_millis(50);
/// A batch never waits longer than this, so a file written without pause (a log) cannot hold syncs back.
const MAX_BATCH: Duration = Duration::from_secs(2);

/// Flags of `watch`, as `docker compose watch` has them.
#[derive(Debug, Clone, Default)]
pub struct WatchOptions {
    /// Do not build and start the services before watching.
    pub no_up: bool,
    /// Prune dangling images on rebuild.
    pub prune: bool,
    /// Hide build output.
    pub quiet: bool,
    /// Services to watch (default: all with `develop.watch`).
    pub services: Vec<String>,
}

/// How a round of watching ended.
pub enum Outcome {
    /// Interrupted (or the caller's stop resolved).
    Stopped,
    /// A Compose file or `.env` changed.
    ConfigChanged,
}

/// Runs `watch`: `up -d` of the services (unless `--no-up`), then watches until interrupted. A change to the
/// Compose files or `.env` reloads the project with `reload` and converges it (`up -d`: what changed is
/// recreated); a reload that fails is reported and the watch goes on with the configuration it had.
pub async fn run(
    docker: &Docker,
    project: &ProjectSpec,
    args: &WatchOptions,
    reload: &dyn Fn() -> Result<ProjectSpec>,
) -> Result<ExitCode> {
    let mut project = project.clone();
    let mut watched = compile(&project, &args.services)?;
    let up_opts = UpOptions {
        detach: true,
        services: args.services.clone(),
        ..Default::default()
    };
    if !args.no_up {
        up::run(docker, &project, &up_opts).await?;
    }
    let settings = ActionSettings {
        prune: args.prune,
        quiet: args.quiet,
    };
    let mut stop = Box::pin(interrupted());
    loop {
        let mut config = ConfigWatch::start(&project)?;
        match watch(docker, &project, watched, settings, &mut stop, Some(&mut config)).await? {
            Outcome::Stopped => break,
            Outcome::ConfigChanged => say("Compose configuration changed: reloading"),
        }
        match reload().and_then(|p| compile(&p, &args.services).map(|w| (p, w))) {
            Ok((p, w)) => {
                project = p;
                watched = w;
                match up::run(docker, &project, &up_opts).await {
                    Ok(_) => say("Compose configuration applied"),
                    Err(err) => say(&format!("applying the new configuration: {err:#}")),
                }
            }
            Err(err) => {
                say(&format!("configuration not applied: {err:#}"));
                watched = compile(&project, &args.services)?;
            }
        }
    }
    say("Watch disabled");
    Ok(ExitCode::SUCCESS)
}

/// The watch rules of the selected services (all when none is named), each with its filter.
pub fn compile(project: &ProjectSpec, services: &[String]) -> Result<Vec<Watched>> {
    for name in services {
        if project.service(name).is_none() {
            bail!("no such service: {name}");
        }
    }
    let mut out = Vec::new();
    for svc in project
        .services
        .iter()
        .filter(|s| services.is_empty() || services.contains(&s.name))
    {
        for rule in &svc.watch {
            let filter = RuleFilter::new(rule, svc.build.as_ref())
                .with_context(|| format!("service {:?}: develop.watch[{}]", svc.name, rule.index))?;
            out.push(Watched {
                service: svc.name.clone(),
                rule: rule.clone(),
                filter,
            });
        }
    }
    if out.is_empty() {
        bail!("none of the selected services is configured for watch, consider setting a 'develop' section");
    }
    Ok(out)
}

/// Resolves once SIGINT or SIGTERM arrives.
pub async fn interrupted() {
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
}

/// Watches the rules' paths and applies each batch of changes until `stop` resolves.
pub async fn watch(
    docker: &Docker,
    project: &ProjectSpec,
    watched: Vec<Watched>,
    settings: ActionSettings,
    stop: &mut (impl std::future::Future<Output = ()> + Unpin),
    mut config: Option<&mut ConfigWatch>,
) -> Result<Outcome> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        // Opens and reads (inotify reports them) change nothing, and a reader polling a watched directory
        // would otherwise keep the quiet period from ever ending.
        if ev.as_ref().is_ok_and(|e| e.kind.is_access()) {
            return;
        }
        let _ = tx.send(ev);
    })
    .context("starting the file watcher")?;
    let mut anchors = Anchors::default();
    anchors.update(&mut watcher, &watched)?;
    let hub = EventHub::subscribe(docker, &project.name);
    let mut events = hub.receiver();
    let mut events_open = true;
    let mut actions = Actions::default();
    let initial: Vec<&Watched> = watched
        .iter()
        .filter(|w| w.rule.initial_sync && w.rule.action.syncs() && w.rule.path.exists())
        .collect();
    for w in initial {
        let batch = BTreeSet::from([w.rule.path.clone()]);
        actions
            .apply(docker, project, std::slice::from_ref(w), &batch, settings)
            .await?;
    }
    say("Watch enabled");
    loop {
        tokio::select! {
            _ = &mut *stop => break,
            _ = config_changed(&mut config) => return Ok(Outcome::ConfigChanged),
            ev = events.recv(), if events_open => match ev {
                Ok(ev) if ev.action == "start" => actions.flush(docker, &watched, &ev.id).await?,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => events_open = false,
            },
            first = rx.recv() => {
                let Some(first) = first else { bail!("the file watcher stopped") };
                let mut batch = BTreeSet::new();
                add(&mut batch, first);
                let deadline = tokio::time::Instant::now() + MAX_BATCH;
                loop {
                    let wait = QUIET.min(deadline.saturating_duration_since(tokio::time::Instant::now()));
                    match tokio::time::timeout(wait, rx.recv()).await {
                        Ok(Some(more)) => add(&mut batch, more),
                        _ => break,
                    }
                }
                // Rules whose path just appeared are synced whole: events inside it came before its watch.
                for appeared in anchors.update(&mut watcher, &watched)? {
                    batch.insert(appeared);
                }
                actions.apply(docker, project, &watched, &batch, settings).await?;
            }
        }
    }
    Ok(Outcome::Stopped)
}

async fn config_changed(config: &mut Option<&mut ConfigWatch>) {
    match config {
        Some(c) => c.changed().await,
        None => std::future::pending().await,
    }
}

fn add(batch: &mut BTreeSet<PathBuf>, ev: notify::Result<notify::Event>) {
    match ev {
        Ok(ev) => batch.extend(ev.paths),
        Err(err) => say(&format!("watch error: {err}")),
    }
}

/// The paths the kernel watches: each rule's path when it exists (recursively), else its nearest existing
/// parent (that directory only, so a rule under `/` never watches the whole disk).
#[derive(Default)]
struct Anchors {
    current: BTreeMap<PathBuf, RecursiveMode>,
}

impl Anchors {
    /// Re-anchors every rule; returns the rule paths that now exist but were watched from a parent before.
    fn update(&mut self, watcher: &mut RecommendedWatcher, watched: &[Watched]) -> Result<Vec<PathBuf>> {
        let mut wanted: BTreeMap<PathBuf, RecursiveMode> = BTreeMap::new();
        let mut appeared = Vec::new();
        for w in watched {
            let path = &w.rule.path;
            let (anchor, mode) = anchor(path).with_context(|| {
                format!(
                    "service {:?}: develop.watch[{}].path {}",
                    w.service,
                    w.rule.index,
                    path.display()
                )
            })?;
            if mode == RecursiveMode::Recursive
                && self.current.get(path) != Some(&RecursiveMode::Recursive)
                && !self.current.is_empty()
            {
                appeared.push(path.clone());
            }
            let slot = wanted.entry(anchor).or_insert(mode);
            if mode == RecursiveMode::Recursive {
                *slot = mode;
            }
        }
        for (path, mode) in &self.current {
            if wanted.get(path) != Some(mode) {
                let _ = watcher.unwatch(path);
            }
        }
        for (path, mode) in &wanted {
            if self.current.get(path) != Some(mode) {
                watcher
                    .watch(path, *mode)
                    .with_context(|| format!("watching {}", path.display()))?;
            }
        }
        self.current = wanted;
        Ok(appeared)
    }
}

/// `path` itself (recursive) when it exists, else its nearest existing parent (non-recursive); an existing
/// path that cannot be read is an error.
fn anchor(path: &Path) -> Result<(PathBuf, RecursiveMode)> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {
            std::fs::read_dir(path).with_context(|| format!("cannot read {}", path.display()))?;
            return Ok((path.to_path_buf(), RecursiveMode::Recursive));
        }
        Ok(_) => {
            std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
            return Ok((path.to_path_buf(), RecursiveMode::Recursive));
        }
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("cannot read {}", path.display()))
        }
        Err(_) => {}
    }
    let parent = path
        .ancestors()
        .skip(1)
        .find(|p| p.is_dir())
        .context("no existing parent directory")?;
    Ok((parent.to_path_buf(), RecursiveMode::NonRecursive))
}
