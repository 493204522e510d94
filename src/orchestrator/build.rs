//! Building service images through the Engine API's `POST /build` (the classic builder: berth's engine, or
//! dockerd as `DOCKER_BUILDKIT=0` sees it): the `build` verb, and the images `up`/`create`/`run` build when
//! missing, asked (`--build`) or `pull_policy: build`. Services with equal `build:` sections are built once.

use super::build_context;
use super::build_output::{ProgressMode, StepLog};
use super::build_sync::ContextSync;
use super::plan;
use super::resources::is_not_found;
use super::spec::{BuildSpec, DockerfileSource, NamedContext, ProjectSpec, PullPolicy};
use anyhow::{bail, Context, Result};
use bollard::query_parameters::{BuildImageOptions, TagImageOptionsBuilder};
use bollard::Docker;
use futures::StreamExt;
use std::collections::{BTreeSet, HashMap};
use std::process::ExitCode;

/// Flags of `build`, as `docker compose build` has them.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Do not use cache when building the image.
    pub no_cache: bool,
    /// Always attempt to pull a newer version of the image.
    pub pull: bool,
    /// Set build-time variables for services (KEY=VALUE, or KEY to take it from the environment).
    pub build_arg: Vec<String>,
    /// Don't print anything to STDOUT.
    pub quiet: bool,
    /// Also build dependencies (transitively).
    pub with_dependencies: bool,
    /// Type of progress output (auto, tty, plain, quiet).
    pub progress: String,
    /// `-m`: memory limit of the build's containers (a byte size, `512m`).
    pub memory: Option<String>,
    /// Push the built services' images afterwards.
    pub push: bool,
    /// Flags of BuildKit/buildx that the classic builder cannot honour (`--builder`, `--check`, `--print`,
    /// `--provenance`, `--sbom`, `--ssh`), each with its value: refused by name.
    pub buildx_only: Vec<(&'static str, String)>,
    /// Services to build (default: all with a build section).
    pub services: Vec<String>,
}

impl BuildOptions {
    /// Refuses, before any engine call, the flags only BuildKit/buildx can honour.
    pub fn check(&self) -> Result<()> {
        if let Some((flag, value)) = self.buildx_only.first() {
            bail!("{flag} {value:?} is not supported by berth: it needs BuildKit/buildx, berth builds with the classic builder");
        }
        Ok(())
    }
}

/// Per-run build settings shared by every image a command builds.
#[derive(Debug, Clone, Default)]
pub struct BuildSettings {
    /// `--no-cache` (ORed with each service's `no_cache`).
    pub no_cache: bool,
    /// `--pull` (ORed with each service's `pull`).
    pub pull: bool,
    /// `--build-arg` values, winning over the Compose file's.
    pub args: Vec<(String, String)>,
    /// What is printed.
    pub mode: ProgressMode,
    /// `build -m`: memory limit of the build's containers, bytes.
    pub memory: Option<i64>,
}

/// One build: a `build:` section and every service (and image name) that uses it.
struct Job<'a> {
    spec: &'a BuildSpec,
    services: Vec<&'a str>,
    images: Vec<String>,
}

