//! Docker's `filters` query parameter, shared by the list and events endpoints.

use crate::error::{EngineError, Result};
use std::collections::HashMap;

/// Parses `{"k":["v"]}` (or the old `{"k":{"v":true}}`), refusing keys outside `allowed`.
pub fn parse(json: &str, allowed: &[&str]) -> Result<HashMap<String, Vec<String>>> {
    let mut out = HashMap::new();
    if json.is_empty() {
        return Ok(out);
    }
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| EngineError::BadRequest(format!("invalid filters: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| EngineError::BadRequest("invalid filters: expected a JSON object".into()))?;
    for (k, v) in obj {
        if !allowed.contains(&k.as_str()) {
            // dockerd's words (clients match on them); the keys it takes are in the API reference.
            return Err(EngineError::BadRequest(format!("Invalid filter '{k}'")));
        }
        let vals: Vec<String> = match v {
            serde_json::Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect(),
            // The old form {"v": true}: a value mapped to false is not asked for.
            serde_json::Value::Object(o) => o
                .iter()
                .filter(|(_, b)| b.as_bool() != Some(false))
                .map(|(k, _)| k.clone())
                .collect(),
            _ => {
                return Err(EngineError::BadRequest(format!(
                    "invalid filters: {k}: expected a list of strings"
                )))
            }
        };
        out.insert(k.clone(), vals);
    }
    Ok(out)
}

/// dockerd's `filters.Match`: the value as given, or as an (unanchored) regular expression over `source`.
pub fn value_matches(pattern: &str, source: &str) -> bool {
    pattern == source || regex::Regex::new(pattern).is_ok_and(|re| re.is_match(source))
}

/// Docker's `label` / `label!` filters over an object's labels: every `label` (`key` or `key=value`) holds,
/// no `label!` does.
pub fn labels_match(f: &HashMap<String, Vec<String>>, labels: &HashMap<String, String>) -> bool {
    let has = |want: &String| match want.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(want),
    };
    f.get("label").is_none_or(|ls| ls.iter().all(has)) && f.get("label!").is_none_or(|ls| !ls.iter().any(has))
}

/// Docker's `until` filter: true when `created` is before every `until` given (a unix time, an RFC 3339
/// time or a Go duration such as `10m` or `1h30m`, counted back from `now`).
pub fn until_matches(
    f: &HashMap<String, Vec<String>>,
    created: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<bool> {
    for u in f.get("until").into_iter().flatten() {
        if created >= parse_until(u, now)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn parse_until(v: &str, now: chrono::DateTime<chrono::Utc>) -> Result<chrono::DateTime<chrono::Utc>> {
    let bad = || {
        EngineError::BadRequest(format!(
            "invalid until filter {v:?}: expected a timestamp or a duration"
        ))
    };
    if let Some(d) = go_duration(v) {
        return Ok(now - d);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    let (secs, frac) = v.split_once('.').unwrap_or((v, "0"));
    let s: i64 = secs.parse().map_err(|_| bad())?;
    let nanos: u32 = format!("{frac:0<9}")
        .get(..9)
        .and_then(|n| n.parse().ok())
        .ok_or_else(bad)?;
    chrono::DateTime::from_timestamp(s, nanos).ok_or_else(bad)
}

/// A Go duration (`300ms`, `1.5h`, `2h45m`); None when `v` is not one.
fn go_duration(v: &str) -> Option<chrono::Duration> {
    units::parse_duration(v).map(chrono::Duration::nanoseconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_takes_durations_and_times() {
        let now = chrono::DateTime::from_timestamp(1_000_000, 0).unwrap();
        let old = chrono::DateTime::from_timestamp(1_000_000 - 7200, 0).unwrap();
        let f = |v: &str| HashMap::from([("until".to_owned(), vec![v.to_owned()])]);
        assert!(until_matches(&f("1h"), old, now).unwrap());
        assert!(!until_matches(&f("3h"), old, now).unwrap());
        assert!(until_matches(&f("1h30m"), old, now).unwrap());
        assert!(until_matches(&f("999999"), old, now).unwrap());
        assert!(!until_matches(&f("100"), old, now).unwrap());
        assert!(until_matches(&f("1970-01-12T14:00:00Z"), old, now).unwrap());
        assert!(until_matches(&f("nonsense"), old, now).is_err());
    }

    #[test]
    fn labels() {
        let labels = HashMap::from([("a".to_owned(), "1".to_owned())]);
        let f = |k: &str, v: &str| HashMap::from([(k.to_owned(), vec![v.to_owned()])]);
        assert!(labels_match(&f("label", "a"), &labels));
        assert!(labels_match(&f("label", "a=1"), &labels));
        assert!(!labels_match(&f("label", "a=2"), &labels));
        assert!(!labels_match(&f("label!", "a"), &labels));
        assert!(labels_match(&f("label!", "b"), &labels));
    }
}
