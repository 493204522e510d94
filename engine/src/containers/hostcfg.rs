//! Create-time checks of the HostConfig fields behind Compose's service attributes (namespaces, devices, CPU,
//! memory, block I/O, OOM, runtime, logging, storage, GPUs), as dockerd makes them: bad values refuse the create
//! before anything exists, with dockerd's message; settings this kernel cannot honour are discarded with
//! dockerd's warning.

use super::Containers;
use crate::error::{EngineError, Result};
use bollard::models::{ContainerConfig, HostConfig};
use runtime::cgroups::{self, CgroupVersion};
use runtime::devices::{DeviceNode, DeviceRule};
use runtime::logdriver::LogConfig;
use std::path::Path;

/// A namespace setting (`pid`, `ipc`, `uts`) as Docker spells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NsSetting {
    /// A namespace of the container's own (`""`, `private`).
    Private,
    /// Docker's `shareable` IPC: private, but other containers may join it.
    Shareable,
    /// No IPC mounts at all (`none`): private namespace, no /dev/shm.
    None,
    /// The host's namespace.
    Host,
    /// Another container's namespace.
    Container(String),
}

/// Which namespace a setting is for (the accepted words differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NsKind {
    Pid,
    Ipc,
    Uts,
}

impl NsSetting {
    /// Parses a mode; the error is dockerd's.
    pub(crate) fn parse(kind: NsKind, mode: Option<&str>) -> Result<Self> {
        let mode = mode.unwrap_or("");
        let (label, extra): (&str, &[&str]) = match kind {
            NsKind::Pid => ("PID", &[]),
            NsKind::Ipc => ("IPC", &["private", "shareable", "none"]),
            NsKind::Uts => ("UTS", &[]),
        };
        let bad = || EngineError::BadRequest(format!("Invalid {label} mode: {mode}"));
        match mode {
            "" => Ok(NsSetting::Private),
            "host" => Ok(NsSetting::Host),
            m if extra.contains(&m) => Ok(match m {
                "shareable" => NsSetting::Shareable,
                "none" => NsSetting::None,
                _ => NsSetting::Private,
            }),
            m => match m.strip_prefix("container:") {
                Some(c) if !c.is_empty() => Ok(NsSetting::Container(c.to_owned())),
                _ => Err(bad()),
            },
        }
    }
}

impl Containers {
    /// Checks the fields of a create request this module owns; returns dockerd's warnings (and clears the
    /// settings they discard from `h`).
    pub(super) fn check_runtime_fields(&self, h: &mut HostConfig, cfg: &ContainerConfig) -> Result<Vec<String>> {
        let mut warnings = Vec::new();
        check_engine_choices(h)?;
        for kind in [NsKind::Pid, NsKind::Ipc, NsKind::Uts] {
            let mode = match kind {
                NsKind::Pid => h.pid_mode.as_deref(),
                NsKind::Ipc => h.ipc_mode.as_deref(),
                NsKind::Uts => h.uts_mode.as_deref(),
            };
            if let NsSetting::Container(other) = NsSetting::parse(kind, mode)? {
                self.resolve(&other)
                    .map_err(|_| EngineError::NotFound(format!("No such container: {other}")))?;
            }
        }
        check_devices(h)?;
        check_cpu(h, &mut warnings)?;
        check_memory(h, &mut warnings)?;
        check_blkio(h, &mut warnings)?;
        let log = h.log_config.clone().unwrap_or_default();
        LogConfig::parse(
            log.typ.as_deref().unwrap_or(""),
            &log.config.unwrap_or_default(),
            &cfg.labels.clone().unwrap_or_default(),
            cfg.env.as_deref().unwrap_or_default(),
        )
        .map_err(EngineError::BadRequest)?;
        fill_defaults(h);
        Ok(warnings)
    }
}

