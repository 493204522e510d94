//! One typed Compose service (`compose::model::Service`) mapped to the engine's create body (bollard
//! `ContainerCreateBody` + `HostConfig`); mounts and host settings are in `host_config`.

use super::host_config;
use super::limits;
use super::secrets::{Catalog, Kind as FileKind};
use super::spec::{Condition, Dependency, Hook, PullPolicy, ServiceNetwork, ServiceSpec};
use anyhow::Result;
use bollard::models::{ContainerCreateBody, HealthConfig};
use compose::model::{self as m, Service};
use std::collections::HashMap;
use std::path::Path;

/// What mapping a service needs from its project.
pub struct Scope<'a> {
    /// The typed project (names, positions for errors).
    pub project: &'a compose::Project,
    /// Working directory (relative bind sources resolve against it).
    pub working_dir: &'a Path,
    /// Volume key → engine name.
    pub volumes: &'a HashMap<String, String>,
    /// Network keys declared.
    pub networks: &'a [String],
    /// Declared secrets and configs.
    pub catalog: &'a Catalog,
}

impl Scope<'_> {
    /// An error about key `path`, prefixed with the `file:line:column` it was written at when known.
    pub fn refuse(&self, path: &str, message: impl std::fmt::Display) -> anyhow::Error {
        refusal(self.project, path, message)
    }

    /// Whether `name` is an enabled service of the project.
    pub fn has_service(&self, name: &str) -> bool {
        self.project.service(name).is_some()
    }

    /// The engine name of service `name`'s first container: its `container_name`, else `<project>-<name>-1`.
    pub fn first_container(&self, name: &str) -> String {
        match self.project.service(name).and_then(|s| s.container_name.clone()) {
            Some(fixed) => fixed,
            None => super::labels::container_name(&self.project.name, name, 1),
        }
    }
}

/// An error about key `path` of `project`, with its position when the loader recorded one.
pub fn refusal(project: &compose::Project, path: &str, message: impl std::fmt::Display) -> anyhow::Error {
    match project.locate(path) {
        Some(loc) => anyhow::anyhow!("{loc}: {path}: {message}"),
        None => anyhow::anyhow!("{path}: {message}"),
    }
}

