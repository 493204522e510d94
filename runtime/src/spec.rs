//! OCI runtime spec built from a [`ContainerSpec`] with Docker's defaults: namespaces, /dev, /proc masking,
//! read-only /sys, capabilities, seccomp, rlimits, sysctls and cgroup resources.

use super::caps::effective_caps;
use super::cgroups::{cgroup_path, CgroupVersion};
use super::user::ResolvedUser;
use super::{seccomp, ContainerSpec, NetnsMode, Resources, Result, RuntimeError, Ulimit};
use serde_json::{json, Value};
use std::path::Path;

/// PATH when the image and the user set none (Docker's default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Where the init binary is bind-mounted inside the container (as Docker does).
pub const INIT_PATH_IN_CONTAINER: &str = "/sbin/docker-init";
/// Default /dev/shm size (64 MiB).
const DEFAULT_SHM: u64 = 64 * 1024 * 1024;

const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];
const READONLY_PATHS: &[&str] = &["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// Inputs besides the container spec: what the bundle preparation resolved.
#[derive(Debug, Clone)]
pub struct SpecInputs<'a> {
    /// Identity resolved against the rootfs.
    pub user: &'a ResolvedUser,
    /// Directory holding the container's hosts, hostname and resolv.conf.
    pub etc_dir: &'a Path,
    /// Host path of the init binary when `init` is on.
    pub init_binary: Option<&'a Path>,
    /// The host's cgroup layout.
    pub cgroups: CgroupVersion,
}

/// Builds the OCI runtime spec (rootfs path "rootfs", relative to the bundle).
pub fn build(spec: &ContainerSpec, inputs: &SpecInputs) -> Result<oci_spec::runtime::Spec> {
    let value = json!({
        "ociVersion": "1.0.2",
        "process": process(spec, inputs)?,
        "root": {"path": "rootfs", "readonly": spec.security.readonly_rootfs},
        "hostname": spec.hostname,
        "domainname": spec.domainname,
        "mounts": mounts(spec, inputs),
        "linux": linux(spec, inputs)?,
        "annotations": {"berth.name": spec.name},
    });
    serde_json::from_value(value).map_err(|e| RuntimeError::InvalidSpec(format!("building the OCI runtime spec: {e}")))
}

fn process(spec: &ContainerSpec, inputs: &SpecInputs) -> Result<Value> {
    let p = &spec.process;
    if p.args.is_empty() {
        return Err(RuntimeError::InvalidSpec("no command specified".into()));
    }
    let mut args = p.args.clone();
    if inputs.init_binary.is_some() {
        args.splice(0..0, [INIT_PATH_IN_CONTAINER.to_owned(), "--".to_owned()]);
    }
    let caps: Vec<String> = effective_caps(&spec.security)?.into_iter().collect();
    Ok(json!({
        "terminal": p.tty,
        // Applied by berth's executor inside the container before exec (`docker run -it` + `stty size`).
        "consoleSize": p.console_size.filter(|_| p.tty).map(|(h, w)| json!({"height": h, "width": w})),
        "user": {
            "uid": inputs.user.uid, "gid": inputs.user.gid,
            "additionalGids": inputs.user.additional_gids,
        },
        "args": args,
        "env": environment(spec, inputs.user),
        "cwd": p.cwd.as_deref().filter(|c| !c.is_empty()).unwrap_or("/"),
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "rlimits": rlimits(&spec.ulimits)?,
        // Absent rather than false: libcontainer loads seccomp before dropping capabilities only when unset.
        "noNewPrivileges": spec.security.no_new_privileges.then_some(true),
    }))
}

/// The env with Docker's additions: PATH, HOSTNAME, HOME, TERM (tty) when missing.
pub fn environment(spec: &ContainerSpec, user: &ResolvedUser) -> Vec<String> {
    let mut env = spec.process.env.clone();
    let has = |env: &[String], k: &str| env.iter().any(|e| e.split('=').next() == Some(k));
    let mut defaults = vec![
        ("PATH", DEFAULT_PATH.to_owned()),
        ("HOSTNAME", spec.hostname.clone()),
        ("HOME", user.home.clone()),
    ];
    if spec.process.tty {
        defaults.push(("TERM", "xterm".to_owned()));
    }
    for (k, v) in defaults {
        if !has(&env, k) {
            env.push(format!("{k}={v}"));
        }
    }
    env
}

