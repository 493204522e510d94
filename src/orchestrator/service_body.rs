//! One canonical Compose service mapped to the engine's create body (bollard `ContainerCreateBody` + `HostConfig`).

use super::canonical::{self as c, Scalar};
use super::labels;
use super::secrets::{Catalog, Kind as FileKind};
use super::spec::{Condition, Dependency, PullPolicy, ServiceNetwork, ServiceSpec};
use anyhow::{bail, Context, Result};
use bollard::models::{
    ContainerCreateBody, HealthConfig, HostConfig, Mount, MountBindOptions, MountBindOptionsPropagationEnum,
    MountTmpfsOptions, MountType, MountVolumeOptions, PortBinding, PortMap, ResourcesUlimits, RestartPolicy,
    RestartPolicyNameEnum,
};
use std::collections::HashMap;
use std::path::Path;

/// What mapping a service needs from its project.
pub struct Scope<'a> {
    /// Project name.
    pub project: &'a str,
    /// Working directory (relative bind sources resolve against it).
    pub working_dir: &'a Path,
    /// Volume key → engine name.
    pub volumes: &'a HashMap<String, String>,
    /// Network keys declared.
    pub networks: &'a [String],
    /// Services of the project (for `service:` references).
    pub services: &'a [String],
    /// Declared secrets and configs.
    pub catalog: &'a Catalog,
}

/// Maps one service; `name` is used in every error.
pub fn map(name: &str, svc: c::Service, scope: &Scope) -> Result<ServiceSpec> {
    let at = |what: &str| format!("services.{name}.{what}");
    let image = svc.image.clone().with_context(|| {
        format!(
            "{}: a service needs an image (build: is not supported by berth yet)",
            at("image")
        )
    })?;
    let replicas = svc.deploy.as_ref().and_then(|d| d.replicas).or(svc.scale).unwrap_or(1);
    if let Some(mode) = svc.deploy.as_ref().and_then(|d| d.mode.as_deref()) {
        if mode != "replicated" {
            bail!(
                "{}: mode {mode:?} is not supported by berth (only replicated)",
                at("deploy.mode")
            );
        }
    }
    if svc
        .deploy
        .as_ref()
        .and_then(|d| d.placement.as_ref())
        .is_some_and(|p| p.as_object().is_none_or(|m| !m.is_empty()))
    {
        bail!("{}: swarm placement is not supported by berth", at("deploy.placement"));
    }
    let depends_on = dependencies(name, &svc, scope)?;
    let pull_policy = match &svc.pull_policy {
        Some(p) if p == "build" => bail!("{}: \"build\" is not supported by berth yet", at("pull_policy")),
        Some(p) => p
            .parse::<PullPolicy>()
            .map_err(|e| anyhow::anyhow!("{}: {e}", at("pull_policy")))?,
        None => PullPolicy::Missing,
    };
    let networks = service_networks(name, &svc, scope)?;
    let mut host_config = host_config(name, &svc, scope)?;
    let (secret_mounts, mut staged) = scope.catalog.mounts(name, FileKind::Secret, svc.secrets.as_ref())?;
    let (config_mounts, config_files) = scope.catalog.mounts(name, FileKind::Config, svc.configs.as_ref())?;
    staged.extend(config_files);
    if !secret_mounts.is_empty() || !config_mounts.is_empty() {
        let mounts = host_config.mounts.get_or_insert_with(Vec::new);
        mounts.extend(secret_mounts);
        mounts.extend(config_mounts);
    }
    let env: Vec<String> = svc
        .environment
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
        .collect();
    let mut exposed: Vec<String> = svc
        .ports
        .iter()
        .map(|p| format!("{}/{}", p.target, p.protocol.as_deref().unwrap_or("tcp")))
        .collect();
    exposed.extend(svc.expose.iter().map(|e| {
        let e = e.to_string();
        if e.contains('/') {
            e
        } else {
            format!("{e}/tcp")
        }
    }));
    exposed.sort();
    exposed.dedup();
    let stop_timeout = match &svc.stop_grace_period {
        Some(v) => Some(
            c::duration_ns(v)
                .with_context(|| format!("{}: expected a duration such as 10s", at("stop_grace_period")))?
                / 1_000_000_000,
        ),
        None => None,
    };
    let create = ContainerCreateBody {
        image: Some(image.clone()),
        cmd: svc.command.clone(),
        entrypoint: svc.entrypoint.clone(),
        env: (!env.is_empty()).then_some(env),
        user: svc.user.clone(),
        working_dir: svc.working_dir.clone(),
        hostname: svc.hostname.clone(),
        domainname: svc.domainname.clone(),
        labels: Some(svc.labels.clone().into_iter().collect()),
        tty: svc.tty,
        open_stdin: svc.stdin_open,
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        healthcheck: healthcheck(name, svc.healthcheck.as_ref())?,
        stop_signal: svc.stop_signal.clone(),
        stop_timeout,
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
    })
}

