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
            return Err(EngineError::BadRequest(format!("invalid filter '{k}'")));
        }
        let vals: Vec<String> = match v {
            serde_json::Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect(),
            serde_json::Value::Object(o) => o.keys().cloned().collect(),
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
