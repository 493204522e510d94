//! `ps`: the project's containers as `docker compose ps` prints them: its table, its JSON lines, a Go template,
//! ids or service names.

use super::format::human::{self, Port};
use super::format::tabwriter::TabWriter;
use super::format::template::{self, Format, Row};
use super::labels;
use super::resources;
use anyhow::{bail, Result};
use bollard::models::ContainerSummary;
use bollard::Docker;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::process::ExitCode;

/// Flags of `ps`.
#[derive(Debug, Clone, Default)]
pub struct PsOptions {
    /// Show all stopped containers (including those created by the run command).
    pub all: bool,
    /// table, json or a Go template.
    pub format: String,
    /// Only display IDs.
    pub quiet: bool,
    /// Display services.
    pub services: bool,
    /// Filter services by status: paused, restarting, removing, running, dead, created, exited.
    pub status: Vec<String>,
    /// Filters as `KEY=VALUE` (only `status`, as in Docker Compose).
    pub filter: Option<String>,
    /// Don't truncate output.
    pub no_trunc: bool,
    /// Include containers of services the project no longer declares.
    pub orphans: bool,
    /// Services to show (default: all).
    pub service_names: Vec<String>,
}

/// Runs `ps`; `declared` are the project's services when its model is known (for `--orphans=false`).
pub async fn run(docker: &Docker, project: &str, declared: Option<&[String]>, args: &PsOptions) -> Result<ExitCode> {
    let format = Format::parse(&args.format)?;
    let mut status = args.status.clone();
    if let Some(filter) = &args.filter {
        match filter.split_once('=') {
            Some(("status", value)) => status.push(value.to_owned()),
            _ => bail!("invalid filter {filter:?}: only status=VALUE is supported"),
        }
    }
    let mut list = if args.all {
        resources::list_all_project_containers(docker, project).await?
    } else {
        resources::list_containers(docker, project, None, false).await?
    };
    list.retain(|c| {
        let service = resources::identity(c).0;
        (args.service_names.is_empty() || args.service_names.contains(&service))
            && (status.is_empty() || status.contains(&state(c)))
            && (args.orphans || declared.is_none_or(|d| d.contains(&service)))
    });
    list.sort_by_key(display_name_key);
    let trunc = !args.no_trunc;
    if args.quiet {
        list.iter()
            .filter_map(|c| c.id.as_deref())
            .for_each(|id| println!("{id}"));
    } else if args.services {
        let names: BTreeSet<String> = list.iter().map(|c| resources::identity(c).0).collect();
        names.iter().for_each(|n| println!("{n}"));
    } else {
        let rows: Vec<Row> = list.iter().map(|c| row(c, trunc)).collect();
        print!("{}", render(&format, &rows)?);
    }
    Ok(ExitCode::SUCCESS)
}

fn display_name_key(c: &ContainerSummary) -> String {
    resources::display_name(c)
}

fn render(format: &Format, rows: &[Row]) -> Result<String> {
    Ok(match format {
        Format::Json => rows
            .iter()
            .map(|r| serde_json::to_string(&r.fields).map(|s| s + "\n"))
            .collect::<Result<String, _>>()?,
        Format::Table => {
            let mut t = TabWriter::new(10, 3);
            t.row(&["NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS"]);
            for r in rows {
                let f = |k: &str| r.fields.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
                t.row(&[
                    f("Name"),
                    f("Image"),
                    f("Command"),
                    f("Service"),
                    f("RunningFor"),
                    f("Status"),
                    f("Ports"),
                ]);
            }
            t.render()
        }
        Format::Template { table, template } => template::render(template, *table, &headers(), rows)?,
    })
}

/// Header of each field in a `table` template, as the docker CLI names them.
fn headers() -> Row {
    let mut fields = Map::new();
    for (k, v) in [
        ("Command", "COMMAND"),
        ("CreatedAt", "CREATED AT"),
        ("ExitCode", "EXIT CODE"),
        ("Health", "HEALTH"),
        ("ID", "CONTAINER ID"),
        ("Image", "IMAGE"),
        ("Labels", "LABELS"),
        ("LocalVolumes", "LOCAL VOLUMES"),
        ("Mounts", "MOUNTS"),
        ("Name", "NAME"),
        ("Names", "NAMES"),
        ("Networks", "NETWORKS"),
        ("Ports", "PORTS"),
        ("Project", "PROJECT"),
        ("Publishers", "PUBLISHERS"),
        ("RunningFor", "CREATED"),
        ("Service", "SERVICE"),
        ("Size", "SIZE"),
        ("State", "STATE"),
        ("Status", "STATUS"),
    ] {
        fields.insert(k.to_owned(), Value::String(v.to_owned()));
    }
    Row {
        fields,
        labels: Default::default(),
    }
}