fn dependencies(name: &str, svc: &c::Service, scope: &Scope) -> Result<Vec<Dependency>> {
    let mut out = Vec::new();
    for (dep, d) in &svc.depends_on {
        let condition = match d.condition.as_str() {
            "service_started" => Condition::Started,
            "service_healthy" => Condition::Healthy,
            "service_completed_successfully" => Condition::CompletedSuccessfully,
            other => bail!("services.{name}.depends_on.{dep}.condition: {other:?} is not one of service_started, service_healthy, service_completed_successfully"),
        };
        if d.required && !scope.services.iter().any(|s| s == dep) {
            bail!("services.{name}.depends_on: service {dep:?} is not defined (or not enabled by the active profiles)");
        }
        out.push(Dependency {
            service: dep.clone(),
            condition,
            required: d.required,
            restart: d.restart,
        });
    }
    // network_mode: service:x and volumes_from x need x's container to exist and run first.
    let implicit = svc
        .network_mode
        .iter()
        .filter_map(|m| m.strip_prefix("service:"))
        .chain(
            svc.volumes_from
                .iter()
                .filter(|v| !v.starts_with("container:"))
                .map(|v| {
                    let v = v.strip_prefix("service:").unwrap_or(v);
                    v.split(':').next().unwrap_or(v)
                }),
        );
    for dep in implicit {
        if !out.iter().any(|d| d.service == dep) {
            out.push(Dependency {
                service: dep.to_owned(),
                condition: Condition::Started,
                required: true,
                restart: false,
            });
        }
    }
    Ok(out)
}

fn service_networks(name: &str, svc: &c::Service, scope: &Scope) -> Result<Vec<ServiceNetwork>> {
    if svc.network_mode.is_some() {
        if svc.networks.as_ref().is_some_and(|n| !n.is_empty()) {
            bail!("services.{name}: network_mode and networks cannot be combined");
        }
        return Ok(Vec::new());
    }
    let declared = svc
        .networks
        .clone()
        .unwrap_or_else(|| [("default".to_owned(), None)].into_iter().collect());
    let mut out = Vec::new();
    for (key, attach) in declared {
        if !scope.networks.contains(&key) {
            bail!("services.{name}.networks.{key}: network {key:?} is not declared in the top-level networks");
        }
        let attach = attach.unwrap_or_default();
        if attach.priority.is_some() {
            bail!("services.{name}.networks.{key}.priority: not supported by berth yet");
        }
        out.push(ServiceNetwork {
            key,
            aliases: attach.aliases,
            ipv4_address: attach.ipv4_address,
            ipv6_address: attach.ipv6_address,
        });
    }
    Ok(out)
}

fn healthcheck(name: &str, hc: Option<&c::Healthcheck>) -> Result<Option<HealthConfig>> {
    let Some(hc) = hc else { return Ok(None) };
    if hc.disable {
        return Ok(Some(HealthConfig {
            test: Some(vec!["NONE".to_owned()]),
            ..Default::default()
        }));
    }
    let dur = |v: &Option<Scalar>, key: &str| -> Result<Option<i64>> {
        v.as_ref()
            .map(|v| {
                c::duration_ns(v)
                    .with_context(|| format!("services.{name}.healthcheck.{key}: expected a duration such as 5s"))
            })
            .transpose()
    };
    Ok(Some(HealthConfig {
        test: hc.test.clone(),
        interval: dur(&hc.interval, "interval")?,
        timeout: dur(&hc.timeout, "timeout")?,
        retries: hc.retries,
        start_period: dur(&hc.start_period, "start_period")?,
        start_interval: dur(&hc.start_interval, "start_interval")?,
    }))
}

