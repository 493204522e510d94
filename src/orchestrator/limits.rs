//! The container-runtime attributes of a service → `HostConfig`, as Docker Compose sends them: namespace modes
//! (`pid`, `ipc`, `uts`, `userns_mode`, `cgroup`), devices and GPU requests, CPU / memory / block IO / OOM
//! settings, storage options, runtime, logging driver, annotations and legacy links.

use super::labels;
use super::service_body::Scope;
use anyhow::Result;
use bollard::models::{
    DeviceMapping, DeviceRequest, HostConfig, HostConfigCgroupnsModeEnum, HostConfigLogConfig,
    ResourcesBlkioWeightDevice, ThrottleDevice,
};
use compose::model::{self as m, Service};
use std::collections::HashMap;

/// Fills the runtime attributes of `svc` into `hc`.
pub fn apply(name: &str, svc: &Service, scope: &Scope, hc: &mut HostConfig) -> Result<()> {
    hc.pid_mode = namespace_mode(name, "pid", svc.pid.as_deref(), scope)?;
    hc.ipc_mode = namespace_mode(name, "ipc", svc.ipc.as_deref(), scope)?;
    hc.uts_mode = svc.uts.clone();
    hc.userns_mode = svc.userns_mode.clone();
    hc.cgroupns_mode = match svc.cgroup.as_deref() {
        None => None,
        Some("host") => Some(HostConfigCgroupnsModeEnum::HOST),
        Some("private") => Some(HostConfigCgroupnsModeEnum::PRIVATE),
        Some(other) => {
            return Err(scope.refuse(
                &format!("services.{name}.cgroup"),
                format!("{other:?}: expected host or private"),
            ))
        }
    };
    hc.cgroup_parent = svc.cgroup_parent.clone();
    hc.devices = non_empty(svc.devices.iter().map(device).collect());
    hc.device_cgroup_rules = non_empty(svc.device_cgroup_rules.clone());
    hc.device_requests = non_empty(device_requests(svc));
    cpu(svc, hc);
    memory(svc, hc);
    if let Some(b) = &svc.blkio_config {
        blkio(b, hc);
    }
    hc.storage_opt = (!svc.storage_opt.is_empty()).then(|| svc.storage_opt.clone().into_iter().collect());
    hc.runtime = svc.runtime.clone();
    hc.log_config = svc.logging.as_ref().map(|l| HostConfigLogConfig {
        typ: l.driver.clone(),
        config: Some(
            l.options
                .iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| (k.clone(), v.clone())))
                .collect(),
        ),
    });
    hc.annotations = (!svc.annotations.is_empty()).then(|| svc.annotations.clone().into_iter().collect());
    hc.links = non_empty(links(svc, scope));
    Ok(())
}

fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

/// `service:x` → `container:<x's first replica>`; `host`, `private`, `shareable`, `container:...` as written.
fn namespace_mode(name: &str, key: &str, mode: Option<&str>, scope: &Scope) -> Result<Option<String>> {
    let Some(mode) = mode else { return Ok(None) };
    let Some(service) = mode.strip_prefix("service:") else {
        return Ok(Some(mode.to_owned()));
    };
    if !scope.has_service(service) {
        return Err(scope.refuse(
            &format!("services.{name}.{key}"),
            format!("service {service:?} is not defined"),
        ));
    }
    Ok(Some(format!("container:{}", scope.first_container(service))))
}

fn device(d: &m::Device) -> DeviceMapping {
    DeviceMapping {
        path_on_host: Some(d.source.clone()),
        path_in_container: Some(d.target.clone().unwrap_or_else(|| d.source.clone())),
        cgroup_permissions: Some(d.permissions.clone().unwrap_or_else(|| "rwm".to_owned())),
    }
}

/// `gpus:` and `deploy.resources.reservations.devices` as the Engine API's device requests.
fn device_requests(svc: &Service) -> Vec<DeviceRequest> {
    let mut out = Vec::new();
    match &svc.gpus {
        Some(m::Gpus::All(_)) => out.push(DeviceRequest {
            count: Some(-1),
            capabilities: Some(vec![vec!["gpu".to_owned()]]),
            ..Default::default()
        }),
        Some(m::Gpus::Requests(list)) => out.extend(list.iter().map(|r| request(r, "gpu"))),
        None => {}
    }
    let reserved = svc
        .deploy
        .iter()
        .flat_map(|d| d.resources.reservations.iter())
        .flat_map(|r| r.devices.iter());
    out.extend(reserved.map(|r| request(r, "")));
    out
}