/// dockerd writes its defaults into the stored host config, so inspect shows the settings in use: the log
/// driver and runtime (the Docker SDK reads a container's logs only when it sees a driver that keeps them), and
/// what dockerd's create fills in: the IPC and cgroup namespace modes, the /dev/shm size, swap at twice the
/// memory limit, the masked and read-only paths; "unlimited" spellings (-1, 0) of the PID limit and swappiness
/// read as unset.
fn fill_defaults(h: &mut HostConfig) {
    use bollard::models::HostConfigCgroupnsModeEnum as Cg;
    let log = h.log_config.get_or_insert_with(Default::default);
    if log.typ.as_deref().unwrap_or("").is_empty() {
        log.typ = Some("json-file".into());
    }
    log.config.get_or_insert_with(Default::default);
    let unset = |s: &Option<String>| s.as_deref().unwrap_or("").is_empty();
    if unset(&h.runtime) {
        h.runtime = Some("runc".into());
    }
    if unset(&h.network_mode) {
        h.network_mode = Some("default".into());
    }
    if unset(&h.ipc_mode) {
        h.ipc_mode = Some("private".into());
    }
    if h.cgroupns_mode.is_none_or(|m| m == Cg::EMPTY) {
        let v2 = CgroupVersion::detect() == CgroupVersion::V2;
        h.cgroupns_mode = Some(if v2 { Cg::PRIVATE } else { Cg::HOST });
    }
    if h.shm_size.unwrap_or(0) <= 0 {
        h.shm_size = Some(runtime::spec::DEFAULT_SHM as i64);
    }
    let memory = h.memory.unwrap_or(0);
    if memory > 0 && h.memory_swap.unwrap_or(0) == 0 {
        h.memory_swap = Some(memory.saturating_mul(2));
    }
    h.pids_limit = h.pids_limit.filter(|p| *p > 0);
    h.memory_swappiness = h.memory_swappiness.filter(|s| *s != -1);
    if !h.privileged.unwrap_or(false) {
        let owned = |paths: &[&str]| paths.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        h.masked_paths.get_or_insert_with(|| owned(runtime::spec::MASKED_PATHS));
        h.readonly_paths
            .get_or_insert_with(|| owned(runtime::spec::READONLY_PATHS));
    }
}

/// Runtime, isolation, user namespace, storage options, GPUs, cgroup parent, OOM score.
fn check_engine_choices(h: &HostConfig) -> Result<()> {
    let bad = |m: String| Err(EngineError::BadRequest(m));
    match h.runtime.as_deref() {
        None | Some("" | "runc" | "io.containerd.runc.v2") => {}
        Some(r) => return bad(format!("Unknown runtime specified {r}")),
    }
    if let Some(i) = h
        .isolation
        .as_ref()
        .map(|i| i.to_string())
        .filter(|i| !i.is_empty() && i != "default")
    {
        return bad(format!("Invalid isolation: {i:?} - linux only supports 'default'"));
    }
    match h.userns_mode.as_deref() {
        None | Some("" | "host") => {}
        Some(m) => {
            return bad(format!(
            "HostConfig.UsernsMode {m:?}: berth runs without user-namespace remapping, so only \"host\" is supported"
        ))
        }
    }
    if h.storage_opt.as_ref().is_some_and(|o| !o.is_empty()) {
        return bad(
            "HostConfig.StorageOpt: berth's overlay storage cannot limit a container's size \
             (dockerd: --storage-opt is supported only for overlay over xfs with 'pquota' mount option)"
                .into(),
        );
    }
    if let Some(req) = h.device_requests.as_ref().and_then(|r| r.first()) {
        let caps: Vec<String> = req
            .capabilities
            .iter()
            .flatten()
            .map(|c| format!("[{}]", c.join(" ")))
            .collect();
        return bad(format!(
            "could not select device driver {:?} with capabilities: [{}]: no GPU devices are available on this machine",
            req.driver.as_deref().unwrap_or(""),
            caps.join(" ")
        ));
    }
    if let Some(p) = h.cgroup_parent.as_deref().filter(|p| !p.is_empty()) {
        cgroups::check_parent(p).map_err(EngineError::BadRequest)?;
    }
    if let Some(v) = h.oom_score_adj.filter(|v| !(-1000..=1000).contains(v)) {
        return bad(format!("Invalid value {v}, range for oom score adj is [-1000, 1000]"));
    }
    Ok(())
}

