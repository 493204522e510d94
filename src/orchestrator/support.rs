//! What berth cannot honour yet, found on the typed model before any engine call: each such attribute is
//! refused by key path and `file:line:column` rather than silently ignored.

use super::service_body::refusal;
use anyhow::Result;
use compose::model::{Deploy, Service, ServiceVolume};
use compose::Project;

const NOT_YET: &str = "attribute not supported by berth yet (refused rather than ignored)";
const SWARM_ONLY: &str = "Swarm-only, ignored on one engine (as Docker Compose ignores it)";

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
        for key in svc.deploy.iter().flat_map(swarm_only) {
            let at = refusal(p, &format!("services.{name}.{key}"), SWARM_ONLY);
            tracing::warn!("{at}");
        }
        // dockerd on Linux takes only the default isolation (`""` or `default`, any case).
        if let Some(iso) = svc
            .isolation
            .as_deref()
            .filter(|i| !i.is_empty() && !i.eq_ignore_ascii_case("default"))
        {
            return Err(refusal(
                p,
                &format!("services.{name}.isolation"),
                format!("{iso:?}: Linux containers have only the \"default\" isolation (hyperv and process are Windows-only)"),
            ));
        }
        // Refused on every engine rather than sent: dockerd honours it only on overlay over xfs with pquota,
        // and berth's overlay storage has no per-container quota; dropping it would hide a disk limit.
        if !svc.storage_opt.is_empty() {
            return Err(refusal(
                p,
                &format!("services.{name}.storage_opt"),
                "per-container storage quotas are not available (berth's overlay storage has no quota support)",
            ));
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
        ("models", s.models.is_some()),
        ("provider", s.provider.is_some()),
    ];
    let mut out: Vec<String> = set.iter().filter(|(_, on)| *on).map(|(k, _)| (*k).to_owned()).collect();
    out.extend(unknown_keys(&s.extensions).map(str::to_owned));
    for (i, v) in s.volumes.iter().enumerate() {
        out.extend(volume(v).into_iter().map(|k| format!("volumes[{i}].{k}")));
    }
    out
}

/// Swarm-only parts of `deploy` (placement, update and rollback, labels of the service, endpoint mode):
/// Docker Compose ignores them on one engine, so a file written for both runs; berth says so.
pub fn swarm_only(d: &Deploy) -> Vec<String> {
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
    let set = [("image", v.image.is_some())];
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
            "credential_spec": {"file": "x.json"},
            "newer_than_the_model": 1,
            "x-mine": 2,
            "deploy": {"update_config": {"parallelism": 1}},
            "networks": {"n": {"priority": 3}},
            "volumes": [{"type": "image", "source": "busybox", "target": "/i", "image": {"subpath": "bin"}}],
        }));
        assert_eq!(
            unsupported(&s),
            ["credential_spec", "newer_than_the_model", "volumes[0].image"]
        );
        let deploy = s.deploy.as_ref().expect("deploy");
        assert_eq!(swarm_only(deploy), ["deploy.update_config"]);
    }
}