/// Runs `build`.
pub async fn run(docker: &Docker, project: &ProjectSpec, args: &BuildOptions) -> Result<ExitCode> {
    let quiet_globally = args.progress == "auto" && super::progress::mode() == super::progress::ProgressMode::Quiet;
    let mode = if args.quiet || quiet_globally {
        ProgressMode::Quiet
    } else {
        args.progress.parse().map_err(anyhow::Error::msg)?
    };
    args.check()?;
    let memory = args
        .memory
        .as_deref()
        .map(|m| units::parse_bytes(m).with_context(|| format!("-m/--memory {m:?}: expected a byte size such as 512m")))
        .transpose()?;
    let settings = BuildSettings {
        no_cache: args.no_cache,
        pull: args.pull,
        args: parse_build_args(&args.build_arg)?,
        mode,
        memory,
    };
    let selected = if args.services.is_empty() || args.with_dependencies {
        plan::select(project, &args.services, false)?
    } else {
        plan::select(project, &args.services, true)?
    };
    build_services(docker, project, &selected, &settings).await?;
    if args.push {
        // `--push`: the images just built go to their registries, as `push` sends them.
        let built: Vec<String> = project
            .services
            .iter()
            .filter(|s| selected.contains(&s.name) && s.build.is_some())
            .map(|s| s.name.clone())
            .collect();
        if !built.is_empty() {
            let push = super::push::PushOptions {
                quiet: args.quiet,
                services: built,
                ..Default::default()
            };
            return super::push::run(docker, project, &push).await;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `--build-arg KEY=VALUE`, or `KEY` alone for the value of berth's own environment (skipped when unset).
pub fn parse_build_args(entries: &[String]) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for entry in entries {
        match entry.split_once('=') {
            Some(("", _)) => bail!("--build-arg {entry:?}: expected KEY=VALUE"),
            Some((k, v)) => out.push((k.to_owned(), v.to_owned())),
            None => {
                if let Ok(v) = std::env::var(entry) {
                    out.push((entry.clone(), v));
                }
            }
        }
    }
    Ok(out)
}

/// Builds the images of the `selected` services that have a `build:` section, each distinct build once; a
/// service named by another's `service:` context is built before it (and built even when not selected).
pub async fn build_services(
    docker: &Docker,
    project: &ProjectSpec,
    selected: &BTreeSet<String>,
    settings: &BuildSettings,
) -> Result<()> {
    let selected = with_context_services(project, selected);
    let jobs = ordered(jobs(project, &selected))?;
    if jobs.is_empty() {
        return Ok(());
    }
    // berth's engine takes its extensions of /build (secrets, named contexts, context sync); dockerd does not.
    let engine_is_berth = is_berth(docker).await?;
    for job in &jobs {
        super::build_ext::check_engine(job.services[0], job.spec, engine_is_berth)?;
        build_job(docker, project, job, settings, engine_is_berth).await?;
    }
    Ok(())
}

/// Whether the engine is berth's own (its /version names the platform `berth`).
async fn is_berth(docker: &Docker) -> Result<bool> {
    let v = docker.version().await.context("asking the engine its version")?;
    Ok(v.platform.is_some_and(|p| p.name == "berth"))
}

/// `selected` plus, transitively, the services their `service:` contexts name.
fn with_context_services(project: &ProjectSpec, selected: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = selected.clone();
    let mut todo: Vec<String> = selected.iter().cloned().collect();
    while let Some(name) = todo.pop() {
        let Some(spec) = project
            .services
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| s.build.as_ref())
        else {
            continue;
        };
        for c in spec.contexts.values() {
            if let NamedContext::Service(other) = c {
                if out.insert(other.clone()) {
                    todo.push(other.clone());
                }
            }
        }
    }
    out
}

/// The jobs with every job after the jobs its `service:` contexts name; a cycle is refused.
fn ordered(mut todo: Vec<Job<'_>>) -> Result<Vec<Job<'_>>> {
    let mut out: Vec<Job> = Vec::new();
    while !todo.is_empty() {
        let built = |s: &str| out.iter().any(|j: &Job| j.services.contains(&s));
        let ready = todo.iter().position(|j| {
            j.spec.contexts.values().all(|c| match c {
                NamedContext::Service(s) => built(s) || j.services.contains(&s.as_str()),
                _ => true,
            })
        });
        match ready {
            Some(i) => out.push(todo.remove(i)),
            None => bail!(
                "services.{}.build.additional_contexts: the service: contexts form a cycle",
                todo[0].services[0]
            ),
        }
    }
    Ok(out)
}

/// The distinct builds of the selected services, in the project's service order.
fn jobs<'a>(project: &'a ProjectSpec, selected: &BTreeSet<String>) -> Vec<Job<'a>> {
    let mut out: Vec<Job<'a>> = Vec::new();
    for service in project.services.iter().filter(|s| selected.contains(&s.name)) {
        let Some(spec) = &service.build else { continue };
        match out.iter_mut().find(|j| j.spec == spec) {
            Some(job) => {
                job.services.push(&service.name);
                if !job.images.contains(&service.image) {
                    job.images.push(service.image.clone());
                }
            }
            None => out.push(Job {
                spec,
                services: vec![&service.name],
                images: vec![service.image.clone()],
            }),
        }
    }
    out
}

