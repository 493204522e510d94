//! A typed Compose service's host settings → bollard `HostConfig`: ports, mounts, restart policy, limits, DNS,
//! namespaces. Values arrive typed from `compose::model` (durations, byte sizes, port ranges): nothing is
//! parsed again here.

use super::limits;
use super::service_body::{protocol, Scope};
use anyhow::Result;
use bollard::models::{
    HostConfig, Mount, MountBindOptions, MountBindOptionsPropagationEnum, MountTmpfsOptions, MountType,
    MountVolumeOptions, PortBinding, PortMap, ResourcesUlimits, RestartPolicy, RestartPolicyNameEnum,
};
use compose::model::{self as m, Service};
use std::collections::HashMap;
use std::path::Path;

/// The `HostConfig` of one service.
pub fn map(name: &str, svc: &Service, scope: &Scope) -> Result<HostConfig> {
    let (mounts, binds) = mounts(name, svc, scope)?;
    let (security_opt, system_paths_unconfined) = security_opts(&svc.security_opt);
    let mut hc = HostConfig {
        port_bindings: port_bindings(&svc.ports),
        mounts: (!mounts.is_empty()).then_some(mounts),
        binds: (!binds.is_empty()).then_some(binds),
        restart_policy: restart_policy(name, svc, scope)?,
        cap_add: capabilities(&svc.cap_add),
        cap_drop: capabilities(&svc.cap_drop),
        privileged: svc.privileged,
        readonly_rootfs: svc.read_only,
        init: svc.init,
        tmpfs: tmpfs(&svc.tmpfs),
        ulimits: ulimits(&svc.ulimits),
        sysctls: (!svc.sysctls.is_empty()).then(|| svc.sysctls.clone().into_iter().collect()),
        // Docker Compose always sends the list, empty too.
        extra_hosts: Some(svc.extra_hosts.iter().map(|h| h.replacen('=', ":", 1)).collect()),
        dns: (!svc.dns.is_empty()).then(|| svc.dns.clone()),
        dns_search: (!svc.dns_search.is_empty()).then(|| svc.dns_search.clone()),
        dns_options: (!svc.dns_opt.is_empty()).then(|| svc.dns_opt.clone()),
        security_opt: (!security_opt.is_empty()).then_some(security_opt),
        masked_paths: system_paths_unconfined.then(Vec::new),
        readonly_paths: system_paths_unconfined.then(Vec::new),
        group_add: (!svc.group_add.is_empty()).then(|| svc.group_add.clone()),
        network_mode: network_mode(name, svc, scope)?,
        volumes_from: volumes_from(name, svc, scope)?,
        pids_limit: svc.pids_limit,
        shm_size: svc.shm_size.map(bytes),
        memory: svc.mem_limit.map(bytes),
        memory_reservation: svc.mem_reservation.map(bytes),
        nano_cpus: svc.cpus.map(nano_cpus),
        ..Default::default()
    };
    deploy_resources(name, svc, scope, &mut hc)?;
    limits::apply(name, svc, scope, &mut hc)?;
    Ok(hc)
}

/// Capabilities as Docker's Go client sends them: upper case with the `CAP_` prefix (`ALL` as it is), each
/// once, sorted.
fn capabilities(given: &[String]) -> Option<Vec<String>> {
    let mut out: Vec<String> = given.iter().map(|c| capability(c)).collect();
    out.sort();
    out.dedup();
    (!out.is_empty()).then_some(out)
}

/// One capability as the engine gets it: upper case with the `CAP_` prefix, `ALL` as it is.
pub fn capability(c: &str) -> String {
    let c = c.to_ascii_uppercase();
    match c == "ALL" || c.starts_with("CAP_") {
        true => c,
        false => format!("CAP_{c}"),
    }
}

/// `security_opt` without `systempaths=unconfined`, and whether it was there: as Docker Compose (and the docker
/// CLI) do, that one is no engine option but empty masked and read-only path lists.
fn security_opts(given: &[String]) -> (Vec<String>, bool) {
    const SYSTEM_PATHS_UNCONFINED: &str = "systempaths=unconfined";
    let kept: Vec<String> = given
        .iter()
        .filter(|o| *o != SYSTEM_PATHS_UNCONFINED)
        .cloned()
        .collect();
    let unconfined = kept.len() < given.len();
    (kept, unconfined)
}

