//! `run`: a one-off container of a service (dependencies brought up first), its output streamed, its exit code returned.

use super::converge;
use super::host_config;
use super::labels;
use super::log_stream::{self, LineWriter, LogQuery, LogStyle, LogTarget};
use super::plan;
use super::progress::Progress;
use super::resources;
use super::spec::{ProjectSpec, PullPolicy, ServiceSpec};
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
    /// `-i`: keep the one-off's stdin open and feed it ours (Compose's default; `-i=false` turns it off).
    pub interactive: bool,
    /// Labels added to (or overriding) the service's (KEY=VALUE).
    pub labels: Vec<String>,
    /// Linux capabilities added to the service's.
    pub cap_add: Vec<String>,
    /// Linux capabilities dropped from the service's.
    pub cap_drop: Vec<String>,
    /// Pull policy of the one-off's image ("always"|"missing"|"never"|"build"), overriding the service's.
    pub pull: Option<String>,
    /// Pull without printing progress information.
    pub quiet_pull: bool,
    /// Remove containers for services not defined in the Compose file (when dependencies are brought up).
    pub remove_orphans: bool,
    /// Give the one-off the service's network aliases (by default it has none, as in Compose).
    pub use_aliases: bool,
    /// Dotenv files whose variables are set in the one-off (`-e` wins over them).
    pub env_from_file: Vec<std::path::PathBuf>,
    /// Print no progress (dependencies, pulls, builds).
    pub quiet: bool,
    /// Suppress the build output.
    pub quiet_build: bool,
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
    let labels = parse_labels(&args.labels)?;
    let env_files = read_env_files(&args.env_from_file, &args.env)?;
    let pull = args
        .pull
        .as_deref()
        .map(|p| p.parse::<PullPolicy>().map_err(|e| anyhow::anyhow!("--pull: {e}")))
        .transpose()?;
    let progress = if args.quiet { Progress::quiet() } else { Progress::new() };
    if !args.no_deps && !deps.is_empty() {
        let up_args = UpOptions {
            detach: true,
            services: deps,
            converge: up::ConvergePolicy {
                remove_orphans: args.remove_orphans,
                quiet_pull: args.quiet_pull || args.quiet,
                pull: args.pull.clone(),
                ..Default::default()
            },
            quiet_build: args.quiet_build || args.quiet,
            ..Default::default()
        };
        up::run(docker, project, &up_args).await?;
    } else {
        resources::ensure_networks(docker, project, &progress).await?;
        resources::ensure_volumes(docker, project, &progress).await?;
    }
    let settings = super::build::BuildSettings {
        mode: if args.quiet_build || args.quiet {
            super::build_output::ProgressMode::Quiet
        } else {
            super::build_output::ProgressMode::default()
        },
        ..Default::default()
    };
    let (built, _) = super::build::ensure_built(
        docker,
        project,
        &std::collections::BTreeSet::from([service.name.clone()]),
        args.build_policy(),
        &settings,
    )
    .await?;
    let service = built.service(&service.name).context("the service went missing")?;
    if service.build.is_none() || args.build_policy() == super::build::BuildPolicy::Never {
        let pull_progress = if args.quiet_pull {
            Progress::quiet()
        } else {
            progress.clone()
        };
        converge::ensure_image(
            docker,
            &service.image,
            service.platform.as_deref(),
            pull.unwrap_or(service.pull_policy),
            &pull_progress,
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
    body.labels.get_or_insert_with(Default::default).extend(labels);
    // The files' variables replace the service's own (`-e` ones were already kept out of them).
    let env = body.env.get_or_insert_with(Vec::new);
    env.retain(|e| !env_files.iter().any(|(k, _)| e.split('=').next() == Some(k.as_str())));
    env.extend(env_files.into_iter().map(|(k, v)| format!("{k}={v}")));
    // As Compose: `-i` keeps the one-off's stdin open (also when detached, where nothing feeds it).
    let stdin = args.interactive && !args.detach;
    if args.interactive {
        body.open_stdin = Some(true);
        body.stdin_once = Some(true);
        body.attach_stdin = Some(stdin);
    }
    if tty {
        body.tty = Some(true);
    }
    let later = plan::endpoints_after_create(docker, &mut body);
    let options = CreateContainerOptionsBuilder::new().name(&name).build();
    let created = docker
        .create_container(Some(options), body)
        .await
        .with_context(|| format!("creating container {name}"))?;
    plan::connect_endpoints(docker, &created.id, later)
        .await
        .with_context(|| format!("connecting container {name}"))?;
    if tty {
        let outcome = interactive(docker, &created.id, &name, stdin).await;
        return finish(docker, &created.id, &name, args.rm, outcome).await;
    }
    // Without a TTY our stdin still goes in (`echo x | berth run -T svc cat`): attached before the start so
    // nothing is lost, closed when ours ends so the command sees the end of its input.
    if stdin {
        feed_stdin(docker, &created.id, &name).await?;
    }
    docker
        .start_container(&created.id, None)
        .await
        .with_context(|| format!("starting container {name}"))?;
    if args.detach {
        if !args.quiet {
            println!("{}", created.id);
        }
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
async fn interactive(docker: &Docker, id: &str, name: &str, stdin: bool) -> Result<i64> {
    let options = AttachContainerOptionsBuilder::new()
        .stdin(stdin)
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

/// Attaches the one-off's stdin only (its output comes through the log stream) and copies ours into it
/// until ours ends, then closes it.
async fn feed_stdin(docker: &Docker, id: &str, name: &str) -> Result<()> {
    let options = AttachContainerOptionsBuilder::new().stdin(true).stream(true).build();
    let bollard::container::AttachContainerResults { output, mut input } = docker
        .attach_container(id, Some(options))
        .await
        .with_context(|| format!("attaching to {name}'s stdin"))?;
    tokio::spawn(async move {
        // Held so that the connection stays up until the input is done.
        let _output = output;
        let mut ours = tokio::io::stdin();
        let _ = tokio::io::copy(&mut ours, &mut input).await;
        let _ = tokio::io::AsyncWriteExt::shutdown(&mut input).await;
    });
    Ok(())
}

/// `-l KEY=VALUE` labels; a label without `=` is refused, as Compose refuses it.
fn parse_labels(labels: &[String]) -> Result<Vec<(String, String)>> {
    labels
        .iter()
        .map(|l| {
            l.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .with_context(|| format!("-l/--label {l:?}: label must be set as KEY=VALUE"))
        })
        .collect()
}

/// The variables of the `--env-from-file` files, in order (a later file does not override an earlier one,
/// nor any file a `-e`); `KEY` lines and `${KEY}` take the `-e` values, then berth's environment.
fn read_env_files(files: &[std::path::PathBuf], env: &[String]) -> Result<Vec<(String, String)>> {
    let given: Vec<(&str, &str)> = env.iter().filter_map(|e| e.split_once('=')).collect();
    let lookup = |k: &str| {
        given
            .iter()
            .find(|(g, _)| *g == k)
            .map(|(_, v)| (*v).to_owned())
            .or_else(|| std::env::var(k).ok())
    };
    let mut out: Vec<(String, String)> = Vec::new();
    for file in files {
        let vars = compose::dotenv::read_file(file, &lookup)
            .map_err(|e| anyhow::anyhow!("--env-from-file {}: {e}", file.display()))?;
        for (k, v) in vars {
            if !out.iter().any(|(o, _)| *o == k) && !env.iter().any(|e| e.split('=').next() == Some(k.as_str())) {
                out.push((k, v));
            }
        }
    }
    Ok(out)
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
    apply_caps(&mut host.cap_add, &mut host.cap_drop, &args.cap_add, &args.cap_drop);
    if let Some(networking) = body
        .networking_config
        .as_mut()
        .and_then(|n| n.endpoints_config.as_mut())
    {
        for endpoint in networking.values_mut() {
            if !args.use_aliases {
                // As Compose: a one-off has no network alias unless --use-aliases.
                endpoint.aliases = None;
            } else if let Some(aliases) = endpoint.aliases.as_mut() {
                // The service name and its aliases, but not the replica's container name.
                aliases.retain(|a| *a != plan::replica_name(project, service, 1));
            }
        }
    }
    Ok(body)
}

/// `--cap-add`/`--cap-drop` over the service's `cap_add`/`cap_drop`: a capability added on the command line
/// is no longer dropped, and one dropped is no longer added (as the docker CLI merges them).
fn apply_caps(
    add: &mut Option<Vec<String>>,
    drop: &mut Option<Vec<String>>,
    more_add: &[String],
    more_drop: &[String],
) {
    let norm = host_config::capability;
    for cap in more_add {
        if let Some(d) = drop.as_mut() {
            d.retain(|x| norm(x) != norm(cap));
        }
        let a = add.get_or_insert_with(Vec::new);
        if !a.iter().any(|x| norm(x) == norm(cap)) {
            a.push(cap.clone());
        }
    }
    for cap in more_drop {
        if let Some(a) = add.as_mut() {
            a.retain(|x| norm(x) != norm(cap));
        }
        let d = drop.get_or_insert_with(Vec::new);
        if !d.iter().any(|x| norm(x) == norm(cap)) {
            d.push(cap.clone());
        }
    }
    if add.as_ref().is_some_and(Vec::is_empty) {
        *add = None;
    }
    if drop.as_ref().is_some_and(Vec::is_empty) {
        *drop = None;
    }
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
    use super::{apply_caps, parse_labels, parse_publish, read_env_files};

    #[test]
    fn labels_need_key_and_value() {
        assert_eq!(
            parse_labels(&["a=b=c".to_owned()]).unwrap(),
            [("a".to_owned(), "b=c".to_owned())]
        );
        let err = parse_labels(&["nokey".to_owned()]).unwrap_err().to_string();
        assert!(err.contains("--label") && err.contains("KEY=VALUE"), "{err}");
    }

    #[test]
    fn cap_flags_override_the_service() {
        let mut add = Some(vec!["NET_ADMIN".to_owned()]);
        let mut drop = Some(vec!["CHOWN".to_owned()]);
        apply_caps(
            &mut add,
            &mut drop,
            &["cap_chown".to_owned()],
            &["NET_ADMIN".to_owned()],
        );
        assert_eq!(add, Some(vec!["cap_chown".to_owned()]));
        assert_eq!(drop, Some(vec!["NET_ADMIN".to_owned()]));
    }

    #[test]
    fn env_files_lose_to_dash_e_and_earlier_files() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.env"), dir.path().join("b.env"));
        std::fs::write(&a, "A=1\nB=from-a\nC=${X}\n").unwrap();
        std::fs::write(&b, "B=from-b\nD=4\n").unwrap();
        let got = read_env_files(&[a, b], &["A=cli".to_owned(), "X=x".to_owned()]).unwrap();
        let want: Vec<(String, String)> = [("B", "from-a"), ("C", "x"), ("D", "4")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(got, want);
        let err = read_env_files(&[dir.path().join("none")], &[]).unwrap_err().to_string();
        assert!(err.contains("--env-from-file"), "{err}");
    }

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
