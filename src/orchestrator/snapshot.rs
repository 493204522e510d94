//! `export` and `commit`: a service container's filesystem as a tar archive, or as a new image.

use super::progress::Progress;
use super::resources;
use anyhow::{bail, Context, Result};
use bollard::models::ContainerConfig;
use bollard::query_parameters::CommitContainerOptions;
use bollard::Docker;
use futures::StreamExt;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

/// Flags of `export`.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Index of the container if the service has multiple replicas.
    pub index: u32,
    /// Write to a file instead of standard output.
    pub output: Option<std::path::PathBuf>,
    /// Service.
    pub service: String,
}

/// Flags of `commit`.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// Author of the image.
    pub author: Option<String>,
    /// Dockerfile instructions applied to the image.
    pub change: Vec<String>,
    /// Index of the container if the service has multiple replicas.
    pub index: u32,
    /// Commit message.
    pub message: Option<String>,
    /// Pause the container during the commit.
    pub pause: bool,
    /// Service.
    pub service: String,
    /// REPOSITORY[:TAG] of the new image.
    pub reference: Option<String>,
}

/// The container of replica `index` of `service`, stopped ones included.
async fn container(docker: &Docker, project: &str, service: &str, index: u32) -> Result<(String, String)> {
    let list = resources::list_containers(docker, project, Some(service), true).await?;
    let Some(c) = list.iter().find(|c| resources::identity(c).1 == index) else {
        bail!("service {service:?} has no container with index {index}");
    };
    Ok((c.id.clone().unwrap_or_default(), resources::display_name(c)))
}

/// `export`: the container's filesystem as a tar stream.
pub async fn export(docker: &Docker, project: &str, args: &ExportOptions) -> Result<ExitCode> {
    if args.output.is_none() && std::io::stdout().is_terminal() {
        bail!("output is a terminal: use the -o flag or redirect the output");
    }
    let (id, name) = container(docker, project, &args.service, args.index).await?;
    let progress = Progress::new();
    let target = args
        .output
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "STDOUT".into());
    progress.set(&name, &format!("export {name} to {target}"), "Exporting", false);
    let mut sink: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut stream = docker.export_container(&id);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.with_context(|| format!("exporting {name}"))?;
        sink.write_all(&chunk).context("writing the archive")?;
    }
    sink.flush().context("writing the archive")?;
    progress.set(&name, &format!("export {name} to {target}"), "Exported", true);
    Ok(ExitCode::SUCCESS)
}

/// `commit`: a new image from the container's changes.
pub async fn commit(docker: &Docker, project: &str, args: &CommitOptions) -> Result<ExitCode> {
    let (id, name) = container(docker, project, &args.service, args.index).await?;
    let (repo, tag) = match args.reference.as_deref() {
        None => (None, None),
        Some(r) => match r.rsplit_once(':').filter(|(_, t)| !t.contains('/')) {
            Some((repo, tag)) => (Some(repo.to_owned()), Some(tag.to_owned())),
            None => (Some(r.to_owned()), None),
        },
    };
    let options = CommitContainerOptions {
        container: Some(id),
        repo,
        tag,
        comment: args.message.clone(),
        author: args.author.clone(),
        pause: args.pause,
        changes: (!args.change.is_empty()).then(|| args.change.join("\n")),
    };
    let progress = Progress::new();
    progress.set(&name, &format!("Commit {name}"), "Committing", false);
    let created = docker
        .commit_container(options, ContainerConfig::default())
        .await
        .with_context(|| format!("committing {name}"))?;
    progress.set(
        &name,
        &format!("Commit {name}"),
        &format!("Committed as {}", created.id),
        true,
    );
    Ok(ExitCode::SUCCESS)
}
