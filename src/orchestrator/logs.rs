//! `logs`: the project's container logs, prefixed and coloured per service, optionally followed.

use super::log_stream::{self, LineWriter, LogQuery, LogStyle, LogTarget};
use super::resources;
use anyhow::{Context, Result};
use bollard::Docker;
use std::process::ExitCode;

/// Flags of `logs`.
#[derive(Debug, Clone, Default)]
pub struct LogsOptions {
    /// Follow log output.
    pub follow: bool,
    /// Show timestamps.
    pub timestamps: bool,
    /// Number of lines to show from the end of the logs for each container ("all" for everything).
    pub tail: String,
    /// Show logs since a timestamp (Unix seconds, RFC 3339) or a duration back from now (42s, 5m, 1h).
    pub since: Option<String>,
    /// Show logs before a timestamp or a duration back from now.
    pub until: Option<String>,
    /// Produce monochrome output.
    pub no_color: bool,
    /// Don't print prefix in logs.
    pub no_log_prefix: bool,
    /// Index of the container if the service has multiple replicas.
    pub index: Option<u32>,
    /// Services (default: all).
    pub services: Vec<String>,
}

/// Parses a `--since`/`--until` value as the docker CLI does: Unix seconds, an RFC 3339 time, or a Go duration
/// back from `now` (`10s`, `5m`, `1h30m`).
pub fn parse_since(value: &str, now: i64) -> Result<i32> {
    let secs = if let Ok(abs) = value.parse::<i64>() {
        abs
    } else if let Ok(t) = chrono::DateTime::parse_from_rfc3339(value) {
        t.timestamp()
    } else if let Some(ns) = units::parse_duration(value) {
        now - ns / 1_000_000_000
    } else {
        anyhow::bail!("{value:?}: expected Unix seconds, an RFC 3339 time or a duration like 10s, 5m, 2h")
    };
    i32::try_from(secs).with_context(|| format!("{value:?} is out of range"))
}

/// Runs `logs`.
pub async fn run(docker: &Docker, project: &str, args: &LogsOptions) -> Result<ExitCode> {
    let mut list = resources::list_all_project_containers(docker, project).await?;
    list.retain(|c| {
        let (service, number) = resources::identity(c);
        (args.services.is_empty() || args.services.contains(&service)) && args.index.is_none_or(|i| i == number)
    });
    list.sort_by_key(resources::identity);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let since = args
        .since
        .as_deref()
        .map(|s| parse_since(s, now))
        .transpose()
        .context("--since")?;
    let until = args
        .until
        .as_deref()
        .map(|s| parse_since(s, now))
        .transpose()
        .context("--until")?;
    let names: Vec<String> = list.iter().map(resources::display_name).collect();
    let style = LogStyle::new(names.iter().map(String::as_str), args.no_color, args.no_log_prefix);
    let mut services: Vec<String> = list.iter().map(|c| resources::identity(c).0).collect();
    services.dedup();
    let writer = LineWriter::default();
    let tasks: Vec<_> = list
        .iter()
        .zip(names)
        .map(|(c, name)| {
            let service = resources::identity(c).0;
            let colour_index = services.iter().position(|s| *s == service).unwrap_or(0);
            let target = LogTarget {
                id: c.id.clone().unwrap_or_default(),
                name,
                colour_index,
            };
            let query = LogQuery {
                follow: args.follow,
                timestamps: args.timestamps,
                tail: Some(args.tail.clone()),
                since,
                until,
            };
            tokio::spawn(log_stream::stream(
                docker.clone(),
                target,
                query,
                style.clone(),
                writer.clone(),
            ))
        })
        .collect();
    for task in tasks {
        task.await.context("log task failed")??;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_forms() {
        assert_eq!(parse_since("1700000000", 0).unwrap(), 1_700_000_000);
        assert_eq!(parse_since("5m", 1000).unwrap(), 700);
        assert_eq!(parse_since("1m30s", 1000).unwrap(), 910);
        assert_eq!(parse_since("2026-12-07T19:00:00Z", 0).unwrap(), 1_796_670_000);
        assert!(parse_since("5d", 1000).is_err());
        assert!(parse_since("x", 1000).is_err());
    }
}
