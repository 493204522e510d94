//! `attach SERVICE`: the docker CLI's `attach` on one of the service's running containers (`--index`): its
//! output on ours, our stdin into it (unless `--no-stdin` or the container has no open stdin), signals
//! forwarded (`--sig-proxy`, without a TTY), `--detach-keys`; returns the container's exit code.

use super::resources;
use anyhow::{bail, Context, Result};
use bollard::container::LogOutput;
use bollard::models::ContainerSummaryStateEnum;
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, KillContainerOptionsBuilder, ResizeContainerTTYOptionsBuilder,
};
use bollard::Docker;
use futures::StreamExt;
use std::io::Write;
use std::process::ExitCode;
use tokio::signal::unix::{signal, SignalKind};

/// Flags of `attach`.
#[derive(Debug, Clone, Default)]
pub struct AttachOptions {
    /// Index of the container if the service has multiple replicas.
    pub index: u32,
    /// Do not attach STDIN.
    pub no_stdin: bool,
    /// Proxy the signals berth receives to the container's process.
    pub sig_proxy: bool,
    /// Override the key sequence for detaching from a container.
    pub detach_keys: Option<String>,
    /// Service.
    pub service: String,
}

/// Runs `attach`.
pub async fn run(docker: &Docker, project: &str, args: &AttachOptions) -> Result<ExitCode> {
    let list = resources::list_containers(docker, project, Some(&args.service), false).await?;
    let Some(target) = list.iter().find(|c| resources::identity(c).1 == args.index) else {
        bail!("service {:?} has no container with index {}", args.service, args.index);
    };
    let name = resources::display_name(target);
    if target.state != Some(ContainerSummaryStateEnum::RUNNING) {
        bail!("cannot attach to a stopped container, start it first: {name}");
    }
    let id = target.id.clone().unwrap_or_default();
    let info = docker
        .inspect_container(&id, None)
        .await
        .with_context(|| format!("inspecting {name}"))?;
    let config = info.config.unwrap_or_default();
    let tty = config.tty.unwrap_or(false);
    // As the docker CLI: stdin goes in only where the container keeps one open.
    let stdin = !args.no_stdin && config.open_stdin.unwrap_or(false);
    let mut options = AttachContainerOptionsBuilder::new()
        .stdin(stdin)
        .stdout(true)
        .stderr(true)
        .stream(true);
    if let Some(keys) = &args.detach_keys {
        options = options.detach_keys(keys);
    }
    let bollard::container::AttachContainerResults { mut output, mut input } = docker
        .attach_container(&id, Some(options.build()))
        .await
        .with_context(|| format!("attaching to {name}"))?;
    let _raw = (tty && stdin && std::io::IsTerminal::is_terminal(&std::io::stdin()))
        .then(super::tty::RawMode::enter)
        .transpose()?;
    let resizer = if tty {
        let (d, cid) = (docker.clone(), id.clone());
        Some(super::tty::follow_size(move |h, w| {
            let (d, cid) = (d.clone(), cid.clone());
            async move {
                let size = ResizeContainerTTYOptionsBuilder::new().h(h.into()).w(w.into()).build();
                if let Err(err) = d.resize_container_tty(&cid, size).await {
                    tracing::debug!(error = %err, "resizing the container's TTY");
                }
            }
        })?)
    } else {
        None
    };
    if stdin {
        tokio::spawn(async move {
            let mut ours = tokio::io::stdin();
            let _ = tokio::io::copy(&mut ours, &mut input).await;
        });
    }
    // Without a TTY the terminal does not turn Ctrl-C into a key for the container: forward the signals.
    let proxy = (args.sig_proxy && !tty).then(|| spawn_sig_proxy(docker.clone(), id.clone()));
    while let Some(chunk) = output.next().await {
        let chunk = chunk.with_context(|| format!("reading {name}'s output"))?;
        match chunk {
            LogOutput::StdErr { message } => {
                let mut err = std::io::stderr().lock();
                err.write_all(&message)?;
                err.flush()?;
            }
            LogOutput::StdOut { message } | LogOutput::Console { message } => {
                let mut out = std::io::stdout().lock();
                out.write_all(&message)?;
                out.flush()?;
            }
            LogOutput::StdIn { .. } => {}
        }
    }
    if let Some(r) = resizer {
        r.abort();
    }
    if let Some(p) = proxy {
        p.abort();
    }
    // The stream ends when the container exits, or when the user detached (then it still runs: success).
    let after = docker
        .inspect_container(&id, None)
        .await
        .with_context(|| format!("inspecting {name}"))?;
    let state = after.state.unwrap_or_default();
    if state.running == Some(true) {
        return Ok(ExitCode::SUCCESS);
    }
    let code = state.exit_code.unwrap_or(0);
    Ok(ExitCode::from(u8::try_from(code.rem_euclid(256)).unwrap_or(1)))
}

/// Forwards SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 to the container until aborted.
fn spawn_sig_proxy(docker: Docker, id: String) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let kinds = [
            (SignalKind::interrupt(), "SIGINT"),
            (SignalKind::terminate(), "SIGTERM"),
            (SignalKind::hangup(), "SIGHUP"),
            (SignalKind::quit(), "SIGQUIT"),
            (SignalKind::user_defined1(), "SIGUSR1"),
            (SignalKind::user_defined2(), "SIGUSR2"),
        ];
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
        for (kind, name) in kinds {
            let Ok(mut s) = signal(kind) else { continue };
            let tx = tx.clone();
            tokio::spawn(async move {
                while s.recv().await.is_some() {
                    if tx.send(name).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        while let Some(sig) = rx.recv().await {
            let options = KillContainerOptionsBuilder::new().signal(sig).build();
            if let Err(err) = docker.kill_container(&id, Some(options)).await {
                tracing::debug!(error = %err, signal = sig, "forwarding a signal to the container");
            }
        }
    })
}
