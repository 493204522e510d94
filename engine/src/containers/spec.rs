//! Turns a container record (and its image) into the runtime's `ContainerSpec`.

use super::lifecycle::parse_signal;
use super::Containers;
use crate::error::{EngineError, Result};
use crate::state::ContainerRecord;
use runtime::{ContainerSpec, NetnsMode, ProcessSpec, ResolvConf, Resources, Security, Ulimit};
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
                env: c.env.clone().unwrap_or_default(),
                cwd: c.working_dir.clone().filter(|w| !w.is_empty()),
                user: c.user.clone().filter(|u| !u.is_empty()),
                additional_groups: h.group_add.clone().unwrap_or_default(),
                tty: c.tty.unwrap_or(false),
                console_size: match h.console_size.as_deref() {
                    Some([r, w]) if *r > 0 && *w > 0 => Some(((*r).min(65535) as u16, (*w).min(65535) as u16)),
                    _ => None,
                },
                open_stdin: c.open_stdin.unwrap_or(false),
                stdin_once: c.stdin_once.unwrap_or(false),
            },
            hostname: c.hostname.clone().unwrap_or_else(|| rec.id[..12].to_owned()),
            domainname: c.domainname.clone().filter(|d| !d.is_empty()),
            hosts: Vec::new(),
            resolv_conf,
            mounts: Vec::new(),
            tmpfs: Vec::new(),
            netns,
            resources: Resources {
                memory: h.memory.filter(|m| *m > 0),
                memory_swap: h.memory_swap.filter(|m| *m != 0),
                nano_cpus: h.nano_cpus.filter(|n| *n > 0),
                cpu_shares: h.cpu_shares.filter(|s| *s > 0).map(|s| s as u64),
                cpu_quota: h.cpu_quota.filter(|q| *q > 0),
                cpu_period: h.cpu_period.filter(|p| *p > 0).map(|p| p as u64),
                pids_limit: h.pids_limit.filter(|p| *p > 0),
                shm_size: h.shm_size.filter(|s| *s > 0).map(|s| s as u64),
            },
            security: security_of(h),
            ulimits: ulimits_of(h)?,
            sysctls: h.sysctls.clone().unwrap_or_default().into_iter().collect(),
            init: h.init.unwrap_or(false),
            stop_signal: c.stop_signal.as_deref().map(parse_signal).transpose()?,
        })
    }
}

fn security_of(h: &bollard::models::HostConfig) -> Security {
    let opts = h.security_opt.clone().unwrap_or_default();
    let has = |k: &str| opts.iter().any(|o| o == k || o.replace(':', "=") == k);
    Security {
        privileged: h.privileged.unwrap_or(false),
        cap_add: h.cap_add.clone().unwrap_or_default(),
        cap_drop: h.cap_drop.clone().unwrap_or_default(),
        readonly_rootfs: h.readonly_rootfs.unwrap_or(false),
        no_new_privileges: has("no-new-privileges") || has("no-new-privileges=true"),
        seccomp_unconfined: has("seccomp=unconfined"),
    }
}

fn ulimits_of(h: &bollard::models::HostConfig) -> Result<Vec<Ulimit>> {
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
