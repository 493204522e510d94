//! Cgroup resource limits of a container and their OCI `linux.resources` form (devices, memory, cpu, pids,
//! block I/O), on cgroup v1/hybrid and v2 alike (libcontainer writes the files of the host's layout).

use super::cgroups::CgroupVersion;
use super::devices::{DeviceNode, DeviceRule};
use serde_json::{json, Value};
use std::path::Path;

/// Cgroup resource limits (0 / None = unlimited).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    /// Memory limit in bytes.
    pub memory: Option<i64>,
    /// Memory+swap limit in bytes (-1 unlimited swap).
    pub memory_swap: Option<i64>,
    /// Soft memory limit in bytes.
    pub memory_reservation: Option<i64>,
    /// Swappiness 0..=100 (v1 only; the engine discards it on v2 as dockerd does).
    pub memory_swappiness: Option<u64>,
    /// Do not OOM-kill the container's processes (v1 only).
    pub oom_kill_disable: bool,
    /// CPU limit in units of 1e-9 CPUs (Docker's NanoCpus).
    pub nano_cpus: Option<i64>,
    /// Relative CPU weight (Docker's CpuShares).
    pub cpu_shares: Option<u64>,
    /// CFS quota in microseconds.
    pub cpu_quota: Option<i64>,
    /// CFS period in microseconds.
    pub cpu_period: Option<u64>,
    /// Real-time scheduling period in microseconds.
    pub cpu_rt_period: Option<u64>,
    /// Real-time scheduling runtime in microseconds.
    pub cpu_rt_runtime: Option<i64>,
    /// CPUs the container may run on (`0-1,3`).
    pub cpuset_cpus: Option<String>,
    /// Memory nodes the container may use (`0`).
    pub cpuset_mems: Option<String>,
    /// Maximum number of tasks.
    pub pids_limit: Option<i64>,
    /// Size of /dev/shm in bytes (default 64 MiB).
    pub shm_size: Option<u64>,
    /// Block I/O weights and throttles.
    pub blkio: Blkio,
    /// Host devices made in the container (and allowed in the devices cgroup).
    pub devices: Vec<DeviceNode>,
    /// Extra devices-cgroup allow rules.
    pub device_rules: Vec<DeviceRule>,
}

/// Block I/O weight (10..=1000) and per-device weights and throttles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Blkio {
    /// Relative weight.
    pub weight: Option<u16>,
    /// Per-device weights.
    pub weight_device: Vec<DeviceLimit>,
    /// Read bytes per second.
    pub read_bps: Vec<DeviceLimit>,
    /// Write bytes per second.
    pub write_bps: Vec<DeviceLimit>,
    /// Read operations per second.
    pub read_iops: Vec<DeviceLimit>,
    /// Write operations per second.
    pub write_iops: Vec<DeviceLimit>,
}

/// A limit (weight or rate) on one block device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceLimit {
    /// Major number.
    pub major: i64,
    /// Minor number.
    pub minor: i64,
    /// Weight or rate.
    pub value: u64,
}

impl Blkio {
    fn is_empty(&self) -> bool {
        self.weight.is_none()
            && [
                &self.weight_device,
                &self.read_bps,
                &self.write_bps,
                &self.read_iops,
                &self.write_iops,
            ]
            .iter()
            .all(|v| v.is_empty())
    }

    fn oci(&self) -> Value {
        let rates = |v: &[DeviceLimit]| -> Vec<Value> {
            v.iter()
                .map(|d| json!({"major": d.major, "minor": d.minor, "rate": d.value}))
                .collect()
        };
        json!({
            "weight": self.weight,
            "weightDevice": self.weight_device.iter()
                .map(|d| json!({"major": d.major, "minor": d.minor, "weight": d.value})).collect::<Vec<_>>(),
            "throttleReadBpsDevice": rates(&self.read_bps),
            "throttleWriteBpsDevice": rates(&self.write_bps),
            "throttleReadIOPSDevice": rates(&self.read_iops),
            "throttleWriteIOPSDevice": rates(&self.write_iops),
        })
    }
}

/// Docker's default device allow list (null, zero, full, random, urandom, tty, console, ptmx, pts, tun).
fn default_device_rules() -> Vec<Value> {
    let dev = |t: &str, major: Option<i64>, minor: Option<i64>| json!({"allow": true, "type": t, "major": major, "minor": minor, "access": "rwm"});
    vec![
        json!({"allow": false, "access": "rwm"}),
        json!({"allow": true, "type": "c", "access": "m"}),
        json!({"allow": true, "type": "b", "access": "m"}),
        dev("c", Some(1), Some(3)),
        dev("c", Some(1), Some(5)),
        dev("c", Some(1), Some(7)),
        dev("c", Some(1), Some(8)),
        dev("c", Some(1), Some(9)),
        dev("c", Some(5), Some(0)),
        dev("c", Some(5), Some(1)),
        dev("c", Some(5), Some(2)),
        dev("c", Some(136), None),
        dev("c", Some(10), Some(200)),
    ]
}

/// The OCI `linux.resources` object.
pub fn oci(r: &Resources, privileged: bool, cg: CgroupVersion) -> Value {
    let devices: Vec<Value> = if privileged {
        vec![json!({"allow": true, "access": "rwm"})]
    } else {
        let mut d = default_device_rules();
        d.extend(r.devices.iter().map(DeviceNode::oci_rule));
        d.extend(r.device_rules.iter().map(DeviceRule::oci_rule));
        d
    };
    let mut res = json!({"devices": devices});
    if let Some(m) = memory(r, cg) {
        res["memory"] = m;
    }
    if let Some(c) = cpu(r) {
        res["cpu"] = c;
    }
    if let Some(p) = r.pids_limit.filter(|p| *p > 0) {
        res["pids"] = json!({"limit": p});
    }
    if !r.blkio.is_empty() {
        res["blockIO"] = r.blkio.oci();
    }
    res
}

