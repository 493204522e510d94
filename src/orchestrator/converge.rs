//! Converging one service: pull its image, create missing replicas, recreate changed ones, remove extra ones, start them.

use super::labels;
use super::plan;
use super::progress::Progress;
use super::resources::{self, is_not_found};
use super::spec::{ProjectSpec, PullPolicy, ServiceSpec};
use anyhow::{bail, Context, Result};
use bollard::models::ContainerSummary;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, RemoveContainerOptionsBuilder,
    StopContainerOptionsBuilder,
};
use bollard::Docker;
use futures::StreamExt;

/// How `up` treats containers whose configuration did not change or did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Recreate {
    /// Recreate only containers whose config hash changed.
    #[default]
    Diverged,
    /// Recreate every container.
    Force,
    /// Never recreate; keep existing containers as they are.
    Never,
}

/// A container that `up` manages, after convergence.
#[derive(Debug, Clone)]
pub struct Replica {
    /// Engine id.
    pub id: String,
    /// Container name.
    pub name: String,
    /// Created (or recreated) by this run.
    pub fresh: bool,
    /// Running before this run touched it.
    pub running: bool,
}

/// Per-run settings of convergence.
#[derive(Debug, Clone, Copy)]
pub struct ConvergeOptions {
    /// Recreate rule.
    pub recreate: Recreate,
    /// Stop timeout for recreation and scale-down, seconds (None: the container's own).
    pub timeout: Option<i32>,
    /// A recreated container takes over its predecessor's anonymous volumes (Compose's default; `up -V`
    /// turns it off).
    pub inherit: bool,
}

/// Makes the image present according to the pull policy (for `platform`, when the service sets one).
#[tracing::instrument(skip(docker, progress))]
pub async fn ensure_image(
    docker: &Docker,
    image: &str,
    platform: Option<&str>,
    policy: PullPolicy,
    progress: &Progress,
) -> Result<()> {
    let found = match docker.inspect_image(image).await {
        Ok(i) => Some(i),
        Err(err) if is_not_found(&err) => None,
        Err(err) => return Err(err).with_context(|| format!("inspecting image {image}")),
    };
    // A present image of another platform than the service's `platform:` counts as missing (it is pulled for
    // that platform, or refused), so no container of a foreign platform is ever created.
    let present = match (&found, platform) {
        (Some(i), Some(p)) => platform_matches(i, p),
        (found, _) => found.is_some(),
    };
    match (policy, present) {
        (PullPolicy::Never, false) if found.is_some() => {
            bail!(
                "image {image} is not of platform {} and pull_policy is never",
                platform.unwrap_or_default()
            )
        }
        (PullPolicy::Never, false) => bail!("image {image} is not present and pull_policy is never"),
        (PullPolicy::Refresh(after), true) if !stale(found.as_ref(), after) => Ok(()),
        (PullPolicy::Build, false) => {
            bail!("image {image} is not present and is not pulled (pull_policy build): build it (berth build, or up without --no-build)")
        }
        (PullPolicy::Missing | PullPolicy::Never | PullPolicy::Build, true) => Ok(()),
        (PullPolicy::Always | PullPolicy::Refresh(_), _) | (PullPolicy::Missing, false) => {
            pull(docker, image, platform, progress).await?;
            let Some(p) = platform else { return Ok(()) };
            let pulled = docker
                .inspect_image(image)
                .await
                .with_context(|| format!("inspecting image {image}"))?;
            if !platform_matches(&pulled, p) {
                bail!(
                    "image {image} is {}, not of the platform {p} the service asks for",
                    platform_of(&pulled)
                );
            }
            Ok(())
        }
    }
}

/// Whether an image's tag is older than `after` seconds. An engine that never stamped the tag (dockerd leaves
/// `LastTagTime` unset on pulls) reports Go's zero time, so the image counts as stale, as with Docker Compose.
fn stale(image: Option<&bollard::models::ImageInspect>, after: u64) -> bool {
    let tagged = image
        .and_then(|i| i.metadata.as_ref())
        .and_then(|m| m.last_tag_time.as_deref())
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
    match tagged {
        Some(t) => chrono::Utc::now().signed_duration_since(t).num_seconds() >= after as i64,
        None => true,
    }
}

