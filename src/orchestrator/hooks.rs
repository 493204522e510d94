//! Lifecycle hooks (`post_start`, `pre_stop`): commands run with exec in a service's running container, as
//! Docker Compose runs them; a failing hook fails the verb with the hook's output.

use super::progress::Progress;
use super::spec::Hook;
use anyhow::{bail, Context, Result};
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::Docker;
use futures::StreamExt;

/// Runs `hooks` one after the other in container `id`; `which` (`post_start`, `pre_stop`) names them in errors.
pub async fn run_all(
    docker: &Docker,
    id: &str,
    container: &str,
    which: &str,
    hooks: &[Hook],
    progress: &Progress,
) -> Result<()> {
    for (i, hook) in hooks.iter().enumerate() {
        progress.set("Container", container, &format!("Running {which} hook"), false);
        let (code, output) = exec(docker, id, hook)
            .await
            .with_context(|| format!("{which}[{i}] hook of {container}"))?;
        if code != 0 {
            bail!(
                "{which}[{i}] hook of {container} exited with code {code}: {}",
                output.trim_end()
            );
        }
        if !output.is_empty() {
            progress.note(&format!("{container} {which}: {}", output.trim_end()));
        }
    }
    Ok(())
}

/// Runs one hook and returns its exit code and combined output.
async fn exec(docker: &Docker, id: &str, hook: &Hook) -> Result<(i64, String)> {
    let options = CreateExecOptions {
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        cmd: Some(hook.command.clone()),
        env: (!hook.environment.is_empty()).then(|| hook.environment.clone()),
        privileged: Some(hook.privileged),
        user: hook.user.clone(),
        working_dir: hook.working_dir.clone(),
        ..Default::default()
    };
    let exec = docker.create_exec(id, options).await.context("creating exec")?;
    let mut text = Vec::new();
    if let StartExecResults::Attached { mut output, .. } =
        docker.start_exec(&exec.id, None).await.context("starting exec")?
    {
        while let Some(chunk) = output.next().await {
            match chunk.context("reading hook output")? {
                LogOutput::StdOut { message } | LogOutput::StdErr { message } | LogOutput::Console { message } => {
                    text.extend_from_slice(&message)
                }
                LogOutput::StdIn { .. } => {}
            }
        }
    }
    let inspect = docker.inspect_exec(&exec.id).await.context("inspecting exec")?;
    Ok((
        inspect.exit_code.unwrap_or(0),
        String::from_utf8_lossy(&text).into_owned(),
    ))
}
