//! Read-only and small verbs: `top`, `port`, `images`, `version`, `pull`, `wait`.

use super::converge;
use super::format::human;
use super::format::tabwriter::TabWriter;
use super::lifecycle::ServicesOptions;
use super::progress::Progress;
use super::resources;
use super::spec::{ProjectSpec, PullPolicy};
use anyhow::{bail, Context, Result};
use bollard::models::ContainerSummaryStateEnum;
use bollard::Docker;
use futures::StreamExt;
use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;

/// Flags of `port`.
#[derive(Debug, Clone, Default)]
pub struct PortOptions {
    /// tcp or udp.
    pub protocol: String,
    /// Index of the container if the service has multiple replicas.
    pub index: u32,
    /// Service.
    pub service: String,
    /// Private port.
    pub private_port: u16,
}

/// Flags of `pull`.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// Pull what it can and ignore images with pull failures.
    pub ignore_pull_failures: bool,
    /// Pull without printing progress information.
    pub quiet: bool,
    /// Skip the services that have a `build:` section.
    pub ignore_buildable: bool,
    /// Also pull the images of the named services' dependencies.
    pub include_deps: bool,
    /// `--policy`: pull every image (`Always`) or only missing ones (`Missing`); None: every image.
    pub policy: Option<PullPolicy>,
    /// Services (default: all).
    pub services: Vec<String>,
}

/// Flags of `wait`.
#[derive(Debug, Clone, Default)]
pub struct WaitOptions {
    /// Drops project when the first container stops.
    pub down_project: bool,
    /// Services to wait for.
    pub services: Vec<String>,
}

/// `top`: processes of the running containers in one table, as Docker Compose prints it (`SERVICE`, `#`, then
/// the engine's columns with `CMD` last; nothing when no process runs).
pub async fn top(docker: &Docker, project: &str, args: &ServicesOptions) -> Result<ExitCode> {
    let mut list = resources::list_containers(docker, project, None, false).await?;
    list.retain(|c| args.services.is_empty() || args.services.contains(&resources::identity(c).0));
    list.sort_by_key(resources::display_name);
    let mut titles: Vec<String> = vec!["SERVICE".into(), "#".into()];
    let mut rows: Vec<BTreeMap<String, String>> = Vec::new();
    for c in &list {
        let name = resources::display_name(c);
        let top = docker
            .top_processes(c.id.as_deref().unwrap_or_default(), None)
            .await
            .with_context(|| format!("top of {name}"))?;
        let (service, number) = resources::identity(c);
        let own = top.titles.unwrap_or_default();
        for t in &own {
            if !titles.contains(t) {
                titles.push(t.clone());
            }
        }
        for p in top.processes.unwrap_or_default() {
            let mut row = BTreeMap::from([
                ("SERVICE".to_owned(), service.clone()),
                ("#".to_owned(), number.to_string()),
            ]);
            row.extend(own.iter().cloned().zip(p));
            rows.push(row);
        }
    }
    if rows.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(at) = titles.iter().position(|t| t == "CMD") {
        let cmd = titles.remove(at);
        titles.push(cmd);
    }
    let mut t = TabWriter::new(4, 2);
    t.row(&titles);
    for row in &rows {
        let cells: Vec<&str> = titles
            .iter()
            .map(|k| row.get(k).map(String::as_str).unwrap_or("-"))
            .collect();
        t.row(&cells);
    }
    print!("{}", t.render());
    Ok(ExitCode::SUCCESS)
}

