//! OCI runtime spec built from a [`ContainerSpec`] with Docker's defaults: namespaces, /dev, /proc masking,
//! read-only /sys, capabilities, seccomp, rlimits, sysctls and cgroup resources.

use super::caps::effective_caps;
use super::cgroups::{self, CgroupVersion};
use super::user::ResolvedUser;
use super::{resources, seccomp, ContainerSpec, NetnsMode, NsMode, Result, RuntimeError, ShmMode, Ulimit};
use serde_json::{json, Value};
use std::path::Path;

/// PATH when the image and the user set none (Docker's default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Where the init binary is bind-mounted inside the container (as Docker does).
pub const INIT_PATH_IN_CONTAINER: &str = "/sbin/docker-init";
/// Default /dev/shm size (64 MiB).
pub const DEFAULT_SHM: u64 = 64 * 1024 * 1024;

/// Paths Docker masks in a container that is not privileged (`HostConfig.MaskedPaths` when unset).
pub const MASKED_PATHS: &[&str] = &[
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
/// Paths Docker makes read-only in a container that is not privileged (`HostConfig.ReadonlyPaths` when unset).
pub const READONLY_PATHS: &[&str] = &["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

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
    /// The container's cgroup path relative to each hierarchy root.
    pub cgroup_rel: &'a str,
    /// Host tmpfs bound at /dev/shm for `ShmMode::Shareable` (mounted by the caller).
    pub shm_dir: &'a Path,
}

/// Builds the OCI runtime spec (rootfs path "rootfs", relative to the bundle).
pub fn build(spec: &ContainerSpec, inputs: &SpecInputs) -> Result<oci_spec::runtime::Spec> {
    let value = json!({
        "ociVersion": "1.0.2",
        "process": process(spec, inputs)?,
        "root": {"path": "rootfs", "readonly": spec.security.readonly_rootfs},
        // The host's UTS namespace keeps the host's names: the runtime may not set them.
        "hostname": (spec.namespaces.uts == NsMode::Private).then_some(&spec.hostname),
        "domainname": spec.domainname.as_ref().filter(|_| spec.namespaces.uts == NsMode::Private),
        "mounts": mounts(spec, inputs),
        "linux": linux(spec, inputs)?,
        "annotations": annotations(spec),
    });
    serde_json::from_value(value).map_err(|e| RuntimeError::InvalidSpec(format!("building the OCI runtime spec: {e}")))
}

/// The user's annotations plus berth's own (the user cannot override `berth.*`).
fn annotations(spec: &ContainerSpec) -> Value {
    let mut a: serde_json::Map<String, Value> = spec
        .annotations
        .iter()
        .filter(|(k, _)| !k.starts_with("berth."))
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    a.insert("berth.name".into(), json!(spec.name));
    Value::Object(a)
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
        "oomScoreAdj": spec.oom_score_adj,
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
    ];
    match &spec.shm {
        ShmMode::Private => m.push(
            json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", shm]}),
        ),
        ShmMode::Bind(src) => m.push(json!({"destination": "/dev/shm", "type": "bind", "source": src, "options": ["rbind", "rprivate"]})),
        ShmMode::Shareable => m.push(
            json!({"destination": "/dev/shm", "type": "bind", "source": inputs.shm_dir, "options": ["rbind", "rprivate"]}),
        ),
        ShmMode::None => {}
    }
    m.extend(cgroup_mounts(inputs));
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

/// The container's own cgroup, read-only, where programs (the JVM, `nproc`-like tools) read their limits.
fn cgroup_mounts(inputs: &SpecInputs) -> Vec<Value> {
    let ro = ["nosuid", "noexec", "nodev", "relatime", "ro"];
    if inputs.cgroups == CgroupVersion::V2 {
        // The cgroup2 of the container's own cgroup namespace.
        return vec![json!({"destination": "/sys/fs/cgroup", "type": "cgroup2", "source": "cgroup", "options": ro})];
    }
    // v1/hybrid: a bind of the container's directory in each hierarchy (libcontainer has made them when the
    // mounts are set up), not a cgroup mount: libcontainer mounts v1 hierarchies read-write whatever the options
    // say, which would let the container raise its own limits.
    let mut m = vec![
        json!({"destination": "/sys/fs/cgroup", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "noexec", "nodev", "mode=755", "size=64k"]}),
    ];
    for (host, name) in cgroups::v1_views(inputs.cgroup_rel) {
        m.push(json!({
            "destination": format!("/sys/fs/cgroup/{name}"), "type": "bind", "source": host,
            "options": ["rbind", "ro", "nosuid", "noexec", "nodev", "rprivate"],
        }));
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
        "cgroupsPath": cgroups::oci_path(inputs.cgroup_rel),
        "resources": resources::oci(&spec.resources, privileged, inputs.cgroups),
        "devices": spec.resources.devices.iter().map(|d| d.oci_node()).collect::<Vec<_>>(),
    });
    // An empty map would still make libcontainer's init build a procfs instance to write nothing.
    if !spec.sysctls.is_empty() {
        l["sysctl"] = json!(spec.sysctls);
    }
    if !privileged {
        let sec = &spec.security;
        l["maskedPaths"] = sec
            .masked_paths
            .as_ref()
            .map_or_else(|| json!(MASKED_PATHS), |p| json!(p));
        l["readonlyPaths"] = sec
            .readonly_paths
            .as_ref()
            .map_or_else(|| json!(READONLY_PATHS), |p| json!(p));
        if !spec.security.seccomp_unconfined {
            l["seccomp"] = seccomp::default_profile(&caps);
        }
    }
    Ok(l)
}