/// A byte size as the Engine API's signed count.
pub fn bytes(b: m::ByteSize) -> i64 {
    i64::try_from(b.0).unwrap_or(i64::MAX)
}

fn nano_cpus(cpus: f64) -> i64 {
    (cpus * 1e9) as i64
}

fn deploy_resources(name: &str, svc: &Service, scope: &Scope, hc: &mut HostConfig) -> Result<()> {
    let Some(resources) = svc.deploy.as_ref().map(|d| &d.resources) else {
        return Ok(());
    };
    let at = |what: &str| format!("services.{name}.deploy.resources.{what}");
    // What Docker Compose leaves out of the create body on one engine is ignored with a warning, so files
    // written for Swarm (or Docker's own `reservations.cpus` example) run.
    let ignored = |what: &str, why: &str| tracing::warn!("{}", scope.refuse(&at(what), why));
    if let Some(limits) = &resources.limits {
        if !limits.devices.is_empty() {
            ignored(
                "limits.devices",
                "device limits are Swarm-only; use reservations.devices",
            );
        }
        if !limits.generic_resources.is_empty() {
            ignored("limits.generic_resources", "generic resources are Swarm-only");
        }
        hc.memory = limits.memory.map(bytes).or(hc.memory);
        hc.nano_cpus = limits.cpus.map(nano_cpus).or(hc.nano_cpus);
        hc.pids_limit = limits.pids.or(hc.pids_limit);
    }
    if let Some(res) = &resources.reservations {
        // Reserved devices become device requests (`limits::apply`), as with `gpus:`.
        if !res.generic_resources.is_empty() {
            ignored("reservations.generic_resources", "generic resources are Swarm-only");
        }
        if res.cpus.is_some() {
            ignored(
                "reservations.cpus",
                "CPU reservations are Swarm-only (limits.cpus applies)",
            );
        }
        hc.memory_reservation = res.memory.map(bytes).or(hc.memory_reservation);
    }
    Ok(())
}

/// Published ports as the Engine API's `PortBindings` (container `port/proto` → host bindings).
pub fn port_bindings(ports: &[m::ServicePort]) -> Option<PortMap> {
    let mut map: PortMap = HashMap::new();
    for p in ports {
        let key = format!("{}/{}", p.target, protocol(&p.protocol));
        let binding = PortBinding {
            host_ip: p.host_ip.clone(),
            host_port: p.published.map(|r| r.to_string()),
        };
        map.entry(key)
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(binding);
    }
    (!map.is_empty()).then_some(map)
}

fn mounts(name: &str, svc: &Service, scope: &Scope) -> Result<(Vec<Mount>, Vec<String>)> {
    let mut mounts = Vec::new();
    let mut binds = Vec::new();
    for (i, v) in svc.volumes.iter().enumerate() {
        let at = format!("services.{name}.volumes[{i}]");
        if v.target.is_empty() {
            return Err(scope.refuse(&at, "a mount needs a target"));
        }
        let read_only = v.read_only.then_some(true);
        match v.kind.as_str() {
            "volume" => match volume_mount(v, &at, scope)? {
                Bind::Legacy(b) => binds.push(b),
                Bind::Mount(mount) => mounts.push(mount),
            },
            "bind" => match bind(v, &at, scope)? {
                Bind::Legacy(b) => binds.push(b),
                Bind::Mount(mount) => mounts.push(mount),
            },
            "tmpfs" => {
                let options = MountTmpfsOptions {
                    size_bytes: v.tmpfs.as_ref().and_then(|t| t.size).map(bytes),
                    mode: v.tmpfs.as_ref().and_then(|t| t.mode).map(i64::from),
                    ..Default::default()
                };
                mounts.push(Mount {
                    typ: Some(MountType::TMPFS),
                    target: Some(v.target.clone()),
                    read_only,
                    tmpfs_options: Some(options),
                    ..Default::default()
                });
            }
            other => {
                return Err(scope.refuse(
                    &at,
                    format!("mount type {other:?} is not supported by berth yet (volume, bind, tmpfs are)"),
                ))
            }
        }
    }
    Ok((mounts, binds))
}

