//! Profiles: services with `profiles:` run only when one of them is enabled, or when an enabled service needs them.

use serde_json::{Map, Value};
use std::collections::HashSet;

fn has_active_profile(svc: &Value, active: &[String]) -> bool {
    match svc.get("profiles").and_then(Value::as_array) {
        None => true,
        Some(p) if p.is_empty() => true,
        Some(p) => p
            .iter()
            .filter_map(Value::as_str)
            .any(|x| active.iter().any(|a| a == x || a == "*")),
    }
}

/// Keeps enabled services (and what they depend on); returns the disabled ones.
pub fn apply(services: &mut Map<String, Value>, active: &[String]) -> Map<String, Value> {
    let mut enabled: HashSet<String> = services
        .iter()
        .filter(|(_, s)| has_active_profile(s, active))
        .map(|(n, _)| n.clone())
        .collect();
    let mut queue: Vec<String> = enabled.iter().cloned().collect();
    while let Some(n) = queue.pop() {
        let deps: Vec<String> = services
            .get(&n)
            .and_then(|s| s.get("depends_on"))
            .and_then(Value::as_object)
            .map(|d| d.keys().cloned().collect())
            .unwrap_or_default();
        for d in deps {
            if services.contains_key(&d) && enabled.insert(d.clone()) {
                queue.push(d);
            }
        }
    }
    let mut disabled = Map::new();
    let names: Vec<String> = services.keys().cloned().collect();
    for n in names {
        if !enabled.contains(&n) {
            if let Some(v) = services.shift_remove(&n) {
                disabled.insert(n, v);
            }
        }
    }
    disabled
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(m: &Map<String, Value>) -> Vec<&str> {
        let mut v: Vec<&str> = m.keys().map(String::as_str).collect();
        v.sort();
        v
    }

    #[test]
    fn selects_by_profile_and_pulls_dependencies() {
        let mut s = json!({
            "app": {},
            "debug": {"profiles": ["debug"]},
            "metrics": {"profiles": ["ops"], "depends_on": {"db": {}}},
            "db": {"profiles": ["never"]},
        })
        .as_object()
        .cloned()
        .unwrap_or_default();
        let disabled = apply(&mut s, &["ops".to_owned()]);
        assert_eq!(names(&s), vec!["app", "db", "metrics"]);
        assert_eq!(names(&disabled), vec!["debug"]);
    }

    #[test]
    fn star_enables_all() {
        let mut s = json!({"a": {"profiles": ["x"]}})
            .as_object()
            .cloned()
            .unwrap_or_default();
        apply(&mut s, &["*".to_owned()]);
        assert_eq!(names(&s), vec!["a"]);
    }
}
