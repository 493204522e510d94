//! `run`: a one-off container of a service (dependencies brought up first), its output streamed, its exit code returned.

use super::converge;
use super::host_config;
use super::labels;
use super::log_stream::{self, LineWriter, LogQuery, LogStyle, LogTarget};
use super::plan;
use super::progress::Progress;
use super::resources;
use super::spec::{ProjectSpec, ServiceSpec};
use super::up::{self, UpOptions};
use anyhow::{Context, Result};
use bollard::models::PortMap;
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder,
    ResizeContainerTTYOptionsBuilder,
};
use bollard::Docker;
use compose::model::ServicePort;
use futures::StreamExt;
use std::process::ExitCode;

/// Flags of `run`.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Run container in background and print container ID.
    pub detach: bool,
    /// Automatically remove the container when it exits.
    pub rm: bool,
    /// Assign a name to the container.
    pub name: Option<String>,
    /// Set environment variables (KEY=VALUE).
    pub env: Vec<String>,
    /// Bind mount a volume (SOURCE:TARGET[:ro]).
    pub volumes: Vec<String>,
    /// Publish a container's port(s) to the host ([IP:]HOST:CONTAINER[/PROTO]).
    pub publish: Vec<String>,
    /// Run command with all service's ports enabled and mapped to the host.
    pub service_ports: bool,
    /// Don't start linked services.
    pub no_deps: bool,
    /// Override the entrypoint of the image.
    pub entrypoint: Option<String>,
    /// Run as specified username or uid.
    pub user: Option<String>,
    /// Working directory inside the container.
    pub workdir: Option<String>,
    /// Disable pseudo-TTY allocation (by default a TTY is allocated when stdin is a terminal).
    pub no_tty: bool,
    /// Service to run.
    pub service: String,
    /// Command and arguments (default: the service's).
    pub command: Vec<String>,
    /// Build the image before starting the container.
    pub build: bool,
}

impl RunOptions {
    fn build_policy(&self) -> super::build::BuildPolicy {
        if self.build {
            super::build::BuildPolicy::Always
        } else {
            super::build::BuildPolicy::Missing
        }
    }
}

/// Runs `run`.
pub async fn run(docker: &Docker, project: &ProjectSpec, args: &RunOptions) -> Result<ExitCode> {
    let service = project
        .service(&args.service)
        .with_context(|| format!("no such service: {}", args.service))?;
    let deps: Vec<String> = service
        .depends_on
        .iter()
        .map(|d| d.service.clone())
        .filter(|d| project.service(d).is_some())
        .collect();
    if !args.no_deps && !deps.is_empty() {
        let up_args = UpOptions {
            detach: true,
            services: deps,
            ..Default::default()
        };
        up::run(docker, project, &up_args).await?;
    } else {
        let progress = Progress::new();
        resources::ensure_networks(docker, project, &progress).await?;
        resources::ensure_volumes(docker, project, &progress).await?;
    }
    let (built, _) = super::build::ensure_built(
        docker,
        project,
        &std::collections::BTreeSet::from([service.name.clone()]),
        args.build_policy(),
        &super::build::BuildSettings::default(),
    )
    .await?;
    let service = built.service(&service.name).context("the service went missing")?;
    if service.build.is_none() || args.build_policy() == super::build::BuildPolicy::Never {
        converge::ensure_image(
            docker,
            &service.image,
            service.platform.as_deref(),
            service.pull_policy,
            &Progress::new(),
        )
        .await?;
    }
    super::secrets::stage(&service.staged)?;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-{}-run-{}", project.name, service.name, short_id()));
    let tty = super::tty::wanted(args.no_tty, args.detach);
    let mut body = one_off_body(project, service, args)?;
    if tty {
        body.tty = Some(true);
        body.open_stdin = Some(true);
        body.stdin_once = Some(true);
        body.attach_stdin = Some(true);
    }
    let options = CreateContainerOptionsBuilder::new().name(&name).build();
    let created = docker
        .create_container(Some(options), body)
        .await
        .with_context(|| format!("creating container {name}"))?;
    if tty {
        let outcome = interactive(docker, &created.id, &name).await;
        return finish(docker, &created.id, &name, args.rm, outcome).await;
    }
    docker
        .start_container(&created.id, None)
        .await
        .with_context(|| format!("starting container {name}"))?;
    if args.detach {
        println!("{}", created.id);
        return Ok(ExitCode::SUCCESS);
    }
    let target = LogTarget {
        id: created.id.clone(),
        name: name.clone(),
        colour_index: 0,
    };
    let style = LogStyle {
        colour: false,
        prefix: false,
        width: 0,
    };
    log_stream::stream(
        docker.clone(),
        target,
        LogQuery {
            follow: true,
            ..Default::default()
        },
        style,
        LineWriter::default(),
    )
    .await?;
    let outcome = exit_code(docker, &created.id).await;
    finish(docker, &created.id, &name, args.rm, outcome).await
}

/// Removes the one-off with `--rm` (also after a failure) and turns its exit code into ours.
async fn finish(docker: &Docker, id: &str, name: &str, rm: bool, outcome: Result<i64>) -> Result<ExitCode> {
    if rm {
        let options = RemoveContainerOptionsBuilder::new().force(true).v(true).build();
        docker
            .remove_container(id, Some(options))
            .await
            .with_context(|| format!("removing {name}"))?;
    }
    let code = outcome?;
    Ok(ExitCode::from(u8::try_from(code.rem_euclid(256)).unwrap_or(1)))
}