/// `port`: the public address of a service's private port.
pub async fn port(docker: &Docker, project: &str, args: &PortOptions) -> Result<ExitCode> {
    let list = resources::list_containers(docker, project, Some(&args.service), false).await?;
    let Some(c) = list.iter().find(|c| resources::identity(c).1 == args.index) else {
        bail!(
            "service {:?} has no running container with index {}",
            args.service,
            args.index
        );
    };
    let found = c.ports.iter().flatten().find(|p| {
        p.private_port == args.private_port
            && p.public_port.is_some()
            && p.typ.map(|t| t.to_string()).as_deref().unwrap_or("tcp") == args.protocol
    });
    let Some(p) = found else {
        bail!(
            "no port {}/{} published for service {}",
            args.private_port,
            args.protocol,
            args.service
        )
    };
    println!(
        "{}:{}",
        p.ip.as_deref().unwrap_or("0.0.0.0"),
        p.public_port.unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}

/// Flags of `images`.
#[derive(Debug, Clone, Default)]
pub struct ImagesOptions {
    /// table or json.
    pub format: String,
    /// Only display IDs.
    pub quiet: bool,
    /// Services (default: all).
    pub services: Vec<String>,
}

/// Go's zero time (0001-01-01T00:00:00Z) in Unix seconds.
const GO_ZERO_TIME: i64 = -62_135_596_800;

/// One row of `images`.
struct ImageRow {
    container: String,
    repository: String,
    tag: String,
    platform: String,
    id: String,
    size: i64,
    created: Option<i64>,
    last_tag_time: Option<String>,
}

/// `images`: images the project's containers use, as Docker Compose lists them.
pub async fn images(docker: &Docker, project: &str, args: &ImagesOptions) -> Result<ExitCode> {
    if !matches!(args.format.as_str(), "table" | "json") {
        bail!("--format {:?}: expected table or json", args.format);
    }
    let mut list = resources::list_all_project_containers(docker, project).await?;
    list.retain(|c| args.services.is_empty() || args.services.contains(&resources::identity(c).0));
    list.sort_by_key(resources::display_name);
    let mut rows = Vec::new();
    for c in &list {
        rows.push(image_row(docker, c).await);
    }
    if args.quiet {
        let mut seen = Vec::new();
        for r in &rows {
            let id = r.id.trim_start_matches("sha256:");
            if !seen.contains(&id) {
                seen.push(id);
                println!("{id}");
            }
        }
    } else if args.format == "json" {
        let json: Vec<_> = rows.iter().map(image_json).collect();
        println!("{}", serde_json::to_string(&json)?);
    } else {
        print!("{}", image_table(&rows));
    }
    Ok(ExitCode::SUCCESS)
}

fn image_json(r: &ImageRow) -> serde_json::Value {
    let mut v = serde_json::json!({
        "ID": r.id, "ContainerName": r.container, "Repository": r.repository, "Tag": r.tag,
        "Platform": r.platform, "Size": r.size,
    });
    if let Some(t) = &r.last_tag_time {
        v["LastTagTime"] = serde_json::Value::String(t.clone());
    }
    v
}

fn image_table(rows: &[ImageRow]) -> String {
    let mut t = TabWriter::new(20, 3);
    t.row(&[
        "CONTAINER",
        "REPOSITORY",
        "TAG",
        "PLATFORM",
        "IMAGE ID",
        "SIZE",
        "CREATED",
    ]);
    let or_none = |s: &str| {
        if s.is_empty() {
            "<none>".to_owned()
        } else {
            s.to_owned()
        }
    };
    for r in rows {
        let short: String = r.id.trim_start_matches("sha256:").chars().take(12).collect();
        let created = r.created.map_or_else(
            || "N/A".to_owned(),
            |c| format!("{} ago", human::duration(human::age(c))),
        );
        t.row(&[
            r.container.clone(),
            or_none(&r.repository),
            or_none(&r.tag),
            r.platform.clone(),
            short,
            human::size(r.size as f64),
            created,
        ]);
    }
    t.render()
}

async fn image_row(docker: &Docker, c: &bollard::models::ContainerSummary) -> ImageRow {
    let image = c.image.clone().unwrap_or_default();
    let (repository, tag) = repository_and_tag(&image);
    let reference = c.image_id.clone().unwrap_or_else(|| image.clone());
    let info = docker.inspect_image(&reference).await.ok();
    let info = info.as_ref();
    let platform = info
        .map(|i| {
            let os_arch = format!(
                "{}/{}",
                i.os.clone().unwrap_or_default(),
                i.architecture.clone().unwrap_or_default()
            );
            match i.variant.as_deref().filter(|v| !v.is_empty()) {
                Some(v) => format!("{os_arch}/{v}"),
                None => os_arch,
            }
        })
        .unwrap_or_default();
    ImageRow {
        container: resources::display_name(c),
        repository,
        tag,
        platform,
        id: info
            .and_then(|i| i.id.clone())
            .or_else(|| c.image_id.clone())
            .unwrap_or_default(),
        size: info.and_then(|i| i.size).unwrap_or(0),
        // Docker Compose v2.40 shows the image's last tag time as CREATED (Go's zero time, 292 years, for an
        // image never tagged after a load) and the image's creation time under the JSON key LastTagTime.
        created: info
            .and_then(|i| i.metadata.as_ref())
            .and_then(|m| m.last_tag_time.as_deref())
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map_or(Some(GO_ZERO_TIME), |t| Some(t.timestamp())),
        last_tag_time: info
            .and_then(|i| i.created.clone())
            .filter(|t| !t.starts_with("0001-01-01")),
    }
}

/// A container's image reference split as Docker's familiar name and tag (`latest` when none, empty for a
/// digest or an id).
fn repository_and_tag(image: &str) -> (String, String) {
    if image.starts_with("sha256:") {
        return (String::new(), String::new());
    }
    let (name, digest) = match image.split_once('@') {
        Some((n, _)) => (n, true),
        None => (image, false),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    let (repo, tag) = match last.rsplit_once(':') {
        Some((_, t)) => (&name[..name.len() - t.len() - 1], t.to_owned()),
        None if digest => (name, String::new()),
        None => (name, "latest".to_owned()),
    };
    let repo = repo.strip_prefix("docker.io/").unwrap_or(repo);
    let repo = repo.strip_prefix("library/").unwrap_or(repo);
    (repo.to_owned(), tag)
}

/// Flags of `version`.
#[derive(Debug, Clone, Default)]
pub struct VersionOptions {
    /// pretty or json.
    pub format: String,
    /// Only the version number.
    pub short: bool,
}

/// `version`: berth's (`--short`: the number alone; `--format json` as Docker Compose's); the pretty form also
/// names the engine.
pub async fn version(host: Option<&str>, args: &VersionOptions) -> Result<ExitCode> {
    let own = env!("CARGO_PKG_VERSION");
    if args.short {
        println!("{own}");
        return Ok(ExitCode::SUCCESS);
    }
    match args.format.as_str() {
        "json" => {
            println!("{}", serde_json::json!({ "version": format!("v{own}") }));
            return Ok(ExitCode::SUCCESS);
        }
        "pretty" | "" => {}
        other => bail!("--format {other:?}: expected pretty or json"),
    }
    println!("berth version v{own}");
    let docker = super::client::connect(host).await?;
    let v = docker.version().await.context("asking the engine its version")?;
    println!(
        "engine: {} {} (API {})",
        v.platform.map(|p| p.name).unwrap_or_default(),
        v.version.unwrap_or_default(),
        v.api_version.unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}

/// `pull`: every selected service's image (`--policy missing`: only the missing ones). Images a service
/// builds under its default name are skipped, and with `--ignore-buildable` every service with `build:`;
/// those of other services with `build:` may fail to pull (they are built): a warning, as in Docker Compose.
/// Named services come alone unless `--include-deps`.
pub async fn pull(docker: &Docker, project: &ProjectSpec, args: &PullOptions) -> Result<ExitCode> {
    let progress = if args.quiet { Progress::quiet() } else { Progress::new() };
    let selected = super::plan::select(project, &args.services, !args.include_deps)?;
    let policy = args.policy.unwrap_or(PullPolicy::Always);
    let images: BTreeSet<(&str, bool)> = project
        .services
        .iter()
        .filter(|s| selected.contains(&s.name))
        .filter(|s| !project.local_build(s))
        .filter(|s| !(args.ignore_buildable && s.build.is_some()))
        .map(|s| (s.image.as_str(), s.build.is_some()))
        .collect();
    for (image, buildable) in images {
        match converge::ensure_image(docker, image, None, policy, &progress).await {
            Ok(()) => {}
            Err(err) if args.ignore_pull_failures || buildable => progress.note(&format!("WARN: {err:#}")),
            Err(err) => return Err(err),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `wait`: blocks until the first of the services' containers stops; returns its exit code.
pub async fn wait(
    docker: &Docker,
    project: &str,
    args: &WaitOptions,
    down: impl std::future::Future<Output = Result<ExitCode>>,
) -> Result<ExitCode> {
    let mut list = resources::list_containers(docker, project, None, true).await?;
    list.retain(|c| args.services.contains(&resources::identity(c).0));
    if list.is_empty() {
        bail!("no containers for services {:?}", args.services);
    }
    let waits = list
        .iter()
        .filter(|c| c.state == Some(ContainerSummaryStateEnum::RUNNING))
        .map(|c| {
            let id = c.id.clone().unwrap_or_default();
            Box::pin(async move {
                match docker.wait_container(&id, None).next().await {
                    Some(Ok(r)) => r.status_code,
                    Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
                    _ => 0,
                }
            })
        })
        .collect::<Vec<_>>();
    let code = if waits.is_empty() {
        0
    } else {
        futures::future::select_all(waits).await.0
    };
    if args.down_project {
        down.await?;
    }
    Ok(ExitCode::from(u8::try_from(code.rem_euclid(256)).unwrap_or(1)))
}

#[cfg(test)]
mod tests {
    use super::repository_and_tag;

    #[test]
    fn familiar_names_and_tags() {
        let rt = repository_and_tag;
        assert_eq!(rt("busybox"), ("busybox".into(), "latest".into()));
        assert_eq!(rt("docker.io/library/redis:7"), ("redis".into(), "7".into()));
        assert_eq!(rt("localhost:5000/a/b"), ("localhost:5000/a/b".into(), "latest".into()));
        assert_eq!(
            rt("localhost:5000/a/b:v1@sha256:00"),
            ("localhost:5000/a/b".into(), "v1".into())
        );
        assert_eq!(rt("x@sha256:00"), ("x".into(), String::new()));
    }
}
