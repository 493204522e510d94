//! Turns a container record (and its image) into the runtime's `ContainerSpec`.

use super::hostcfg::{block_device_numbers, runtime_msg, NsKind, NsSetting};
use super::lifecycle::parse_signal;
use super::Containers;
use crate::error::{EngineError, Result};
use crate::state::ContainerRecord;
use bollard::models::HostConfig;
use runtime::devices::{DeviceNode, DeviceRule};
use runtime::logdriver::LogConfig;
use runtime::{
    Blkio, ContainerSpec, DeviceLimit, Namespaces, NetnsMode, NsMode, ProcessSpec, ResolvConf, Resources, Security,
    ShmMode, Ulimit,
};
use std::net::IpAddr;

impl Containers {
    /// The runtime spec of a stored container.
    pub(crate) fn build_spec(&self, rec: &ContainerRecord) -> Result<ContainerSpec> {
        let image = self.images.resolve(&rec.image_id).map_err(|_| {
            EngineError::Conflict(format!("the image {} of container {} is gone", rec.image_id, rec.id))
        })?;
        let c = &rec.config;
        let h = &rec.host_config;
        let mut args = vec![rec.path.clone()];
        args.extend(rec.args.iter().cloned());
        let netns = match h.network_mode.as_deref() {
            Some("host") => NetnsMode::Host,
            _ => NetnsMode::None,
        };
        let resolv_conf = if netns == NetnsMode::Host {
            host_resolv_conf()
        } else {
            ResolvConf::default()
        };
        Ok(ContainerSpec {
            id: rec.id.clone(),
            name: rec.name.clone(),
            lower_dirs: self.images.lower_dirs(&image)?,
            process: ProcessSpec {
                args,
                // `KEY` without `=` only unsets the image's value (merge_env dropped that).
                env: c.env.iter().flatten().filter(|e| e.contains('=')).cloned().collect(),
                cwd: c.working_dir.clone().filter(|w| !w.is_empty()),
                user: c.user.clone().filter(|u| !u.is_empty()),
                additional_groups: h.group_add.clone().unwrap_or_default(),
                // An exec's flag; the container's own privilege is `security.privileged`.
                privileged: false,
                tty: c.tty.unwrap_or(false),
                console_size: match h.console_size.as_deref() {
                    Some([r, w]) if *r > 0 && *w > 0 => Some(((*r).min(65535) as u16, (*w).min(65535) as u16)),
                    _ => None,
                },
                open_stdin: c.open_stdin.unwrap_or(false),
                stdin_once: c.stdin_once.unwrap_or(false),
            },
            // The host's UTS namespace has the host's name (for $HOSTNAME and /etc/hostname too, as Docker).
            hostname: match h.uts_mode.as_deref() {
                Some("host") => nix::unistd::gethostname()
                    .ok()
                    .and_then(|n| n.into_string().ok())
                    .unwrap_or_default(),
                _ => c.hostname.clone().unwrap_or_else(|| rec.id[..12].to_owned()),
            },
            domainname: c.domainname.clone().filter(|d| !d.is_empty()),
            hosts: Vec::new(),
            resolv_conf,
            mounts: Vec::new(),
            tmpfs: Vec::new(),
            netns,
            namespaces: self.namespaces_of(h)?,
            shm: self.shm_of(h)?,
            oom_score_adj: h.oom_score_adj.filter(|v| *v != 0).map(|v| v as i32),
            annotations: h.annotations.clone().unwrap_or_default().into_iter().collect(),
            cgroup_parent: h.cgroup_parent.clone().filter(|p| !p.is_empty()),
            resources: resources_of(h)?,
            security: security_of(h),
            ulimits: ulimits_of(h)?,
            sysctls: h.sysctls.clone().unwrap_or_default().into_iter().collect(),
            init: h.init.unwrap_or(false),
            stop_signal: c.stop_signal.as_deref().map(parse_signal).transpose()?,
            log: log_of(h, c)?,
        })
    }