/// A one-off on the user's terminal: attach stdin and the TTY's output before start (nothing is lost), then
/// raw mode, the window size followed, keys copied in until the container exits.
async fn interactive(docker: &Docker, id: &str, name: &str) -> Result<i64> {
    let options = AttachContainerOptionsBuilder::new()
        .stdin(true)
        .stdout(true)
        .stderr(true)
        .stream(true)
        .build();
    let bollard::container::AttachContainerResults { mut output, mut input } = docker
        .attach_container(id, Some(options))
        .await
        .with_context(|| format!("attaching to {name}"))?;
    docker
        .start_container(id, None)
        .await
        .with_context(|| format!("starting container {name}"))?;
    let _raw = super::tty::RawMode::enter()?;
    let (d, cid) = (docker.clone(), id.to_owned());
    let resizer = super::tty::follow_size(move |h, w| {
        let (d, cid) = (d.clone(), cid.clone());
        async move {
            let size = ResizeContainerTTYOptionsBuilder::new().h(h.into()).w(w.into()).build();
            if let Err(err) = d.resize_container_tty(&cid, size).await {
                tracing::debug!(error = %err, "resizing the one-off's TTY");
            }
        }
    })?;
    tokio::spawn(async move {
        let mut stdin = tokio::io::stdin();
        let _ = tokio::io::copy(&mut stdin, &mut input).await;
    });
    while let Some(chunk) = output.next().await {
        let bytes = chunk
            .with_context(|| format!("reading {name}'s terminal"))?
            .into_bytes();
        std::io::Write::write_all(&mut std::io::stdout(), &bytes)?;
        std::io::Write::flush(&mut std::io::stdout())?;
    }
    resizer.abort();
    exit_code(docker, id).await
}

fn short_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{:06x}", (nanos ^ std::process::id()) & 0xff_ffff)
}

/// Waits for the container to stop (`wait` is the engine's own blocking call, no polling) and returns its code.
async fn exit_code(docker: &Docker, id: &str) -> Result<i64> {
    let mut waits = docker.wait_container(id, None);
    match waits.next().await {
        Some(Ok(resp)) => Ok(resp.status_code),
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
        Some(Err(err)) => Err(err).context("waiting for the container"),
        None => Ok(0),
    }
}

fn one_off_body(
    project: &ProjectSpec,
    service: &ServiceSpec,
    args: &RunOptions,
) -> Result<bollard::models::ContainerCreateBody> {
    let hash = plan::config_hash(service);
    let mut body = plan::replica_body(project, service, 1, &hash);
    let labels = body.labels.get_or_insert_with(Default::default);
    labels.insert(labels::ONEOFF.to_owned(), "True".to_owned());
    labels.remove(labels::CONTAINER_NUMBER);
    if !args.command.is_empty() {
        body.cmd = Some(args.command.clone());
    }
    if let Some(ep) = &args.entrypoint {
        body.entrypoint = Some(vec![ep.clone()]);
    }
    if let Some(user) = &args.user {
        body.user = Some(user.clone());
    }
    if let Some(dir) = &args.workdir {
        body.working_dir = Some(dir.clone());
    }
    body.env.get_or_insert_with(Vec::new).extend(args.env.iter().cloned());
    let host = body.host_config.get_or_insert_with(Default::default);
    // One-off containers publish nothing unless asked: they would clash with the service's own ports.
    if !args.service_ports {
        host.port_bindings = None;
    }
    if !args.publish.is_empty() {
        let mut ports = Vec::new();
        for p in &args.publish {
            ports.extend(parse_publish(p)?);
        }
        let ports = host_config::port_bindings(&ports).unwrap_or_default();
        host.port_bindings.get_or_insert_with(PortMap::new).extend(ports);
    }
    host.binds
        .get_or_insert_with(Vec::new)
        .extend(args.volumes.iter().cloned());
    if let Some(networking) = body
        .networking_config
        .as_mut()
        .and_then(|n| n.endpoints_config.as_mut())
    {
        // The one-off answers to the service name too, but not to the replica's container name.
        for endpoint in networking.values_mut() {
            if let Some(aliases) = endpoint.aliases.as_mut() {
                aliases.retain(|a| *a != plan::replica_name(project, service, 1));
            }
        }
    }
    Ok(body)
}

/// Parses `-p [IP:]HOST:CONTAINER[/PROTO]` (ranges too) with the Compose loader's port syntax.
fn parse_publish(spec: &str) -> Result<Vec<ServicePort>> {
    let entries = compose::normalize::ports::parse_short_port(spec).map_err(|e| anyhow::anyhow!("-p {spec:?}: {e}"))?;
    entries
        .into_iter()
        .map(|v| {
            serde_json::from_value(v).with_context(|| format!("-p {spec:?}: expected [IP:]HOST:CONTAINER[/PROTO]"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::parse_publish;

    #[test]
    fn publish_forms() {
        let p = parse_publish("127.0.0.1:8080:80/udp").unwrap();
        assert_eq!((p[0].target, p[0].protocol.as_str()), (80, "udp"));
        assert_eq!(p[0].host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(p[0].published.map(|r| r.to_string()).as_deref(), Some("8080"));
        assert_eq!(parse_publish("9000").unwrap()[0].target, 9000);
        assert_eq!(parse_publish("8000-8001:80-81").unwrap().len(), 2);
        assert!(parse_publish("a:b").is_err());
    }
}