fn rlimits(ulimits: &[Ulimit]) -> Result<Vec<Value>> {
    const KNOWN: &[&str] = &[
        "as",
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
    ];
    ulimits
        .iter()
        .map(|u| {
            let name = u.name.to_ascii_lowercase();
            if !KNOWN.contains(&name.as_str()) {
                return Err(RuntimeError::InvalidSpec(format!("unknown ulimit {:?}", u.name)));
            }
            if u.soft > u.hard {
                return Err(RuntimeError::InvalidSpec(format!(
                    "ulimit {}: soft limit {} is above hard limit {}",
                    u.name, u.soft, u.hard
                )));
            }
            Ok(json!({"type": format!("RLIMIT_{}", name.to_ascii_uppercase()), "soft": u.soft, "hard": u.hard}))
        })
        .collect()
}

fn mounts(spec: &ContainerSpec, inputs: &SpecInputs) -> Vec<Value> {
    let sys_opts = if spec.security.privileged {
        vec!["nosuid", "noexec", "nodev"]
    } else {
        vec!["nosuid", "noexec", "nodev", "ro"]
    };
    let shm = format!(
        "size={}",
        spec.resources.shm_size.filter(|s| *s > 0).unwrap_or(DEFAULT_SHM)
    );
    let mut m = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": sys_opts}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", shm]}),
    ];
    if inputs.cgroups == CgroupVersion::V2 {
        // Read-only cgroup2 of the container's own cgroup namespace (the JVM and others read their limits there).
        // Not on v1/hybrid: libcontainer mounts the v1 hierarchies read-write whatever the options say, which
        // would let the container raise its own limits.
        m.push(json!({"destination": "/sys/fs/cgroup", "type": "cgroup2", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}));
    }
    for file in ["resolv.conf", "hostname", "hosts"] {
        m.push(json!({
            "destination": format!("/etc/{file}"), "type": "bind",
            "source": inputs.etc_dir.join(file), "options": ["rbind", "rprivate"],
        }));
    }
    if let Some(init) = inputs.init_binary {
        m.push(json!({"destination": INIT_PATH_IN_CONTAINER, "type": "bind", "source": init, "options": ["bind", "ro", "nosuid", "nodev"]}));
    }
    for b in &spec.mounts {
        let mut opts = vec!["rbind".to_owned(), if b.readonly { "ro" } else { "rw" }.to_owned()];
        if !b
            .options
            .iter()
            .any(|o| o.ends_with("private") || o.ends_with("shared") || o.ends_with("slave"))
        {
            opts.push("rprivate".to_owned());
        }
        opts.extend(b.options.iter().cloned());
        m.push(json!({"destination": b.destination, "type": "bind", "source": b.source, "options": opts}));
    }
    for (dest, options) in &spec.tmpfs {
        m.push(json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": tmpfs_options(options)}));
    }
    m
}

/// Docker's tmpfs defaults (noexec, nosuid, nodev) unless the user's options say otherwise.
fn tmpfs_options(user: &str) -> Vec<String> {
    let given: Vec<String> = user
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let mut out = Vec::new();
    for (def, opposite) in [("noexec", "exec"), ("nosuid", "suid"), ("nodev", "dev")] {
        if !given.iter().any(|g| g == def || g == opposite) {
            out.push(def.to_owned());
        }
    }
    out.extend(given);
    out
}

fn linux(spec: &ContainerSpec, inputs: &SpecInputs) -> Result<Value> {
    let privileged = spec.security.privileged;
    let caps = effective_caps(&spec.security)?;
    let mut l = json!({
        "namespaces": namespaces(spec, inputs.cgroups),
        "cgroupsPath": cgroup_path(&spec.id),
        "resources": resources(&spec.resources, privileged, inputs.cgroups),
        "sysctl": spec.sysctls,
    });
    if !privileged {
        l["maskedPaths"] = json!(MASKED_PATHS);
        l["readonlyPaths"] = json!(READONLY_PATHS);
        if !spec.security.seccomp_unconfined {
            l["seccomp"] = seccomp::default_profile(&caps);
        }
    }
    Ok(l)
}

fn namespaces(spec: &ContainerSpec, cg: CgroupVersion) -> Vec<Value> {
    let mut ns = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    match &spec.netns {
        NetnsMode::None => ns.push(json!({"type": "network"})),
        NetnsMode::Path(p) => ns.push(json!({"type": "network", "path": p})),
        NetnsMode::Host => {}
    }
    if cg == CgroupVersion::V2 {
        ns.push(json!({"type": "cgroup"}));
    }
    ns
}