    /// The pid/ipc/uts/cgroup namespaces; `container:<x>` joins the running container's.
    fn namespaces_of(&self, h: &HostConfig) -> Result<Namespaces> {
        let mode = |kind: NsKind, value: Option<&str>, ns: &str| -> Result<NsMode> {
            Ok(match NsSetting::parse(kind, value)? {
                NsSetting::Private | NsSetting::Shareable | NsSetting::None => NsMode::Private,
                NsSetting::Host => NsMode::Host,
                NsSetting::Container(other) => {
                    let pid = self.donor_pid(&other, kind)?;
                    NsMode::Join(format!("/proc/{pid}/ns/{ns}").into())
                }
            })
        };
        use bollard::models::HostConfigCgroupnsModeEnum as Cg;
        Ok(Namespaces {
            pid: mode(NsKind::Pid, h.pid_mode.as_deref(), "pid")?,
            ipc: mode(NsKind::Ipc, h.ipc_mode.as_deref(), "ipc")?,
            uts: mode(NsKind::Uts, h.uts_mode.as_deref(), "uts")?,
            cgroup: match h.cgroupns_mode {
                Some(Cg::HOST) => Some(NsMode::Host),
                Some(Cg::PRIVATE) => Some(NsMode::Private),
                Some(Cg::EMPTY) | None => None,
            },
        })
    }

    /// /dev/shm: own tmpfs, none, the host's, or the IPC donor's.
    fn shm_of(&self, h: &HostConfig) -> Result<ShmMode> {
        Ok(match NsSetting::parse(NsKind::Ipc, h.ipc_mode.as_deref())? {
            NsSetting::Private => ShmMode::Private,
            NsSetting::Shareable => ShmMode::Shareable,
            NsSetting::None => ShmMode::None,
            NsSetting::Host => ShmMode::Bind("/dev/shm".into()),
            NsSetting::Container(other) => {
                // The donor's pid is checked (running, shareable); its /dev/shm is the host tmpfs it was given.
                self.donor_pid(&other, NsKind::Ipc)?;
                let rec = self.resolve(&other)?;
                ShmMode::Bind(self.runtime.shm_dir(&rec.id))
            }
        })
    }

    /// Host pid of the running container whose namespace another joins (dockerd's errors otherwise).
    fn donor_pid(&self, other: &str, kind: NsKind) -> Result<i32> {
        let rec = self
            .resolve(other)
            .map_err(|_| EngineError::NotFound(format!("No such container: {other}")))?;
        let ipc_err = |why: String| match kind {
            NsKind::Ipc => EngineError::Conflict(format!("can't join IPC of container {}: {why}", rec.id)),
            _ => EngineError::Conflict(why),
        };
        if kind == NsKind::Ipc
            && !matches!(
                NsSetting::parse(NsKind::Ipc, rec.host_config.ipc_mode.as_deref()),
                Ok(NsSetting::Shareable | NsSetting::Host)
            )
        {
            return Err(ipc_err(
                "non-shareable IPC (hint: use IpcMode:shareable for the donor container)".into(),
            ));
        }
        self.runtime
            .container_pid(&rec.id)
            .ok_or_else(|| ipc_err(format!("container {} is not running", rec.id)))
    }
}

fn log_of(h: &HostConfig, c: &bollard::models::ContainerConfig) -> Result<LogConfig> {
    let log = h.log_config.clone().unwrap_or_default();
    LogConfig::parse(
        log.typ.as_deref().unwrap_or(""),
        &log.config.unwrap_or_default(),
        &c.labels.clone().unwrap_or_default(),
        c.env.as_deref().unwrap_or_default(),
    )
    .map_err(EngineError::BadRequest)
}