/// The query of `POST /build` for a job, as docker compose's classic builder path maps `build:`.
fn query(job: &Job, dockerfile: &str, settings: &BuildSettings) -> BuildImageOptions {
    let spec = job.spec;
    let mut args: HashMap<String, String> = spec.args.clone().into_iter().collect();
    args.extend(settings.args.iter().cloned());
    let mut labels: HashMap<String, String> = spec.labels.clone().into_iter().collect();
    labels.insert("com.docker.compose.image.builder".to_owned(), "classic".to_owned());
    let hosts: Vec<String> = spec.extra_hosts.iter().map(|h| h.replacen('=', ":", 1)).collect();
    BuildImageOptions {
        dockerfile: dockerfile.to_owned(),
        t: job.images.first().cloned(),
        extrahosts: (!hosts.is_empty()).then(|| hosts.join(",")),
        nocache: settings.no_cache || spec.no_cache,
        pull: (settings.pull || spec.pull).then(|| "1".to_owned()),
        rm: true,
        forcerm: true,
        cachefrom: (!spec.cache_from.is_empty()).then(|| spec.cache_from.clone()),
        buildargs: (!args.is_empty()).then_some(args),
        shmsize: spec.shm_size.map(|s| i32::try_from(s).unwrap_or(i32::MAX)),
        // The API client's field is 32-bit: larger limits are capped (2 GiB is already far above a build's need).
        memory: settings.memory.map(|m| i32::try_from(m).unwrap_or(i32::MAX)),
        labels: Some(labels),
        networkmode: spec.network.clone(),
        platform: spec.platform.clone().unwrap_or_default(),
        target: spec.target.clone().unwrap_or_default(),
        ..Default::default()
    }
}

#[tracing::instrument(skip_all, fields(services = ?job.services))]
async fn build_job(
    docker: &Docker,
    project: &ProjectSpec,
    job: &Job<'_>,
    settings: &BuildSettings,
    engine_is_berth: bool,
) -> Result<()> {
    let service = job.services.join(",");
    let mut spec = job.spec.clone();
    // A `service:` context is the image that service's build made (built before this one).
    for c in spec.contexts.values_mut() {
        if let NamedContext::Service(s) = c {
            let image = project.services.iter().find(|x| &x.name == s).map(|x| x.image.clone());
            *c = NamedContext::Image(image.with_context(|| format!("service {s:?} of a service: context"))?);
        }
    }
    let mut sync = if engine_is_berth {
        ContextSync::open(&spec.context)
    } else {
        None
    };
    let (context, mut stream) = loop {
        let (name, spec2) = (service.clone(), spec.clone());
        let (context, back) = tokio::task::spawn_blocking(move || {
            let made = build_context::make(&name, &spec2, sync.as_mut());
            (made, sync)
        })
        .await
        .context("making the build context")?;
        sync = back;
        let mut context = context?;
        let options = query(job, &context.dockerfile, settings);
        let body = bollard::body_full(std::mem::take(&mut context.tar).into());
        let mut stream = Box::pin(docker.build_image(options, None, Some(body))).peekable();
        let refused = matches!(
            std::pin::Pin::new(&mut stream).peek().await,
            Some(Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409,
                ..
            }))
        );
        match sync.take() {
            // The engine does not hold what the manifest kept: once more with everything.
            Some(mut s) if refused && !s.is_full() => {
                s.resend_all();
                sync = Some(s);
            }
            Some(s) => {
                if matches!(std::pin::Pin::new(&mut stream).peek().await, Some(Ok(_))) {
                    s.accepted();
                }
                break (context, stream);
            }
            None => break (context, stream),
        }
    };
    let shown = match &job.spec.dockerfile {
        DockerfileSource::Inline(_) => "dockerfile_inline".to_owned(),
        DockerfileSource::File(p) => p.strip_prefix(&job.spec.context).unwrap_or(p).display().to_string(),
    };
    let mut log = StepLog::new(&service, settings.mode, &shown, &context.dockerfile_text);
    while let Some(item) = stream.next().await {
        let info = match item {
            Ok(info) => info,
            Err(bollard::errors::Error::DockerStreamError { error }) => return Err(log.failure(&error)),
            Err(err) => return Err(log.failure(&format!("{err}"))),
        };
        if let Some(err) = info.error_detail.and_then(|d| d.message) {
            return Err(log.failure(&err));
        }
        if let Some(text) = info.stream {
            log.feed(&text);
        }
    }
    // Docker tags one name per `t`; bollard sends one, the others are tagged after the build succeeded.
    let first = job.images.first().context("a build without an image name")?;
    for extra in job.images.iter().skip(1).chain(job.spec.tags.iter()) {
        tag(docker, first, extra).await?;
    }
    let mut names = job.images.clone();
    names.extend(job.spec.tags.iter().cloned());
    log.finish(&names);
    Ok(())
}

