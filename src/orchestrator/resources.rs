//! Project networks and volumes (created first, removed last) and listing the project's containers by label.

use super::labels;
use super::progress::Progress;
use super::spec::{NetworkSpec, ProjectSpec, VolumeSpec};
use anyhow::{bail, Context, Result};
use bollard::errors::Error as BollardError;
use bollard::models::{ContainerSummary, Ipam, NetworkCreateRequest, VolumeCreateRequest};
use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder, RemoveVolumeOptionsBuilder,
};
use bollard::Docker;
use std::collections::HashMap;

/// True when the engine answered 404.
pub fn is_not_found(err: &BollardError) -> bool {
    matches!(err, BollardError::DockerResponseServerError { status_code: 404, .. })
}

/// Creates the project networks that do not exist yet; checks external ones exist.
#[tracing::instrument(skip_all, fields(project = %project.name))]
pub async fn ensure_networks(docker: &Docker, project: &ProjectSpec, progress: &Progress) -> Result<()> {
    for net in &project.networks {
        match docker.inspect_network(&net.name, None).await {
            Ok(_) => continue,
            Err(err) if is_not_found(&err) => {}
            Err(err) => return Err(err).with_context(|| format!("inspecting network {}", net.name)),
        }
        if net.external {
            bail!("network {} declared as external, but could not be found", net.name);
        }
        progress.set("Network", &net.name, "Creating", false);
        docker
            .create_network(network_request(project, net))
            .await
            .with_context(|| format!("creating network {}", net.name))?;
        progress.set("Network", &net.name, "Created", true);
    }
    Ok(())
}

fn network_request(project: &ProjectSpec, net: &NetworkSpec) -> NetworkCreateRequest {
    let mut all = net.labels.clone();
    all.insert(labels::PROJECT.to_owned(), project.name.clone());
    all.insert(labels::NETWORK.to_owned(), net.key.clone());
    all.insert(labels::VERSION.to_owned(), env!("CARGO_PKG_VERSION").to_owned());
    all.insert(labels::CONFIG_HASH.to_owned(), net.config_hash.clone());
    let ipam = (!net.ipam.is_empty()).then(|| Ipam {
        config: Some(net.ipam.clone()),
        ..Default::default()
    });
    NetworkCreateRequest {
        name: net.name.clone(),
        driver: Some(net.driver.clone().unwrap_or_else(|| "bridge".to_owned())),
        internal: Some(net.internal),
        // Sent only to switch IPv4 off, as Docker Compose does (engines before API 1.47 do not know the field).
        enable_ipv4: net.disable_ipv4.then_some(false),
        enable_ipv6: net.enable_ipv6.then_some(true),
        attachable: net.attachable.then_some(true),
        options: (!net.driver_opts.is_empty()).then(|| net.driver_opts.clone()),
        ipam,
        labels: Some(all),
        ..Default::default()
    }
}

/// Creates the project volumes that do not exist yet; checks external ones exist.
#[tracing::instrument(skip_all, fields(project = %project.name))]
pub async fn ensure_volumes(docker: &Docker, project: &ProjectSpec, progress: &Progress) -> Result<()> {
    for vol in &project.volumes {
        match docker.inspect_volume(&vol.name).await {
            Ok(_) => continue,
            Err(err) if is_not_found(&err) => {}
            Err(err) => return Err(err).with_context(|| format!("inspecting volume {}", vol.name)),
        }
        if vol.external {
            bail!("volume {} declared as external, but could not be found", vol.name);
        }
        progress.set("Volume", &vol.name, "Creating", false);
        docker
            .create_volume(volume_request(project, vol))
            .await
            .with_context(|| format!("creating volume {}", vol.name))?;
        progress.set("Volume", &vol.name, "Created", true);
    }
    Ok(())
}