fn host_config(name: &str, svc: &c::Service, scope: &Scope) -> Result<HostConfig> {
    let at = |what: &str| format!("services.{name}.{what}");
    let (mounts, binds) = mounts(name, svc, scope)?;
    let mut hc = HostConfig {
        port_bindings: port_bindings(svc),
        mounts: (!mounts.is_empty()).then_some(mounts),
        binds: (!binds.is_empty()).then_some(binds),
        restart_policy: restart_policy(name, svc)?,
        cap_add: (!svc.cap_add.is_empty()).then(|| svc.cap_add.clone()),
        cap_drop: (!svc.cap_drop.is_empty()).then(|| svc.cap_drop.clone()),
        privileged: svc.privileged,
        readonly_rootfs: svc.read_only,
        init: svc.init,
        tmpfs: tmpfs(&svc.tmpfs),
        ulimits: ulimits(&svc.ulimits),
        sysctls: (!svc.sysctls.is_empty())
            .then(|| svc.sysctls.iter().map(|(k, v)| (k.clone(), v.to_string())).collect()),
        extra_hosts: extra_hosts(svc.extra_hosts.as_ref()),
        dns: (!svc.dns.is_empty()).then(|| svc.dns.clone()),
        dns_search: (!svc.dns_search.is_empty()).then(|| svc.dns_search.clone()),
        dns_options: (!svc.dns_opt.is_empty()).then(|| svc.dns_opt.clone()),
        security_opt: (!svc.security_opt.is_empty()).then(|| svc.security_opt.clone()),
        group_add: (!svc.group_add.is_empty()).then(|| svc.group_add.iter().map(Scalar::to_string).collect()),
        network_mode: network_mode(name, svc, scope)?,
        volumes_from: volumes_from(name, svc, scope)?,
        pids_limit: svc.pids_limit,
        ..Default::default()
    };
    if let Some(v) = &svc.shm_size {
        hc.shm_size =
            Some(c::bytes(v).with_context(|| format!("{}: expected a byte size such as 64m", at("shm_size")))?);
    }
    let size =
        |v: &Scalar, key: &str| c::bytes(v).with_context(|| format!("{}: expected a byte size such as 512m", at(key)));
    let cpus = |v: &Scalar, key: &str| -> Result<i64> {
        let n: f64 = v
            .to_string()
            .parse()
            .with_context(|| format!("{}: expected a number of CPUs such as 0.5", at(key)))?;
        Ok((n * 1e9) as i64)
    };
    if let Some(v) = &svc.mem_limit {
        hc.memory = Some(size(v, "mem_limit")?);
    }
    if let Some(v) = &svc.mem_reservation {
        hc.memory_reservation = Some(size(v, "mem_reservation")?);
    }
    if let Some(v) = &svc.cpus {
        hc.nano_cpus = Some(cpus(v, "cpus")?);
    }
    let resources = svc.deploy.as_ref().and_then(|d| d.resources.as_ref());
    if let Some(limits) = resources.and_then(|r| r.limits.as_ref()) {
        if limits.devices.is_some() || limits.generic_resources.is_some() {
            bail!(
                "{}: devices and generic_resources are not supported by berth yet",
                at("deploy.resources.limits")
            );
        }
        if let Some(v) = &limits.memory {
            hc.memory = Some(size(v, "deploy.resources.limits.memory")?);
        }
        if let Some(v) = &limits.cpus {
            hc.nano_cpus = Some(cpus(v, "deploy.resources.limits.cpus")?);
        }
        hc.pids_limit = limits.pids.or(hc.pids_limit);
    }
    if let Some(res) = resources.and_then(|r| r.reservations.as_ref()) {
        if res.devices.is_some() || res.generic_resources.is_some() {
            bail!(
                "{}: devices and generic_resources are not supported by berth yet",
                at("deploy.resources.reservations")
            );
        }
        if let Some(v) = &res.memory {
            hc.memory_reservation = Some(size(v, "deploy.resources.reservations.memory")?);
        }
        if res.cpus.is_some() {
            bail!(
                "{}: CPU reservations have no single-engine equivalent; use limits.cpus",
                at("deploy.resources.reservations.cpus")
            );
        }
    }
    Ok(hc)
}

fn port_bindings(svc: &c::Service) -> Option<PortMap> {
    let mut map: PortMap = HashMap::new();
    for p in &svc.ports {
        let key = format!("{}/{}", p.target, p.protocol.as_deref().unwrap_or("tcp"));
        let binding = PortBinding {
            host_ip: p.host_ip.clone(),
            host_port: p.published.as_ref().map(Scalar::to_string),
        };
        map.entry(key)
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(binding);
    }
    (!map.is_empty()).then_some(map)
}

