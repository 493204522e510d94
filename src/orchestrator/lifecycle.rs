//! `start`, `stop`, `restart`, `kill`, `rm`, `pause`, `unpause` on the project's existing containers.

use super::converge;
use super::down::{in_dependency_order, Order};
use super::labels;
use super::progress::Progress;
use super::resources;
use anyhow::{Context, Result};
use bollard::models::{ContainerSummary, ContainerSummaryStateEnum};
use bollard::query_parameters::{
    KillContainerOptionsBuilder, RemoveContainerOptionsBuilder, RestartContainerOptionsBuilder,
};
use bollard::Docker;
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

/// Services named on the command line, and a stop timeout.
#[derive(Debug, Clone, Default)]
pub struct TimeoutOptions {
    /// Specify a shutdown timeout in seconds.
    pub timeout: Option<i32>,
    /// Services (default: all).
    pub services: Vec<String>,
}

/// Services named on the command line.
#[derive(Debug, Clone, Default)]
pub struct ServicesOptions {
    /// Services (default: all).
    pub services: Vec<String>,
}

/// Flags of `kill`.
#[derive(Debug, Clone, Default)]
pub struct KillOptions {
    /// SIGNAL to send to the container.
    pub signal: String,
    /// Services (default: all).
    pub services: Vec<String>,
}

/// Flags of `rm`.
#[derive(Debug, Clone, Default)]
pub struct RmOptions {
    /// Don't ask to confirm removal.
    pub force: bool,
    /// Stop the containers, if required, before removing.
    pub stop: bool,
    /// Remove any anonymous volumes attached to containers.
    pub volumes: bool,
    /// Services (default: all).
    pub services: Vec<String>,
}

async fn selected(docker: &Docker, project: &str, services: &[String]) -> Result<Vec<ContainerSummary>> {
    let mut list = resources::list_containers(docker, project, None, true).await?;
    list.retain(|c| services.is_empty() || services.contains(&resources::identity(c).0));
    list.sort_by_key(resources::identity);
    Ok(list)
}

fn id(c: &ContainerSummary) -> &str {
    c.id.as_deref().unwrap_or_default()
}

