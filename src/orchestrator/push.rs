//! `push`: each selected service's image to its registry, through the engine's push endpoint with the
//! credentials of the docker CLI's config.json.

use super::progress::Progress;
use super::spec::ProjectSpec;
use anyhow::{bail, Context, Result};
use bollard::query_parameters::PushImageOptions;
use bollard::Docker;
use futures::StreamExt;
use imageref::ImageRef;
use std::collections::BTreeSet;
use std::process::ExitCode;

/// Flags of `push`.
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// Push what it can and ignore images with push failures.
    pub ignore_push_failures: bool,
    /// Push without printing progress information.
    pub quiet: bool,
    /// Also push the images of the named services' dependencies.
    pub include_deps: bool,
    /// Services (default: all).
    pub services: Vec<String>,
}

/// Images of the selected services (with their dependencies' when `include_deps`), each once (not those
/// built without an `image:` name); an unknown service name is an error.
pub fn images<'p>(project: &'p ProjectSpec, services: &[String], include_deps: bool) -> Result<BTreeSet<&'p str>> {
    if let Some(unknown) = services.iter().find(|s| project.service(s).is_none()) {
        bail!("no such service: {unknown}");
    }
    let selected = super::plan::select(project, services, !include_deps)?;
    Ok(project
        .services
        .iter()
        .filter(|s| selected.contains(&s.name))
        .filter(|s| !project.local_build(s))
        .map(|s| s.image.as_str())
        .collect())
}

/// Runs `push`.
pub async fn run(docker: &Docker, project: &ProjectSpec, args: &PushOptions) -> Result<ExitCode> {
    let progress = (!args.quiet).then(Progress::new);
    for image in images(project, &args.services, args.include_deps)? {
        match push(docker, image, progress.as_ref()).await {
            Ok(()) => {}
            Err(err) if args.ignore_push_failures => eprintln!("WARN: {err:#}"),
            Err(err) => return Err(err),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Pushes one image, reporting its status as it changes.
#[tracing::instrument(skip(docker, progress))]
async fn push(docker: &Docker, image: &str, progress: Option<&Progress>) -> Result<()> {
    let r = ImageRef::parse(image).map_err(|e| anyhow::anyhow!("image {image:?}: {e}"))?;
    if r.tag.is_none() && r.digest.is_some() {
        bail!("pushing image {image}: a digest reference cannot be pushed, give the image a tag");
    }
    let credentials = super::credentials::for_registry(&r.registry)?;
    let report = |status: &str, done: bool| {
        if let Some(p) = progress {
            p.set("Image", image, status, done);
        }
    };
    report("Pushing", false);
    let options = PushImageOptions {
        tag: Some(r.tag.clone().unwrap_or_else(|| "latest".into())),
        ..Default::default()
    };
    let mut stream = docker.push_image(&r.name(), Some(options), credentials);
    let mut last = String::new();
    while let Some(item) = stream.next().await {
        let info = item.with_context(|| format!("pushing image {image}"))?;
        if let Some(err) = info.error_detail.and_then(|d| d.message) {
            bail!("pushing image {image}: {err}");
        }
        let Some(status) = info.status.filter(|s| !s.is_empty()) else {
            continue;
        };
        // Byte counts repeat the same status many times: one report per change.
        if status != last {
            report(&status, false);
            last = status;
        }
    }
    report("Pushed", true);
    Ok(())
}
