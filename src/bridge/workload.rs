//! A service's workload: a Deployment, or a Job when it is not meant to restart always; the pod spec around
//! the container (volumes, init containers, DNS, hosts, sysctls, grace period, labels and annotations).

use super::context::{BridgeError, Ctx};
use super::names::{self, NETWORK_LABEL, SERVICE_LABEL};
use super::{container, deps, files, probes, storage};
use compose::model::Service;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    HostAlias, PodDNSConfig, PodDNSConfigOption, PodSecurityContext, PodSpec, PodTemplateSpec, Sysctl,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use std::collections::BTreeMap;

/// How the service's containers are restarted, as a workload kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// Restarted always: a Deployment.
    Deployment,
    /// Run to completion: a Job with this pod restart policy and retry count.
    Job {
        /// `Never` or `OnFailure`.
        on_failure: bool,
        /// Retries (None: Kubernetes' default).
        backoff: Option<i32>,
    },
}

/// Replicas of a service (`deploy.replicas`, else `scale`, else 1).
pub fn replicas(svc: &Service) -> u64 {
    svc.deploy.as_ref().and_then(|d| d.replicas).or(svc.scale).unwrap_or(1)
}

/// The kind from `restart` (or `deploy.restart_policy`); `awaited` forces a Job (others wait for it to complete).
pub fn kind(ctx: &mut Ctx, name: &str, svc: &Service) -> Kind {
    let key = format!("services.{name}");
    let from_restart = |r: &str| match r {
        "no" => Some(Kind::Job {
            on_failure: false,
            backoff: Some(0),
        }),
        "always" | "unless-stopped" => Some(Kind::Deployment),
        r => r.strip_prefix("on-failure").map(|n| Kind::Job {
            on_failure: true,
            backoff: n.strip_prefix(':').and_then(|n| n.parse().ok()),
        }),
    };
    let from_policy = || {
        let p = svc.deploy.as_ref()?.restart_policy.as_ref()?;
        match p.condition.as_deref()? {
            "none" => Some(Kind::Job {
                on_failure: false,
                backoff: Some(0),
            }),
            "on-failure" => Some(Kind::Job {
                on_failure: true,
                backoff: p.max_attempts.and_then(|m| i32::try_from(m).ok()),
            }),
            _ => Some(Kind::Deployment),
        }
    };
    let k = svc.restart.as_deref().and_then(from_restart).or_else(from_policy);
    match k {
        Some(k) => k,
        None if deps::awaited_completion(ctx, name) => {
            ctx.warn(
                &key,
                "no `restart`, but a service waits for it to complete (service_completed_successfully): run as a Job",
            );
            Kind::Job {
                on_failure: false,
                backoff: Some(0),
            }
        }
        None => Kind::Deployment,
    }
}

fn pod_labels(ctx: &mut Ctx, name: &str, svc: &Service) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([(SERVICE_LABEL.to_owned(), ctx.service_name(name))]);
    let networks: Vec<String> = if svc.network_mode.is_some() {
        Vec::new()
    } else {
        svc.networks.keys().cloned().collect()
    };
    for n in networks {
        if let Some(slug) = names::dns_label(&n) {
            labels.insert(format!("{NETWORK_LABEL}{slug}"), "true".into());
        }
    }
    for (k, v) in &svc.labels {
        if names::is_qualified_name(k) && names::is_label_value(v) {
            labels.insert(k.clone(), v.clone());
        }
    }
    labels
}