/// `stop`: dependents first.
pub async fn stop(docker: &Docker, project: &str, args: &TimeoutOptions) -> Result<ExitCode> {
    let list = selected(docker, project, &args.services).await?;
    let progress = Progress::new();
    let progress = &progress;
    in_dependency_order(&list, Order::Stop, |c| async move {
        converge::stop(docker, id(c), &resources::display_name(c), args.timeout, progress).await
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}

/// `start`: dependencies first.
pub async fn start(docker: &Docker, project: &str, args: &ServicesOptions) -> Result<ExitCode> {
    let list = selected(docker, project, &args.services).await?;
    let progress = Progress::new();
    let progress = &progress;
    in_dependency_order(&list, Order::Start, |c| async move {
        let replica = converge::Replica {
            id: id(c).to_owned(),
            name: resources::display_name(c),
            fresh: false,
            running: c.state == Some(ContainerSummaryStateEnum::RUNNING),
        };
        converge::start(docker, &replica, progress).await
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}

/// Flags of `restart`.
#[derive(Debug, Clone, Default)]
pub struct RestartOptions {
    /// Specify a shutdown timeout in seconds.
    pub timeout: Option<i32>,
    /// Restart only the named services, not the services that depend on them.
    pub no_deps: bool,
    /// Services (default: all).
    pub services: Vec<String>,
}

/// The services `restart` acts on, as Docker Compose picks them: all when none are named; else the named
/// ones and (unless `no_deps`), transitively, the services whose `depends_on` entry on one of them says
/// `restart: true`. `deps` is each service's `depends_on` label.
pub fn restart_selection(
    deps: &[(String, Vec<labels::DependsOnLabel>)],
    named: &[String],
    no_deps: bool,
) -> Vec<String> {
    if named.is_empty() {
        return deps.iter().map(|(s, _)| s.clone()).collect();
    }
    let mut out: Vec<String> = named.to_vec();
    if no_deps {
        return out;
    }
    loop {
        let more: Vec<String> = deps
            .iter()
            .filter(|(s, _)| !out.contains(s))
            .filter(|(_, d)| d.iter().any(|d| d.restart && out.contains(&d.service)))
            .map(|(s, _)| s.clone())
            .collect();
        if more.is_empty() {
            return out;
        }
        out.extend(more);
    }
}

/// `restart`: dependencies first, as Compose restarts in dependency order.
pub async fn restart(docker: &Docker, project: &str, args: &RestartOptions) -> Result<ExitCode> {
    let mut list = selected(docker, project, &[]).await?;
    let deps: Vec<(String, Vec<labels::DependsOnLabel>)> = list
        .iter()
        .map(|c| {
            let parsed = labels::get(&c.labels, labels::DEPENDS_ON)
                .map(labels::parse_depends_on)
                .unwrap_or_default();
            (resources::identity(c).0, parsed)
        })
        .collect();
    let wanted = restart_selection(&deps, &args.services, args.no_deps);
    list.retain(|c| wanted.contains(&resources::identity(c).0));
    let progress = Progress::new();
    let progress = &progress;
    in_dependency_order(&list, Order::Start, |c| async move {
        let name = resources::display_name(c);
        progress.set("Container", &name, "Restarting", false);
        let mut options = RestartContainerOptionsBuilder::new();
        if let Some(t) = args.timeout {
            options = options.t(t);
        }
        docker
            .restart_container(id(c), Some(options.build()))
            .await
            .with_context(|| format!("restarting {name}"))?;
        progress.set("Container", &name, "Started", true);
        anyhow::Ok(())
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}

/// `kill`: running containers only.
pub async fn kill(docker: &Docker, project: &str, args: &KillOptions) -> Result<ExitCode> {
    let mut list = selected(docker, project, &args.services).await?;
    list.retain(|c| c.state == Some(ContainerSummaryStateEnum::RUNNING));
    let progress = Progress::new();
    let kills = list.iter().map(|c| async {
        let name = resources::display_name(c);
        progress.set("Container", &name, "Killing", false);
        let options = KillContainerOptionsBuilder::new().signal(&args.signal).build();
        docker
            .kill_container(id(c), Some(options))
            .await
            .with_context(|| format!("killing {name}"))?;
        progress.set("Container", &name, "Killed", true);
        anyhow::Ok(())
    });
    futures::future::try_join_all(kills).await?;
    Ok(ExitCode::SUCCESS)
}

/// `rm`: stopped containers (all of them after `-s`).
pub async fn rm(docker: &Docker, project: &str, args: &RmOptions) -> Result<ExitCode> {
    let progress = Progress::new();
    let mut list = selected(docker, project, &args.services).await?;
    if args.stop {
        for c in list
            .iter()
            .filter(|c| c.state == Some(ContainerSummaryStateEnum::RUNNING))
        {
            converge::stop(docker, id(c), &resources::display_name(c), None, &progress).await?;
        }
        list = selected(docker, project, &args.services).await?;
    }
    list.retain(|c| c.state != Some(ContainerSummaryStateEnum::RUNNING));
    if list.is_empty() {
        eprintln!("No stopped containers");
        return Ok(ExitCode::SUCCESS);
    }
    let names: Vec<String> = list.iter().map(resources::display_name).collect();
    if !args.force
        && std::io::stdin().is_terminal()
        && !confirm(&format!("Going to remove {}\n? Are you sure? [yN] ", names.join(", ")))?
    {
        return Ok(ExitCode::SUCCESS);
    }
    for (c, name) in list.iter().zip(&names) {
        progress.set("Container", name, "Removing", false);
        let options = RemoveContainerOptionsBuilder::new().v(args.volumes).force(true).build();
        docker
            .remove_container(id(c), Some(options))
            .await
            .with_context(|| format!("removing {name}"))?;
        progress.set("Container", name, "Removed", true);
    }
    Ok(ExitCode::SUCCESS)
}

fn confirm(question: &str) -> Result<bool> {
    eprint!("{question}");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// `pause` (or `unpause` when `resume`).
pub async fn pause(docker: &Docker, project: &str, args: &ServicesOptions, resume: bool) -> Result<ExitCode> {
    let list = selected(docker, project, &args.services).await?;
    let progress = Progress::new();
    for c in &list {
        let name = resources::display_name(c);
        if resume {
            docker
                .unpause_container(id(c))
                .await
                .with_context(|| format!("unpausing {name}"))?;
            progress.set("Container", &name, "Unpaused", true);
        } else {
            docker
                .pause_container(id(c))
                .await
                .with_context(|| format!("pausing {name}"))?;
            progress.set("Container", &name, "Paused", true);
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::restart_selection;
    use crate::orchestrator::labels::parse_depends_on;

    #[test]
    fn restart_takes_dependents_that_ask_for_it_unless_no_deps() {
        // web restarts with db (restart: true), worker does not (restart: false); proxy follows web.
        let deps = vec![
            ("db".to_owned(), vec![]),
            ("web".to_owned(), parse_depends_on("db:service_started:true")),
            ("worker".to_owned(), parse_depends_on("db:service_started:false")),
            ("proxy".to_owned(), parse_depends_on("web:service_started:true")),
        ];
        let named = ["db".to_owned()];
        let mut got = restart_selection(&deps, &named, false);
        got.sort();
        assert_eq!(got, ["db", "proxy", "web"]);
        assert_eq!(restart_selection(&deps, &named, true), ["db"]);
        assert_eq!(restart_selection(&deps, &[], true).len(), 4);
    }
}
