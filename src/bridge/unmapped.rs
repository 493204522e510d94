//! The attributes no converter maps: each one present in the file gives a warning naming file, line and key,
//! so nothing is dropped silently. Converters warn themselves about values they map only in part.

use super::context::Ctx;
use compose::model::Service;
use serde_json::Value;

/// Service attributes some converter maps (fully or with its own warnings).
const MAPPED: &[&str] = &[
    "annotations",
    "cap_add",
    "cap_drop",
    "command",
    "configs",
    "cpus",
    "depends_on",
    "deploy",
    "dns",
    "dns_opt",
    "dns_search",
    "entrypoint",
    "environment",
    "expose",
    "extra_hosts",
    "group_add",
    "healthcheck",
    "hostname",
    "image",
    "init",
    "ipc",
    "labels",
    "mem_limit",
    "mem_reservation",
    "network_mode",
    "networks",
    "pid",
    "platform",
    "ports",
    "post_start",
    "pre_stop",
    "privileged",
    "profiles",
    "pull_policy",
    "read_only",
    "restart",
    "scale",
    "secrets",
    "security_opt",
    "shm_size",
    "stdin_open",
    "stop_grace_period",
    "sysctls",
    "tmpfs",
    "tty",
    "user",
    "volumes",
    "volumes_from",
    "working_dir",
];

/// `deploy` keys mapped.
const DEPLOY_MAPPED: &[&str] = &["replicas", "resources", "labels", "restart_policy", "endpoint_mode"];

/// Whether a serialised attribute says anything (defaults serialise as null, false or empty).
fn present(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => false,
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => o.values().any(present),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

fn why(attr: &str) -> &'static str {
    match attr {
        "build" => "images are not built: push the image to a registry the cluster pulls from",
        "container_name" => "pods are named by their workload",
        "stop_signal" => "Kubernetes stops containers with SIGTERM (or the image's STOPSIGNAL)",
        "logging" => "container logs go to the node's log collector",
        "links" => "every service is reachable by its name; link aliases are not made",
        "develop" => "watch mode is a local development feature",
        "domainname" => "pods take the cluster's domain",
        "mac_address" => "the cluster network assigns MAC addresses",
        "external_links" => "containers outside the project are not in the cluster",
        _ => "no Kubernetes counterpart",
    }
}

/// Warns about every present service attribute that no converter maps.
pub fn check_service(ctx: &mut Ctx, name: &str, svc: &Service) {
    let key = format!("services.{name}");
    let Ok(Value::Object(fields)) = serde_json::to_value(svc) else {
        return;
    };
    for (attr, v) in &fields {
        if attr.starts_with("x-") || MAPPED.contains(&attr.as_str()) || !present(v) {
            continue;
        }
        if attr == "build" && svc.image.is_none() {
            continue; // an error, raised by the container converter
        }
        ctx.warn(&format!("{key}.{attr}"), format!("{}; not kept", why(attr)));
    }
    if let Some(Value::Object(deploy)) = fields.get("deploy") {
        for (attr, v) in deploy {
            let skip = DEPLOY_MAPPED.contains(&attr.as_str()) || !present(v) || (attr == "mode" && v == "replicated");
            if !skip {
                ctx.warn(
                    &format!("{key}.deploy.{attr}"),
                    "Swarm deployment settings have no Deployment form; not kept",
                );
            }
        }
    }
    if let Some(p) = svc.deploy.as_ref().and_then(|d| d.restart_policy.as_ref()) {
        if p.delay.is_some() || p.window.is_some() {
            ctx.warn(
                &format!("{key}.deploy.restart_policy"),
                "Kubernetes backs off on its own: delay and window are not kept",
            );
        }
    }
    for (net, cfg) in &svc.networks {
        let Some(cfg) = cfg else { continue };
        let Ok(Value::Object(m)) = serde_json::to_value(cfg) else {
            continue;
        };
        for (attr, _) in m.iter().filter(|(a, v)| *a != "aliases" && present(v)) {
            ctx.warn(
                &format!("{key}.networks.{net}.{attr}"),
                "the cluster network assigns addresses and interfaces; not kept",
            );
        }
    }
}

/// Warns about top-level attributes with no Kubernetes form, then about every service's.
pub fn check_project(ctx: &mut Ctx) {
    let project = ctx.project;
    for (name, net) in &project.networks {
        let key = format!("networks.{name}");
        if net.driver.as_deref().is_some_and(|d| d != "bridge") || !net.driver_opts.is_empty() {
            ctx.warn(
                &format!("{key}.driver"),
                "the cluster's network plugin carries all traffic; not kept",
            );
        }
        if net.ipam.as_ref().is_some_and(|i| !i.config.is_empty()) {
            ctx.warn(
                &format!("{key}.ipam"),
                "the cluster network assigns addresses; not kept",
            );
        }
        if net.enable_ipv6 == Some(true) {
            ctx.warn(
                &format!("{key}.enable_ipv6"),
                "IP families are the cluster's choice; not kept",
            );
        }
        if net.external {
            ctx.warn(
                &format!("{key}.external"),
                "an external network is treated like the project's own",
            );
        }
    }
    if !project.models.is_empty() {
        ctx.warn("models", "models need a model runner in the cluster; not kept");
    }
    for (name, svc) in &project.services {
        check_service(ctx, name.as_str(), svc);
    }
}