fn request(r: &m::DeviceRequest, default_capability: &str) -> DeviceRequest {
    let count = match &r.count {
        Some(m::DeviceCount::Number(n)) => Some(*n),
        Some(m::DeviceCount::Text(t)) => Some(t.parse().unwrap_or(-1)),
        None if r.device_ids.is_empty() => Some(-1),
        None => None,
    };
    let mut capabilities = r.capabilities.clone();
    if capabilities.is_empty() && !default_capability.is_empty() {
        capabilities.push(default_capability.to_owned());
    }
    DeviceRequest {
        driver: r.driver.clone(),
        count,
        device_ids: non_empty(r.device_ids.clone()),
        capabilities: Some(vec![capabilities]),
        options: (!r.options.is_empty()).then(|| r.options.clone().into_iter().collect()),
    }
}

fn cpu(svc: &Service, hc: &mut HostConfig) {
    hc.cpu_shares = svc.cpu_shares;
    hc.cpu_period = svc.cpu_period;
    hc.cpu_quota = svc.cpu_quota;
    hc.cpu_realtime_period = svc.cpu_rt_period;
    hc.cpu_realtime_runtime = svc.cpu_rt_runtime;
    hc.cpuset_cpus = svc.cpuset.clone();
    hc.cpu_count = svc.cpu_count;
    hc.cpu_percent = svc.cpu_percent.map(|p| p as i64);
}

fn memory(svc: &Service, hc: &mut HostConfig) {
    hc.memory_swappiness = svc.mem_swappiness;
    hc.memory_swap = svc.memswap_limit.map(|m| m.0);
    hc.oom_kill_disable = svc.oom_kill_disable;
    hc.oom_score_adj = svc.oom_score_adj;
}

fn blkio(b: &m::BlkioConfig, hc: &mut HostConfig) {
    hc.blkio_weight = b.weight;
    hc.blkio_weight_device = non_empty(
        b.weight_device
            .iter()
            .map(|w| ResourcesBlkioWeightDevice {
                path: Some(w.path.clone()),
                weight: w.weight.map(usize::from),
            })
            .collect(),
    );
    let throttle = |list: &[m::BlkioLimit]| {
        non_empty(
            list.iter()
                .map(|l| ThrottleDevice {
                    path: Some(l.path.clone()),
                    rate: l.rate.map(super::host_config::bytes),
                })
                .collect(),
        )
    };
    hc.blkio_device_read_bps = throttle(&b.device_read_bps);
    hc.blkio_device_write_bps = throttle(&b.device_write_bps);
    hc.blkio_device_read_iops = throttle(&b.device_read_iops);
    hc.blkio_device_write_iops = throttle(&b.device_write_iops);
}

/// Legacy links as Docker Compose writes them: `<container>:<alias>` for every replica of the linked service
/// (the alias defaults to the service name), then `external_links` as `<container>:<alias>`.
fn links(svc: &Service, scope: &Scope) -> Vec<String> {
    let mut out = Vec::new();
    for link in &svc.links {
        let (service, alias) = link.split_once(':').unwrap_or((link, link));
        let Some(target) = scope.project.service(service) else {
            continue;
        };
        for name in replica_names(&scope.project.name, service, target) {
            out.push(format!("{name}:{alias}"));
        }
    }
    for link in &svc.external_links {
        let (container, alias) = link.split_once(':').unwrap_or((link, link));
        out.push(format!("{container}:{alias}"));
    }
    out
}

/// Container names of a service's replicas as `up` creates them.
fn replica_names(project: &str, service: &str, svc: &Service) -> Vec<String> {
    if let Some(name) = &svc.container_name {
        return vec![name.clone()];
    }
    let replicas = svc.deploy.as_ref().and_then(|d| d.replicas).or(svc.scale).unwrap_or(1);
    (1..=replicas)
        .map(|n| labels::container_name(project, service, n as u32))
        .collect()
}

/// Labels read from `label_file` files (`KEY=VALUE` lines), later files winning.
pub fn label_files(name: &str, files: &[String], scope: &Scope) -> Result<HashMap<String, String>> {
    let mut out = HashMap::new();
    for (i, file) in files.iter().enumerate() {
        let vars = compose::dotenv::read_raw(std::path::Path::new(file))
            .map_err(|e| scope.refuse(&format!("services.{name}.label_file[{i}]"), e))?;
        out.extend(vars);
    }
    Ok(out)
}