fn mounts(name: &str, svc: &c::Service, scope: &Scope) -> Result<(Vec<Mount>, Vec<String>)> {
    let mut mounts = Vec::new();
    let mut binds = Vec::new();
    for (i, m) in svc.volumes.iter().enumerate() {
        let at = format!("services.{name}.volumes[{i}]");
        let target = m
            .target
            .clone()
            .with_context(|| format!("{at}: a mount needs a target"))?;
        match m.kind.as_str() {
            "volume" => {
                let source =
                    match &m.source {
                        Some(key) => Some(scope.volumes.get(key).cloned().with_context(|| {
                            format!("{at}: volume {key:?} is not declared in the top-level volumes")
                        })?),
                        None => None,
                    };
                let options = m.volume.as_ref().map(|v| MountVolumeOptions {
                    no_copy: v.nocopy,
                    subpath: v.subpath.clone(),
                    ..Default::default()
                });
                mounts.push(Mount {
                    typ: Some(MountType::VOLUME),
                    source,
                    target: Some(target),
                    read_only: m.read_only,
                    volume_options: options,
                    ..Default::default()
                });
            }
            "bind" => {
                let raw = m
                    .source
                    .clone()
                    .with_context(|| format!("{at}: a bind mount needs a source"))?;
                let source = resolve(scope.working_dir, &raw);
                if m.bind.as_ref().is_some_and(|b| b.selinux.is_some()) {
                    bail!("{at}.bind.selinux: SELinux relabelling is not supported by berth yet");
                }
                let create = m.bind.as_ref().and_then(|b| b.create_host_path).unwrap_or(true);
                let propagation = m.bind.as_ref().and_then(|b| b.propagation.clone());
                if create && propagation.is_none() {
                    // Binds (unlike Mounts) create a missing host directory, which Compose's create_host_path asks for.
                    let mode = if m.read_only == Some(true) { ":ro" } else { "" };
                    binds.push(format!("{source}:{target}{mode}"));
                } else {
                    let propagation = propagation.map(|p| parse_propagation(&p, &at)).transpose()?;
                    let options = MountBindOptions {
                        propagation,
                        ..Default::default()
                    };
                    mounts.push(Mount {
                        typ: Some(MountType::BIND),
                        source: Some(source),
                        target: Some(target),
                        read_only: m.read_only,
                        bind_options: Some(options),
                        ..Default::default()
                    });
                }
            }
            "tmpfs" => {
                let size = m
                    .tmpfs
                    .as_ref()
                    .and_then(|t| t.size.as_ref())
                    .map(|s| c::bytes(s).with_context(|| format!("{at}.tmpfs.size: expected a byte size")))
                    .transpose()?;
                let options = MountTmpfsOptions {
                    size_bytes: size,
                    mode: m.tmpfs.as_ref().and_then(|t| t.mode).map(i64::from),
                    ..Default::default()
                };
                mounts.push(Mount {
                    typ: Some(MountType::TMPFS),
                    target: Some(target),
                    read_only: m.read_only,
                    tmpfs_options: Some(options),
                    ..Default::default()
                });
            }
            other => bail!("{at}: mount type {other:?} is not supported by berth yet (volume, bind, tmpfs are)"),
        }
    }
    Ok((mounts, binds))
}

fn parse_propagation(p: &str, at: &str) -> Result<MountBindOptionsPropagationEnum> {
    Ok(match p {
        "private" => MountBindOptionsPropagationEnum::PRIVATE,
        "rprivate" => MountBindOptionsPropagationEnum::RPRIVATE,
        "shared" => MountBindOptionsPropagationEnum::SHARED,
        "rshared" => MountBindOptionsPropagationEnum::RSHARED,
        "slave" => MountBindOptionsPropagationEnum::SLAVE,
        "rslave" => MountBindOptionsPropagationEnum::RSLAVE,
        other => bail!("{at}.bind.propagation: {other:?} is not a propagation mode"),
    })
}

fn resolve(base: &Path, p: &str) -> String {
    if let Some(rest) = p.strip_prefix("~/") {
        if let Some(home) = std::env::var_os("HOME") {
            return Path::new(&home).join(rest).display().to_string();
        }
    }
    if Path::new(p).is_absolute() {
        p.to_owned()
    } else {
        base.join(p).display().to_string()
    }
}

