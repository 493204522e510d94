//! `down`: stop and remove the project's containers in reverse dependency order (each service as soon as its
//! dependents are gone), then its networks,
//! and with `-v` its volumes, with `--rmi` its images.

use super::converge;
use super::hooks;
use super::labels;
use super::progress::Progress;
use super::resources;
use super::schedule;
use super::spec::ProjectSpec;
use anyhow::{bail, Context, Result};
use bollard::models::ContainerSummary;
use bollard::query_parameters::RemoveImageOptionsBuilder;
use bollard::Docker;
use compose::graph::Edge;
use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;

/// Flags of `down`.
#[derive(Debug, Clone, Default)]
pub struct DownOptions {
    /// Remove named volumes declared in the "volumes" section and anonymous volumes attached to containers.
    pub volumes: bool,
    /// Remove images used by services: "local" (only images without a custom tag) or "all".
    pub rmi: Option<String>,
    /// Remove containers for services not defined in the Compose file.
    pub remove_orphans: bool,
    /// Specify a shutdown timeout in seconds.
    pub timeout: Option<i32>,
}

/// Runs `down` for `project` (the model, when a Compose file was found, decides what an orphan is).
#[tracing::instrument(skip_all, fields(project = %name))]
pub async fn run(docker: &Docker, name: &str, model: Option<&ProjectSpec>, args: &DownOptions) -> Result<ExitCode> {
    let rmi = args.rmi.as_deref();
    if !matches!(rmi, None | Some("local") | Some("all")) {
        bail!("--rmi {:?}: expected \"local\" or \"all\"", rmi.unwrap_or_default());
    }
    let progress = Progress::new();
    let all = resources::list_all_project_containers(docker, name).await?;
    let (remove, orphans): (Vec<_>, Vec<_>) = all.into_iter().partition(|c| {
        let service = resources::identity(c).0;
        args.remove_orphans || model.is_none_or(|m| m.service(&service).is_some()) || is_oneoff(c)
    });
    if !orphans.is_empty() {
        let names: Vec<String> = orphans.iter().map(resources::display_name).collect();
        progress.note(&format!(
            "WARN: found orphan containers ({}) for this project; use --remove-orphans to remove them",
            names.join(", ")
        ));
    }
    let images: BTreeSet<String> = remove
        .iter()
        .filter_map(|c| labels::get(&c.labels, labels::IMAGE).map(str::to_owned))
        .collect();
    let progress_ref = &progress;
    in_dependency_order(&remove, Order::Stop, |c| async move {
        pre_stop(docker, model, c, progress_ref).await?;
        converge::remove_with(
            docker,
            c.id.as_deref().unwrap_or_default(),
            &resources::display_name(c),
            args.timeout,
            args.volumes,
            progress_ref,
        )
        .await
    })
    .await?;
    if orphans.is_empty() {
        resources::remove_networks(docker, name, &progress).await?;
    }
    if args.volumes {
        resources::remove_volumes(docker, name, &progress).await?;
    }
    if let Some(kind) = rmi {
        remove_images(docker, name, model, &images, kind, &progress).await?;
    }
    if orphans.is_empty() {
        super::secrets::remove_state(name)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs the service's `pre_stop` hooks in a running container (only known with the Compose file at hand).
pub async fn pre_stop(
    docker: &Docker,
    model: Option<&ProjectSpec>,
    c: &ContainerSummary,
    progress: &Progress,
) -> Result<()> {
    let running = c.state == Some(bollard::models::ContainerSummaryStateEnum::RUNNING);
    let service = resources::identity(c).0;
    let Some(svc) = model
        .and_then(|m| m.service(&service))
        .filter(|_| running && !is_oneoff(c))
    else {
        return Ok(());
    };
    let id = c.id.as_deref().unwrap_or_default();
    hooks::run_all(
        docker,
        id,
        &resources::display_name(c),
        "pre_stop",
        &svc.pre_stop,
        progress,
    )
    .await
}

fn is_oneoff(c: &ContainerSummary) -> bool {
    labels::get(&c.labels, labels::ONEOFF) == Some("True")
}

/// The dependency graph as the containers' `depends_on` labels record it (no Compose file needed).
fn label_graph(by_service: &BTreeMap<String, Vec<&ContainerSummary>>) -> compose::ServiceGraph {
    compose::ServiceGraph::new(by_service.iter().map(|(service, containers)| {
        let mut deps: Vec<(String, Edge)> = Vec::new();
        for c in containers {
            let parsed = labels::get(&c.labels, labels::DEPENDS_ON)
                .map(labels::parse_depends_on)
                .unwrap_or_default();
            for d in parsed {
                if deps.iter().any(|(s, _)| *s == d.service) {
                    continue;
                }
                let edge = Edge {
                    condition: d.condition,
                    required: true,
                    restart: d.restart,
                };
                deps.push((d.service, edge));
            }
        }
        (service.as_str(), deps)
    }))
}

/// Which way `in_dependency_order` walks the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Dependencies first (start).
    Start,
    /// Dependents first (stop, remove): each service as soon as every service depending on it is done.
    Stop,
}

/// Runs `action` on every container, service by service in dependency `order` from the `depends_on` labels;
/// a service's containers are handled together, as soon as the services it waits for are done.
pub async fn in_dependency_order<'c, F, Fut>(containers: &'c [ContainerSummary], order: Order, action: F) -> Result<()>
where
    F: Fn(&'c ContainerSummary) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let mut by_service: BTreeMap<String, Vec<&ContainerSummary>> = BTreeMap::new();
    for c in containers {
        by_service.entry(resources::identity(c).0).or_default().push(c);
    }
    let graph = label_graph(&by_service);
    let nodes: Vec<String> = by_service.keys().cloned().collect();
    let waits_for = |service: &str| -> Vec<String> {
        match order {
            Order::Stop => graph.dependents(service).into_iter().map(str::to_owned).collect(),
            Order::Start => graph
                .dependencies(service)
                .into_iter()
                .map(|(d, _)| d.to_owned())
                .collect(),
        }
    };
    let (by_service, action) = (&by_service, &action);
    schedule::run(&nodes, waits_for, |service, _| async move {
        let list = by_service.get(&service).cloned().unwrap_or_default();
        futures::future::try_join_all(list.into_iter().map(action)).await?;
        Ok(())
    })
    .await?;
    Ok(())
}

async fn remove_images(
    docker: &Docker,
    project: &str,
    model: Option<&ProjectSpec>,
    used: &BTreeSet<String>,
    kind: &str,
    progress: &Progress,
) -> Result<()> {
    let mut images: BTreeSet<String> = used.clone();
    if let Some(m) = model {
        images.extend(m.services.iter().map(|s| s.image.clone()));
    }
    // "local": only images berth would have built for the project (named after it), never pulled ones.
    let prefix = format!("{project}-");
    for image in images.iter().filter(|i| kind == "all" || i.starts_with(&prefix)) {
        progress.set("Image", image, "Removing", false);
        match docker
            .remove_image(image, Some(RemoveImageOptionsBuilder::new().build()), None)
            .await
        {
            Ok(_) => progress.set("Image", image, "Removed", true),
            Err(err) if resources::is_not_found(&err) => progress.set("Image", image, "Removed", true),
            Err(err) => return Err(err).with_context(|| format!("removing image {image}")),
        }
    }
    Ok(())
}