/// A named volume without mount options is a `Binds` entry `name:target:rw|ro`, as Docker Compose sends it;
/// an anonymous one, or one with `nocopy`, a subpath or labels, a `Mounts` entry.
fn volume_mount(v: &m::ServiceVolume, at: &str, scope: &Scope) -> Result<Bind> {
    let source =
        match &v.source {
            Some(key) => {
                Some(scope.volumes.get(key).cloned().ok_or_else(|| {
                    scope.refuse(at, format!("volume {key:?} is not declared in the top-level volumes"))
                })?)
            }
            None => None,
        };
    let plain = v
        .volume
        .as_ref()
        .is_none_or(|o| !o.nocopy && o.subpath.as_deref().unwrap_or("").is_empty() && o.labels.is_empty());
    if let (Some(name), true) = (&source, plain) {
        return Ok(Bind::Legacy(format!("{name}:{}:{}", v.target, access(v))));
    }
    let options = v.volume.as_ref().map(|o| MountVolumeOptions {
        no_copy: o.nocopy.then_some(true),
        subpath: o.subpath.clone().filter(|s| !s.is_empty()),
        labels: (!o.labels.is_empty()).then(|| o.labels.clone().into_iter().collect()),
        ..Default::default()
    });
    Ok(Bind::Mount(Mount {
        typ: Some(MountType::VOLUME),
        source,
        target: Some(v.target.clone()),
        read_only: v.read_only.then_some(true),
        volume_options: options,
        ..Default::default()
    }))
}

/// The access mode every `Binds` entry of Docker Compose starts its options with.
fn access(v: &m::ServiceVolume) -> &'static str {
    if v.read_only {
        "ro"
    } else {
        "rw"
    }
}

/// A bind as a `Binds` string (which creates a missing host directory) or as a `Mounts` entry.
enum Bind {
    Legacy(String),
    Mount(Mount),
}

fn bind(v: &m::ServiceVolume, at: &str, scope: &Scope) -> Result<Bind> {
    let Some(raw) = &v.source else {
        return Err(scope.refuse(at, "a bind mount needs a source"));
    };
    let source = resolve(scope.working_dir, raw);
    let options = v.bind.clone().unwrap_or_default();
    let selinux = options
        .selinux
        .as_deref()
        .map(|l| selinux_label(l, at, scope))
        .transpose()?;
    // The loader writes create_host_path: true for the short syntax; Binds create the missing directory. An
    // SELinux label is a Binds option only (as Compose sends it); the engine relabels nothing on a host
    // without SELinux, as dockerd.
    let create = options.create_host_path || v.bind.is_none();
    let recursive = options.recursive.as_deref().filter(|r| *r != "enabled");
    if (create && options.propagation.is_none() && recursive.is_none()) || selinux.is_some() {
        let opts: Vec<&str> = [Some(access(v)), selinux, options.propagation.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        return Ok(Bind::Legacy(format!("{source}:{}:{}", v.target, opts.join(","))));
    }
    let propagation = options
        .propagation
        .as_deref()
        .map(|p| parse_propagation(p, at, scope))
        .transpose()?;
    let mut bind_options = MountBindOptions {
        propagation,
        create_mountpoint: create.then_some(true),
        ..Default::default()
    };
    match recursive {
        None => {}
        Some("disabled") => bind_options.non_recursive = Some(true),
        Some("writable") => bind_options.read_only_non_recursive = Some(true),
        Some("readonly") => bind_options.read_only_force_recursive = Some(true),
        Some(other) => {
            return Err(scope.refuse(
                &format!("{at}.bind.recursive"),
                format!("{other:?}: expected enabled, disabled, writable or readonly"),
            ))
        }
    }
    Ok(Bind::Mount(Mount {
        typ: Some(MountType::BIND),
        source: Some(source),
        target: Some(v.target.clone()),
        read_only: v.read_only.then_some(true),
        bind_options: Some(bind_options),
        ..Default::default()
    }))
}

fn selinux_label(l: &str, at: &str, scope: &Scope) -> Result<&'static str> {
    match l {
        "z" => Ok("z"),
        "Z" => Ok("Z"),
        other => Err(scope.refuse(
            &format!("{at}.bind.selinux"),
            format!("{other:?} is not an SELinux relabel option: expected z (shared) or Z (private)"),
        )),
    }
}