fn check_devices(h: &HostConfig) -> Result<()> {
    for d in h.devices.iter().flatten() {
        let host = d.path_on_host.as_deref().unwrap_or("");
        DeviceNode::from_host(host, d.path_in_container.as_deref(), d.cgroup_permissions.as_deref())
            .map_err(runtime_msg)?;
    }
    for r in h.device_cgroup_rules.iter().flatten() {
        DeviceRule::parse(r).map_err(runtime_msg)?;
    }
    Ok(())
}

/// The runtime's message without its "invalid container configuration" prefix (it is the request's fault).
pub(crate) fn runtime_msg(e: runtime::RuntimeError) -> EngineError {
    match e {
        runtime::RuntimeError::InvalidSpec(m) => EngineError::BadRequest(m),
        other => EngineError::BadRequest(other.to_string()),
    }
}

fn check_cpu(h: &mut HostConfig, warnings: &mut Vec<String>) -> Result<()> {
    let bad = |m: &str| Err(EngineError::BadRequest(m.to_owned()));
    if let Some(p) = h.cpu_period.filter(|p| *p != 0 && !(1000..=1_000_000).contains(p)) {
        let _ = p;
        return bad("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)");
    }
    if h.cpu_quota.is_some_and(|q| q > 0 && q < 1000) {
        return bad("CPU cfs quota can not be less than 1ms (i.e. 1000)");
    }
    if h.cpu_shares.is_some_and(|s| s < 0) {
        return bad("HostConfig.CpuShares must be >= 0");
    }
    let (rt_period, rt_runtime) = (h.cpu_realtime_period.unwrap_or(0), h.cpu_realtime_runtime.unwrap_or(0));
    if rt_period != 0 || rt_runtime != 0 {
        if CgroupVersion::detect() == CgroupVersion::V2 {
            return bad("HostConfig.CpuRealtimePeriod/Runtime: cgroup v2 has no real-time CPU controller");
        }
        if rt_period > 0 && rt_runtime > rt_period {
            return bad("cpu real-time runtime cannot be higher than cpu real-time period");
        }
    }
    for (value, what, online) in [
        (h.cpuset_cpus.as_deref(), "CPUs", "/sys/devices/system/cpu/online"),
        (
            h.cpuset_mems.as_deref(),
            "memory nodes",
            "/sys/devices/system/node/online",
        ),
    ] {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            check_cpuset(v, what, online)?;
        }
    }
    // dockerd on Linux: CPU count and percent are Windows settings, discarded with a warning.
    if h.cpu_count.is_some_and(|c| c > 0) {
        warnings.push("linux does not support CPU count. Count discarded.".into());
        h.cpu_count = Some(0);
    }
    if h.cpu_percent.is_some_and(|c| c > 0) {
        warnings.push("linux does not support CPU percent. Percent discarded.".into());
        h.cpu_percent = Some(0);
    }
    Ok(())
}

/// Parses a cpuset list (`0-2,4`) into its members.
pub(crate) fn parse_cpuset(list: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in list.split(',').map(str::trim) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                if a > b || b - a > 4096 {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().ok()?),
        }
    }
    Some(out)
}

fn check_cpuset(value: &str, what: &str, online_file: &str) -> Result<()> {
    let field = if what == "CPUs" { "cpus" } else { "mems" };
    let wanted = parse_cpuset(value)
        .ok_or_else(|| EngineError::BadRequest(format!("Invalid value {value} for cpuset {field}")))?;
    let online = std::fs::read_to_string(online_file).unwrap_or_else(|_| "0".into());
    let online = online.trim();
    let available = parse_cpuset(online).unwrap_or_default();
    if wanted.iter().any(|w| !available.contains(w)) {
        return Err(EngineError::BadRequest(format!(
            "Requested {what} are not available - requested {value}, available: {online}"
        )));
    }
    Ok(())
}

