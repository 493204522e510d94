//! `up`: networks and volumes, then each service as soon as its `depends_on` conditions hold, then `--wait` or
//! attached logs.

use super::attach;
use super::build::{self, BuildPolicy, BuildSettings};
use super::converge::{self, ConvergeOptions, Recreate, Replica};
use super::events::EventHub;
use super::hooks;
use super::plan;
use super::progress::Progress;
use super::resources;
use super::schedule;
use super::spec::{Condition, ProjectSpec, PullPolicy, ServiceSpec};
use super::watch;
use super::watch_actions::ActionSettings;
use anyhow::{bail, Context, Result};
use bollard::models::ContainerSummary;
use bollard::Docker;
use std::collections::{BTreeSet, HashMap};
use std::process::ExitCode;
use std::time::Duration;

/// Flags `up` and `create` share: how existing containers are treated, pulls, scale.
#[derive(Debug, Clone, Default)]
pub struct ConvergePolicy {
    /// Recreate containers even if their configuration hasn't changed.
    pub force_recreate: bool,
    /// If containers already exist, don't recreate them.
    pub no_recreate: bool,
    /// Remove containers for services not defined in the Compose file.
    pub remove_orphans: bool,
    /// Pull image before running ("always"|"missing"|"never").
    pub pull: Option<String>,
    /// Scale SERVICE to NUM instances (SERVICE=NUM); overrides `scale`/`deploy.replicas`.
    pub scale: Vec<String>,
    /// Build images before starting containers.
    pub build: bool,
    /// Don't build an image, even if it's missing.
    pub no_build: bool,
    /// Pull without printing progress information.
    pub quiet_pull: bool,
}

impl ConvergePolicy {
    /// What to do about images with a `build:` section.
    pub fn build_policy(&self) -> Result<BuildPolicy> {
        match (self.build, self.no_build) {
            (true, true) => bail!("--build and --no-build are incompatible"),
            (true, false) => Ok(BuildPolicy::Always),
            (false, true) => Ok(BuildPolicy::Never),
            (false, false) => Ok(BuildPolicy::Missing),
        }
    }
}

/// Flags of `up`, as `docker compose up` has them.
#[derive(Debug, Clone, Default)]
pub struct UpOptions {
    /// Detached mode: run containers in the background.
    pub detach: bool,
    /// Wait for services to be running|healthy (implies detached mode).
    pub wait: bool,
    /// Maximum duration in seconds to wait for the project to be running|healthy.
    pub wait_timeout: Option<u64>,
    /// Don't start linked services.
    pub no_deps: bool,
    /// Recreation, orphans, pulls and scale.
    pub converge: ConvergePolicy,
    /// Stops all containers if any container was stopped.
    pub abort_on_container_exit: bool,
    /// Stops all containers if any container exited with a non-zero code.
    pub abort_on_container_failure: bool,
    /// Recreate the dependencies of the named services even when unchanged.
    pub always_recreate_deps: bool,
    /// `-V`: recreate containers with fresh anonymous volumes instead of the previous containers' ones.
    pub renew_anon_volumes: bool,
    /// Attach to the logs of the named services' dependencies too.
    pub attach_dependencies: bool,
    /// Services whose logs are not streamed.
    pub no_attach: Vec<String>,
    /// Prefix each log line with its time.
    pub timestamps: bool,
    /// Suppress the build output.
    pub quiet_build: bool,
    /// Return the exit code of the selected service container (implies --abort-on-container-exit).
    pub exit_code_from: Option<String>,
    /// Restrict attaching to the specified services.
    pub attach: Vec<String>,
    /// Don't start the services after creating them.
    pub no_start: bool,
    /// Use this timeout in seconds for container shutdown.
    pub timeout: Option<i32>,
    /// Produce monochrome output.
    pub no_color: bool,
    /// Don't prefix log lines with the container name.
    pub no_log_prefix: bool,
    /// `--watch`: apply `develop.watch` rules while attached.
    pub watch: bool,
    /// Services to start (default: all).
    pub services: Vec<String>,
}

/// Flags of `create` (an `up --no-start`).
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// Recreation, orphans, pulls and scale.
    pub converge: ConvergePolicy,
    /// Services (default: all).
    pub services: Vec<String>,
}

impl CreateOptions {
    /// The equivalent `up` flags.
    pub fn to_up(&self) -> UpOptions {
        UpOptions {
            no_start: true,
            converge: self.converge.clone(),
            services: self.services.clone(),
            ..Default::default()
        }
    }
}