fn parse_propagation(p: &str, at: &str, scope: &Scope) -> Result<MountBindOptionsPropagationEnum> {
    Ok(match p {
        "private" => MountBindOptionsPropagationEnum::PRIVATE,
        "rprivate" => MountBindOptionsPropagationEnum::RPRIVATE,
        "shared" => MountBindOptionsPropagationEnum::SHARED,
        "rshared" => MountBindOptionsPropagationEnum::RSHARED,
        "slave" => MountBindOptionsPropagationEnum::SLAVE,
        "rslave" => MountBindOptionsPropagationEnum::RSLAVE,
        other => {
            return Err(scope.refuse(
                &format!("{at}.bind.propagation"),
                format!("{other:?} is not a propagation mode"),
            ))
        }
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

fn restart_policy(name: &str, svc: &Service, scope: &Scope) -> Result<Option<RestartPolicy>> {
    let at = format!("services.{name}.restart");
    // `deploy.restart_policy` wins over `restart`, its conditions named as the engine names them (Docker
    // Compose's order and mapping; no condition sends none, which the engine reads as `no`).
    let from_deploy = svc.deploy.as_ref().and_then(|d| d.restart_policy.as_ref()).map(|rp| {
        let cond = match rp.condition.as_deref() {
            Some("none" | "no") => "no",
            Some("any" | "always") => "always",
            Some(other) => other,
            None => "",
        };
        (
            cond.to_owned(),
            rp.max_attempts.map(|n| i64::try_from(n).unwrap_or(i64::MAX)),
        )
    });
    let (policy, retries) = match (&svc.restart, from_deploy) {
        (_, Some(d)) => d,
        (Some(r), None) => match r.split_once(':') {
            Some((p, n)) => (
                p.to_owned(),
                Some(
                    n.parse::<i64>()
                        .map_err(|_| scope.refuse(&at, format!("{r:?} has a bad retry count")))?,
                ),
            ),
            None => (r.clone(), None),
        },
        (None, None) => return Ok(None),
    };
    let name_enum = match policy.as_str() {
        "" => RestartPolicyNameEnum::EMPTY,
        "no" => RestartPolicyNameEnum::NO,
        "always" => RestartPolicyNameEnum::ALWAYS,
        "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
        "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
        other => {
            return Err(scope.refuse(
                &at,
                format!("{other:?} is not one of no, always, on-failure[:N], unless-stopped"),
            ))
        }
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

fn ulimits(map: &indexmap::IndexMap<String, m::Ulimit>) -> Option<Vec<ResourcesUlimits>> {
    let mut out: Vec<ResourcesUlimits> = map
        .iter()
        .map(|(name, u)| {
            let (soft, hard) = match u {
                m::Ulimit::Single(n) => (*n, *n),
                m::Ulimit::Pair { soft, hard } => (*soft, *hard),
            };
            ResourcesUlimits {
                name: Some(name.clone()),
                soft: Some(soft),
                hard: Some(hard),
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    (!out.is_empty()).then_some(out)
}

/// `service:x` → the container name of x's first replica (as Docker Compose resolves it).
fn service_container(name: &str, key: &str, reference: &str, scope: &Scope) -> Result<String> {
    if !scope.has_service(reference) {
        return Err(scope.refuse(
            &format!("services.{name}.{key}"),
            format!("service {reference:?} is not defined"),
        ));
    }
    Ok(scope.first_container(reference))
}

fn network_mode(name: &str, svc: &Service, scope: &Scope) -> Result<Option<String>> {
    let Some(mode) = &svc.network_mode else { return Ok(None) };
    match mode.strip_prefix("service:") {
        Some(other) => Ok(Some(format!(
            "container:{}",
            service_container(name, "network_mode", other, scope)?
        ))),
        None => Ok(Some(mode.clone())),
    }
}

fn volumes_from(name: &str, svc: &Service, scope: &Scope) -> Result<Option<Vec<String>>> {
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
            out.push(format!(
                "{}{mode}",
                service_container(name, "volumes_from", service, scope)?
            ));
        }
    }
    Ok((!out.is_empty()).then_some(out))
}
