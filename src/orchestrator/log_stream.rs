//! Container log streams printed with coloured `name |` prefixes, one task per container.

use anyhow::Result;
use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptionsBuilder;
use bollard::Docker;
use futures::StreamExt;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};

/// ANSI colours cycled over services, as `docker compose` does.
const COLOURS: [&str; 6] = ["36", "33", "32", "35", "34", "31"];

/// How log lines are printed.
#[derive(Debug, Clone)]
pub struct LogStyle {
    /// Colour the prefixes.
    pub colour: bool,
    /// Print the `name |` prefix.
    pub prefix: bool,
    /// Width the names are padded to.
    pub width: usize,
}

impl LogStyle {
    /// Style for the given container names; colour only on a terminal unless refused.
    pub fn new<'a>(names: impl Iterator<Item = &'a str>, no_colour: bool, no_prefix: bool) -> Self {
        let colour = !no_colour && super::progress::use_colour(std::io::stdout().is_terminal());
        Self {
            colour,
            prefix: !no_prefix,
            width: names.map(str::len).max().unwrap_or(0),
        }
    }
}

/// One container whose logs to stream.
#[derive(Debug, Clone)]
pub struct LogTarget {
    /// Engine id.
    pub id: String,
    /// Name printed in the prefix.
    pub name: String,
    /// Index of the service, choosing its colour.
    pub colour_index: usize,
}

/// What to ask the engine for.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    /// Keep streaming.
    pub follow: bool,
    /// Engine timestamps in front of each line.
    pub timestamps: bool,
    /// Number of lines from the end, or "all".
    pub tail: Option<String>,
    /// Unix seconds to start from.
    pub since: Option<i32>,
    /// Unix seconds the output ends at.
    pub until: Option<i32>,
}

/// Serialises whole lines on stdout across tasks.
#[derive(Clone, Default)]
pub struct LineWriter {
    lock: Arc<Mutex<()>>,
}

impl LineWriter {
    fn print(&self, style: &LogStyle, target: &LogTarget, line: &str) {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = std::io::stdout().lock();
        let _ = if !style.prefix {
            writeln!(out, "{line}")
        } else if style.colour {
            let code = COLOURS[target.colour_index % COLOURS.len()];
            writeln!(
                out,
                "\x1b[{code}m{:width$} |\x1b[0m {line}",
                target.name,
                width = style.width
            )
        } else {
            writeln!(out, "{:width$} | {line}", target.name, width = style.width)
        };
    }
}

/// Streams one container's logs until it ends (or the engine closes the stream).
pub async fn stream(
    docker: Docker,
    target: LogTarget,
    query: LogQuery,
    style: LogStyle,
    writer: LineWriter,
) -> Result<()> {
    let mut builder = LogsOptionsBuilder::new()
        .stdout(true)
        .stderr(true)
        .follow(query.follow)
        .timestamps(query.timestamps)
        .tail(query.tail.as_deref().unwrap_or("all"));
    if let Some(until) = query.until {
        builder = builder.until(until);
    }
    if let Some(since) = query.since {
        builder = builder.since(since);
    }
    let mut logs = docker.logs(&target.id, Some(builder.build()));
    let mut partial = String::new();
    while let Some(chunk) = logs.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(err) => {
                tracing::debug!(container = %target.name, error = %err, "log stream ended");
                break;
            }
        };
        let bytes = match chunk {
            LogOutput::StdOut { message } | LogOutput::StdErr { message } | LogOutput::Console { message } => message,
            LogOutput::StdIn { .. } => continue,
        };
        partial.push_str(&String::from_utf8_lossy(&bytes));
        while let Some(pos) = partial.find('\n') {
            let line: String = partial.drain(..=pos).collect();
            writer.print(&style, &target, line.trim_end_matches(['\n', '\r']));
        }
    }
    if !partial.is_empty() {
        writer.print(&style, &target, &partial);
    }
    Ok(())
}