fn check_memory(h: &mut HostConfig, warnings: &mut Vec<String>) -> Result<()> {
    let bad = |m: String| Err(EngineError::BadRequest(m));
    let memory = h.memory.unwrap_or(0);
    let swap = h.memory_swap.unwrap_or(0);
    let v2 = CgroupVersion::detect() == CgroupVersion::V2;
    if swap > 0 && memory == 0 {
        return bad("You should always set the Memory limit when using Memoryswap limit, see usage".into());
    }
    if swap > 0 && swap < memory {
        return bad("Minimum memoryswap limit should be larger than memory limit, see usage".into());
    }
    // An unset swap limit counts too: dockerd's default (twice the memory) needs swap accounting as well.
    if swap != -1 && memory > 0 && !v2 && !Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists() {
        warnings.push(
            "Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap."
                .into(),
        );
        h.memory_swap = Some(-1);
    }
    if let Some(r) = h.memory_reservation.filter(|r| *r > 0) {
        if memory > 0 && memory < r {
            return bad("Minimum memory limit can not be less than memory reservation limit, see usage".into());
        }
    }
    if let Some(s) = h.memory_swappiness.filter(|s| *s != -1) {
        if !(0..=100).contains(&s) {
            return bad(format!("Invalid value: {s}, valid memory swappiness range is 0-100"));
        }
        if v2 {
            warnings.push("Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.".into());
            h.memory_swappiness = None;
        }
    }
    if h.oom_kill_disable == Some(true) {
        if v2 {
            warnings.push("Your kernel does not support OomKillDisable. OomKillDisable discarded.".into());
            h.oom_kill_disable = Some(false);
        } else if memory == 0 {
            warnings.push("OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.".into());
        }
    }
    Ok(())
}

/// Whether the kernel offers proportional block I/O weights (CFQ/BFQ) to cgroups.
fn blkio_weight_supported() -> bool {
    match CgroupVersion::detect() {
        CgroupVersion::V1 => ["blkio.weight", "blkio.bfq.weight"]
            .iter()
            .any(|f| Path::new("/sys/fs/cgroup/blkio").join(f).exists()),
        CgroupVersion::V2 => std::fs::read_to_string("/sys/fs/cgroup/cgroup.subtree_control")
            .is_ok_and(|c| c.split_whitespace().any(|w| w == "io")),
    }
}

fn check_blkio(h: &mut HostConfig, warnings: &mut Vec<String>) -> Result<()> {
    if let Some(w) = h.blkio_weight.filter(|w| *w != 0) {
        if !(10..=1000).contains(&w) {
            return Err(EngineError::BadRequest(
                "Range of blkio weight is from 10 to 1000".into(),
            ));
        }
    }
    for d in h.blkio_weight_device.iter().flatten() {
        if !(10..=1000).contains(&d.weight.unwrap_or(0)) {
            return Err(EngineError::BadRequest(
                "Range of blkio weight is from 10 to 1000".into(),
            ));
        }
        block_device_numbers(d.path.as_deref().unwrap_or(""))?;
    }
    for list in [
        &h.blkio_device_read_bps,
        &h.blkio_device_write_bps,
        &h.blkio_device_read_iops,
        &h.blkio_device_write_iops,
    ] {
        for d in list.iter().flatten() {
            block_device_numbers(d.path.as_deref().unwrap_or(""))?;
            if d.rate.unwrap_or(0) < 0 {
                return Err(EngineError::BadRequest(format!(
                    "invalid rate {} for device {}: must be >= 0",
                    d.rate.unwrap_or(0),
                    d.path.as_deref().unwrap_or("")
                )));
            }
        }
    }
    if !blkio_weight_supported() {
        if h.blkio_weight.is_some_and(|w| w != 0) {
            warnings.push(
                "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.".into(),
            );
            h.blkio_weight = Some(0);
        }
        if h.blkio_weight_device.as_ref().is_some_and(|d| !d.is_empty()) {
            warnings.push("Your kernel does not support Block I/O weight_device or the cgroup is not mounted. Weight-device discarded.".into());
            h.blkio_weight_device = Some(Vec::new());
        }
    }
    Ok(())
}

