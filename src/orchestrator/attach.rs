//! Attached `up`: stream prefixed logs until every container has exited, Ctrl-C stops the stack
//! (a second Ctrl-C kills it), `--abort-on-container-exit` / `--exit-code-from` stop it on the first exit,
//! `--abort-on-container-failure` on the first non-zero exit.

use super::converge::{self, Replica};
use super::events::ContainerEvent;
use super::log_stream::{self, LineWriter, LogQuery, LogStyle, LogTarget};
use super::plan;
use super::progress::Progress;
use super::spec::ProjectSpec;
use super::up::UpOptions;
use anyhow::Result;
use bollard::query_parameters::KillContainerOptionsBuilder;
use bollard::Docker;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::process::ExitCode;
use tokio::sync::broadcast::{self, error::RecvError};

/// Runs the attached phase of `up`.
pub async fn run(
    docker: &Docker,
    project: &ProjectSpec,
    started: &HashMap<String, Vec<Replica>>,
    mut events: broadcast::Receiver<ContainerEvent>,
    args: &UpOptions,
) -> Result<ExitCode> {
    let all: Vec<(String, Replica)> = started
        .iter()
        .flat_map(|(s, rs)| rs.iter().map(move |r| (s.clone(), r.clone())))
        .collect();
    let attached = attach_set(project, args)?;
    let log_tasks = spawn_logs(docker, project, &all, &attached, args);
    // As Docker Compose's monitor: `up` lasts while the named services' containers run (all services' when
    // none are named, then only the attached ones).
    let monitored = |service: &str| {
        if args.services.is_empty() {
            attached.contains(service)
        } else {
            args.services.iter().any(|s| s == service)
        }
    };
    let mut running: HashSet<String> = all
        .iter()
        .filter(|(s, _)| monitored(s))
        .map(|(_, r)| r.id.clone())
        .collect();
    let names: HashMap<String, (String, String)> = all
        .iter()
        .map(|(s, r)| (r.id.clone(), (s.clone(), r.name.clone())))
        .collect();
    let abort = args.abort_on_container_exit || args.abort_on_container_failure || args.exit_code_from.is_some();
    let progress = Progress::new();
    let mut stopping = false;
    let mut stop_tasks = Vec::new();
    let mut code: Option<i64> = None;
    // One listener for the whole run: a fresh ctrl_c() per iteration could see the same press twice.
    let mut interrupts = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    while !running.is_empty() {
        tokio::select! {
            _ = interrupts.recv() => {
                if stopping {
                    kill_all(docker, &all).await;
                    return Ok(ExitCode::from(130));
                }
                stopping = true;
                progress.note("Gracefully stopping... (press Ctrl+C again to force)");
                stop_tasks = spawn_stop_all(docker, &all, args.timeout, &progress);
                code.get_or_insert(130);
            }
            ev = events.recv() => {
                let ev = match ev {
                    Ok(ev) => ev,
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => break,
                };
                if let Some(reason) = ev.stream_error {
                    // Without events berth cannot tell when containers exit: stop the stack rather than hang.
                    progress.note(&format!("{reason}; stopping the stack"));
                    for task in spawn_stop_all(docker, &all, args.timeout, &progress) {
                        let _ = task.await;
                    }
                    anyhow::bail!("{reason}");
                }
                let Some((service, name)) = names.get(&ev.id) else { continue };
                match ev.action.as_str() {
                    "start" if monitored(service) => { running.insert(ev.id.clone()); }
                    "die" if monitored(service) => {
                        running.remove(&ev.id);
                        let exit = ev.exit_code.unwrap_or(-1);
                        progress.note(&format!("{name} exited with code {exit}"));
                        // --abort-on-container-failure lets containers that exit 0 go without stopping the rest.
                        if abort && !(args.abort_on_container_failure && exit == 0) {
                            let from = args.exit_code_from.as_deref();
                            if from.is_none_or(|s| s == service) && code.is_none() {
                                code = Some(exit);
                            }
                            if !stopping {
                                stopping = true;
                                progress.note("Aborting on container exit...");
                                stop_tasks = spawn_stop_all(docker, &all, args.timeout, &progress);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    // Exit only once the engine reports every stop done, as `docker compose` does.
    for task in stop_tasks {
        let _ = task.await;
    }
    // The watched containers' streams end with them; those of others still running (--attach-dependencies)
    // would follow forever: they are cut, as Compose stops printing when `up` returns.
    for (service, task) in log_tasks {
        if stopping || monitored(&service) {
            let _ = task.await;
        } else {
            task.abort();
        }
    }
    let code = code.unwrap_or(0);
    Ok(ExitCode::from(u8::try_from(code.rem_euclid(256)).unwrap_or(1)))
}

/// The services whose output attached `up` streams, as Docker Compose chooses them: `--attach` as given (each
/// must be a service of the project), else the named services (all when none are) with
/// `--attach-dependencies` adding what they depend on, skipping `attach: false` services; then `--no-attach`
/// removed.
pub fn attach_set(project: &ProjectSpec, args: &UpOptions) -> Result<BTreeSet<String>> {
    let mut set: BTreeSet<String> = if !args.attach.is_empty() {
        let unknown: Vec<&str> = args
            .attach
            .iter()
            .filter(|s| project.service(s).is_none())
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            anyhow::bail!("cannot attach to services not included in up: {}", unknown.join(", "));
        }
        args.attach.iter().cloned().collect()
    } else {
        plan::select(project, &args.services, !args.attach_dependencies)?
            .into_iter()
            .filter(|s| project.service(s).is_none_or(|svc| svc.attach))
            .collect()
    };
    for s in &args.no_attach {
        set.remove(s);
    }
    Ok(set)
}

/// One log stream per attached container, with its service.
type LogTasks = Vec<(String, tokio::task::JoinHandle<Result<()>>)>;

fn spawn_logs(
    docker: &Docker,
    project: &ProjectSpec,
    all: &[(String, Replica)],
    attach: &BTreeSet<String>,
    args: &UpOptions,
) -> LogTasks {
    let attached: Vec<&(String, Replica)> = all.iter().filter(|(s, _)| attach.contains(s)).collect();
    let style = LogStyle::new(
        attached.iter().map(|(_, r)| r.name.as_str()),
        args.no_color,
        args.no_log_prefix,
    );
    let writer = LineWriter::default();
    let now = i32::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    )
    .unwrap_or(0);
    attached
        .into_iter()
        .map(|(service, replica)| {
            let colour_index = project.services.iter().position(|s| &s.name == service).unwrap_or(0);
            let target = LogTarget {
                id: replica.id.clone(),
                name: replica.name.clone(),
                colour_index,
            };
            // Fresh containers show everything; ones already running only what comes from now on.
            let query = LogQuery {
                follow: true,
                // The engine's timestamps (RFC 3339, nanoseconds) after the prefix: Compose's `--timestamps` line.
                timestamps: args.timestamps,
                since: (!replica.fresh && replica.running).then_some(now),
                ..Default::default()
            };
            let task = tokio::spawn(log_stream::stream(
                docker.clone(),
                target,
                query,
                style.clone(),
                writer.clone(),
            ));
            (service.clone(), task)
        })
        .collect()
}

fn spawn_stop_all(
    docker: &Docker,
    all: &[(String, Replica)],
    timeout: Option<i32>,
    progress: &Progress,
) -> Vec<tokio::task::JoinHandle<()>> {
    all.iter()
        .map(|(_, replica)| {
            let (docker, replica, progress) = (docker.clone(), replica.clone(), progress.clone());
            tokio::spawn(async move {
                if let Err(err) = converge::stop(&docker, &replica.id, &replica.name, timeout, &progress).await {
                    progress.note(&format!("{err:#}"));
                }
            })
        })
        .collect()
}

async fn kill_all(docker: &Docker, all: &[(String, Replica)]) {
    let kills = all.iter().map(|(_, r)| {
        docker.kill_container(
            &r.id,
            Some(KillContainerOptionsBuilder::new().signal("SIGKILL").build()),
        )
    });
    let _ = futures::future::join_all(kills).await;
}