fn state(c: &ContainerSummary) -> String {
    c.state.map(|s| s.to_string()).unwrap_or_default()
}

/// Published and exposed ports of a listed container.
pub fn port_list(c: &ContainerSummary) -> Vec<Port> {
    c.ports
        .iter()
        .flatten()
        .map(|p| Port {
            private: p.private_port,
            ip: p.ip.clone().unwrap_or_default(),
            public: p.public_port.unwrap_or(0),
            proto: p.typ.map(|t| t.to_string()).unwrap_or_else(|| "tcp".to_owned()),
        })
        .collect()
}

/// Published ports as the docker CLI shows them ("0.0.0.0:8080->80/tcp, 9000/tcp").
pub fn ports(c: &ContainerSummary) -> String {
    human::ports(&port_list(c))
}

/// The exit code `docker ps` shows in an exited container's status ("Exited (3) 2 seconds ago").
fn exit_code(status: &str) -> i64 {
    status
        .strip_prefix("Exited (")
        .and_then(|s| s.split_once(')'))
        .and_then(|(code, _)| code.parse().ok())
        .unwrap_or(0)
}

/// The container's health: the list's field when the engine sends it, else the status text's suffix.
fn health(c: &ContainerSummary, status: &str) -> String {
    if let Some(h) = c.health.as_ref().and_then(|h| h.status) {
        return h.to_string();
    }
    match () {
        _ if status.ends_with("(healthy)") => "healthy",
        _ if status.ends_with("(unhealthy)") => "unhealthy",
        _ if status.ends_with("(health: starting)") => "starting",
        _ => "",
    }
    .to_owned()
}

/// One container as Docker Compose's `ps` formatter sees it (keys in the order its JSON has them).
fn row(c: &ContainerSummary, trunc: bool) -> Row {
    let (service, _) = resources::identity(c);
    let id = c.id.clone().unwrap_or_default();
    let command = c.command.clone().unwrap_or_default();
    let created = c.created.unwrap_or(0);
    let mounts = c.mounts.as_deref().unwrap_or_default();
    let mount_names: Vec<String> = mounts
        .iter()
        .map(|m| {
            let name = m
                .name
                .clone()
                .filter(|n| !n.is_empty())
                .or_else(|| m.source.clone())
                .unwrap_or_default();
            if trunc {
                human::ellipsis(&name, 15)
            } else {
                name
            }
        })
        .collect();
    let mut networks: Vec<String> = c
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.as_ref())
        .map(|n| n.keys().cloned().collect())
        .unwrap_or_default();
    networks.sort();
    let mut label_pairs: Vec<String> = c.labels.iter().flatten().map(|(k, v)| format!("{k}={v}")).collect();
    label_pairs.sort();
    let status = c.status.clone().unwrap_or_default();
    let name = resources::display_name(c);
    let fields = json!({
        "Command": human::quote(&if trunc { human::ellipsis(&command, 20) } else { command }),
        "CreatedAt": created_at(created),
        "ExitCode": exit_code(&status),
        "Health": health(c, &status),
        "ID": if trunc { id.chars().take(12).collect() } else { id },
        "Image": c.image.clone().unwrap_or_default(),
        "Labels": label_pairs.join(","),
        "LocalVolumes": mounts.iter().filter(|m| m.driver.as_deref() == Some("local")).count().to_string(),
        "Mounts": mount_names.join(","),
        "Name": name.clone(),
        "Names": name,
        "Networks": networks.join(","),
        "Ports": ports(c),
        "Project": labels::get(&c.labels, labels::PROJECT).unwrap_or_default(),
        "Publishers": publishers(c),
        "RunningFor": format!("{} ago", human::duration(human::age(created))),
        "Service": service,
        "Size": "0B",
        "State": state(c),
        "Status": status,
    });
    Row {
        fields: match fields {
            Value::Object(map) => map,
            _ => Map::new(),
        },
        labels: c.labels.clone().unwrap_or_default().into_iter().collect(),
    }
}

/// Compose's port publishers: one per listed port, published ones with their address.
fn publishers(c: &ContainerSummary) -> Value {
    let mut list = port_list(c);
    list.sort_by(|a, b| (a.private, &a.proto, &a.ip).cmp(&(b.private, &b.proto, &b.ip)));
    Value::Array(
        list.into_iter()
            .map(|p| json!({"URL": p.ip, "TargetPort": p.private, "PublishedPort": p.public, "Protocol": p.proto}))
            .collect(),
    )
}

/// Go's `time.Unix(created, 0).String()` on a host in UTC.
fn created_at(created: i64) -> String {
    chrono::DateTime::from_timestamp(created, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string())
        .unwrap_or_default()
}