/// Maps one service; `name` is used in every error.
pub fn map(name: &str, svc: &Service, scope: &Scope) -> Result<ServiceSpec> {
    let at = |what: &str| format!("services.{name}.{what}");
    let build = super::from_build::map(name, svc, scope)?;
    let image = match (&svc.image, &build) {
        (Some(image), _) => image.clone(),
        // Docker Compose's name for an image it builds: `<project>-<service>`.
        (None, Some(_)) => format!("{}-{name}", scope.project.name),
        (None, None) => return Err(scope.refuse(&at("image"), "a service needs an image or a build section")),
    };
    let replicas = svc.deploy.as_ref().and_then(|d| d.replicas).or(svc.scale).unwrap_or(1);
    let replicas = u32::try_from(replicas).map_err(|_| scope.refuse(&at("scale"), "too many replicas"))?;
    let depends_on = dependencies(name, svc, scope)?;
    let pull_policy = match svc.pull_policy.as_deref() {
        Some(p) => p
            .parse::<PullPolicy>()
            .map_err(|e| scope.refuse(&at("pull_policy"), e))?,
        None => PullPolicy::Missing,
    };
    if pull_policy == PullPolicy::Build && build.is_none() {
        return Err(scope.refuse(&at("pull_policy"), "\"build\" needs a build section"));
    }
    let networks = service_networks(name, svc, scope)?;
    let mut host_config = host_config::map(name, svc, scope)?;
    let (secret_mounts, mut staged) = scope.catalog.mounts(name, FileKind::Secret, &svc.secrets)?;
    let (config_mounts, config_files) = scope.catalog.mounts(name, FileKind::Config, &svc.configs)?;
    staged.extend(config_files);
    if !secret_mounts.is_empty() || !config_mounts.is_empty() {
        let mounts = host_config.mounts.get_or_insert_with(Vec::new);
        mounts.extend(secret_mounts);
        mounts.extend(config_mounts);
    }
    // Sorted, so the body (and its config hash) does not depend on the order keys were written in. A variable
    // without a value goes as its bare name, as Docker Compose sends it (the engine then drops the image's).
    let mut env: Vec<String> = svc
        .environment
        .iter()
        .map(|(k, v)| match v {
            Some(v) => format!("{k}={v}"),
            None => k.clone(),
        })
        .collect();
    env.sort();
    let mut exposed: Vec<String> = svc
        .ports
        .iter()
        .map(|p| format!("{}/{}", p.target, protocol(&p.protocol)))
        .collect();
    // `expose` entries go as written ("9000" stays without its protocol), as Docker Compose sends them.
    exposed.extend(svc.expose.iter().cloned());
    exposed.sort();
    exposed.dedup();
    let create = ContainerCreateBody {
        image: Some(image.clone()),
        cmd: svc.command.clone(),
        entrypoint: svc.entrypoint.clone(),
        env: (!env.is_empty()).then_some(env),
        user: svc.user.clone(),
        working_dir: svc.working_dir.clone(),
        hostname: svc.hostname.clone(),
        domainname: svc.domainname.clone(),
        labels: Some(labels(name, svc, scope)?),
        tty: svc.tty,
        open_stdin: svc.stdin_open,
        // Docker Compose attaches both outputs of every container it creates.
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        healthcheck: healthcheck(svc.healthcheck.as_ref()),
        stop_signal: svc.stop_signal.clone(),
        stop_timeout: svc.stop_grace_period.map(|d| secs(d.0)),
        host_config: Some(host_config),
        ..Default::default()
    };
    Ok(ServiceSpec {
        name: name.to_owned(),
        image,
        replicas,
        container_name: svc.container_name.clone(),
        depends_on,
        pull_policy,
        networks,
        create,
        staged,
        platform: svc.platform.clone(),
        attach: svc.attach.unwrap_or(true),
        post_start: svc.post_start.iter().map(hook).collect(),
        pre_stop: svc.pre_stop.iter().map(hook).collect(),
        api_socket: svc.use_api_socket.unwrap_or(false),
        watch: super::from_watch::map(name, svc, scope)?,
        build,
        image_id: None,
    })
}

/// `label_file` labels first, then `labels` (which win), as Docker Compose merges them.
fn labels(name: &str, svc: &Service, scope: &Scope) -> Result<HashMap<String, String>> {
    let mut out = limits::label_files(name, &svc.label_file, scope)?;
    out.extend(svc.labels.clone());
    Ok(out)
}

/// A lifecycle or watch hook of the model as the exec call takes it.
pub fn hook(h: &m::ServiceHook) -> Hook {
    Hook {
        command: h.command.clone().unwrap_or_default(),
        user: h.user.clone(),
        privileged: h.privileged.unwrap_or(false),
        working_dir: h.working_dir.clone(),
        environment: h
            .environment
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
            .collect(),
    }
}

/// A port's protocol, `tcp` when the model leaves it empty.
pub fn protocol(p: &str) -> &str {
    if p.is_empty() {
        "tcp"
    } else {
        p
    }
}