/// `os/arch[/variant]` of an image as inspect reports it.
fn platform_of(i: &bollard::models::ImageInspect) -> String {
    let mut p = format!(
        "{}/{}",
        i.os.as_deref().unwrap_or("linux"),
        i.architecture.as_deref().unwrap_or("amd64")
    );
    if let Some(v) = i.variant.as_deref().filter(|v| !v.is_empty()) {
        p = format!("{p}/{v}");
    }
    p
}

/// Whether the image is of `wanted` (`os[/arch[/variant]]`; parts left out match anything, as Docker's
/// platform matcher; `x86_64`/`aarch64` are read as `amd64`/`arm64`).
fn platform_matches(i: &bollard::models::ImageInspect, wanted: &str) -> bool {
    let norm = |s: &str| match s.to_ascii_lowercase().as_str() {
        "x86_64" | "x86-64" => "amd64".to_owned(),
        "aarch64" => "arm64".to_owned(),
        other => other.to_owned(),
    };
    let have = platform_of(i);
    let have: Vec<String> = have.split('/').map(norm).collect();
    wanted
        .split('/')
        .map(norm)
        .enumerate()
        .all(|(n, w)| have.get(n).is_none_or(|h| *h == w) || (n == 2 && have.len() == 2))
}

async fn pull(docker: &Docker, image: &str, platform: Option<&str>, progress: &Progress) -> Result<()> {
    progress.set("Image", image, "Pulling", false);
    let mut options = CreateImageOptionsBuilder::new().from_image(image);
    if let Some(platform) = platform {
        options = options.platform(platform);
    }
    let options = options.build();
    let credentials = super::credentials::for_image(image)?;
    let mut stream = docker.create_image(Some(options), None, credentials);
    while let Some(item) = stream.next().await {
        let info = item.with_context(|| format!("pulling image {image}"))?;
        if let Some(err) = info.error_detail.and_then(|d| d.message) {
            bail!("pulling image {image}: {err}");
        }
    }
    progress.set("Image", image, "Pulled", true);
    Ok(())
}

/// Brings the service's containers (`existing`: the service's containers as listed at the start of the run)
/// to the desired set; returns them ordered by replica number (not started).
#[tracing::instrument(skip_all, fields(service = %service.name))]
pub async fn converge(
    docker: &Docker,
    project: &ProjectSpec,
    service: &ServiceSpec,
    mut existing: Vec<ContainerSummary>,
    replicas: u32,
    opts: ConvergeOptions,
    progress: &Progress,
) -> Result<Vec<Replica>> {
    if service.container_name.is_some() && replicas > 1 {
        bail!(
            "service {:?} sets container_name, so it cannot have {replicas} replicas",
            service.name
        );
    }
    let hash = plan::config_hash(service);
    existing.sort_by_key(|c| resources::identity(c).1);
    let mut out = Vec::new();
    let mut have = std::collections::BTreeSet::new();
    for c in &existing {
        let (_, number) = resources::identity(c);
        let name = resources::display_name(c);
        let id = c.id.clone().unwrap_or_default();
        if number == 0 || number > replicas || !have.insert(number) {
            remove(docker, &id, &name, opts.timeout, progress).await?;
            continue;
        }
        if needs_recreate(c, &hash, opts.recreate) {
            let inherited = if opts.inherit {
                anonymous_volumes(docker, service, c).await?
            } else {
                Vec::new()
            };
            // The old container goes without its volumes: the new one mounts the inherited ones.
            remove(docker, &id, &name, opts.timeout, progress).await?;
            out.push(create(docker, project, service, number, &hash, &inherited, progress).await?);
        } else {
            let running = c.state == Some(bollard::models::ContainerSummaryStateEnum::RUNNING);
            out.push(Replica {
                id,
                name,
                fresh: false,
                running,
            });
        }
    }
    for number in (1..=replicas).filter(|n| !have.contains(n)) {
        out.push(create(docker, project, service, number, &hash, &[], progress).await?);
    }
    Ok(out)
}

