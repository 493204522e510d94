//! `POST /containers/{id}/update`: new resource limits and restart policy, kept in the container's host
//! config and, while it runs, written into its cgroup (v1 or v2) at once, as dockerd does.

use super::Containers;
use crate::error::{EngineError, Result};
use bollard::models::{ContainerUpdateBody, HostConfig};
use runtime::cgroups::{cgroup_dirs, CgroupVersion};
use std::path::Path;

impl Containers {
    /// Applies `body` to the container; returns dockerd's warnings (none).
    #[tracing::instrument(skip(self, body), err(level = "debug"))]
    pub fn update(&self, ident: &str, body: ContainerUpdateBody) -> Result<Vec<String>> {
        let rec = self.resolve(ident)?;
        if let Some(p) = body.restart_policy.as_ref().and_then(|p| p.name) {
            if p != bollard::models::RestartPolicyNameEnum::NO && rec.host_config.auto_remove == Some(true) {
                return Err(EngineError::BadRequest(
                    "Cannot update restart policy: AutoRemove is enabled for this container".into(),
                ));
            }
        }
        check_memory(&rec.id, &rec.host_config, &body)?;
        let host_config = merged(&rec.host_config, &body)?;
        if super::lifecycle::is_running(&rec) {
            apply_to_cgroup(&rec.id, &host_config)?;
        }
        // Durable: the host config exists only in the row.
        self.db.update_container_with(&rec.id, true, |r| {
            r.host_config = host_config.clone();
            Ok(())
        })?;
        self.emit(&rec.id, super::Action::Update, None);
        Ok(Vec::new())
    }
}

/// dockerd's rule: a memory limit above the swap limit already in force needs the swap limit in the same
/// update (a container without limits has swap limit 0, so its first memory limit always does).
fn check_memory(id: &str, current: &HostConfig, body: &ContainerUpdateBody) -> Result<()> {
    let memory = body.memory.unwrap_or(0);
    // A memory limit set without a swap limit has swap twice the memory (dockerd's default, as the runtime
    // applies it).
    let swap_now = match (current.memory.unwrap_or(0), current.memory_swap.unwrap_or(0)) {
        (mem, 0) if mem > 0 => mem.saturating_mul(2),
        (_, swap) => swap,
    };
    if memory != 0 && memory > swap_now && body.memory_swap.unwrap_or(0) == 0 {
        return Err(EngineError::Conflict(format!(
            "Cannot update container {id}: Memory limit should be smaller than already set memoryswap limit, \
             update the memoryswap at the same time"
        )));
    }
    Ok(())
}

/// The host config with every field the update sets replaced.
fn merged(current: &HostConfig, body: &ContainerUpdateBody) -> Result<HostConfig> {
    let bad = |e: serde_json::Error| EngineError::BadRequest(format!("container update: {e}"));
    let mut base = serde_json::to_value(current).map_err(bad)?;
    let changes = serde_json::to_value(body).map_err(bad)?;
    if let (Some(b), Some(c)) = (base.as_object_mut(), changes.as_object()) {
        for (k, v) in c {
            b.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(base).map_err(bad)
}

/// Writes memory, CPU and pids limits into the running container's cgroup.
fn apply_to_cgroup(id: &str, hc: &HostConfig) -> Result<()> {
    let version = CgroupVersion::detect();
    for dir in cgroup_dirs(id) {
        for (file, value) in settings(version, hc) {
            let path = dir.join(file);
            if path.exists() {
                write(&path, &value)?;
            }
        }
    }
    Ok(())
}

fn write(path: &Path, value: &str) -> Result<()> {
    std::fs::write(path, value).map_err(|e| {
        EngineError::BadRequest(format!(
            "Cannot update container: writing {value} to {}: {e}",
            path.display()
        ))
    })
}

/// Cgroup files and values for the limits set in `hc` (v1 paths relative to each hierarchy's dir).
fn settings(version: CgroupVersion, hc: &HostConfig) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let v2 = version == CgroupVersion::V2;
    if let Some(m) = hc.memory.filter(|m| *m > 0) {
        out.push((if v2 { "memory.max" } else { "memory.limit_in_bytes" }, m.to_string()));
    }
    if let Some(s) = hc.cpu_shares.filter(|s| *s > 0) {
        if v2 {
            // runc's conversion of shares (2..262144) to a weight (1..10000).
            let w = 1 + ((s.clamp(2, 262_144) - 2) * 9999) / 262_142;
            out.push(("cpu.weight", w.to_string()));
        } else {
            out.push(("cpu.shares", s.to_string()));
        }
    }
    let period = hc.cpu_period.filter(|p| *p > 0).unwrap_or(100_000);
    let quota = hc
        .cpu_quota
        .filter(|q| *q > 0)
        .or_else(|| hc.nano_cpus.filter(|n| *n > 0).map(|n| n * period / 1_000_000_000));
    if let Some(q) = quota {
        if v2 {
            out.push(("cpu.max", format!("{q} {period}")));
        } else {
            out.push(("cpu.cfs_period_us", period.to_string()));
            out.push(("cpu.cfs_quota_us", q.to_string()));
        }
    }
    if let Some(p) = hc.pids_limit.filter(|p| *p > 0) {
        out.push(("pids.max", p.to_string()));
    }
    out
}
