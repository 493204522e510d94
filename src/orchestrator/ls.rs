//! `ls`: projects found on the engine, from the labels of their containers.

use super::format::tabwriter::TabWriter;
use super::labels;
use anyhow::{bail, Context, Result};
use bollard::query_parameters::ListContainersOptionsBuilder;
use bollard::Docker;
use std::collections::{BTreeMap, HashMap};
use std::process::ExitCode;

/// Flags of `ls`.
#[derive(Debug, Clone, Default)]
pub struct LsOptions {
    /// Show all stopped Compose projects.
    pub all: bool,
    /// Format the output: table or json.
    pub format: String,
    /// Only display project names.
    pub quiet: bool,
    /// `name=PATTERN` (a regular expression, as Docker's filters match).
    pub filter: Option<String>,
}

#[derive(Default)]
struct ProjectRow {
    states: BTreeMap<String, usize>,
    config_files: String,
}

/// Runs `ls`.
pub async fn run(docker: &Docker, args: &LsOptions) -> Result<ExitCode> {
    if !matches!(args.format.as_str(), "table" | "json") {
        bail!("--format {:?}: expected table or json", args.format);
    }
    let filters = HashMap::from([("label".to_owned(), vec![labels::PROJECT.to_owned()])]);
    let options = ListContainersOptionsBuilder::new()
        .all(args.all)
        .filters(&filters)
        .build();
    let list = docker
        .list_containers(Some(options))
        .await
        .context("listing containers")?;
    let name_filter = match args.filter.as_deref() {
        None => None,
        Some(f) => match f.split_once('=') {
            Some(("name", pattern)) => {
                Some(regex::Regex::new(pattern).with_context(|| format!("--filter {f:?}: not a regular expression"))?)
            }
            _ => bail!("invalid filter {f:?}: only name=PATTERN is supported"),
        },
    };
    let mut projects: BTreeMap<String, ProjectRow> = BTreeMap::new();
    for c in &list {
        let Some(project) = labels::get(&c.labels, labels::PROJECT) else {
            continue;
        };
        if name_filter.as_ref().is_some_and(|re| !re.is_match(project)) {
            continue;
        }
        let row = projects.entry(project.to_owned()).or_default();
        let state = c.state.map(|s| s.to_string()).unwrap_or_else(|| "unknown".to_owned());
        *row.states.entry(state).or_default() += 1;
        if let Some(files) = labels::get(&c.labels, labels::CONFIG_FILES) {
            row.config_files = files.to_owned();
        }
    }
    let status = |row: &ProjectRow| {
        row.states
            .iter()
            .map(|(s, n)| format!("{s}({n})"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if args.quiet {
        projects.keys().for_each(|p| println!("{p}"));
    } else if args.format == "json" {
        let rows: Vec<_> = projects
            .iter()
            .map(
                |(name, row)| serde_json::json!({"Name": name, "Status": status(row), "ConfigFiles": row.config_files}),
            )
            .collect();
        println!("{}", serde_json::to_string(&rows)?);
    } else {
        let mut table = TabWriter::new(20, 3);
        table.row(&["NAME", "STATUS", "CONFIG FILES"]);
        for (name, row) in &projects {
            table.row(&[name.clone(), status(row), row.config_files.clone()]);
        }
        print!("{}", table.render());
    }
    Ok(ExitCode::SUCCESS)
}