async fn tag(docker: &Docker, image: &str, name: &str) -> Result<()> {
    let r = imageref::ImageRef::parse(name).map_err(|e| anyhow::anyhow!("tag {name:?}: {e}"))?;
    let options = TagImageOptionsBuilder::new()
        .repo(&r.familiar_name())
        .tag(r.tag.as_deref().unwrap_or("latest"))
        .build();
    docker
        .tag_image(image, Some(options))
        .await
        .with_context(|| format!("tagging {image} as {name}"))
}

/// Whether the engine holds `image`.
pub async fn present(docker: &Docker, image: &str) -> Result<bool> {
    match docker.inspect_image(image).await {
        Ok(_) => Ok(true),
        Err(err) if is_not_found(&err) => Ok(false),
        Err(err) => Err(err).with_context(|| format!("inspecting image {image}")),
    }
}

/// What `up`/`create`/`run` do about images that have a `build:` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BuildPolicy {
    /// Build when missing, or when `pull_policy: build`.
    #[default]
    Missing,
    /// `--build`: build every selected one.
    Always,
    /// `--no-build`: never build; the image must be there (or pulled).
    Never,
}

/// Builds what `policy` asks among `selected`, then returns the project with each built service's image id
/// (so a rebuilt image recreates its containers). Services left to pull are returned by name.
pub async fn ensure_built(
    docker: &Docker,
    project: &ProjectSpec,
    selected: &BTreeSet<String>,
    policy: BuildPolicy,
    settings: &BuildSettings,
) -> Result<(ProjectSpec, BTreeSet<String>)> {
    let mut to_build = BTreeSet::new();
    let mut to_pull = BTreeSet::new();
    for service in project.services.iter().filter(|s| selected.contains(&s.name)) {
        let wants = match (service.build.is_some(), policy) {
            (false, _) | (true, BuildPolicy::Never) => false,
            (true, BuildPolicy::Always) => true,
            (true, BuildPolicy::Missing) => {
                service.pull_policy == PullPolicy::Build || !present(docker, &service.image).await?
            }
        };
        if wants {
            to_build.insert(service.name.clone());
        } else if service.build.is_none() || policy == BuildPolicy::Never {
            to_pull.insert(service.name.clone());
        }
    }
    build_services(docker, project, &to_build, settings).await?;
    let mut out = project.clone();
    for service in out
        .services
        .iter_mut()
        .filter(|s| s.build.is_some() && selected.contains(&s.name))
    {
        if let Ok(info) = docker.inspect_image(&service.image).await {
            service.image_id = info.id;
        }
    }
    Ok((out, to_pull))
}
