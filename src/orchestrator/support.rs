//! What berth cannot honour yet, found on the typed model before any engine call: each such attribute is
//! refused by key path and `file:line:column` rather than silently ignored.

use super::service_body::refusal;
use anyhow::Result;
use compose::model::{Deploy, Service, ServiceNetwork, ServiceVolume};
use compose::Project;

const NOT_YET: &str = "attribute not supported by berth yet (refused rather than ignored)";

/// Refuses the first unsupported attribute of the project.
pub fn check(p: &Project) -> Result<()> {
    if !p.models.is_empty() {
        return Err(refusal(p, "models", "top-level key not supported by berth yet"));
    }
    if let Some(key) = unknown_keys(&p.extensions).next() {
        return Err(refusal(p, key, "top-level key not supported by berth yet"));
    }
    for (name, svc) in &p.services {
        if let Some(key) = unsupported(svc).into_iter().next() {
            return Err(refusal(p, &format!("services.{name}.{key}"), NOT_YET));
        }
    }
    Ok(())
}

/// Keys of a flattened `extensions` map that are not `x-` extensions (attributes newer than the model).
fn unknown_keys(extensions: &indexmap::IndexMap<String, serde_json::Value>) -> impl Iterator<Item = &str> {
    extensions.keys().map(String::as_str).filter(|k| !k.starts_with("x-"))
}

/// Key paths (relative to the service) of attributes set on `s` that berth does not apply yet.
pub fn unsupported(s: &Service) -> Vec<String> {
    // Each has its reason in docs/compose-differences.md.
    let set = [
        ("credential_spec", s.credential_spec.is_some()),
        ("develop", s.develop.is_some()),
        ("isolation", s.isolation.is_some()),
        ("models", s.models.is_some()),
        ("provider", s.provider.is_some()),
        ("use_api_socket", s.use_api_socket.is_some()),
    ];
    let mut set = set.to_vec();
    set.extend(engine_pending(s));
    let mut out: Vec<String> = set.iter().filter(|(_, on)| *on).map(|(k, _)| (*k).to_owned()).collect();
    out.extend(unknown_keys(&s.extensions).map(str::to_owned));
    out.extend(s.deploy.iter().flat_map(deploy));
    for (i, v) in s.volumes.iter().enumerate() {
        out.extend(volume(v).into_iter().map(|k| format!("volumes[{i}].{k}")));
    }
    for (key, net) in s.networks.iter().filter_map(|(k, n)| n.as_ref().map(|n| (k, n))) {
        out.extend(network(net).into_iter().map(|k| format!("networks.{key}.{k}")));
    }
    out
}

/// Attributes the orchestrator maps (`limits`) whose Engine API fields berth's engine does not apply yet:
/// refused until it does, so that no engine silently drops them.
fn engine_pending(s: &Service) -> Vec<(&'static str, bool)> {
    vec![
        ("annotations", !s.annotations.is_empty()),
        ("blkio_config", s.blkio_config.is_some()),
        ("cgroup", s.cgroup.is_some()),
        ("cgroup_parent", s.cgroup_parent.is_some()),
        ("cpu_count", s.cpu_count.is_some()),
        ("cpu_percent", s.cpu_percent.is_some()),
        ("cpu_rt_period", s.cpu_rt_period.is_some()),
        ("cpu_rt_runtime", s.cpu_rt_runtime.is_some()),
        ("cpuset", s.cpuset.is_some()),
        ("device_cgroup_rules", !s.device_cgroup_rules.is_empty()),
        ("devices", !s.devices.is_empty()),
        ("external_links", !s.external_links.is_empty()),
        ("gpus", s.gpus.is_some()),
        ("ipc", s.ipc.is_some()),
        ("links", !s.links.is_empty()),
        ("logging", s.logging.is_some()),
        ("mac_address", s.mac_address.is_some()),
        ("mem_swappiness", s.mem_swappiness.is_some()),
        ("oom_kill_disable", s.oom_kill_disable.is_some()),
        ("oom_score_adj", s.oom_score_adj.is_some()),
        ("pid", s.pid.is_some()),
        ("platform", s.platform.is_some()),
        ("runtime", s.runtime.is_some()),
        ("storage_opt", !s.storage_opt.is_empty()),
        ("userns_mode", s.userns_mode.is_some()),
        ("uts", s.uts.is_some()),
        (
            "deploy.resources.reservations.devices",
            s.deploy
                .as_ref()
                .and_then(|d| d.resources.reservations.as_ref())
                .is_some_and(|r| !r.devices.is_empty()),
        ),
    ]
}

/// Swarm-only parts of `deploy` (placement, update and rollback, labels of the service, endpoint mode).
fn deploy(d: &Deploy) -> Vec<String> {
    let p = &d.placement;
    let set = [
        ("deploy.mode", d.mode.as_deref().is_some_and(|m| m != "replicated")),
        (
            "deploy.placement",
            !p.constraints.is_empty() || !p.preferences.is_empty() || p.max_replicas_per_node.is_some(),
        ),
        ("deploy.labels", !d.labels.is_empty()),
        ("deploy.update_config", d.update_config.is_some()),
        ("deploy.rollback_config", d.rollback_config.is_some()),
        ("deploy.endpoint_mode", d.endpoint_mode.is_some()),
        (
            "deploy.restart_policy.delay",
            d.restart_policy.as_ref().is_some_and(|r| r.delay.is_some()),
        ),
        (
            "deploy.restart_policy.window",
            d.restart_policy.as_ref().is_some_and(|r| r.window.is_some()),
        ),
    ];
    set.iter().filter(|(_, on)| *on).map(|(k, _)| (*k).to_owned()).collect()
}

fn volume(v: &ServiceVolume) -> Vec<&'static str> {
    let set = [
        ("bind.recursive", v.bind.as_ref().is_some_and(|b| b.recursive.is_some())),
        ("volume.labels", v.volume.as_ref().is_some_and(|o| !o.labels.is_empty())),
        ("image", v.image.is_some()),
    ];
    set.iter().filter(|(_, on)| *on).map(|(k, _)| *k).collect()
}

fn network(n: &ServiceNetwork) -> Vec<&'static str> {
    let set = [
        ("priority", n.priority.is_some()),
        ("gw_priority", n.gw_priority.is_some()),
        ("link_local_ips", !n.link_local_ips.is_empty()),
        ("interface_name", n.interface_name.is_some()),
        ("mac_address", n.mac_address.is_some()),
        ("driver_opts", !n.driver_opts.is_empty()),
    ];
    set.iter().filter(|(_, on)| *on).map(|(k, _)| *k).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(v: serde_json::Value) -> Service {
        serde_json::from_value(v).expect("service")
    }

    #[test]
    fn set_attributes_are_named_and_defaults_are_not() {
        assert!(unsupported(&service(serde_json::json!({"image": "busybox"}))).is_empty());
        let s = service(serde_json::json!({
            "image": "busybox",
            "isolation": "default",
            "newer_than_the_model": 1,
            "x-mine": 2,
            "deploy": {"update_config": {"parallelism": 1}},
            "networks": {"n": {"priority": 3}},
        }));
        assert_eq!(
            unsupported(&s),
            [
                "isolation",
                "newer_than_the_model",
                "deploy.update_config",
                "networks.n.priority"
            ]
        );
    }
}
