//! `exec`: run a command in a running service container, forwarding stdin and the exit code.

use super::resources;
use anyhow::{bail, Context, Result};
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::models::ContainerSummaryStateEnum;
use bollard::Docker;
use futures::StreamExt;
use std::io::Write;
use std::process::ExitCode;
use tokio::io::AsyncWriteExt;

/// Flags of `exec`.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    /// Detached mode: run the command in the background.
    pub detach: bool,
    /// Disable pseudo-TTY allocation (by default a TTY is allocated when stdin is a terminal).
    pub no_tty: bool,
    /// Run the command as this user.
    pub user: Option<String>,
    /// Path to the workdir directory for this command.
    pub workdir: Option<String>,
    /// Set environment variables (KEY=VALUE).
    pub env: Vec<String>,
    /// Index of the container if the service has multiple replicas.
    pub index: u32,
    /// Give extended privileges to the process.
    pub privileged: bool,
    /// Service name.
    pub service: String,
    /// Command and arguments.
    pub command: Vec<String>,
}

/// Runs `exec`.
pub async fn run(docker: &Docker, project: &str, args: &ExecOptions) -> Result<ExitCode> {
    let list = resources::list_containers(docker, project, Some(&args.service), false).await?;
    let Some(target) = list.iter().find(|c| resources::identity(c).1 == args.index) else {
        bail!(
            "service {:?} has no running container with index {}",
            args.service,
            args.index
        );
    };
    if target.state != Some(ContainerSummaryStateEnum::RUNNING) {
        bail!("container {} is not running", resources::display_name(target));
    }
    let id = target.id.clone().unwrap_or_default();
    let tty = super::tty::wanted(args.no_tty, args.detach);
    let options = CreateExecOptions {
        attach_stdin: Some(!args.detach),
        attach_stdout: Some(!args.detach),
        attach_stderr: Some(!args.detach),
        tty: Some(tty),
        env: (!args.env.is_empty()).then(|| args.env.clone()),
        cmd: Some(args.command.clone()),
        privileged: Some(args.privileged),
        user: args.user.clone(),
        working_dir: args.workdir.clone(),
        ..Default::default()
    };
    let exec = docker.create_exec(&id, options).await.context("creating exec")?;
    let started = docker
        .start_exec(
            &exec.id,
            Some(StartExecOptions {
                detach: args.detach,
                tty,
                output_capacity: None,
            }),
        )
        .await
        .context("starting exec")?;
    if let StartExecResults::Attached { mut output, mut input } = started {
        let _raw = tty.then(super::tty::RawMode::enter).transpose()?;
        let resizer = if tty {
            let (docker, exec_id) = (docker.clone(), exec.id.clone());
            Some(super::tty::follow_size(move |height, width| {
                let (docker, exec_id) = (docker.clone(), exec_id.clone());
                async move {
                    let size = bollard::exec::ResizeExecOptions { height, width };
                    if let Err(err) = docker.resize_exec(&exec_id, size).await {
                        tracing::debug!(error = %err, "resizing the exec's TTY");
                    }
                }
            })?)
        } else {
            None
        };
        // stdin is copied on a side task: the command may finish without reading it.
        tokio::spawn(async move {
            let mut stdin = tokio::io::stdin();
            let _ = tokio::io::copy(&mut stdin, &mut input).await;
            let _ = input.shutdown().await;
        });
        while let Some(chunk) = output.next().await {
            match chunk.context("reading exec output")? {
                LogOutput::StdErr { message } => std::io::stderr().write_all(&message)?,
                LogOutput::StdOut { message } | LogOutput::Console { message } => {
                    std::io::stdout().write_all(&message)?
                }
                LogOutput::StdIn { .. } => {}
            }
            if tty {
                std::io::stdout().flush()?;
            }
        }
        std::io::stdout().flush()?;
        if let Some(task) = resizer {
            task.abort();
        }
    }
    let inspect = docker.inspect_exec(&exec.id).await.context("inspecting exec")?;
    let code = inspect.exit_code.unwrap_or(0);
    Ok(ExitCode::from(u8::try_from(code.rem_euclid(256)).unwrap_or(1)))
}