fn namespaces(spec: &ContainerSpec, cg: CgroupVersion) -> Vec<Value> {
    let n = &spec.namespaces;
    // Docker's default cgroup namespace: private on v2, the host's on v1.
    let default_cgroup = if cg == CgroupVersion::V2 {
        NsMode::Private
    } else {
        NsMode::Host
    };
    let cgroup = n.cgroup.clone().unwrap_or(default_cgroup);
    let net = match &spec.netns {
        NetnsMode::None => NsMode::Private,
        NetnsMode::Path(p) => NsMode::Join(p.clone()),
        NetnsMode::Host => NsMode::Host,
    };
    let mut ns = vec![json!({"type": "mount"})];
    for (kind, mode) in [
        ("pid", &n.pid),
        ("ipc", &n.ipc),
        ("uts", &n.uts),
        ("network", &net),
        ("cgroup", &cgroup),
    ] {
        match mode {
            NsMode::Private => ns.push(json!({"type": kind})),
            NsMode::Join(p) => ns.push(json!({"type": kind, "path": p})),
            NsMode::Host => {}
        }
    }
    ns
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Namespaces, ProcessSpec, Resources, Security};

    fn inputs<'a>(user: &'a ResolvedUser, etc: &'a Path) -> SpecInputs<'a> {
        SpecInputs {
            user,
            etc_dir: etc,
            init_binary: None,
            cgroups: CgroupVersion::V1,
            cgroup_rel: "berth/x",
            shm_dir: Path::new("/bundle/shm"),
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

    /// The Linux section of `sh` run with `security`.
    fn linux_with(security: Security) -> oci_spec::runtime::Linux {
        let spec = ContainerSpec {
            process: ProcessSpec {
                args: vec!["sh".into()],
                ..Default::default()
            },
            security,
            ..Default::default()
        };
        let u = user();
        let s = build(&spec, &inputs(&u, Path::new("/x"))).unwrap();
        s.linux().clone().unwrap()
    }

    #[test]
    fn given_masked_and_readonly_paths_replace_the_defaults() {
        let with = |masked_paths: Option<Vec<String>>, readonly_paths: Option<Vec<String>>| {
            let l = linux_with(Security {
                masked_paths,
                readonly_paths,
                ..Default::default()
            });
            (l.masked_paths().clone().unwrap(), l.readonly_paths().clone().unwrap())
        };
        let (m, r) = with(None, None);
        assert_eq!((m.len(), r.len()), (MASKED_PATHS.len(), READONLY_PATHS.len()));
        let (m, r) = with(Some(vec![]), Some(vec!["/proc/x".into()]));
        assert!(m.is_empty());
        assert_eq!(r, ["/proc/x"]);
    }

    #[test]
    fn privileged_has_no_confinement() {
        let l = linux_with(Security {
            privileged: true,
            ..Default::default()
        });
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

    fn ns_types(s: &oci_spec::runtime::Spec) -> Vec<(String, Option<std::path::PathBuf>)> {
        let l = s.linux().as_ref().unwrap();
        l.namespaces()
            .as_ref()
            .unwrap()
            .iter()
            .map(|n| (n.typ().to_string(), n.path().clone()))
            .collect()
    }

    #[test]
    fn namespace_modes_host_and_join() {
        let spec = ContainerSpec {
            process: ProcessSpec {
                args: vec!["sh".into()],
                ..Default::default()
            },
            hostname: "box".into(),
            namespaces: Namespaces {
                pid: NsMode::Host,
                ipc: NsMode::Join("/proc/42/ns/ipc".into()),
                uts: NsMode::Host,
                cgroup: Some(NsMode::Private),
            },
            shm: ShmMode::Bind("/proc/42/root/dev/shm".into()),
            oom_score_adj: Some(500),
            annotations: [
                ("com.example/a".to_owned(), "1".to_owned()),
                ("berth.name".to_owned(), "x".to_owned()),
            ]
            .into_iter()
            .collect(),
            ..Default::default()
        };
        let u = user();
        let s = build(&spec, &inputs(&u, Path::new("/x"))).unwrap();
        let ns = ns_types(&s);
        let kinds: Vec<&str> = ns.iter().map(|(k, _)| k.as_str()).collect();
        assert!(!kinds.contains(&"pid") && !kinds.contains(&"uts"), "{kinds:?}");
        assert!(ns.contains(&("ipc".into(), Some("/proc/42/ns/ipc".into()))));
        assert!(kinds.contains(&"cgroup") && kinds.contains(&"net"), "{kinds:?}");
        assert!(s.hostname().is_none(), "the host's UTS namespace keeps its hostname");
        assert_eq!(s.process().as_ref().unwrap().oom_score_adj(), Some(500));
        let ann = s.annotations().as_ref().unwrap();
        assert_eq!(ann.get("com.example/a").map(String::as_str), Some("1"));
        assert_eq!(ann.get("berth.name").map(String::as_str), Some(""));
        let shm = s
            .mounts()
            .as_ref()
            .unwrap()
            .iter()
            .find(|m| m.destination() == Path::new("/dev/shm"))
            .unwrap();
        assert_eq!(shm.typ().as_deref(), Some("bind"));
    }

    /// Docker's defaults per layout: cgroup namespace and /sys/fs/cgroup private on v2, host (with read-only
    /// binds of the container's own cgroups) on v1.
    #[test]
    fn cgroup_layouts() {
        let spec = ContainerSpec {
            process: ProcessSpec {
                args: vec!["sh".into()],
                ..Default::default()
            },
            cgroup_parent: Some("apps".into()),
            ..Default::default()
        };
        let u = user();
        let mut i = inputs(&u, Path::new("/x"));
        i.cgroup_rel = "apps/x";
        i.cgroups = CgroupVersion::V2;
        let s = build(&spec, &i).unwrap();
        assert!(ns_types(&s).iter().any(|(k, _)| k == "cgroup"));
        let l = s.linux().as_ref().unwrap();
        assert_eq!(l.cgroups_path().as_deref(), Some(Path::new("/apps/x")));
        let cg = s
            .mounts()
            .as_ref()
            .unwrap()
            .iter()
            .find(|m| m.destination() == Path::new("/sys/fs/cgroup"))
            .unwrap();
        assert_eq!(cg.typ().as_deref(), Some("cgroup2"));
        i.cgroups = CgroupVersion::V1;
        let s = build(&spec, &i).unwrap();
        assert!(!ns_types(&s).iter().any(|(k, _)| k == "cgroup"));
        let binds: Vec<_> = s
            .mounts()
            .as_ref()
            .unwrap()
            .iter()
            .filter(|m| m.destination().starts_with("/sys/fs/cgroup") && m.typ().as_deref() == Some("bind"))
            .collect();
        assert!(binds.iter().all(|m| m.source().as_ref().unwrap().ends_with("apps/x")));
    }
}