fn needs_recreate(c: &ContainerSummary, hash: &str, rule: Recreate) -> bool {
    match rule {
        Recreate::Force => true,
        Recreate::Never => false,
        Recreate::Diverged => labels::get(&c.labels, labels::CONFIG_HASH) != Some(hash),
    }
}

/// An anonymous volume of a container being replaced: its engine name and where it is mounted.
#[derive(Debug, Clone)]
struct Inherited {
    volume: String,
    target: String,
    read_only: bool,
}

/// The anonymous volumes of `old` that its replacement takes over, as Docker Compose picks them: volume
/// mounts at a path where the service mounts a volume without a source, or where the image declares a
/// `VOLUME`. Named volumes and binds are mounted from the service's own configuration anyway.
async fn anonymous_volumes(docker: &Docker, service: &ServiceSpec, old: &ContainerSummary) -> Result<Vec<Inherited>> {
    let mounts = old.mounts.as_deref().unwrap_or_default();
    let volume_mounts: Vec<_> = mounts.iter().filter(|m| m.typ.as_deref() == Some("volume")).collect();
    if volume_mounts.is_empty() {
        return Ok(Vec::new());
    }
    let image_volumes: Vec<String> = match docker.inspect_image(&service.image).await {
        Ok(image) => image
            .config
            .and_then(|c| c.volumes)
            .map(|v| v.into_iter().map(|p| clean_path(&p)).collect())
            .unwrap_or_default(),
        Err(err) if is_not_found(&err) => Vec::new(),
        Err(err) => return Err(err).with_context(|| format!("inspecting image {}", service.image)),
    };
    let sourceless: Vec<String> = service
        .create
        .host_config
        .as_ref()
        .and_then(|h| h.mounts.as_ref())
        .into_iter()
        .flatten()
        .filter(|m| m.typ == Some(bollard::models::MountType::VOLUME) && m.source.is_none())
        .filter_map(|m| m.target.as_deref().map(clean_path))
        .collect();
    Ok(volume_mounts
        .into_iter()
        .filter_map(|m| {
            let target = clean_path(m.destination.as_deref()?);
            let volume = m.name.clone().filter(|n| !n.is_empty())?;
            (sourceless.contains(&target) || image_volumes.contains(&target)).then(|| Inherited {
                volume,
                target,
                read_only: m.rw == Some(false),
            })
        })
        .collect())
}