fn memory(r: &Resources, cg: CgroupVersion) -> Option<Value> {
    let mut m = serde_json::Map::new();
    if let Some(mem) = r.memory.filter(|m| *m > 0) {
        m.insert("limit".into(), json!(mem));
        // Docker: swap defaults to twice the memory; -1 is unlimited. Only set where the kernel accounts swap.
        if cg == CgroupVersion::V2 || Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists() {
            let swap = match r.memory_swap {
                Some(s) if s != 0 => s,
                _ => mem.saturating_mul(2),
            };
            m.insert("swap".into(), json!(swap));
        }
    }
    if let Some(v) = r.memory_reservation.filter(|v| *v > 0) {
        m.insert("reservation".into(), json!(v));
    }
    if let Some(s) = r.memory_swappiness.filter(|_| cg == CgroupVersion::V1) {
        m.insert("swappiness".into(), json!(s));
    }
    if r.oom_kill_disable && cg == CgroupVersion::V1 {
        m.insert("disableOOMKiller".into(), json!(true));
    }
    (!m.is_empty()).then_some(Value::Object(m))
}

fn cpu(r: &Resources) -> Option<Value> {
    let mut cpu = serde_json::Map::new();
    if let Some(n) = r.nano_cpus.filter(|n| *n > 0) {
        cpu.insert("period".into(), json!(100_000u64));
        cpu.insert("quota".into(), json!(n / 10_000));
    }
    if let Some(s) = r.cpu_shares.filter(|s| *s > 0) {
        cpu.insert("shares".into(), json!(s));
    }
    if let Some(q) = r.cpu_quota.filter(|q| *q > 0) {
        cpu.insert("quota".into(), json!(q));
    }
    if let Some(p) = r.cpu_period.filter(|p| *p > 0) {
        cpu.insert("period".into(), json!(p));
    }
    if let Some(p) = r.cpu_rt_period.filter(|p| *p > 0) {
        cpu.insert("realtimePeriod".into(), json!(p));
    }
    if let Some(p) = r.cpu_rt_runtime.filter(|p| *p != 0) {
        cpu.insert("realtimeRuntime".into(), json!(p));
    }
    if let Some(c) = r.cpuset_cpus.as_deref().filter(|c| !c.is_empty()) {
        cpu.insert("cpus".into(), json!(c));
    }
    if let Some(m) = r.cpuset_mems.as_deref().filter(|m| !m.is_empty()) {
        cpu.insert("mems".into(), json!(m));
    }
    (!cpu.is_empty()).then_some(Value::Object(cpu))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::DevKind;

    fn full() -> Resources {
        Resources {
            memory: Some(64 << 20),
            memory_reservation: Some(32 << 20),
            memory_swappiness: Some(10),
            oom_kill_disable: true,
            cpu_shares: Some(512),
            cpu_rt_period: Some(1_000_000),
            cpuset_cpus: Some("0".into()),
            cpuset_mems: Some("0".into()),
            blkio: Blkio {
                weight: Some(300),
                write_bps: vec![DeviceLimit {
                    major: 7,
                    minor: 0,
                    value: 1 << 20,
                }],
                ..Default::default()
            },
            devices: vec![DeviceNode {
                path: "/dev/x".into(),
                kind: DevKind::Block,
                major: 7,
                minor: 0,
                file_mode: 0o600,
                uid: 0,
                gid: 0,
                access: "r".into(),
            }],
            device_rules: vec![DeviceRule::parse("c 10:229 rwm").unwrap()],
            ..Default::default()
        }
    }

    /// The fields land where libcontainer's oci-spec types read them, on both layouts.
    #[test]
    fn every_field_reaches_the_oci_resources() {
        for cg in [CgroupVersion::V1, CgroupVersion::V2] {
            let v = oci(&full(), false, cg);
            let r: oci_spec::runtime::LinuxResources = serde_json::from_value(v).unwrap();
            let cpu = r.cpu().as_ref().unwrap();
            assert_eq!(cpu.shares(), Some(512));
            assert_eq!(cpu.cpus().as_deref(), Some("0"));
            assert_eq!(cpu.realtime_period(), Some(1_000_000));
            let mem = r.memory().as_ref().unwrap();
            assert_eq!(mem.reservation(), Some(32 << 20));
            // Swappiness and the OOM killer switch exist in v1 only (dockerd discards them on v2).
            assert_eq!(mem.swappiness().is_some(), cg == CgroupVersion::V1);
            assert_eq!(mem.disable_oom_killer().is_some(), cg == CgroupVersion::V1);
            let io = r.block_io().as_ref().unwrap();
            assert_eq!(io.weight(), Some(300));
            assert_eq!(io.throttle_write_bps_device().as_ref().unwrap()[0].rate(), 1 << 20);
            let devs = r.devices().as_ref().unwrap();
            assert!(devs
                .iter()
                .any(|d| d.major() == Some(7) && d.access().as_deref() == Some("r")));
            assert!(devs.iter().any(|d| d.major() == Some(10) && d.minor() == Some(229)));
        }
    }

    #[test]
    fn privileged_allows_every_device() {
        let v = oci(&full(), true, CgroupVersion::V1);
        assert_eq!(v["devices"], json!([{"allow": true, "access": "rwm"}]));
    }
}