fn pod_annotations(ctx: &mut Ctx, name: &str, svc: &Service) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let key = format!("services.{name}");
    for (section, map) in [("labels", &svc.labels), ("annotations", &svc.annotations)] {
        for (k, v) in map {
            let is_label = section == "labels" && names::is_label_value(v);
            if !names::is_qualified_name(k) {
                ctx.warn(
                    &format!("{key}.{section}.{k}"),
                    "not a valid Kubernetes label or annotation key; not kept",
                );
            } else if !is_label {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

fn host_aliases(ctx: &mut Ctx, key: &str, svc: &Service) -> Option<Vec<HostAlias>> {
    let mut by_ip: Vec<HostAlias> = Vec::new();
    for (i, e) in svc.extra_hosts.iter().enumerate() {
        let Some((host, ip)) = e.split_once('=').or_else(|| e.split_once(':')) else {
            ctx.warn(
                &format!("{key}.extra_hosts[{i}]"),
                format!("{e:?} is not host=ip; not kept"),
            );
            continue;
        };
        let ip = ip.trim_start_matches('[').trim_end_matches(']');
        if ip == "host-gateway" {
            ctx.warn(
                &format!("{key}.extra_hosts[{i}]"),
                "host-gateway has no Kubernetes address; not kept",
            );
            continue;
        }
        match by_ip.iter_mut().find(|a| a.ip == ip) {
            Some(a) => a.hostnames.get_or_insert_with(Vec::new).push(host.to_owned()),
            None => by_ip.push(HostAlias {
                ip: ip.to_owned(),
                hostnames: Some(vec![host.to_owned()]),
            }),
        }
    }
    (!by_ip.is_empty()).then_some(by_ip)
}

fn dns_config(svc: &Service) -> Option<PodDNSConfig> {
    if svc.dns.is_empty() && svc.dns_search.is_empty() && svc.dns_opt.is_empty() {
        return None;
    }
    // ClusterFirst stays: the cluster's DNS keeps resolving service names, these are added to it.
    let options = svc
        .dns_opt
        .iter()
        .map(|o| {
            let (name, value) = o
                .split_once(':')
                .map_or((o.as_str(), None), |(n, v)| (n, Some(v.to_owned())));
            PodDNSConfigOption {
                name: Some(name.to_owned()),
                value,
            }
        })
        .collect::<Vec<_>>();
    let non_empty = |v: &[String]| (!v.is_empty()).then(|| v.to_vec());
    Some(PodDNSConfig {
        nameservers: non_empty(&svc.dns),
        searches: non_empty(&svc.dns_search),
        options: (!options.is_empty()).then_some(options),
    })
}

fn pod_security(ctx: &mut Ctx, key: &str, svc: &Service) -> Option<PodSecurityContext> {
    let sysctls: Vec<Sysctl> = svc
        .sysctls
        .iter()
        .map(|(name, value)| Sysctl {
            name: name.clone(),
            value: value.clone(),
        })
        .collect();
    let mut groups = Vec::new();
    for (i, g) in svc.group_add.iter().enumerate() {
        match g.parse::<i64>() {
            Ok(n) => groups.push(n),
            Err(_) => ctx.warn(
                &format!("{key}.group_add[{i}]"),
                format!("{g:?}: only numeric groups can be added; not kept"),
            ),
        }
    }
    let sc = PodSecurityContext {
        sysctls: (!sysctls.is_empty()).then_some(sysctls),
        supplemental_groups: (!groups.is_empty()).then_some(groups),
        ..Default::default()
    };
    (sc != PodSecurityContext::default()).then_some(sc)
}

fn node_selector(ctx: &mut Ctx, key: &str, svc: &Service) -> Option<BTreeMap<String, String>> {
    let p = svc.platform.as_deref()?;
    let mut parts = p.split('/');
    let (os, arch) = (parts.next().unwrap_or_default(), parts.next());
    let mut sel = BTreeMap::from([("kubernetes.io/os".to_owned(), os.to_owned())]);
    if let Some(a) = arch {
        sel.insert("kubernetes.io/arch".into(), a.to_owned());
    }
    if parts.next().is_some() {
        ctx.warn(
            &format!("{key}.platform"),
            "the variant has no node label; only os and arch are selected",
        );
    }
    Some(sel)
}

fn namespaces(ctx: &mut Ctx, key: &str, svc: &Service, spec: &mut PodSpec) {
    match svc.network_mode.as_deref() {
        Some("host") => spec.host_network = Some(true),
        Some(m) => ctx.warn(
            &format!("{key}.network_mode"),
            format!("{m:?}: a pod has its own network namespace; the service is converted as on its own network"),
        ),
        None => {}
    }
    match svc.pid.as_deref() {
        Some("host") => spec.host_pid = Some(true),
        Some(m) => ctx.warn(&format!("{key}.pid"), format!("{m:?} has no Kubernetes form; not kept")),
        None => {}
    }
    match svc.ipc.as_deref() {
        Some("host") => spec.host_ipc = Some(true),
        Some("private") | Some("shareable") => {}
        Some(m) => ctx.warn(&format!("{key}.ipc"), format!("{m:?} has no Kubernetes form; not kept")),
        None => {}
    }
    // With a shared process namespace the pause container is PID 1: it reaps zombies and the service's
    // process gets its signals' default handlers, which is what `init: true` is for.
    if svc.init == Some(true) {
        spec.share_process_namespace = Some(true);
    }
}

/// Builds the pod template of a service.
fn template(ctx: &mut Ctx, name: &str, svc: &Service, kind: Kind) -> Result<PodTemplateSpec, BridgeError> {
    let key = format!("services.{name}");
    let mut main = container::main(ctx, name, svc)?;
    let mut storage = storage::mounts(ctx, name, svc)?;
    files::mounts(ctx, name, svc, &mut storage);
    let waits = deps::waits(ctx, name, svc)?;
    main.volume_mounts = (!storage.mounts.is_empty()).then_some(storage.mounts);
    let restart = match kind {
        Kind::Deployment => "Always",
        Kind::Job { on_failure: true, .. } => "OnFailure",
        Kind::Job { .. } => "Never",
    };
    let hostname = svc.hostname.as_deref().and_then(|h| {
        let label = names::dns_label(h);
        if label.as_deref() != Some(h) {
            ctx.warn(
                &format!("{key}.hostname"),
                format!("{h:?} is not a DNS label; not kept"),
            );
        }
        label.filter(|l| l == h)
    });
    let mut spec = PodSpec {
        containers: vec![main],
        init_containers: (!waits.init.is_empty()).then_some(waits.init),
        service_account_name: waits.service_account,
        volumes: (!storage.volumes.is_empty()).then_some(storage.volumes),
        restart_policy: Some(restart.into()),
        termination_grace_period_seconds: svc.stop_grace_period.map(|d| i64::from(probes::seconds(d.0))),
        host_aliases: host_aliases(ctx, &key, svc),
        dns_config: dns_config(svc),
        hostname,
        security_context: pod_security(ctx, &key, svc),
        node_selector: node_selector(ctx, &key, svc),
        ..Default::default()
    };
    namespaces(ctx, &key, svc, &mut spec);
    Ok(PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(pod_labels(ctx, name, svc)),
            annotations: pod_annotations(ctx, name, svc),
            ..Default::default()
        }),
        spec: Some(spec),
    })
}

