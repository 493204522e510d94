//! Read-only and small verbs: `top`, `port`, `images`, `version`, `pull`, `events`, `wait`.

use super::converge;
use super::events::EventHub;
use super::lifecycle::ServicesOptions;
use super::progress::Progress;
use super::resources;
use super::spec::{ProjectSpec, PullPolicy};
use anyhow::{bail, Context, Result};
use bollard::models::ContainerSummaryStateEnum;
use bollard::Docker;
use comfy_table::{presets::NOTHING, Table};
use futures::StreamExt;
use std::collections::BTreeSet;
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
    /// Services (default: all).
    pub services: Vec<String>,
}

/// Flags of `events`.
#[derive(Debug, Clone, Default)]
pub struct EventsOptions {
    /// Output events as a stream of json objects.
    pub json: bool,
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

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(NOTHING);
    t.set_header(header.to_vec());
    t
}

/// `top`: processes of each running container.
pub async fn top(docker: &Docker, project: &str, args: &ServicesOptions) -> Result<ExitCode> {
    let mut list = resources::list_containers(docker, project, None, false).await?;
    list.retain(|c| args.services.is_empty() || args.services.contains(&resources::identity(c).0));
    list.sort_by_key(resources::identity);
    for c in &list {
        let name = resources::display_name(c);
        let top = docker
            .top_processes(c.id.as_deref().unwrap_or_default(), None)
            .await
            .with_context(|| format!("top of {name}"))?;
        println!("{name}");
        let titles = top.titles.unwrap_or_default();
        let mut t = table(&titles.iter().map(String::as_str).collect::<Vec<_>>());
        for p in top.processes.unwrap_or_default() {
            t.add_row(p);
        }
        println!("{t}\n");
    }
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

/// `images`: images the project's containers use.
pub async fn images(docker: &Docker, project: &str, args: &ServicesOptions) -> Result<ExitCode> {
    let mut list = resources::list_all_project_containers(docker, project).await?;
    list.retain(|c| args.services.is_empty() || args.services.contains(&resources::identity(c).0));
    list.sort_by_key(resources::identity);
    let mut t = table(&["CONTAINER", "REPOSITORY", "TAG", "IMAGE ID", "SIZE"]);
    for c in &list {
        let image = c.image.clone().unwrap_or_default();
        let (repo, tag) = match image.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r.to_owned(), t.to_owned()),
            _ => (image.clone(), "latest".to_owned()),
        };
        let info = docker.inspect_image(&image).await.ok();
        let id = info.as_ref().and_then(|i| i.id.clone()).unwrap_or_default();
        let short = id.trim_start_matches("sha256:").chars().take(12).collect::<String>();
        let size = info.and_then(|i| i.size).map(human_size).unwrap_or_default();
        t.add_row([resources::display_name(c), repo, tag, short, size]);
    }
    println!("{t}");
    Ok(ExitCode::SUCCESS)
}

fn human_size(bytes: i64) -> String {
    let b = bytes as f64;
    match bytes {
        n if n >= 1 << 30 => format!("{:.1}GB", b / 1e9),
        n if n >= 1 << 20 => format!("{:.1}MB", b / 1e6),
        n if n >= 1 << 10 => format!("{:.1}kB", b / 1e3),
        n => format!("{n}B"),
    }
}

/// `version`: berth's and the engine's.
pub async fn version(docker: &Docker) -> Result<ExitCode> {
    println!("berth version {}", env!("CARGO_PKG_VERSION"));
    let v = docker.version().await.context("asking the engine its version")?;
    println!(
        "engine: {} {} (API {})",
        v.platform.map(|p| p.name).unwrap_or_default(),
        v.version.unwrap_or_default(),
        v.api_version.unwrap_or_default()
    );
    Ok(ExitCode::SUCCESS)
}

/// `pull`: every selected service's image, whatever its pull policy. Images a service builds under its default
/// name are skipped; those of other services with `build:` may fail to pull (they are built): a warning, as in
/// Docker Compose.
pub async fn pull(docker: &Docker, project: &ProjectSpec, args: &PullOptions) -> Result<ExitCode> {
    let progress = Progress::new();
    let images: BTreeSet<(&str, bool)> = project
        .services
        .iter()
        .filter(|s| args.services.is_empty() || args.services.contains(&s.name))
        .filter(|s| !project.local_build(s))
        .map(|s| (s.image.as_str(), s.build.is_some()))
        .collect();
    for (image, buildable) in images {
        match converge::ensure_image(docker, image, None, PullPolicy::Always, &progress).await {
            Ok(()) => {}
            Err(err) if args.ignore_pull_failures || buildable => progress.note(&format!("WARN: {err:#}")),
            Err(err) => return Err(err),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `events`: the project's container events, as they happen.
pub async fn events(docker: &Docker, project: &str, args: &EventsOptions) -> Result<ExitCode> {
    let hub = EventHub::subscribe(docker, project);
    let mut rx = hub.receiver();
    let names = resources::list_all_project_containers(docker, project).await?;
    loop {
        let ev = match rx.recv().await {
            Ok(ev) => ev,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(_) => break,
        };
        if let Some(reason) = ev.stream_error {
            bail!("{reason}");
        }
        let service = names
            .iter()
            .find(|c| c.id.as_deref() == Some(ev.id.as_str()))
            .map(|c| resources::identity(c).0);
        if !args.services.is_empty() && !service.as_ref().is_some_and(|s| args.services.contains(s)) {
            continue;
        }
        if args.json {
            println!(
                "{}",
                serde_json::json!({"type": "container", "action": ev.action, "id": ev.id, "service": service})
            );
        } else {
            println!(
                "container {} {} (service={})",
                ev.action,
                ev.id,
                service.unwrap_or_default()
            );
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