fn restart_policy(name: &str, svc: &c::Service) -> Result<Option<RestartPolicy>> {
    let from_deploy = svc.deploy.as_ref().and_then(|d| d.restart_policy.as_ref()).map(|rp| {
        let cond = match rp.condition.as_deref() {
            Some("none") => "no",
            Some("on-failure") => "on-failure",
            _ => "always",
        };
        (cond.to_owned(), rp.max_attempts)
    });
    let (policy, retries) = match (&svc.restart, from_deploy) {
        (Some(r), _) => match r.split_once(':') {
            Some((p, n)) => (
                p.to_owned(),
                Some(
                    n.parse::<i64>()
                        .with_context(|| format!("services.{name}.restart: {r:?} has a bad retry count"))?,
                ),
            ),
            None => (r.clone(), None),
        },
        (None, Some(d)) => d,
        (None, None) => return Ok(None),
    };
    let name_enum = match policy.as_str() {
        "no" => RestartPolicyNameEnum::NO,
        "always" => RestartPolicyNameEnum::ALWAYS,
        "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
        "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
        other => bail!("services.{name}.restart: {other:?} is not one of no, always, on-failure[:N], unless-stopped"),
    };
    Ok(Some(RestartPolicy {
        name: Some(name_enum),
        maximum_retry_count: retries,
    }))
}

fn tmpfs(list: &[String]) -> Option<HashMap<String, String>> {
    let map: HashMap<String, String> = list
        .iter()
        .map(|t| match t.split_once(':') {
            Some((path, opts)) => (path.to_owned(), opts.to_owned()),
            None => (t.clone(), String::new()),
        })
        .collect();
    (!map.is_empty()).then_some(map)
}

fn ulimits(map: &std::collections::BTreeMap<String, c::Ulimit>) -> Option<Vec<ResourcesUlimits>> {
    let out: Vec<ResourcesUlimits> = map
        .iter()
        .map(|(name, u)| {
            let (soft, hard) = match u {
                c::Ulimit::Single(n) => (*n, *n),
                c::Ulimit::Pair { soft, hard } => (*soft, *hard),
            };
            ResourcesUlimits {
                name: Some(name.clone()),
                soft: Some(soft),
                hard: Some(hard),
            }
        })
        .collect();
    (!out.is_empty()).then_some(out)
}

fn extra_hosts(hosts: Option<&c::ExtraHosts>) -> Option<Vec<String>> {
    let out: Vec<String> = match hosts? {
        c::ExtraHosts::List(list) => list.iter().map(|h| h.replacen('=', ":", 1)).collect(),
        c::ExtraHosts::Map(map) => map
            .iter()
            .flat_map(|(host, addrs)| match addrs {
                c::HostAddrs::One(a) => vec![format!("{host}:{a}")],
                c::HostAddrs::Many(list) => list.iter().map(|a| format!("{host}:{a}")).collect(),
            })
            .collect(),
    };
    (!out.is_empty()).then_some(out)
}

fn network_mode(name: &str, svc: &c::Service, scope: &Scope) -> Result<Option<String>> {
    let Some(mode) = &svc.network_mode else { return Ok(None) };
    if let Some(other) = mode.strip_prefix("service:") {
        if !scope.services.iter().any(|s| s == other) {
            bail!("services.{name}.network_mode: service {other:?} is not defined");
        }
        return Ok(Some(format!(
            "container:{}",
            labels::container_name(scope.project, other, 1)
        )));
    }
    Ok(Some(mode.clone()))
}

fn volumes_from(name: &str, svc: &c::Service, scope: &Scope) -> Result<Option<Vec<String>>> {
    let mut out = Vec::new();
    for entry in &svc.volumes_from {
        let (target, mode) = match entry.rsplit_once(':') {
            Some((t, m)) if m == "ro" || m == "rw" => (t, format!(":{m}")),
            _ => (entry.as_str(), String::new()),
        };
        if let Some(container) = target.strip_prefix("container:") {
            out.push(format!("{container}{mode}"));
        } else {
            let service = target.strip_prefix("service:").unwrap_or(target);
            if !scope.services.iter().any(|s| s == service) {
                bail!("services.{name}.volumes_from: service {service:?} is not defined");
            }
            out.push(format!("{}{mode}", labels::container_name(scope.project, service, 1)));
        }
    }
    Ok((!out.is_empty()).then_some(out))
}