fn resources_of(h: &HostConfig) -> Result<Resources> {
    let devices = h
        .devices
        .iter()
        .flatten()
        .map(|d| {
            DeviceNode::from_host(
                d.path_on_host.as_deref().unwrap_or(""),
                d.path_in_container.as_deref(),
                d.cgroup_permissions.as_deref(),
            )
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(runtime_msg)?;
    let device_rules = h
        .device_cgroup_rules
        .iter()
        .flatten()
        .map(|r| DeviceRule::parse(r))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(runtime_msg)?;
    Ok(Resources {
        memory: h.memory.filter(|m| *m > 0),
        memory_swap: h.memory_swap.filter(|m| *m != 0),
        memory_reservation: h.memory_reservation.filter(|m| *m > 0),
        memory_swappiness: h.memory_swappiness.filter(|s| (0..=100).contains(s)).map(|s| s as u64),
        oom_kill_disable: h.oom_kill_disable.unwrap_or(false),
        nano_cpus: h.nano_cpus.filter(|n| *n > 0),
        cpu_shares: h.cpu_shares.filter(|s| *s > 0).map(|s| s as u64),
        cpu_quota: h.cpu_quota.filter(|q| *q > 0),
        cpu_period: h.cpu_period.filter(|p| *p > 0).map(|p| p as u64),
        cpu_rt_period: h.cpu_realtime_period.filter(|p| *p > 0).map(|p| p as u64),
        cpu_rt_runtime: h.cpu_realtime_runtime.filter(|p| *p != 0),
        cpuset_cpus: h.cpuset_cpus.clone().filter(|c| !c.is_empty()),
        cpuset_mems: h.cpuset_mems.clone().filter(|c| !c.is_empty()),
        pids_limit: h.pids_limit.filter(|p| *p > 0),
        shm_size: h.shm_size.filter(|s| *s > 0).map(|s| s as u64),
        blkio: blkio_of(h)?,
        devices,
        device_rules,
    })
}

fn blkio_of(h: &HostConfig) -> Result<Blkio> {
    // Weights and throttles differ only in the field that holds the value.
    let limits = |list: &Option<Vec<bollard::models::ThrottleDevice>>| {
        device_limits(
            list.iter()
                .flatten()
                .map(|d| (d.path.as_deref(), d.rate.unwrap_or(0).max(0) as u64)),
        )
    };
    let weights = h.blkio_weight_device.iter().flatten();
    Ok(Blkio {
        weight: h.blkio_weight.filter(|w| *w > 0),
        weight_device: device_limits(weights.map(|d| (d.path.as_deref(), d.weight.unwrap_or(0) as u64)))?,
        read_bps: limits(&h.blkio_device_read_bps)?,
        write_bps: limits(&h.blkio_device_write_bps)?,
        read_iops: limits(&h.blkio_device_read_iops)?,
        write_iops: limits(&h.blkio_device_write_iops)?,
    })
}

/// `(device path, value)` pairs as the kernel's `major:minor value` limits.
fn device_limits<'a>(entries: impl Iterator<Item = (Option<&'a str>, u64)>) -> Result<Vec<DeviceLimit>> {
    entries
        .map(|(path, value)| {
            let (major, minor) = block_device_numbers(path.unwrap_or(""))?;
            Ok(DeviceLimit { major, minor, value })
        })
        .collect()
}

fn security_of(h: &HostConfig) -> Security {
    let opts = h.security_opt.clone().unwrap_or_default();
    let has = |k: &str| opts.iter().any(|o| o == k || o.replace(':', "=") == k);
    Security {
        privileged: h.privileged.unwrap_or(false),
        cap_add: h.cap_add.clone().unwrap_or_default(),
        cap_drop: h.cap_drop.clone().unwrap_or_default(),
        readonly_rootfs: h.readonly_rootfs.unwrap_or(false),
        no_new_privileges: has("no-new-privileges") || has("no-new-privileges=true"),
        seccomp_unconfined: has("seccomp=unconfined"),
        masked_paths: h.masked_paths.clone(),
        readonly_paths: h.readonly_paths.clone(),
    }
}

fn ulimits_of(h: &HostConfig) -> Result<Vec<Ulimit>> {
    h.ulimits
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|u| {
            let name = u
                .name
                .filter(|n| !n.is_empty())
                .ok_or_else(|| EngineError::BadRequest("HostConfig.Ulimits: a name is required".into()))?;
            let soft = u.soft.unwrap_or(0);
            let hard = u.hard.unwrap_or(soft);
            if soft < 0 || hard < 0 || soft > hard {
                return Err(EngineError::BadRequest(format!(
                    "HostConfig.Ulimits {name}: soft {soft} must be 0..=hard {hard}"
                )));
            }
            Ok(Ulimit {
                name,
                soft: soft as u64,
                hard: hard as u64,
            })
        })
        .collect()
}

/// The host's resolvers (for containers sharing the host network).
fn host_resolv_conf() -> ResolvConf {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut rc = ResolvConf::default();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        match it.next() {
            Some("nameserver") => rc.nameservers.extend(it.next().and_then(|a| a.parse::<IpAddr>().ok())),
            Some("search") => rc.search.extend(it.map(str::to_owned)),
            Some("options") => rc.options.extend(it.map(str::to_owned)),
            _ => {}
        }
    }
    rc
}