/// Parses `--scale svc=N` entries against the project.
fn scales(project: &ProjectSpec, entries: &[String]) -> Result<HashMap<String, u32>> {
    let mut out = HashMap::new();
    for entry in entries {
        let (svc, num) = entry
            .split_once('=')
            .with_context(|| format!("--scale {entry:?}: expected SERVICE=NUM"))?;
        let num: u32 = num
            .parse()
            .with_context(|| format!("--scale {entry:?}: {num:?} is not a number of replicas"))?;
        if project.service(svc).is_none() {
            bail!("--scale {entry:?}: no such service: {svc}");
        }
        out.insert(svc.to_owned(), num);
    }
    Ok(out)
}

/// Runs `up`.
#[tracing::instrument(skip_all, fields(project = %project.name))]
pub async fn run(docker: &Docker, project: &ProjectSpec, args: &UpOptions) -> Result<ExitCode> {
    let args = &validate(args)?;
    // Bad --attach names are refused before anything is made, as Compose refuses them.
    if !args.detach && !args.no_start {
        attach::attach_set(project, args)?;
    }
    let selected = plan::select(project, &args.services, args.no_deps)?;
    let scale = scales(project, &args.converge.scale)?;
    let pull = args
        .converge
        .pull
        .as_deref()
        .map(str::parse::<PullPolicy>)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    if args.watch && (args.detach || args.wait || args.no_start) {
        bail!("--watch needs attached mode: drop -d/--wait (or run `berth watch`)");
    }
    // Bad watch rules are refused before anything starts.
    let watched = if args.watch {
        Some(watch::compile(project, &args.services)?)
    } else {
        None
    };
    if let Some(svc) = &args.exit_code_from {
        if !selected.contains(svc) {
            bail!("--exit-code-from {svc}: no such service among those started");
        }
    }
    // Builds come first: a failing one stops `up` before any network, volume or container is made.
    let policy = args.converge.build_policy()?;
    let settings = BuildSettings {
        mode: if args.quiet_build {
            super::build_output::ProgressMode::Quiet
        } else {
            super::build_output::ProgressMode::default()
        },
        ..BuildSettings::default()
    };
    let (built, to_pull) = build::ensure_built(docker, project, &selected, policy, &settings).await?;
    let project = &built;
    let progress = Progress::new();
    // --quiet-pull: the pulls report nothing, the rest of `up` does.
    let pull_progress = if args.converge.quiet_pull {
        Progress::quiet()
    } else {
        progress.clone()
    };
    let hub = EventHub::subscribe(docker, &project.name);
    let events = hub.receiver();
    // Networks, volumes and images are independent of each other: one round of concurrent calls, each image once.
    let images: BTreeSet<(&str, Option<&str>, PullPolicy)> = to_pull
        .iter()
        .filter_map(|name| project.service(name))
        .map(|s| (s.image.as_str(), s.platform.as_deref(), pull.unwrap_or(s.pull_policy)))
        .collect();
    let pulls = images
        .into_iter()
        .map(|(image, platform, policy)| converge::ensure_image(docker, image, platform, policy, &pull_progress));
    futures::try_join!(
        resources::ensure_networks(docker, project, &progress),
        resources::ensure_volumes(docker, project, &progress),
        futures::future::try_join_all(pulls),
    )?;
    for service in selected.iter().filter_map(|name| project.service(name)) {
        super::secrets::stage(&service.staged)?;
    }
    // One list for the whole run (a list per service made `up` quadratic: each list reads every container).
    let listed = resources::list_containers(docker, &project.name, None, true).await?;
    handle_orphans(docker, project, &listed, args, &progress).await?;
    let mut existing: HashMap<String, Vec<ContainerSummary>> = HashMap::new();
    for c in listed {
        existing.entry(resources::identity(&c).0).or_default().push(c);
    }
    let (named_rule, deps_rule) = recreate_rules(args);
    let inherit = !args.renew_anon_volumes;
    // Each service is brought up as soon as its own dependencies are (the graph decides, not levels).
    let order: Vec<String> = project
        .services
        .iter()
        .map(|s| s.name.clone())
        .filter(|n| selected.contains(n))
        .collect();
    let dependencies = |name: &str| -> Vec<String> {
        project
            .graph
            .dependencies(name)
            .into_iter()
            .map(|(d, _)| d.to_owned())
            .collect()
    };
    let (hub, progress, scale, existing) = (&hub, &progress, &scale, &existing);
    let started = schedule::run(&order, dependencies, |name, deps| async move {
        let service = project
            .service(&name)
            .with_context(|| format!("no such service: {name}"))?;
        let replicas = scale.get(&service.name).copied().unwrap_or(service.replicas);
        let mine = existing.get(&service.name).cloned().unwrap_or_default();
        // Compose's rule: the services named on the command line (all when none are) follow --force-recreate /
        // -V, their dependencies --always-recreate-deps.
        let named = args.services.is_empty() || args.services.contains(&service.name);
        let opts = ConvergeOptions {
            recreate: if named { named_rule } else { deps_rule },
            timeout: args.timeout,
            inherit,
        };
        let steps = BringUp {
            no_start: args.no_start,
            prepare_wait: args.wait,
        };
        bring_up(
            docker, project, service, mine, replicas, opts, steps, hub, &deps, progress,
        )
        .await
    })
    .await?;
    if !args.no_start {
        restart_dependents(docker, project, &started, hub, progress).await?;
    }
    if args.wait && !args.no_start {
        wait_ready(docker, hub, &started, args.wait_timeout.map(Duration::from_secs)).await?;
    }
    if args.detach || args.wait || args.no_start {
        return Ok(ExitCode::SUCCESS);
    }
    progress.finish();
    let Some(watched) = watched else {
        return attach::run(docker, project, &started, events, args).await;
    };
    // Attached logs own Ctrl-C (they stop the stack); the watch ends with them.
    let settings = ActionSettings {
        prune: true,
        quiet: false,
    };
    let mut never = Box::pin(std::future::pending::<()>());
    tokio::select! {
        code = attach::run(docker, project, &started, events, args) => code,
        done = watch::watch(docker, project, watched, settings, &mut never, None) => done.map(|_| ExitCode::SUCCESS),
    }
}

