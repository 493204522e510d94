//! What a batch of changes does to one service, as Docker Compose's watch does it: a matching `rebuild` rule
//! builds the image and recreates the service (alone); otherwise each matching sync rule copies its files
//! (into stopped containers too; one the engine cannot write into gets them when it starts), then `sync+restart`/`restart` restart the
//! containers and `sync+exec` runs its command in each.

use super::build::{self, BuildSettings};
use super::build_output::ProgressMode;
use super::hooks;
use super::progress::Progress;
use super::resources;
use super::spec::{ProjectSpec, WatchAction, WatchRule};
use super::up::{self, UpOptions};
use super::watch_filter::RuleFilter;
use super::watch_sync::{self, Base, Change, Owner};
use anyhow::{Context, Result};
use bollard::models::ContainerSummaryStateEnum;
use bollard::query_parameters::PruneImagesOptionsBuilder;
use bollard::Docker;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// One rule of one service, compiled.
#[derive(Debug)]
pub struct Watched {
    /// The service the rule belongs to.
    pub service: String,
    /// The rule.
    pub rule: WatchRule,
    /// Its path filter.
    pub filter: RuleFilter,
}

/// Flags of `watch` that change what actions do.
#[derive(Debug, Clone, Copy, Default)]
pub struct ActionSettings {
    /// Remove dangling images after a rebuild.
    pub prune: bool,
    /// Hide build output.
    pub quiet: bool,
}

/// State kept between batches: owners of containers, syncs waiting for a container to start.
#[derive(Default)]
pub struct Actions {
    owners: HashMap<String, Owner>,
    /// Container id → (rule index in the watched list, changes) to sync when it starts.
    pending: HashMap<String, BTreeMap<usize, BTreeSet<Change>>>,
}

/// Prints one watch line with the time, as Compose's watch does.
pub fn say(line: &str) {
    println!("{} {line}", chrono::Local::now().format("%H:%M:%S%.3f"));
}

impl Actions {
    /// Applies the changed `paths` to every service a rule of `watched` matches.
    pub async fn apply(
        &mut self,
        docker: &Docker,
        project: &ProjectSpec,
        watched: &[Watched],
        paths: &BTreeSet<PathBuf>,
        settings: ActionSettings,
    ) -> Result<()> {
        let mut by_service: BTreeMap<&str, Vec<(usize, Vec<&PathBuf>)>> = BTreeMap::new();
        for (i, w) in watched.iter().enumerate() {
            let hits: Vec<&PathBuf> = paths.iter().filter(|p| w.filter.accepts(p)).collect();
            if !hits.is_empty() {
                by_service.entry(&w.service).or_default().push((i, hits));
            }
        }
        for (service, rules) in by_service {
            let result = self
                .apply_service(docker, project, watched, service, &rules, settings)
                .await;
            if let Err(err) = result {
                say(&format!("service {service:?}: {err:#}"));
            }
        }
        Ok(())
    }

    async fn apply_service(
        &mut self,
        docker: &Docker,
        project: &ProjectSpec,
        watched: &[Watched],
        service: &str,
        rules: &[(usize, Vec<&PathBuf>)],
        settings: ActionSettings,
    ) -> Result<()> {
        if rules
            .iter()
            .any(|(i, _)| watched[*i].rule.action == WatchAction::Rebuild)
        {
            return rebuild(docker, project, service, settings).await;
        }
        let containers = resources::list_containers(docker, &project.name, Some(service), true).await?;
        for (i, hits) in rules {
            let w = &watched[*i];
            if w.rule.action.syncs() {
                let changes = changes(&w.rule, hits);
                say(&format!(
                    "Syncing service {service:?} after {} changed files",
                    changes.len()
                ));
                for c in &containers {
                    let id = c.id.clone().unwrap_or_default();
                    let running = matches!(c.state, Some(ContainerSummaryStateEnum::RUNNING));
                    // The archive endpoint writes into a stopped container too: synced now, its files are
                    // there before its command runs at the next start (a `sync+restart` service that reads
                    // them at start, or one that exited). Only a container the engine cannot write into
                    // (being made or removed) gets them when it starts.
                    match self.sync(docker, &id, w, &changes).await {
                        Ok(()) => {}
                        Err(err) if running => return Err(err),
                        Err(_) => self
                            .pending
                            .entry(id)
                            .or_default()
                            .entry(*i)
                            .or_default()
                            .extend(changes.clone()),
                    }
                }
            }
        }
        let restart = rules
            .iter()
            .any(|(i, _)| matches!(watched[*i].rule.action, WatchAction::Restart | WatchAction::SyncRestart));
        if restart {
            restart_service(docker, project, service).await?;
        }
        for (i, _) in rules
            .iter()
            .filter(|(i, _)| watched[*i].rule.action == WatchAction::SyncExec)
        {
            let hook = watched[*i].rule.exec.clone().into_iter().collect::<Vec<_>>();
            for c in containers
                .iter()
                .filter(|c| matches!(c.state, Some(ContainerSummaryStateEnum::RUNNING)))
            {
                let (id, name) = (c.id.clone().unwrap_or_default(), resources::display_name(c));
                hooks::run_all(docker, &id, &name, "develop.watch exec", &hook, &Progress::new()).await?;
            }
        }
        Ok(())
    }