fn resources(r: &Resources, privileged: bool, cg: CgroupVersion) -> Value {
    let devices = if privileged {
        json!([{"allow": true, "access": "rwm"}])
    } else {
        let dev = |t: &str, major: Option<i64>, minor: Option<i64>| json!({"allow": true, "type": t, "major": major, "minor": minor, "access": "rwm"});
        json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "access": "m"}, {"allow": true, "type": "b", "access": "m"},
            dev("c", Some(1), Some(3)), dev("c", Some(1), Some(5)), dev("c", Some(1), Some(7)),
            dev("c", Some(1), Some(8)), dev("c", Some(1), Some(9)), dev("c", Some(5), Some(0)),
            dev("c", Some(5), Some(1)), dev("c", Some(5), Some(2)), dev("c", Some(136), None),
            dev("c", Some(10), Some(200)),
        ])
    };
    let mut res = json!({"devices": devices});
    if let Some(mem) = r.memory.filter(|m| *m > 0) {
        let mut m = json!({"limit": mem});
        // Docker: swap defaults to twice the memory; -1 is unlimited. Only set where the kernel accounts swap.
        if cg == CgroupVersion::V2 || Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists() {
            match r.memory_swap {
                Some(s) if s != 0 => m["swap"] = json!(s),
                _ => m["swap"] = json!(mem.saturating_mul(2)),
            }
        }
        res["memory"] = m;
    }
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
    if !cpu.is_empty() {
        res["cpu"] = Value::Object(cpu);
    }
    if let Some(p) = r.pids_limit.filter(|p| *p > 0) {
        res["pids"] = json!({"limit": p});
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ProcessSpec, Security};

    fn inputs<'a>(user: &'a ResolvedUser, etc: &'a Path) -> SpecInputs<'a> {
        SpecInputs {
            user,
            etc_dir: etc,
            init_binary: None,
            cgroups: CgroupVersion::V1,
        }
    }

    fn user() -> ResolvedUser {
        ResolvedUser {
            uid: 0,
            gid: 0,
            additional_gids: vec![],
            home: "/root".into(),
        }
    }

    #[test]
    fn defaults_match_docker() {
        let spec = ContainerSpec {
            id: "a".repeat(64),
            process: ProcessSpec {
                args: vec!["sh".into()],
                ..Default::default()
            },
            hostname: "box".into(),
            resources: Resources {
                memory: Some(1 << 20),
                nano_cpus: Some(1_500_000_000),
                pids_limit: Some(10),
                ..Default::default()
            },
            tmpfs: vec![("/run".into(), "size=1m".into())],
            ..Default::default()
        };
        let u = user();
        let s = build(&spec, &inputs(&u, Path::new("/x"))).unwrap();
        let l = s.linux().as_ref().unwrap();
        assert!(l.masked_paths().as_ref().unwrap().contains(&"/proc/kcore".to_owned()));
        assert!(l.seccomp().is_some());
        let cpu = l.resources().as_ref().unwrap().cpu().as_ref().unwrap();
        assert_eq!((cpu.quota(), cpu.period()), (Some(150_000), Some(100_000)));
        let p = s.process().as_ref().unwrap();
        assert!(p.env().as_ref().unwrap().contains(&"HOSTNAME=box".to_owned()));
        let caps = p.capabilities().as_ref().unwrap().bounding().as_ref().unwrap();
        assert_eq!(caps.len(), crate::caps::DEFAULT_CAPS.len());
        let tmp = s
            .mounts()
            .as_ref()
            .unwrap()
            .iter()
            .find(|m| m.destination() == Path::new("/run"))
            .unwrap();
        assert_eq!(
            tmp.options().as_ref().unwrap(),
            &["noexec", "nosuid", "nodev", "size=1m"]
        );
    }

    #[test]
    fn privileged_has_no_confinement() {
        let spec = ContainerSpec {
            process: ProcessSpec {
                args: vec!["sh".into()],
                ..Default::default()
            },
            security: Security {
                privileged: true,
                ..Default::default()
            },
            ..Default::default()
        };
        let u = user();
        let s = build(&spec, &inputs(&u, Path::new("/x"))).unwrap();
        let l = s.linux().as_ref().unwrap();
        assert!(l.seccomp().is_none() && l.masked_paths().is_none());
    }

    #[test]
    fn bad_ulimit_is_refused() {
        let spec = ContainerSpec {
            process: ProcessSpec {
                args: vec!["sh".into()],
                ..Default::default()
            },
            ulimits: vec![Ulimit {
                name: "nofile".into(),
                soft: 10,
                hard: 5,
            }],
            ..Default::default()
        };
        let u = user();
        assert!(build(&spec, &inputs(&u, Path::new("/x"))).is_err());
    }
}
