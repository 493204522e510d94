//! `down`: stop and remove the project's containers in reverse dependency order, then its networks,
//! and with `-v` its volumes, with `--rmi` its images.

use super::converge;
use super::labels;
use super::progress::Progress;
use super::resources;
use super::spec::ProjectSpec;
use anyhow::{bail, Context, Result};
use bollard::models::ContainerSummary;
use bollard::query_parameters::RemoveImageOptionsBuilder;
use bollard::Docker;
use clap::Args;
use std::collections::{BTreeSet, HashMap};
use std::process::ExitCode;

/// Flags of `down`.
#[derive(Args, Debug, Clone, Default)]
pub struct DownArgs {
    /// Remove named volumes declared in the "volumes" section and anonymous volumes attached to containers.
    #[arg(short = 'v', long = "volumes")]
    pub volumes: bool,
    /// Remove images used by services: "local" (only images without a custom tag) or "all".
    #[arg(long = "rmi", value_name = "TYPE")]
    pub rmi: Option<String>,
    /// Remove containers for services not defined in the Compose file.
    #[arg(long = "remove-orphans")]
    pub remove_orphans: bool,
    /// Specify a shutdown timeout in seconds.
    #[arg(short = 't', long = "timeout")]
    pub timeout: Option<i32>,
}

/// Runs `down` for `project` (the model, when a Compose file was found, decides what an orphan is).
#[tracing::instrument(skip_all, fields(project = %name))]
pub async fn run(docker: &Docker, name: &str, model: Option<&ProjectSpec>, args: &DownArgs) -> Result<ExitCode> {
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
    for level in stop_levels(&remove) {
        let removals = level.iter().map(|c| {
            let progress = &progress;
            async move {
                converge::remove_with(
                    docker,
                    c.id.as_deref().unwrap_or_default(),
                    &resources::display_name(c),
                    args.timeout,
                    args.volumes,
                    progress,
                )
                .await
            }
        });
        futures::future::try_join_all(removals).await?;
    }
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

fn is_oneoff(c: &ContainerSummary) -> bool {
    labels::get(&c.labels, labels::ONEOFF) == Some("True")
}

/// Groups containers so dependents stop before what they depend on (from the `depends_on` labels).
pub fn stop_levels(containers: &[ContainerSummary]) -> Vec<Vec<&ContainerSummary>> {
    let mut by_service: HashMap<String, Vec<&ContainerSummary>> = HashMap::new();
    let mut deps: HashMap<String, Vec<String>> = HashMap::new();
    for c in containers {
        let service = resources::identity(c).0;
        let parsed = labels::get(&c.labels, labels::DEPENDS_ON)
            .map(labels::parse_depends_on)
            .unwrap_or_default();
        deps.entry(service.clone())
            .or_default()
            .extend(parsed.into_iter().map(|d| d.service));
        by_service.entry(service).or_default().push(c);
    }
    // A service is stopped once nothing still running depends on it.
    let mut remaining: BTreeSet<String> = by_service.keys().cloned().collect();
    let mut out = Vec::new();
    while !remaining.is_empty() {
        let needed: BTreeSet<&String> = remaining
            .iter()
            .flat_map(|s| deps.get(s).into_iter().flatten())
            .collect();
        let mut level: Vec<String> = remaining.iter().filter(|s| !needed.contains(s)).cloned().collect();
        if level.is_empty() {
            // Labels from a cycle should not exist; stop what is left together rather than never.
            level = remaining.iter().cloned().collect();
        }
        for s in &level {
            remaining.remove(s);
        }
        out.push(
            level
                .iter()
                .flat_map(|s| by_service.get(s).cloned().unwrap_or_default())
                .collect(),
        );
    }
    out
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