/// Major and minor numbers of a device path (for the per-device block I/O settings).
pub(crate) fn block_device_numbers(path: &str) -> Result<(i64, i64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).map_err(|e| {
        let text = e
            .raw_os_error()
            .map(|c| nix::errno::Errno::from_raw(c).desc().to_ascii_lowercase())
            .unwrap_or_else(|| e.to_string());
        EngineError::BadRequest(format!("stat {path}: {text}"))
    })?;
    let rdev = meta.rdev();
    Ok((nix::sys::stat::major(rdev) as i64, nix::sys::stat::minor(rdev) as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_modes_parse_like_dockerd() {
        assert_eq!(NsSetting::parse(NsKind::Pid, Some("host")).unwrap(), NsSetting::Host);
        assert_eq!(
            NsSetting::parse(NsKind::Ipc, Some("shareable")).unwrap(),
            NsSetting::Shareable
        );
        assert_eq!(
            NsSetting::parse(NsKind::Ipc, Some("container:db")).unwrap(),
            NsSetting::Container("db".into())
        );
        let e = NsSetting::parse(NsKind::Ipc, Some("bogus")).unwrap_err().to_string();
        assert_eq!(e, "Invalid IPC mode: bogus");
        assert!(NsSetting::parse(NsKind::Pid, Some("shareable")).is_err());
        assert!(NsSetting::parse(NsKind::Uts, Some("container:")).is_err());
    }

    #[test]
    fn engine_choices_refused_with_dockerd_messages() {
        let h = HostConfig {
            runtime: Some("kata".into()),
            ..Default::default()
        };
        assert_eq!(
            check_engine_choices(&h).unwrap_err().to_string(),
            "Unknown runtime specified kata"
        );
        let h = HostConfig {
            device_requests: Some(vec![bollard::models::DeviceRequest {
                count: Some(-1),
                capabilities: Some(vec![vec!["gpu".into()]]),
                ..Default::default()
            }]),
            ..Default::default()
        };
        let e = check_engine_choices(&h).unwrap_err().to_string();
        assert!(
            e.starts_with("could not select device driver \"\" with capabilities: [[gpu]]"),
            "{e}"
        );
        assert!(e.contains("no GPU devices are available"), "{e}");
        let h = HostConfig {
            oom_score_adj: Some(5000),
            ..Default::default()
        };
        assert!(check_engine_choices(&h)
            .unwrap_err()
            .to_string()
            .contains("[-1000, 1000]"));
        let h = HostConfig {
            storage_opt: Some([("size".to_owned(), "1G".to_owned())].into_iter().collect()),
            ..Default::default()
        };
        assert!(check_engine_choices(&h).is_err());
    }

    #[test]
    fn cpu_and_memory_limits() {
        assert_eq!(parse_cpuset("0-2,4"), Some(vec![0, 1, 2, 4]));
        assert_eq!(parse_cpuset("x"), None);
        let mut w = Vec::new();
        let mut h = HostConfig {
            cpu_realtime_period: Some(1000),
            cpu_realtime_runtime: Some(2000),
            ..Default::default()
        };
        if CgroupVersion::detect() == CgroupVersion::V1 {
            let e = check_cpu(&mut h, &mut w).unwrap_err().to_string();
            assert_eq!(e, "cpu real-time runtime cannot be higher than cpu real-time period");
        }
        let mut h = HostConfig {
            cpuset_cpus: Some("4095".into()),
            ..Default::default()
        };
        assert!(check_cpu(&mut h, &mut w)
            .unwrap_err()
            .to_string()
            .starts_with("Requested CPUs are not available"));
        let mut h = HostConfig {
            cpu_count: Some(2),
            ..Default::default()
        };
        check_cpu(&mut h, &mut w).unwrap();
        assert_eq!((h.cpu_count, w.len()), (Some(0), 1));
        let mut h = HostConfig {
            memory: Some(64 << 20),
            memory_swap: Some(32 << 20),
            ..Default::default()
        };
        assert!(check_memory(&mut h, &mut w).is_err());
        let mut h = HostConfig {
            memory_swappiness: Some(101),
            ..Default::default()
        };
        assert!(check_memory(&mut h, &mut w).is_err());
    }
}
