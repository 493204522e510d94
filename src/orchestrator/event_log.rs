//! `events`: the project's container events as Docker Compose prints them, one line (and a blank one) per
//! event or a JSON object per line, from `--since` to `--until`.

use super::labels;
use anyhow::{bail, Context, Result};
use bollard::models::{EventMessage, EventMessageTypeEnum};
use bollard::query_parameters::EventsOptionsBuilder;
use bollard::Docker;
use futures::StreamExt;
use std::collections::{BTreeMap, HashMap};
use std::process::ExitCode;

/// Flags of `events`.
#[derive(Debug, Clone, Default)]
pub struct EventsOptions {
    /// Output events as a stream of json objects.
    pub json: bool,
    /// Show all events created since this time (Unix seconds, RFC 3339, or a duration back from now).
    pub since: Option<String>,
    /// Stream events until this time.
    pub until: Option<String>,
    /// Services (default: all).
    pub services: Vec<String>,
}

/// Runs `events` until the engine's stream ends (at `--until`) or the user stops it.
pub async fn run(docker: &Docker, project: &str, args: &EventsOptions) -> Result<ExitCode> {
    let filters = HashMap::from([("label".to_owned(), vec![format!("{}={project}", labels::PROJECT)])]);
    let since = args.since.as_deref().map(timestamp).transpose()?;
    let until = args.until.as_deref().map(timestamp).transpose()?;
    let mut builder = EventsOptionsBuilder::new().filters(&filters);
    if let Some(s) = &since {
        builder = builder.since(s);
    }
    if let Some(u) = &until {
        builder = builder.until(u);
    }
    let mut stream = docker.events(Some(builder.build()));
    while let Some(item) = stream.next().await {
        let msg = item.context("reading the engine's event stream")?;
        if let Some(line) = render(&msg, &args.services, args.json) {
            println!("{line}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The docker CLI's reading of a time flag: Unix seconds and RFC 3339 times go to the engine as given, a duration
/// ("10m") counts back from now.
fn timestamp(value: &str) -> Result<String> {
    let unix = !value.is_empty()
        && value
            .split_once('.')
            .map_or(value, |(s, _)| s)
            .bytes()
            .all(|b| b.is_ascii_digit());
    if unix || chrono::DateTime::parse_from_rfc3339(value).is_ok() {
        return Ok(value.to_owned());
    }
    match units::parse_duration(value) {
        Some(ns) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            Ok((now - ns / 1_000_000_000).to_string())
        }
        None => {
            bail!("invalid time value {value:?}: expected Unix seconds, an RFC 3339 time or a duration such as 10m")
        }
    }
}

/// One event as Compose shows it, or None for events it leaves out (other types, one-off containers, other
/// services).
fn render(msg: &EventMessage, services: &[String], json: bool) -> Option<String> {
    if msg.typ != Some(EventMessageTypeEnum::CONTAINER) {
        return None;
    }
    let actor = msg.actor.as_ref()?;
    let all = actor.attributes.clone().unwrap_or_default();
    if all.get(labels::ONEOFF).map(String::as_str) == Some("True") {
        return None;
    }
    let service = all.get(labels::SERVICE).cloned().unwrap_or_default();
    if !services.is_empty() && !services.contains(&service) {
        return None;
    }
    let attributes: BTreeMap<String, String> = all
        .into_iter()
        .filter(|(k, _)| !k.starts_with("com.docker.compose."))
        .collect();
    let nanos = msg
        .time_nano
        .filter(|n| *n != 0)
        .unwrap_or(msg.time.unwrap_or(0) * 1_000_000_000);
    let time =
        chrono::DateTime::from_timestamp(nanos.div_euclid(1_000_000_000), nanos.rem_euclid(1_000_000_000) as u32)?;
    let id = actor.id.clone().unwrap_or_default();
    let action = msg.action.clone().unwrap_or_default();
    if json {
        let value = serde_json::json!({
            "action": action,
            "attributes": attributes,
            "id": id,
            "service": service,
            "time": rfc3339_nano(&time),
            "type": "container",
        });
        return Some(value.to_string());
    }
    let attrs: Vec<String> = attributes.iter().map(|(k, v)| format!("{k}={v}")).collect();
    // Compose prints the event's text, which ends with a newline, with Println: a blank line follows each.
    Some(format!(
        "{} container {action} {id} ({})\n",
        time.format("%Y-%m-%d %H:%M:%S%.6f"),
        attrs.join(", ")
    ))
}

/// Go's `time.RFC3339Nano` in UTC: the fraction without its trailing zeros.
fn rfc3339_nano(time: &chrono::DateTime<chrono::Utc>) -> String {
    let nanos = format!("{:09}", time.timestamp_subsec_nanos());
    let fraction = nanos.trim_end_matches('0');
    let dot = if fraction.is_empty() { "" } else { "." };
    format!("{}{dot}{fraction}Z", time.format("%Y-%m-%dT%H:%M:%S"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_as_go_prints_them() {
        let t = chrono::DateTime::from_timestamp(1_796_670_124, 772_167_880).unwrap();
        assert_eq!(rfc3339_nano(&t), "2026-12-07T19:02:04.77216788Z");
        let whole = chrono::DateTime::from_timestamp(1_796_670_124, 0).unwrap();
        assert_eq!(rfc3339_nano(&whole), "2026-12-07T19:02:04Z");
    }

    #[test]
    fn durations_count_back_from_now() {
        let back: i64 = timestamp("10m").unwrap().parse().unwrap();
        assert!(back > 1_700_000_000);
        assert_eq!(timestamp("1700000000").unwrap(), "1700000000");
        assert_eq!(timestamp("2026-12-07T19:00:00Z").unwrap(), "2026-12-07T19:00:00Z");
        assert!(timestamp("10parsecs").is_err());
    }
}