    /// Syncs what waited for container `id` to start.
    pub async fn flush(&mut self, docker: &Docker, watched: &[Watched], id: &str) -> Result<()> {
        let Some(waiting) = self.pending.remove(id) else {
            return Ok(());
        };
        for (i, changes) in waiting {
            let changes: Vec<Change> = changes.into_iter().collect();
            self.sync(docker, id, &watched[i], &changes).await?;
        }
        Ok(())
    }

    /// Copies the existing changed paths into container `id`, removes the missing ones.
    async fn sync(&mut self, docker: &Docker, id: &str, w: &Watched, changes: &[Change]) -> Result<()> {
        let owner = match self.owners.get(id) {
            Some(o) => *o,
            None => {
                let o = watch_sync::owner(docker, id).await?;
                self.owners.insert(id.to_owned(), o);
                o
            }
        };
        let (present, gone): (Vec<Change>, Vec<Change>) = changes
            .iter()
            .cloned()
            .partition(|c| std::fs::symlink_metadata(&c.host).is_ok());
        let target = w.rule.target.clone().unwrap_or_default();
        let filter = &w.filter;
        if !present.is_empty() {
            // At the target first, so a target that is a symlink is followed (unpacking at `/` would replace
            // it with a directory); at `/` with the parents when the target does not exist yet.
            let base = Base::Target(&target);
            let tar = tokio::task::block_in_place(|| watch_sync::archive(&present, filter, &target, base, owner))?;
            match watch_sync::upload(docker, id, base.path(), tar).await {
                Err(e) if watch_sync::is_missing_target(&e) => {
                    let tar = tokio::task::block_in_place(|| {
                        watch_sync::archive(&present, filter, &target, Base::Root, owner)
                    })?;
                    watch_sync::upload(docker, id, Base::Root.path(), tar).await?;
                }
                other => other?,
            }
        }
        let gone: Vec<String> = gone.into_iter().map(|c| c.container).collect();
        watch_sync::remove(docker, id, &gone).await
    }
}

/// The changed paths of one rule as host → container pairs, a path under another changed directory dropped.
fn changes(rule: &WatchRule, hits: &[&PathBuf]) -> Vec<Change> {
    let target = rule.target.as_deref().unwrap_or("/");
    let mut kept: Vec<&Path> = Vec::new();
    for p in hits.iter().map(|p| p.as_path()) {
        // `hits` is sorted, so a directory comes before what is under it.
        if !kept.iter().any(|k| p.starts_with(k)) {
            kept.push(p);
        }
    }
    kept.into_iter()
        .map(|host| {
            let rel = host.strip_prefix(&rule.path).unwrap_or(Path::new(""));
            let container = if rel.as_os_str().is_empty() {
                target.to_owned()
            } else {
                format!("{}/{}", target.trim_end_matches('/'), rel.to_string_lossy())
            };
            Change {
                host: host.to_path_buf(),
                container,
            }
        })
        .collect()
}

async fn restart_service(docker: &Docker, project: &ProjectSpec, service: &str) -> Result<()> {
    for c in resources::list_containers(docker, &project.name, Some(service), true).await? {
        let id = c.id.clone().unwrap_or_default();
        docker
            .restart_container(&id, None)
            .await
            .with_context(|| format!("restarting {}", resources::display_name(&c)))?;
    }
    say(&format!("service {service:?} restarted"));
    Ok(())
}

/// Builds the service's image, recreates its containers, then restarts the dependents that ask for it
/// (`depends_on.<service>.restart: true`); other dependents keep running.
async fn rebuild(docker: &Docker, project: &ProjectSpec, service: &str, settings: ActionSettings) -> Result<()> {
    say(&format!(
        "Rebuilding service {service:?} after changes were detected..."
    ));
    let build = BuildSettings {
        mode: if settings.quiet {
            ProgressMode::Quiet
        } else {
            ProgressMode::Plain
        },
        ..Default::default()
    };
    let one = BTreeSet::from([service.to_owned()]);
    build::build_services(docker, project, &one, &build).await?;
    say(&format!("service {service:?} successfully built"));
    let opts = UpOptions {
        detach: true,
        no_deps: true,
        services: vec![service.to_owned()],
        ..Default::default()
    };
    // `up` may itself watch (`up --watch`): the box breaks the cycle in the future's type.
    let up: std::pin::Pin<Box<dyn std::future::Future<Output = Result<std::process::ExitCode>> + '_>> =
        Box::pin(up::run(docker, project, &opts));
    up.await?;
    if settings.prune {
        let filters = HashMap::from([("dangling", vec!["true"])]);
        let options = PruneImagesOptionsBuilder::new().filters(&filters).build();
        // A failed prune leaves only garbage behind: the rebuild itself went through.
        if let Err(err) = docker.prune_images(Some(options)).await {
            tracing::warn!("pruning dangling images: {err}");
        }
    }
    for dependent in project
        .services
        .iter()
        .filter(|s| s.depends_on.iter().any(|d| d.service == service && d.restart))
    {
        restart_service(docker, project, &dependent.name).await?;
    }
    Ok(())
}
