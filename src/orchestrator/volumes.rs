//! `volumes`: the project's volumes as `docker compose volumes` lists them (the docker CLI's volume table,
//! `--format json` or a Go template, `-q` for names), all of them or those the named services mount.

use super::format::template::{self, Format, Row};
use super::labels;
use super::resources;
use anyhow::{Context, Result};
use bollard::models::Volume;
use bollard::query_parameters::ListVolumesOptionsBuilder;
use bollard::Docker;
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;
use std::process::ExitCode;

/// Flags of `volumes`.
#[derive(Debug, Clone, Default)]
pub struct VolumesOptions {
    /// table, json or a Go template.
    pub format: String,
    /// Only display volume names.
    pub quiet: bool,
    /// Services whose volumes to show (default: all of the project's).
    pub services: Vec<String>,
}

/// Runs `volumes`.
pub async fn run(docker: &Docker, project: &str, args: &VolumesOptions) -> Result<ExitCode> {
    let format = Format::parse(&args.format)?;
    let filters = labels::project_filter(project);
    let options = ListVolumesOptionsBuilder::new().filters(&filters).build();
    let mut list = docker
        .list_volumes(Some(options))
        .await
        .context("listing volumes")?
        .volumes
        .unwrap_or_default();
    if !args.services.is_empty() {
        let used = mounted_by(docker, project, &args.services).await?;
        list.retain(|v| used.contains(&v.name));
    }
    list.sort_by(|a, b| a.name.cmp(&b.name));
    if args.quiet {
        list.iter().for_each(|v| println!("{}", v.name));
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Row> = list.iter().map(row).collect();
    let text = match format {
        Format::Json => rows
            .iter()
            .map(|r| serde_json::to_string(&r.fields).map(|s| s + "\n"))
            .collect::<Result<String, _>>()?,
        Format::Table => {
            let t = template::Template::parse("{{.Driver}}\t{{.Name}}")?;
            template::render(&t, true, &headers(), &rows)?
        }
        Format::Template { table, template } => template::render(&template, table, &headers(), &rows)?,
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// Names of the volumes the services' containers mount.
async fn mounted_by(docker: &Docker, project: &str, services: &[String]) -> Result<BTreeSet<String>> {
    let containers = resources::list_all_project_containers(docker, project).await?;
    Ok(containers
        .iter()
        .filter(|c| services.contains(&resources::identity(c).0))
        .flat_map(|c| c.mounts.iter().flatten())
        .filter_map(|m| m.name.clone())
        .collect())
}

fn headers() -> Row {
    let mut fields = Map::new();
    for (k, v) in [
        ("Availability", "AVAILABILITY"),
        ("Driver", "DRIVER"),
        ("Group", "GROUP"),
        ("Labels", "LABELS"),
        ("Links", "LINKS"),
        ("Mountpoint", "MOUNTPOINT"),
        ("Name", "VOLUME NAME"),
        ("Scope", "SCOPE"),
        ("Size", "SIZE"),
        ("Status", "STATUS"),
    ] {
        fields.insert(k.to_owned(), Value::String(v.to_owned()));
    }
    Row {
        fields,
        labels: Default::default(),
    }
}

/// One volume as the docker CLI's volume formatter sees it.
fn row(v: &Volume) -> Row {
    let mut pairs: Vec<String> = v.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.sort();
    let fields = json!({
        "Availability": "N/A",
        "Driver": v.driver,
        "Group": "N/A",
        "Labels": pairs.join(","),
        "Links": "N/A",
        "Mountpoint": v.mountpoint,
        "Name": v.name,
        "Scope": v.scope.map(|s| s.to_string()).unwrap_or_else(|| "local".to_owned()),
        "Size": "N/A",
        "Status": "N/A",
    });
    Row {
        fields: match fields {
            Value::Object(m) => m,
            _ => Map::new(),
        },
        labels: v.labels.clone().into_iter().collect(),
    }
}