/// Checks the flag combinations Docker Compose refuses (with its messages) and settles the implied ones:
/// `--exit-code-from` implies `--abort-on-container-exit` (unless `--abort-on-container-failure`), `--wait`
/// implies `-d`.
fn validate(args: &UpOptions) -> Result<UpOptions> {
    let mut a = args.clone();
    if a.exit_code_from.is_some() && !a.abort_on_container_failure {
        a.abort_on_container_exit = true;
    }
    if a.abort_on_container_exit && a.abort_on_container_failure {
        bail!("--abort-on-container-failure cannot be combined with --abort-on-container-exit");
    }
    if a.wait {
        if a.attach_dependencies || a.abort_on_container_exit || !a.attach.is_empty() {
            bail!("--wait cannot be combined with --abort-on-container-exit, --attach or --attach-dependencies");
        }
        a.detach = true;
    }
    if a.detach
        && (a.attach_dependencies
            || a.abort_on_container_exit
            || a.abort_on_container_failure
            || !a.attach.is_empty()
            || a.watch)
    {
        bail!("--detach cannot be combined with --abort-on-container-exit, --abort-on-container-failure, --attach, --attach-dependencies or --watch");
    }
    let c = &a.converge;
    if c.build && c.no_build {
        bail!("--build and --no-build are incompatible");
    }
    if a.renew_anon_volumes && c.no_recreate {
        bail!("--no-recreate and --renew-anon-volumes are incompatible");
    }
    if c.force_recreate && c.no_recreate {
        bail!("--force-recreate and --no-recreate are incompatible");
    }
    if a.always_recreate_deps && c.no_recreate {
        bail!("--always-recreate-deps and --no-recreate are incompatible");
    }
    if c.no_build && a.watch {
        bail!("--no-build and --watch are incompatible");
    }
    if !a.attach.is_empty() && a.attach_dependencies {
        bail!("cannot combine --attach and --attach-dependencies");
    }
    Ok(a)
}

/// The recreate rules of the named services and of their dependencies, as Docker Compose derives them
/// (`recreateStrategy`, `dependenciesRecreateStrategy`): `-V` forces the named services' recreation, since
/// fresh anonymous volumes need new containers.
fn recreate_rules(args: &UpOptions) -> (Recreate, Recreate) {
    let c = &args.converge;
    let named = if c.no_recreate {
        Recreate::Never
    } else if c.force_recreate || args.renew_anon_volumes {
        Recreate::Force
    } else {
        Recreate::Diverged
    };
    let deps = if c.no_recreate {
        Recreate::Never
    } else if args.always_recreate_deps {
        Recreate::Force
    } else {
        Recreate::Diverged
    };
    (named, deps)
}

/// What [`bring_up`] does after converging.
#[derive(Clone, Copy)]
struct BringUp {
    /// Create only (`--no-start`).
    no_start: bool,
    /// `--wait` follows: decide each replica's readiness condition as soon as it started.
    prepare_wait: bool,
}