fn secs(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// Nanoseconds, as the Engine API counts healthcheck durations.
pub fn nanos(d: m::Duration) -> i64 {
    i64::try_from(d.0.as_nanos()).unwrap_or(i64::MAX)
}

/// `depends_on` as the loader normalised it (with the implicit ones of `network_mode: service:`,
/// `volumes_from`, `links`, `pid`/`ipc: service:` already added).
fn dependencies(name: &str, svc: &Service, scope: &Scope) -> Result<Vec<Dependency>> {
    let mut out = Vec::new();
    for (dep, d) in &svc.depends_on {
        let condition = match d.condition {
            m::Condition::ServiceStarted => Condition::Started,
            m::Condition::ServiceHealthy => Condition::Healthy,
            m::Condition::ServiceCompletedSuccessfully => Condition::CompletedSuccessfully,
        };
        if d.required && !scope.has_service(dep.as_str()) {
            return Err(scope.refuse(
                &format!("services.{name}.depends_on"),
                format!(
                    "service {:?} is not defined (or not enabled by the active profiles)",
                    dep.as_str()
                ),
            ));
        }
        out.push(Dependency {
            service: dep.as_str().to_owned(),
            condition,
            required: d.required,
            restart: d.restart,
        });
    }
    Ok(out)
}

/// The endpoint driver option that names the interface inside the container (Compose's `interface_name`).
const IFNAME_OPTION: &str = "com.docker.network.endpoint.ifname";

fn service_networks(name: &str, svc: &Service, scope: &Scope) -> Result<Vec<ServiceNetwork>> {
    if svc.network_mode.is_some() {
        if !svc.networks.is_empty() {
            return Err(scope.refuse(
                &format!("services.{name}"),
                "network_mode and networks cannot be combined",
            ));
        }
        return Ok(Vec::new());
    }
    let mut declared: Vec<(String, Option<m::ServiceNetwork>)> = svc.networks.clone().into_iter().collect();
    if declared.is_empty() {
        declared.push(("default".to_owned(), None));
    }
    // Docker Compose's order: highest `priority` first, then by key; the first is the primary network.
    let priority = |n: &Option<m::ServiceNetwork>| n.as_ref().and_then(|n| n.priority).unwrap_or(0);
    declared.sort_by(|(a, an), (b, bn)| priority(bn).cmp(&priority(an)).then_with(|| a.cmp(b)));
    let mut out: Vec<ServiceNetwork> = Vec::new();
    for (key, attach) in declared {
        let at = format!("services.{name}.networks.{key}");
        if !scope.networks.contains(&key) {
            return Err(scope.refuse(
                &at,
                format!("network {key:?} is not declared in the top-level networks"),
            ));
        }
        let attach = attach.unwrap_or_default();
        let mut driver_opts: std::collections::BTreeMap<String, String> = attach.driver_opts.into_iter().collect();
        if let Some(ifname) = attach.interface_name {
            driver_opts.insert(IFNAME_OPTION.to_owned(), ifname);
        }
        out.push(ServiceNetwork {
            key,
            aliases: attach.aliases,
            ipv4_address: attach.ipv4_address,
            ipv6_address: attach.ipv6_address,
            link_local_ips: attach.link_local_ips,
            mac_address: attach.mac_address,
            gw_priority: attach.gw_priority,
            driver_opts,
        });
    }
    // The service-level MAC address belongs to its first (primary) network, as Docker Compose sends it.
    if let (Some(mac), Some(first)) = (&svc.mac_address, out.first_mut()) {
        first.mac_address.get_or_insert_with(|| mac.clone());
    }
    Ok(out)
}

fn healthcheck(hc: Option<&m::Healthcheck>) -> Option<HealthConfig> {
    let hc = hc?;
    if hc.disable {
        return Some(HealthConfig {
            test: Some(vec!["NONE".to_owned()]),
            ..Default::default()
        });
    }
    // Zero durations and retries are left out, as Docker Compose's Go struct leaves them out: the engine's
    // defaults apply.
    let set = |d: Option<m::Duration>| d.map(nanos).filter(|n| *n != 0);
    Some(HealthConfig {
        test: (!hc.test.is_empty()).then(|| hc.test.clone()),
        interval: set(hc.interval),
        timeout: set(hc.timeout),
        retries: hc
            .retries
            .map(|r| i64::try_from(r).unwrap_or(i64::MAX))
            .filter(|r| *r != 0),
        start_period: set(hc.start_period),
        start_interval: set(hc.start_interval),
    })
}