/// Labels for the workload object itself: `deploy.labels` that are valid labels.
fn workload_labels(ctx: &mut Ctx, name: &str, svc: &Service) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (k, v) in svc.deploy.iter().flat_map(|d| d.labels.iter()) {
        if names::is_qualified_name(k) && names::is_label_value(v) {
            out.push((k.clone(), v.clone()));
        } else {
            ctx.warn(
                &format!("services.{name}.deploy.labels.{k}"),
                "not a valid Kubernetes label; not kept",
            );
        }
    }
    out
}

/// Converts one service to its Deployment or Job (and the objects its pod needs).
pub fn convert(ctx: &mut Ctx, name: &str, svc: &Service) -> Result<(), BridgeError> {
    let kind = kind(ctx, name, svc);
    let k8s = ctx.service_name(name);
    let template = template(ctx, name, svc, kind)?;
    let extra = workload_labels(ctx, name, svc);
    let mut labels: Vec<(&str, &str)> = vec![(SERVICE_LABEL, &k8s)];
    labels.extend(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let meta = ctx.meta(&k8s, &labels);
    let count = i32::try_from(replicas(svc)).unwrap_or(i32::MAX);
    match kind {
        Kind::Deployment => {
            let d = Deployment {
                metadata: meta,
                spec: Some(DeploymentSpec {
                    replicas: Some(count),
                    selector: LabelSelector {
                        match_labels: Some(BTreeMap::from([(SERVICE_LABEL.to_owned(), k8s.clone())])),
                        ..Default::default()
                    },
                    template,
                    ..Default::default()
                }),
                ..Default::default()
            };
            ctx.push(format!("{k8s}-deployment.yaml"), &d)
        }
        Kind::Job { backoff, .. } => {
            let j = Job {
                metadata: meta,
                spec: Some(JobSpec {
                    completions: Some(count),
                    parallelism: Some(count),
                    backoff_limit: backoff,
                    template,
                    ..Default::default()
                }),
                ..Default::default()
            };
            ctx.push(format!("{k8s}-job.yaml"), &j)
        }
    }
}
