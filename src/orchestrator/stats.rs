//! `stats`: resource usage of the project's containers, as the docker CLI computes and prints it (CPU % from
//! the two samples of one stats answer, memory without the inactive file cache), once or refreshed every second.

use super::format::human;
use super::format::template::{self, Format, Row};
use super::resources;
use anyhow::{Context, Result};
use bollard::models::ContainerStatsResponse;
use bollard::query_parameters::StatsOptionsBuilder;
use bollard::Docker;
use futures::StreamExt;
use serde_json::{json, Map, Value};
use std::io::IsTerminal;
use std::process::ExitCode;

/// Flags of `stats`.
#[derive(Debug, Clone, Default)]
pub struct StatsOptions {
    /// Show all containers (default shows just running).
    pub all: bool,
    /// table, json or a Go template.
    pub format: String,
    /// Print one sample and exit.
    pub no_stream: bool,
    /// Do not truncate ids.
    pub no_trunc: bool,
    /// Services (default: all).
    pub services: Vec<String>,
}

const DEFAULT_TABLE: &str =
    "{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

/// Runs `stats`.
pub async fn run(docker: &Docker, project: &str, args: &StatsOptions) -> Result<ExitCode> {
    let format = Format::parse(&args.format)?;
    let clear = !args.no_stream && std::io::stdout().is_terminal();
    loop {
        let rows = sample(docker, project, args).await?;
        let text = match &format {
            Format::Json => rows
                .iter()
                .map(|r| serde_json::to_string(&r.fields).map(|s| s + "\n"))
                .collect::<Result<String, _>>()?,
            Format::Table => template::render(&template::Template::parse(DEFAULT_TABLE)?, true, &headers(), &rows)?,
            Format::Template { table, template } => template::render(template, *table, &headers(), &rows)?,
        };
        if clear {
            // As the docker CLI: clear the screen and redraw from the top.
            print!("\x1b[2J\x1b[H");
        }
        print!("{text}");
        if args.no_stream {
            return Ok(ExitCode::SUCCESS);
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

async fn sample(docker: &Docker, project: &str, args: &StatsOptions) -> Result<Vec<Row>> {
    let mut list = resources::list_containers(docker, project, None, args.all).await?;
    list.retain(|c| args.services.is_empty() || args.services.contains(&resources::identity(c).0));
    list.sort_by_key(resources::display_name);
    let reads = list.iter().map(|c| async move {
        let id = c.id.clone().unwrap_or_default();
        let options = StatsOptionsBuilder::new().stream(false).build();
        let stats = docker.stats(&id, Some(options)).next().await.transpose();
        (c, stats)
    });
    let mut rows = Vec::new();
    for (c, stats) in futures::future::join_all(reads).await {
        let name = resources::display_name(c);
        let stats = stats.with_context(|| format!("stats of {name}"))?.unwrap_or_default();
        rows.push(row(c.id.as_deref().unwrap_or_default(), &name, &stats, !args.no_trunc));
    }
    Ok(rows)
}

fn headers() -> Row {
    let mut fields = Map::new();
    for (k, v) in [
        ("BlockIO", "BLOCK I/O"),
        ("CPUPerc", "CPU %"),
        ("Container", "CONTAINER"),
        ("ID", "CONTAINER ID"),
        ("MemPerc", "MEM %"),
        ("MemUsage", "MEM USAGE / LIMIT"),
        ("Name", "NAME"),
        ("NetIO", "NET I/O"),
        ("PIDs", "PIDS"),
    ] {
        fields.insert(k.to_owned(), Value::String(v.to_owned()));
    }
    Row {
        fields,
        labels: Default::default(),
    }
}

/// CPU use between the answer's two samples, in percent of one CPU (the docker CLI's formula).
fn cpu_percent(s: &ContainerStatsResponse) -> f64 {
    let total = |c: Option<&bollard::models::ContainerCpuStats>| {
        let usage = c
            .and_then(|c| c.cpu_usage.as_ref())
            .and_then(|u| u.total_usage)
            .unwrap_or(0);
        (usage as f64, c.and_then(|c| c.system_cpu_usage).unwrap_or(0) as f64)
    };
    let (now, system_now) = total(s.cpu_stats.as_ref());
    let (before, system_before) = total(s.precpu_stats.as_ref());
    let cpus = s
        .cpu_stats
        .as_ref()
        .and_then(|c| c.online_cpus)
        .map(f64::from)
        .unwrap_or_else(|| {
            let per = s
                .cpu_stats
                .as_ref()
                .and_then(|c| c.cpu_usage.as_ref())
                .and_then(|u| u.percpu_usage.as_ref());
            per.map_or(0.0, |p| p.len() as f64)
        });
    let (cpu_delta, system_delta) = (now - before, system_now - system_before);
    if cpu_delta > 0.0 && system_delta > 0.0 {
        cpu_delta / system_delta * cpus * 100.0
    } else {
        0.0
    }
}

/// Memory in use without the inactive file cache (cgroup v1 `total_inactive_file`, v2 `inactive_file`).
fn memory_used(s: &ContainerStatsResponse) -> f64 {
    let Some(m) = &s.memory_stats else { return 0.0 };
    let usage = m.usage.unwrap_or(0);
    let stat = |k: &str| m.stats.as_ref().and_then(|st| st.get(k)).copied();
    match stat("total_inactive_file").or_else(|| stat("inactive_file")) {
        Some(v) if v < usage => (usage - v) as f64,
        _ => usage as f64,
    }
}

fn row(id: &str, name: &str, s: &ContainerStatsResponse, trunc: bool) -> Row {
    let limit = s.memory_stats.as_ref().and_then(|m| m.limit).unwrap_or(0) as f64;
    let used = memory_used(s);
    let (rx, tx) = s.networks.iter().flatten().fold((0u64, 0u64), |(r, t), (_, n)| {
        (r + n.rx_bytes.unwrap_or(0), t + n.tx_bytes.unwrap_or(0))
    });
    let (read, write) = s
        .blkio_stats
        .as_ref()
        .and_then(|b| b.io_service_bytes_recursive.as_ref())
        .into_iter()
        .flatten()
        .fold((0u64, 0u64), |(r, w), e| {
            match e.op.as_deref().map(str::to_ascii_lowercase).as_deref() {
                Some("read") => (r + e.value.unwrap_or(0), w),
                Some("write") => (r, w + e.value.unwrap_or(0)),
                _ => (r, w),
            }
        });
    let mem_percent = if limit > 0.0 { used / limit * 100.0 } else { 0.0 };
    let fields = json!({
        "BlockIO": format!("{} / {}", human::size(read as f64), human::size(write as f64)),
        "CPUPerc": format!("{:.2}%", cpu_percent(s)),
        "Container": id,
        "ID": if trunc { id.chars().take(12).collect() } else { id.to_owned() },
        "MemPerc": format!("{mem_percent:.2}%"),
        "MemUsage": format!("{} / {}", human::bytes_size(used), human::bytes_size(limit)),
        "Name": name,
        "NetIO": format!("{} / {}", human::size(rx as f64), human::size(tx as f64)),
        "PIDs": s.pids_stats.as_ref().and_then(|p| p.current).unwrap_or(0).to_string(),
    });
    Row {
        fields: match fields {
            Value::Object(m) => m,
            _ => Map::new(),
        },
        labels: Default::default(),
    }
}