fn volume_request(project: &ProjectSpec, vol: &VolumeSpec) -> VolumeCreateRequest {
    let mut all = vol.labels.clone();
    all.insert(labels::PROJECT.to_owned(), project.name.clone());
    all.insert(labels::VOLUME.to_owned(), vol.key.clone());
    all.insert(labels::VERSION.to_owned(), env!("CARGO_PKG_VERSION").to_owned());
    all.insert(labels::CONFIG_HASH.to_owned(), vol.config_hash.clone());
    VolumeCreateRequest {
        name: Some(vol.name.clone()),
        driver: Some(vol.driver.clone().unwrap_or_else(|| "local".to_owned())),
        driver_opts: (!vol.driver_opts.is_empty()).then(|| vol.driver_opts.clone()),
        labels: Some(all),
        ..Default::default()
    }
}

/// The project's service containers (`all` includes stopped ones), optionally of one service.
pub async fn list_containers(
    docker: &Docker,
    project: &str,
    service: Option<&str>,
    all: bool,
) -> Result<Vec<ContainerSummary>> {
    let filters = labels::service_containers_filter(project, service);
    let options = ListContainersOptionsBuilder::new().all(all).filters(&filters).build();
    docker
        .list_containers(Some(options))
        .await
        .with_context(|| format!("listing containers of project {project}"))
}

/// Every container labelled with the project, one-off ones included.
pub async fn list_all_project_containers(docker: &Docker, project: &str) -> Result<Vec<ContainerSummary>> {
    let options = ListContainersOptionsBuilder::new()
        .all(true)
        .filters(&labels::project_filter(project))
        .build();
    docker
        .list_containers(Some(options))
        .await
        .with_context(|| format!("listing containers of project {project}"))
}

/// Removes the project's networks (those labelled with it, external ones never are).
pub async fn remove_networks(docker: &Docker, project: &str, progress: &Progress) -> Result<()> {
    let options = ListNetworksOptionsBuilder::new()
        .filters(&labels::project_filter(project))
        .build();
    let nets = docker.list_networks(Some(options)).await.context("listing networks")?;
    // All at once: the networks of a project do not depend on each other.
    let removals = nets.into_iter().filter_map(|n| n.name).map(|name| async move {
        progress.set("Network", &name, "Removing", false);
        match docker.remove_network(&name).await {
            Ok(()) => progress.set("Network", &name, "Removed", true),
            Err(err) if is_not_found(&err) => progress.set("Network", &name, "Removed", true),
            Err(err) => return Err(err).with_context(|| format!("removing network {name}")),
        }
        Ok(())
    });
    futures::future::try_join_all(removals).await?;
    Ok(())
}

/// Removes the project's volumes (those labelled with it).
pub async fn remove_volumes(docker: &Docker, project: &str, progress: &Progress) -> Result<()> {
    let filters: HashMap<String, Vec<String>> = labels::project_filter(project);
    let options = ListVolumesOptionsBuilder::new().filters(&filters).build();
    let vols = docker.list_volumes(Some(options)).await.context("listing volumes")?;
    let removals = vols.volumes.unwrap_or_default().into_iter().map(|vol| async move {
        progress.set("Volume", &vol.name, "Removing", false);
        match docker
            .remove_volume(&vol.name, Some(RemoveVolumeOptionsBuilder::new().build()))
            .await
        {
            Ok(()) => progress.set("Volume", &vol.name, "Removed", true),
            Err(err) if is_not_found(&err) => progress.set("Volume", &vol.name, "Removed", true),
            Err(err) => return Err(err).with_context(|| format!("removing volume {}", vol.name)),
        }
        Ok(())
    });
    futures::future::try_join_all(removals).await?;
    Ok(())
}

/// Replica number and service of a listed container, from its labels.
pub fn identity(c: &ContainerSummary) -> (String, u32) {
    let service = labels::get(&c.labels, labels::SERVICE).unwrap_or_default().to_owned();
    let number = labels::get(&c.labels, labels::CONTAINER_NUMBER)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    (service, number)
}

/// The container's name without the leading slash.
pub fn display_name(c: &ContainerSummary) -> String {
    c.names
        .as_ref()
        .and_then(|n| n.first())
        .map(|n| n.trim_start_matches('/').to_owned())
        .or_else(|| c.id.clone())
        .unwrap_or_default()
}