/// Converges one service, waits for its dependencies' conditions, then starts its replicas.
#[allow(clippy::too_many_arguments)]
async fn bring_up(
    docker: &Docker,
    project: &ProjectSpec,
    service: &ServiceSpec,
    existing: Vec<ContainerSummary>,
    replicas: u32,
    opts: ConvergeOptions,
    steps: BringUp,
    hub: &EventHub,
    started: &HashMap<String, Vec<Replica>>,
    progress: &Progress,
) -> Result<Vec<Replica>> {
    let containers = converge::converge(docker, project, service, existing, replicas, opts, progress).await?;
    if steps.no_start {
        return Ok(containers);
    }
    wait_dependencies(docker, service, hub, started, progress).await?;
    let starts = containers.iter().map(|r| async move {
        converge::start(docker, r, progress).await?;
        // post_start runs after each start berth made, not for a container that was already running.
        if !r.running {
            hooks::run_all(docker, &r.id, &r.name, "post_start", &service.post_start, progress).await?;
        }
        if steps.prepare_wait {
            hub.prepare_ready(docker, &r.id, &r.name).await?;
        }
        anyhow::Ok(())
    });
    futures::future::try_join_all(starts).await?;
    Ok(containers)
}

async fn wait_dependencies(
    docker: &Docker,
    service: &ServiceSpec,
    hub: &EventHub,
    started: &HashMap<String, Vec<Replica>>,
    progress: &Progress,
) -> Result<()> {
    for dep in &service.depends_on {
        let Some(replicas) = started.get(&dep.service) else {
            continue;
        };
        for replica in replicas {
            if dep.condition != Condition::Started {
                progress.set("Container", &replica.name, "Waiting", false);
            }
            let outcome = hub
                .wait_for(docker, &replica.id, &replica.name, dep.condition, None)
                .await;
            match outcome {
                Ok(()) => {
                    let status = match dep.condition {
                        Condition::Healthy => "Healthy",
                        Condition::CompletedSuccessfully => "Exited",
                        Condition::Started => continue,
                    };
                    progress.set("Container", &replica.name, status, true);
                }
                Err(err) if !dep.required => progress.note(&format!(
                    "WARN: optional dependency {} of {}: {err:#}",
                    dep.service, service.name
                )),
                Err(err) => {
                    progress.set("Container", &replica.name, "Error", true);
                    return Err(err);
                }
            }
        }
    }
    Ok(())
}

/// `depends_on.restart: true`: a dependent whose dependency was recreated in this run is restarted, unless it was itself.
async fn restart_dependents(
    docker: &Docker,
    project: &ProjectSpec,
    started: &HashMap<String, Vec<Replica>>,
    hub: &EventHub,
    progress: &Progress,
) -> Result<()> {
    let recreated: BTreeSet<&String> = started
        .iter()
        .filter(|(_, rs)| rs.iter().any(|r| r.fresh))
        .map(|(s, _)| s)
        .collect();
    for service in &project.services {
        let Some(replicas) = started.get(&service.name) else {
            continue;
        };
        let triggered = service
            .depends_on
            .iter()
            .any(|d| d.restart && recreated.contains(&d.service));
        for replica in replicas.iter().filter(|r| triggered && !r.fresh) {
            progress.set("Container", &replica.name, "Restarting", false);
            hub.forget_ready(&replica.id);
            docker
                .restart_container(&replica.id, None)
                .await
                .with_context(|| format!("restarting container {}", replica.name))?;
            progress.set("Container", &replica.name, "Restarted", true);
        }
    }
    Ok(())
}

/// `--wait`: every started container healthy (when it has a healthcheck) or running.
async fn wait_ready(
    docker: &Docker,
    hub: &EventHub,
    started: &HashMap<String, Vec<Replica>>,
    timeout: Option<Duration>,
) -> Result<()> {
    let waits = started
        .values()
        .flatten()
        .map(|replica| hub.wait_ready(docker, &replica.id, &replica.name, timeout));
    futures::future::try_join_all(waits).await?;
    Ok(())
}

async fn handle_orphans(
    docker: &Docker,
    project: &ProjectSpec,
    all: &[ContainerSummary],
    args: &UpOptions,
    progress: &Progress,
) -> Result<()> {
    let orphans: Vec<_> = all
        .iter()
        .filter(|c| project.service(&resources::identity(c).0).is_none())
        .collect();
    if orphans.is_empty() {
        return Ok(());
    }
    if !args.converge.remove_orphans {
        let names: Vec<String> = orphans.iter().map(|c| resources::display_name(c)).collect();
        progress.note(&format!(
            "WARN: found orphan containers ({}) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
            names.join(", ")
        ));
        return Ok(());
    }
    for c in orphans {
        converge::remove(
            docker,
            c.id.as_deref().unwrap_or_default(),
            &resources::display_name(c),
            args.timeout,
            progress,
        )
        .await?;
    }
    Ok(())
}
