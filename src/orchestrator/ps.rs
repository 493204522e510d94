//! `ps`: the project's containers as a table, JSON lines, ids or service names.

use super::labels;
use super::resources;
use anyhow::{bail, Result};
use bollard::models::ContainerSummary;
use bollard::Docker;
use comfy_table::{presets::NOTHING, Table};
use std::collections::BTreeSet;
use std::process::ExitCode;

/// Flags of `ps`.
#[derive(Debug, Clone, Default)]
pub struct PsOptions {
    /// Show all stopped containers (including those created by the run command).
    pub all: bool,
    /// Format the output: table or json.
    pub format: String,
    /// Only display IDs.
    pub quiet: bool,
    /// Display services.
    pub services: bool,
    /// Filter services by status: paused, restarting, removing, running, dead, created, exited.
    pub status: Vec<String>,
    /// Services to show (default: all).
    pub service_names: Vec<String>,
}

/// Runs `ps`.
pub async fn run(docker: &Docker, project: &str, args: &PsOptions) -> Result<ExitCode> {
    if !matches!(args.format.as_str(), "table" | "json") {
        bail!("--format {:?}: expected table or json", args.format);
    }
    let mut list = if args.all {
        resources::list_all_project_containers(docker, project).await?
    } else {
        resources::list_containers(docker, project, None, false).await?
    };
    list.retain(|c| {
        let service = resources::identity(c).0;
        (args.service_names.is_empty() || args.service_names.contains(&service))
            && (args.status.is_empty() || args.status.contains(&state(c)))
    });
    list.sort_by_key(|c| (resources::identity(c).0, resources::identity(c).1));
    if args.quiet {
        list.iter()
            .filter_map(|c| c.id.as_deref())
            .for_each(|id| println!("{id}"));
    } else if args.services {
        let names: BTreeSet<String> = list.iter().map(|c| resources::identity(c).0).collect();
        names.iter().for_each(|n| println!("{n}"));
    } else if args.format == "json" {
        for c in &list {
            println!("{}", serde_json::to_string(&json_row(c))?);
        }
    } else {
        print_table(&list);
    }
    Ok(ExitCode::SUCCESS)
}

fn state(c: &ContainerSummary) -> String {
    c.state.map(|s| s.to_string()).unwrap_or_default()
}

/// Published ports as `ip:public->private/proto`, like `docker ps`.
pub fn ports(c: &ContainerSummary) -> String {
    let mut out: Vec<String> = c
        .ports
        .iter()
        .flatten()
        .map(|p| {
            let proto = p.typ.map(|t| t.to_string()).unwrap_or_else(|| "tcp".to_owned());
            match (p.ip.as_deref(), p.public_port) {
                (Some(ip), Some(public)) => format!("{ip}:{public}->{}/{proto}", p.private_port),
                _ => format!("{}/{proto}", p.private_port),
            }
        })
        .collect();
    out.dedup();
    out.join(", ")
}

fn json_row(c: &ContainerSummary) -> serde_json::Value {
    let (service, number) = resources::identity(c);
    serde_json::json!({
        "ID": c.id, "Name": resources::display_name(c), "Image": c.image, "Command": c.command,
        "Project": labels::get(&c.labels, labels::PROJECT), "Service": service, "Number": number,
        "Created": c.created, "State": state(c), "Status": c.status,
        "Health": c.health.as_ref().and_then(|h| h.status).map(|s| s.to_string()).unwrap_or_default(),
        "Publishers": c.ports, "Ports": ports(c), "Labels": c.labels,
    })
}

fn print_table(list: &[ContainerSummary]) {
    let mut table = Table::new();
    table.load_preset(NOTHING);
    table.set_header(["NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS"]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    for c in list {
        let command = c.command.clone().unwrap_or_default();
        table.add_row([
            resources::display_name(c),
            c.image.clone().unwrap_or_default(),
            format!("{:?}", truncate(&command, 20)),
            resources::identity(c).0,
            ago(now - c.created.unwrap_or(now)),
            c.status.clone().unwrap_or_default(),
            ports(c),
        ]);
    }
    println!("{table}");
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Human age of something created `secs` ago.
pub fn ago(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{} seconds ago", s.max(1)),
        s if s < 3600 => format!("{} minutes ago", s / 60),
        s if s < 86400 => format!("{} hours ago", s / 3600),
        s => format!("{} days ago", s / 86400),
    }
}