/// A container path without a trailing slash (Go's `path.Clean` for the forms mounts use).
fn clean_path(p: &str) -> String {
    let trimmed = p.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// Points the body's sourceless volume mounts at the inherited volumes, and mounts the inherited volumes of
/// image `VOLUME` paths the service does not mount itself.
fn apply_inherited(body: &mut bollard::models::ContainerCreateBody, inherited: &[Inherited]) {
    if inherited.is_empty() {
        return;
    }
    let host = body.host_config.get_or_insert_with(Default::default);
    // What the service itself mounts at a path wins over an inherited volume (a named volume at an image's
    // VOLUME path is a `Binds` entry): Compose keys its mounts by target and lays the service's over them.
    let mut declared: Vec<String> = host
        .binds
        .iter()
        .flatten()
        .filter_map(|b| b.split(':').nth(1).map(clean_path))
        .collect();
    declared.extend(host.tmpfs.iter().flat_map(|t| t.keys()).map(|k| clean_path(k)));
    let mounts = host.mounts.get_or_insert_with(Vec::new);
    for inh in inherited.iter().filter(|i| !declared.contains(&i.target)) {
        let existing = mounts
            .iter_mut()
            .find(|m| m.target.as_deref().map(clean_path).as_deref() == Some(inh.target.as_str()));
        match existing {
            Some(m) if m.typ == Some(bollard::models::MountType::VOLUME) && m.source.is_none() => {
                m.source = Some(inh.volume.clone());
            }
            Some(_) => {}
            None => mounts.push(bollard::models::Mount {
                typ: Some(bollard::models::MountType::VOLUME),
                source: Some(inh.volume.clone()),
                target: Some(inh.target.clone()),
                read_only: inh.read_only.then_some(true),
                ..Default::default()
            }),
        }
    }
}

/// Creates replica `number` (taking over `inherited` anonymous volumes) and connects its extra networks.
async fn create(
    docker: &Docker,
    project: &ProjectSpec,
    service: &ServiceSpec,
    number: u32,
    hash: &str,
    inherited: &[Inherited],
    progress: &Progress,
) -> Result<Replica> {
    let name = plan::replica_name(project, service, number);
    progress.set("Container", &name, "Creating", false);
    let mut body = plan::replica_body(project, service, number, hash);
    apply_inherited(&mut body, inherited);
    let later = plan::endpoints_after_create(docker, &mut body);
    let mut options = CreateContainerOptionsBuilder::new().name(&name);
    if let Some(platform) = &service.platform {
        options = options.platform(platform);
    }
    let options = options.build();
    let created = docker
        .create_container(Some(options), body)
        .await
        .with_context(|| format!("creating container {name}"))?;
    plan::connect_endpoints(docker, &created.id, later)
        .await
        .with_context(|| format!("connecting container {name}"))?;
    progress.set("Container", &name, "Created", true);
    Ok(Replica {
        id: created.id,
        name,
        fresh: true,
        running: false,
    })
}

/// Stops (with the given grace) and removes one container, with its anonymous volumes when `volumes`.
pub async fn remove(docker: &Docker, id: &str, name: &str, timeout: Option<i32>, progress: &Progress) -> Result<()> {
    remove_with(docker, id, name, timeout, false, progress).await
}

/// As `remove`, choosing whether anonymous volumes go too.
pub async fn remove_with(
    docker: &Docker,
    id: &str,
    name: &str,
    timeout: Option<i32>,
    volumes: bool,
    progress: &Progress,
) -> Result<()> {
    stop(docker, id, name, timeout, progress).await?;
    progress.set("Container", name, "Removing", false);
    let options = RemoveContainerOptionsBuilder::new().force(true).v(volumes).build();
    match docker.remove_container(id, Some(options)).await {
        Ok(()) => {}
        Err(err) if is_not_found(&err) => {}
        Err(err) => return Err(err).with_context(|| format!("removing container {name}")),
    }
    progress.set("Container", name, "Removed", true);
    Ok(())
}

/// Stops one container (already stopped is fine).
pub async fn stop(docker: &Docker, id: &str, name: &str, timeout: Option<i32>, progress: &Progress) -> Result<()> {
    progress.set("Container", name, "Stopping", false);
    let mut builder = StopContainerOptionsBuilder::new();
    if let Some(t) = timeout {
        builder = builder.t(t);
    }
    match docker.stop_container(id, Some(builder.build())).await {
        Ok(()) => {}
        Err(err) if is_not_found(&err) => {}
        Err(bollard::errors::Error::DockerResponseServerError { status_code: 304, .. }) => {}
        Err(err) => return Err(err).with_context(|| format!("stopping container {name}")),
    }
    progress.set("Container", name, "Stopped", true);
    Ok(())
}

/// Starts one container unless it is running.
pub async fn start(docker: &Docker, replica: &Replica, progress: &Progress) -> Result<()> {
    if replica.running {
        progress.set("Container", &replica.name, "Running", true);
        return Ok(());
    }
    progress.set("Container", &replica.name, "Starting", false);
    match docker.start_container(&replica.id, None).await {
        Ok(()) => {}
        Err(bollard::errors::Error::DockerResponseServerError { status_code: 304, .. }) => {}
        Err(err) => return Err(err).with_context(|| format!("starting container {}", replica.name)),
    }
    progress.set("Container", &replica.name, "Started", true);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::stale;
    use bollard::models::{ImageInspect, ImageInspectMetadata};

    fn tagged(at: &str) -> ImageInspect {
        ImageInspect {
            metadata: Some(ImageInspectMetadata {
                last_tag_time: Some(at.to_owned()),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn an_image_is_stale_once_its_tag_is_older_than_the_window() {
        let hour_ago = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
        assert!(!stale(Some(&tagged(&hour_ago)), 7200));
        assert!(stale(Some(&tagged(&hour_ago)), 1800));
        // Go's zero time (never stamped) and no answer at all count as stale.
        assert!(stale(Some(&tagged("0001-01-01T00:00:00Z")), 7200));
        assert!(stale(None, 7200));
    }
}
