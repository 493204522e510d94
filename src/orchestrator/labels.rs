//! The `com.docker.compose.*` labels berth puts on what it creates, and the engine filters that find them again.

use std::collections::HashMap;

/// Project a resource belongs to.
pub const PROJECT: &str = "com.docker.compose.project";
/// Service a container runs.
pub const SERVICE: &str = "com.docker.compose.service";
/// Replica number of a container within its service (1-based).
pub const CONTAINER_NUMBER: &str = "com.docker.compose.container-number";
/// Hash of the service configuration the container was created from.
pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
/// "True" for `run` containers, "False" for service containers.
pub const ONEOFF: &str = "com.docker.compose.oneoff";
/// The service's dependencies as `svc:condition:restart`, comma-separated.
pub const DEPENDS_ON: &str = "com.docker.compose.depends_on";
/// Project working directory.
pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
/// Project configuration files, comma-separated.
pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
/// Network key within the project.
pub const NETWORK: &str = "com.docker.compose.network";
/// Volume key within the project.
pub const VOLUME: &str = "com.docker.compose.volume";
/// Version of the tool that created the resource.
pub const VERSION: &str = "com.docker.compose.version";
/// Image the service asked for.
pub const IMAGE: &str = "com.docker.compose.image";

/// Engine list filters: everything labelled with `project`.
pub fn project_filter(project: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_owned(), vec![format!("{PROJECT}={project}")])])
}

/// Engine list filters: the project's service containers (not one-off `run` containers).
pub fn service_containers_filter(project: &str, service: Option<&str>) -> HashMap<String, Vec<String>> {
    let mut labels = vec![format!("{PROJECT}={project}"), format!("{ONEOFF}=False")];
    if let Some(service) = service {
        labels.push(format!("{SERVICE}={service}"));
    }
    HashMap::from([("label".to_owned(), labels)])
}

/// Reads a label from an optional label map.
pub fn get<'a>(labels: &'a Option<HashMap<String, String>>, key: &str) -> Option<&'a str> {
    labels.as_ref().and_then(|l| l.get(key)).map(String::as_str)
}

/// One entry of the `depends_on` label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DependsOnLabel {
    /// Service depended on.
    pub service: String,
    /// Condition name as written in Compose.
    pub condition: String,
    /// Whether the dependent restarts when this dependency is recreated.
    pub restart: bool,
}

/// Parses the `depends_on` label (`svc:condition:restart,...`); malformed entries are skipped.
pub fn parse_depends_on(value: &str) -> Vec<DependsOnLabel> {
    value
        .split(',')
        .filter(|s| !s.is_empty())
        .filter_map(|entry| {
            let mut parts = entry.split(':');
            let service = parts.next()?.to_owned();
            let condition = parts.next().unwrap_or("service_started").to_owned();
            let restart = parts.next() == Some("true");
            Some(DependsOnLabel {
                service,
                condition,
                restart,
            })
        })
        .collect()
}

static COMPATIBILITY: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// `--compatibility`: container names joined with `_`, as Compose v1 named them.
pub fn set_compatibility(on: bool) {
    let _ = COMPATIBILITY.set(on);
}

/// Container name of replica `number` of `service`: `project-service-N` (`project_service_N` with
/// `--compatibility`).
pub fn container_name(project: &str, service: &str, number: u32) -> String {
    let sep = if COMPATIBILITY.get().copied().unwrap_or(false) {
        '_'
    } else {
        '-'
    };
    format!("{project}{sep}{service}{sep}{number}")
}

/// Engine name of a project network or volume declared without an explicit `name:`.
pub fn scoped_name(project: &str, key: &str) -> String {
    format!("{project}_{key}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depends_on_label_round_trip() {
        let parsed = parse_depends_on("cache:service_healthy:false,db:service_started:true");
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].service, "cache");
        assert_eq!(parsed[0].condition, "service_healthy");
        assert!(!parsed[0].restart);
        assert!(parsed[1].restart);
        assert!(parse_depends_on("").is_empty());
    }

    #[test]
    fn names() {
        assert_eq!(container_name("demo", "web", 2), "demo-web-2");
        assert_eq!(scoped_name("demo", "default"), "demo_default");
    }
}
