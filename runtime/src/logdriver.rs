//! Log drivers berth's engine runs: `json-file` (Docker's default), `local` (the same files with local's
//! defaults: 20 MB x 5, compressed) and `none`; their options as Docker validates them.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Which driver keeps the container's output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogDriver {
    /// JSON lines, readable with `logs`.
    #[default]
    JsonFile,
    /// Docker's `local` driver (berth stores the same JSON lines, with local's rotation defaults).
    Local,
    /// Output is not kept: `logs` refuses, `attach` still streams it.
    None,
}

/// The container's log settings, checked at create and applied by the monitor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogConfig {
    /// The driver.
    pub driver: LogDriver,
    /// Rotate the file once it reaches this many bytes (None: never).
    pub max_size: Option<u64>,
    /// Files kept, the current one included (>= 1).
    pub max_file: u32,
    /// Gzip rotated files.
    pub compress: bool,
    /// Extra attributes written with every line (json-file's `labels` / `env` options).
    #[serde(default)]
    pub attrs: BTreeMap<String, String>,
}

/// Drivers dockerd has built in that berth does not run: refused with a berth message rather than the plugin
/// lookup error dockerd gives for unknown names.
const DOCKER_BUILTIN: &[&str] = &[
    "syslog",
    "journald",
    "gelf",
    "fluentd",
    "awslogs",
    "splunk",
    "etwlogs",
    "gcplogs",
    "logentries",
];

impl LogConfig {
    /// Checks a `HostConfig.LogConfig` (empty driver: json-file) as dockerd does at create; `labels` and `env`
    /// are the container's, for the `labels`/`env` options. Errors are dockerd's messages.
    pub fn parse(
        driver: &str,
        opts: &HashMap<String, String>,
        labels: &HashMap<String, String>,
        env: &[String],
    ) -> Result<Self, String> {
        let driver = match driver {
            "" | "json-file" => LogDriver::JsonFile,
            "local" => LogDriver::Local,
            "none" => LogDriver::None,
            d if DOCKER_BUILTIN.contains(&d) => {
                return Err(format!(
                    "logging driver \"{d}\" is not supported by berth (supported: json-file, local, none)"
                ))
            }
            d => return Err(format!("error looking up logging plugin {d}: plugin \"{d}\" not found")),
        };
        let name = match driver {
            LogDriver::JsonFile => "json-file",
            LogDriver::Local => "local",
            LogDriver::None => "none",
        };
        let allowed: &[&str] = match driver {
            LogDriver::JsonFile => &[
                "max-file",
                "max-size",
                "compress",
                "labels",
                "labels-regex",
                "env",
                "env-regex",
                "tag",
                "mode",
                "max-buffer-size",
            ],
            LogDriver::Local => &["max-file", "max-size", "compress", "mode", "max-buffer-size"],
            LogDriver::None => &[],
        };
        if let Some(k) = opts.keys().filter(|k| !allowed.contains(&k.as_str())).min() {
            return Err(format!("unknown log opt '{k}' for {name} log driver"));
        }
        let local = driver == LogDriver::Local;
        let max_size = match opts.get("max-size") {
            Some(s) => Some(parse_size(s)?).filter(|n| *n > 0),
            None if local => Some(20 * 1024 * 1024),
            None => None,
        };
        let max_file = match opts.get("max-file") {
            Some(s) => match s.trim().parse::<u32>() {
                Ok(n) if n >= 1 => n,
                _ => return Err("max-file cannot be less than 1".to_owned()),
            },
            None if local => 5,
            None => 1,
        };
        let compress = match opts.get("compress").map(String::as_str) {
            None => local,
            Some(v) => {
                parse_bool(v).ok_or_else(|| format!("error reading compress log option: invalid value {v:?}"))?
            }
        };
        Ok(LogConfig {
            driver,
            max_size,
            max_file,
            compress,
            attrs: attrs(opts, labels, env),
        })
    }
}

/// json-file's extra attributes: the named labels and env variables the container has.
fn attrs(opts: &HashMap<String, String>, labels: &HashMap<String, String>, env: &[String]) -> BTreeMap<String, String> {
    let names = |key: &str| -> Vec<String> {
        opts.get(key)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut out = BTreeMap::new();
    for l in names("labels") {
        if let Some(v) = labels.get(&l) {
            out.insert(l, v.clone());
        }
    }
    for k in names("env") {
        let value = env
            .iter()
            .find_map(|e| e.split_once('=').filter(|(ek, _)| *ek == k).map(|(_, v)| v));
        if let Some(v) = value {
            out.insert(k, v.to_owned());
        }
    }
    out
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "t" | "true" => Some(true),
        "0" | "f" | "false" => Some(false),
        _ => None,
    }
}

/// Docker's size syntax for max-size: `10`, `10k`, `1.5m`, `2g` (binary units, case-insensitive, optional `b`).
fn parse_size(s: &str) -> Result<u64, String> {
    // dockerd reads max-size with go-units' RAMInBytes, as `units::parse_bytes` does.
    units::parse_bytes(s)
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| format!("failed to initialize logging driver: invalid size: '{s}'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(kv: &[(&str, &str)]) -> HashMap<String, String> {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn drivers_and_defaults() {
        let none = HashMap::new();
        let c = LogConfig::parse("", &none, &none, &[]).unwrap();
        assert_eq!(
            (c.driver, c.max_size, c.max_file, c.compress),
            (LogDriver::JsonFile, None, 1, false)
        );
        let c = LogConfig::parse("local", &none, &none, &[]).unwrap();
        assert_eq!((c.max_size, c.max_file, c.compress), (Some(20 << 20), 5, true));
        assert_eq!(
            LogConfig::parse("none", &none, &none, &[]).unwrap().driver,
            LogDriver::None
        );
        let e = LogConfig::parse("foo", &none, &none, &[]).unwrap_err();
        assert_eq!(e, "error looking up logging plugin foo: plugin \"foo\" not found");
        assert!(LogConfig::parse("syslog", &none, &none, &[])
            .unwrap_err()
            .contains("not supported by berth"));
    }

    #[test]
    fn options_are_checked_like_dockerd() {
        let none = HashMap::new();
        let e = LogConfig::parse("json-file", &opts(&[("bogus", "1")]), &none, &[]).unwrap_err();
        assert_eq!(e, "unknown log opt 'bogus' for json-file log driver");
        let e = LogConfig::parse("json-file", &opts(&[("max-size", "foo")]), &none, &[]).unwrap_err();
        assert_eq!(e, "failed to initialize logging driver: invalid size: 'foo'");
        assert!(LogConfig::parse("json-file", &opts(&[("max-file", "0")]), &none, &[]).is_err());
        let c = LogConfig::parse(
            "json-file",
            &opts(&[
                ("max-size", "1.5k"),
                ("max-file", "3"),
                ("compress", "true"),
                ("labels", "app"),
                ("env", "A,B"),
            ]),
            &opts(&[("app", "web"), ("other", "x")]),
            &["A=1".into(), "C=3".into()],
        )
        .unwrap();
        assert_eq!((c.max_size, c.max_file, c.compress), (Some(1536), 3, true));
        assert_eq!(c.attrs, opts(&[("app", "web"), ("A", "1")]).into_iter().collect());
        assert_eq!(parse_size("10MB").unwrap(), 10 << 20);
    }
}
