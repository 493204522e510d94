//! The HostConfig fields behind Compose's service attributes, through the docker CLI, on Debian's dockerd and
//! on berth's engine with the same test: namespaces (pid/ipc/uts/cgroup), cgroup resources seen from inside the
//! container, devices and device cgroup rules, OOM score, refusals (runtime, GPUs, log driver, platform), and
//! the log drivers (json-file rotation and follow across rotation, local, none), the sysctls a private
//! network namespace gets by default, and the `none` and `host` networks.

#[macro_use]
mod orchestrator_support;

use orchestrator_support::{require_root, suffix, Engine, Kind};
use std::process::{Command, Output};

for_each_engine!(
    namespace_modes_share_what_they_name,
    resources_show_in_the_containers_cgroup,
    devices_and_device_rules,
    refusals_match_dockerd,
    log_drivers_rotate_follow_and_disable,
    private_network_namespaces_have_dockerds_default_sysctls,
    the_none_network_has_loopback_and_takes_no_other_network,
    host_and_none_networks_are_listed_inspected_and_refused,
);

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `docker run --rm --network none ARGS...`, asserting success; returns stdout.
fn run(e: &Engine, args: &[&str]) -> String {
    let mut all = vec!["run", "--rm", "--network", "none"];
    all.extend_from_slice(args);
    let out = e.docker(&all);
    assert!(out.status.success(), "docker {all:?} on {:?}: {}", e.kind, text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `docker run --rm --network none ARGS...` that must fail; returns its output.
fn run_fails(e: &Engine, args: &[&str]) -> String {
    let mut all = vec!["run", "--rm", "--network", "none"];
    all.extend_from_slice(args);
    let out = e.docker(&all);
    assert!(
        !out.status.success(),
        "docker {all:?} on {:?} succeeded: {}",
        e.kind,
        text(&out)
    );
    text(&out)
}

/// `docker run -d --name NAME --network NETWORK EXTRA... busybox sleep 60`, asserting success.
fn sleeper(e: &Engine, name: &str, network: &str, extra: &[&str]) {
    let mut args = vec!["run", "-d", "--name", name, "--network", network];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "sleep", "60"]);
    let out = e.docker(&args);
    assert!(out.status.success(), "docker {args:?} on {:?}: {}", e.kind, text(&out));
}

/// A running container on `none` (`on_none`) has an endpoint id, which `network inspect none` lists with it;
/// a stopped one has none and is not listed; one never started has no network id yet.
fn predefined_networks_list_their_running_containers(e: &Engine, on_none: &str) {
    let kind = e.kind;
    let get = |args: &[&str]| {
        let o = e.docker(args);
        assert!(o.status.success(), "docker {args:?} on {kind:?}: {}", text(&o));
        String::from_utf8_lossy(&o.stdout).trim().to_owned()
    };
    let endpoint = "{{.NetworkSettings.Networks.none.EndpointID}}";
    let ep = get(&["inspect", "--format", endpoint, on_none]);
    assert_eq!(ep.len(), 64, "a running container's endpoint on {kind:?}: {ep:?}");
    let listed = get(&["network", "inspect", "none", "--format", "{{json .Containers}}"]);
    let v: serde_json::Value = serde_json::from_str(&listed).expect("Containers is JSON");
    let id = get(&["inspect", "--format", "{{.Id}}", on_none]);
    assert_eq!(v[&id]["EndpointID"], ep.as_str(), "on {kind:?}: {listed}");
    assert_eq!(v[&id]["Name"], on_none, "on {kind:?}: {listed}");
    assert_eq!(v[&id]["IPv4Address"], "", "on {kind:?}: {listed}");
    get(&["stop", "-t", "0", on_none]);
    assert_eq!(
        get(&["inspect", "--format", endpoint, on_none]),
        "",
        "stopped, on {kind:?}"
    );
    let listed = get(&["network", "inspect", "none", "--format", "{{json .Containers}}"]);
    assert!(
        !listed.contains(&id),
        "a stopped container is not listed on {kind:?}: {listed}"
    );
    let fresh = format!("predefnew{}", suffix());
    get(&["create", "--name", &fresh, "--network", "none", "busybox", "true"]);
    let never = get(&[
        "inspect",
        "--format",
        "{{.NetworkSettings.Networks.none.NetworkID}}",
        &fresh,
    ]);
    assert_eq!(never, "", "a container never started on {kind:?}");
    get(&["rm", &fresh]);
}

fn start(kind: Kind, test: &str) -> Option<Engine> {
    require_root(test).then(|| Engine::start(kind))
}

fn namespace_modes_share_what_they_name(kind: Kind) {
    let Some(e) = start(kind, "namespace_modes_share_what_they_name") else {
        return;
    };
    let me = std::process::id();
    // pid: host sees the host's processes (this test's among them); private does not.
    let probe = format!("test -d /proc/{me} && echo seen || echo unseen");
    assert_eq!(
        run(&e, &["--pid", "host", "busybox", "sh", "-c", &probe]).trim(),
        "seen"
    );
    if me > 50 {
        assert_eq!(run(&e, &["busybox", "sh", "-c", &probe]).trim(), "unseen");
    }
    // pid/ipc container:<name> join a running donor; ipc needs a shareable donor.
    let donor = format!("donor{}", suffix());
    let d = e.docker(&[
        "run",
        "-d",
        "--name",
        &donor,
        "--network",
        "none",
        "--ipc",
        "shareable",
        "busybox",
        "sh",
        "-c",
        "echo shared > /dev/shm/marker; exec sleep 600",
    ]);
    assert!(d.status.success(), "{}", text(&d));
    let ps = run(
        &e,
        &["--pid", &format!("container:{donor}"), "busybox", "ps", "-o", "comm"],
    );
    assert!(
        ps.lines().any(|l| l.trim() == "sleep"),
        "donor's sleep not visible: {ps}"
    );
    let seen = (0..100).find_map(|_| {
        // The donor may not have written its marker yet: an empty read is retried.
        let script = "cat /dev/shm/marker 2>/dev/null; true";
        let out = run(
            &e,
            &["--ipc", &format!("container:{donor}"), "busybox", "sh", "-c", script],
        );
        (!out.is_empty()).then_some(out)
    });
    assert_eq!(seen.as_deref(), Some("shared\n"));
    let private = format!("private{}", suffix());
    let p = e.docker(&[
        "run",
        "-d",
        "--name",
        &private,
        "--network",
        "none",
        "busybox",
        "sleep",
        "600",
    ]);
    assert!(p.status.success(), "{}", text(&p));
    let err = run_fails(&e, &["--ipc", &format!("container:{private}"), "busybox", "true"]);
    assert!(err.contains("non-shareable IPC"), "{err}");
    assert!(run_fails(&e, &["--ipc", "bogus", "busybox", "true"]).contains("Invalid IPC mode: bogus"));
    // ipc none: no /dev/shm mount.
    let shm = run(
        &e,
        &[
            "--ipc",
            "none",
            "busybox",
            "sh",
            "-c",
            "grep -c ' /dev/shm ' /proc/mounts || true",
        ],
    );
    assert_eq!(shm.trim(), "0");
    // uts: host has the host's name.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    assert_eq!(run(&e, &["--uts", "host", "busybox", "hostname"]).trim(), host.trim());
    // cgroup: private shows the container at its namespace root; host shows the container's own path.
    let own = run(&e, &["--cgroupns", "private", "busybox", "cat", "/proc/self/cgroup"]);
    assert!(own.lines().all(|l| l.ends_with(":/")), "{own}");
    let name = format!("cg{}", suffix());
    let out = e.docker(&[
        "run",
        "--name",
        &name,
        "--network",
        "none",
        "--cgroupns",
        "host",
        "busybox",
        "cat",
        "/proc/self/cgroup",
    ]);
    let id = e.docker_lines(&["inspect", "-f", "{{.Id}}", &name]).join("");
    assert!(String::from_utf8_lossy(&out.stdout).contains(&id), "{}", text(&out));
    // userns: host (no remapping) is accepted.
    assert_eq!(run(&e, &["--userns", "host", "busybox", "id", "-u"]).trim(), "0");
}

fn resources_show_in_the_containers_cgroup(kind: Kind) {
    let Some(e) = start(kind, "resources_show_in_the_containers_cgroup") else {
        return;
    };
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let script = if v2 {
        "cat /sys/fs/cgroup/cpu.weight /sys/fs/cgroup/cpuset.cpus /sys/fs/cgroup/pids.max; grep Cpus_allowed_list /proc/self/status"
    } else {
        "cat /sys/fs/cgroup/cpu/cpu.shares /sys/fs/cgroup/cpuset/cpuset.cpus /sys/fs/cgroup/pids/pids.max \
         /sys/fs/cgroup/memory/memory.swappiness /sys/fs/cgroup/memory/memory.soft_limit_in_bytes; \
         grep -E '^oom_kill_disable' /sys/fs/cgroup/memory/memory.oom_control; grep Cpus_allowed_list /proc/self/status"
    };
    let out = run(
        &e,
        &[
            "--cpu-shares",
            "512",
            "--cpuset-cpus",
            "0",
            "--pids-limit",
            "50",
            "-m",
            "64m",
            "--memory-reservation",
            "32m",
            "--memory-swappiness",
            "10",
            "--oom-kill-disable",
            "--cpu-period",
            "100000",
            "--cpu-quota",
            "50000",
            "busybox",
            "sh",
            "-c",
            script,
        ],
    );
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    if v2 {
        // cpu.weight for shares 512 (systemd's conversion, as runc and libcontainer do it).
        assert_eq!(lines[1..3], ["0", "50"], "{out}");
    } else {
        assert_eq!(
            lines[..6],
            ["512", "0", "50", "10", "33554432", "oom_kill_disable 1"],
            "{out}"
        );
    }
    assert!(out.contains("Cpus_allowed_list:\t0\n"), "{out}");
    // OOM score of the container's processes.
    assert_eq!(
        run(
            &e,
            &["--oom-score-adj", "500", "busybox", "cat", "/proc/self/oom_score_adj"]
        )
        .trim(),
        "500"
    );
    // Block I/O throttles on a real block device; weights are discarded with dockerd's warning when the kernel
    // has no proportional I/O scheduler.
    let dev = block_device();
    let rule = format!("{dev}:1mb");
    let file = if v2 {
        "/sys/fs/cgroup/io.max"
    } else {
        "/sys/fs/cgroup/blkio/blkio.throttle.write_bps_device"
    };
    let out = run(&e, &["--device-write-bps", &rule, "busybox", "cat", file]);
    assert!(out.contains("1048576"), "{out}");
    let out = e.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--blkio-weight",
        "300",
        "busybox",
        "true",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let weight_file = [
        "/sys/fs/cgroup/blkio/blkio.weight",
        "/sys/fs/cgroup/blkio/blkio.bfq.weight",
    ];
    if !v2 && !weight_file.iter().any(|f| std::path::Path::new(f).exists()) {
        assert!(text(&out).contains("Weight discarded"), "{}", text(&out));
    }
    // CPU real-time period (v1): written to the container's cgroup.
    if !v2 {
        let out = run(
            &e,
            &[
                "--cpu-rt-period",
                "500000",
                "busybox",
                "cat",
                "/sys/fs/cgroup/cpu/cpu.rt_period_us",
            ],
        );
        assert_eq!(out.trim(), "500000");
    }
}

/// A block device node of this machine.
fn block_device() -> String {
    let found = std::fs::read_dir("/sys/block")
        .expect("/sys/block")
        .flatten()
        .map(|e| format!("/dev/{}", e.file_name().to_string_lossy()))
        .find(|p| std::path::Path::new(p).exists());
    found.expect("a block device node under /dev")
}

fn devices_and_device_rules(kind: Kind) {
    let Some(e) = start(kind, "devices_and_device_rules") else {
        return;
    };
    // A device node of our own (loop-control, 10:237), outside the default allow list.
    let dir = tempfile::tempdir().expect("temp dir");
    let node = dir.path().join("ctl");
    let st = Command::new("mknod")
        .arg(&node)
        .args(["c", "10", "237"])
        .status()
        .expect("mknod");
    assert!(st.success());
    let map_r = format!("{}:/dev/mine:r", node.display());
    let out = run(
        &e,
        &[
            "--device",
            &map_r,
            "busybox",
            "sh",
            "-c",
            "exec 3</dev/mine && echo read-ok; (exec 4>/dev/mine) 2>/dev/null && echo write-ok || echo write-denied",
        ],
    );
    assert_eq!(out, "read-ok\nwrite-denied\n");
    let map_rw = format!("{}:/dev/mine", node.display());
    assert_eq!(
        run(
            &e,
            &[
                "--device",
                &map_rw,
                "busybox",
                "sh",
                "-c",
                "exec 4<>/dev/mine && echo rw-ok"
            ]
        ),
        "rw-ok\n"
    );
    // A cgroup rule lets the container use a node it makes itself; without it the open is denied.
    let script = "mknod /dev/lc c 10 237 && (exec 3<>/dev/lc) 2>/dev/null && echo ok || echo denied";
    assert_eq!(
        run(
            &e,
            &["--device-cgroup-rule", "c 10:237 rw", "busybox", "sh", "-c", script]
        ),
        "ok\n"
    );
    assert_eq!(run(&e, &["busybox", "sh", "-c", script]), "denied\n");
    let err = run_fails(&e, &["--device", "/dev/nonexist", "busybox", "true"]);
    assert!(
        err.contains("error gathering device information while adding custom device \"/dev/nonexist\""),
        "{err}"
    );
}

fn refusals_match_dockerd(kind: Kind) {
    let Some(e) = start(kind, "refusals_match_dockerd") else {
        return;
    };
    let cases: &[(&[&str], &str)] = &[
        (&["--runtime", "foo"], "Unknown runtime specified foo"),
        (
            &["--gpus", "all"],
            "could not select device driver \"\" with capabilities: [[gpu]]",
        ),
        (
            &["--log-driver", "foo"],
            "error looking up logging plugin foo: plugin \"foo\" not found",
        ),
        (
            &["--log-opt", "bogus=1"],
            "unknown log opt 'bogus' for json-file log driver",
        ),
        (&["--log-opt", "max-size=foo"], "invalid size: 'foo'"),
        (
            &["--oom-score-adj", "5000"],
            "Invalid value 5000, range for oom score adj is [-1000, 1000]",
        ),
        (
            &["--cpuset-cpus", "4095"],
            "Requested CPUs are not available - requested 4095",
        ),
        (
            &["-m", "64m", "--memory-swap", "32m"],
            "Minimum memoryswap limit should be larger than memory limit",
        ),
        (&["--cpu-period", "10"], "CPU cfs period can not be less than 1ms"),
        (
            &["--storage-opt", "size=1G"],
            "--storage-opt is supported only for overlay over xfs with 'pquota' mount option",
        ),
    ];
    for (args, want) in cases {
        let mut all = args.to_vec();
        all.extend(["busybox", "true"]);
        let err = run_fails(&e, &all);
        assert!(err.contains(want), "{kind:?} {args:?}: {err}");
    }
    // A legacy link on the default bridge must name a container.
    let out = e.docker(&["run", "--rm", "--link", "nosuch:alias", "busybox", "true"]);
    assert!(!out.status.success(), "{kind:?}: a link to nothing was accepted");
    assert!(
        text(&out).contains("could not get container for nosuch"),
        "{kind:?}: {}",
        text(&out)
    );
    assert_eq!(
        e.docker_lines(&["ps", "-aq"]),
        Vec::<String>::new(),
        "a refused create left a container"
    );
    // Platform: the image's own is accepted, another is refused (404, so clients would pull it).
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    };
    let other = if arch == "amd64" { "linux/arm64" } else { "linux/amd64" };
    let (code, body) = create_with_platform(&e, &format!("linux/{arch}"));
    assert_eq!(code, "201", "{body}");
    let (code, body) = create_with_platform(&e, other);
    assert_eq!(code, "404", "{body}");
    assert!(body.contains("does not match the specified platform"), "{body}");
}

/// `POST /containers/create?platform=` with curl on the engine's socket: (status, body).
fn create_with_platform(e: &Engine, platform: &str) -> (String, String) {
    let url = format!("http://engine/v1.41/containers/create?platform={platform}");
    let out = Command::new("curl")
        .args(["-sS", "--unix-socket"])
        .arg(&e.socket)
        .args([
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-w",
            "\n%{http_code}",
        ])
        .args([
            "-d",
            r#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"NetworkMode":"none"}}"#,
            &url,
        ])
        .output()
        .expect("curl");
    let t = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = t.rsplit_once('\n').unwrap_or((&t, ""));
    (code.trim().to_owned(), body.to_owned())
}

/// Asserts `text` holds `line N` for consecutive N ending at `last`; returns the first N.
fn consecutive_lines(text: &str, last: u32) -> u32 {
    lines_in_order(text, last, false)
}

/// As [`consecutive_lines`]; with `repeats_ok` a line may come twice in a row (nothing may be missing).
fn lines_in_order(text: &str, last: u32, repeats_ok: bool) -> u32 {
    let nums: Vec<u32> = text
        .lines()
        .map(|l| {
            l.strip_prefix("line ")
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or_else(|| panic!("{l:?}"))
        })
        .collect();
    assert_eq!(nums.last().copied(), Some(last), "{text}");
    for w in nums.windows(2) {
        let ok = w[1] == w[0] + 1 || (repeats_ok && w[1] == w[0]);
        assert!(ok, "a line is missing or repeated ({} then {}): {text}", w[0], w[1]);
    }
    nums[0]
}

fn log_drivers_rotate_follow_and_disable(kind: Kind) {
    let Some(e) = start(kind, "log_drivers_rotate_follow_and_disable") else {
        return;
    };
    let burst = "i=0; while [ $i -lt 300 ]; do i=$((i+1)); echo line $i; done";
    for compress in ["false", "true"] {
        let name = format!("rot{}", suffix());
        let compress_opt = format!("compress={compress}");
        let out = e.docker(&[
            "run",
            "--name",
            &name,
            "--network",
            "none",
            "--log-opt",
            "max-size=1k",
            "--log-opt",
            "max-file=3",
            "--log-opt",
            &compress_opt,
            "busybox",
            "sh",
            "-c",
            burst,
        ]);
        assert!(out.status.success(), "{}", text(&out));
        // The attached run saw everything (rotation may not outrun it); the log kept only the last files' worth.
        let attached = consecutive_lines(&String::from_utf8_lossy(&out.stdout), 300);
        assert_eq!(attached, 1, "{kind:?}: the attached run lost the first lines");
        let logs = e.docker(&["logs", &name]);
        let first = consecutive_lines(&String::from_utf8_lossy(&logs.stdout), 300);
        assert!(first > 200, "{kind:?}: max-size=1k x 3 files kept from line {first}");
        // Exactly max-file files (the current one and two rotated) next to the log path.
        let path = e.docker_lines(&["inspect", "-f", "{{.LogPath}}", &name]).join("");
        let path = std::path::Path::new(&path);
        let base = path.file_name().unwrap().to_string_lossy().into_owned();
        let files = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .flatten()
            .filter(|f| f.file_name().to_string_lossy().starts_with(&base))
            .count();
        assert_eq!(files, 3, "{kind:?} compress={compress}");
        assert!(e.docker(&["rm", &name]).status.success());
    }
    // logs -f follows across rotations without losing a line.
    let name = format!("follow{}", suffix());
    let slow = "sleep 1; i=0; while [ $i -lt 150 ]; do i=$((i+1)); echo line $i; usleep 20000; done";
    let out = e.docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        "none",
        "--log-opt",
        "max-size=1k",
        "--log-opt",
        "max-file=2",
        "busybox",
        "sh",
        "-c",
        slow,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let followed = e.docker(&["logs", "-f", &name]);
    // Debian's dockerd 20.10 re-sends the line at which json-file rotated while following (its follower reopens
    // the new file from an offset it read before the rename): repeats are tolerated there, losses nowhere.
    let repeats_ok = kind == Kind::Dockerd;
    assert_eq!(
        lines_in_order(&String::from_utf8_lossy(&followed.stdout), 150, repeats_ok),
        1
    );
    // local keeps logs; none keeps nothing to read, but an attached run still shows the output.
    assert_eq!(run(&e, &["--log-driver", "local", "busybox", "echo", "hi"]), "hi\n");
    let name = format!("local{}", suffix());
    let out = e.docker(&[
        "run",
        "--name",
        &name,
        "--network",
        "none",
        "--log-driver",
        "local",
        "busybox",
        "echo",
        "kept",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&e.docker(&["logs", &name]).stdout), "kept\n");
    assert_eq!(run(&e, &["--log-driver", "none", "busybox", "echo", "live"]), "live\n");
    let name = format!("none{}", suffix());
    let out = e.docker(&[
        "run",
        "--name",
        &name,
        "--network",
        "none",
        "--log-driver",
        "none",
        "busybox",
        "echo",
        "x",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let logs = e.docker(&["logs", &name]);
    assert!(!logs.status.success());
    assert!(
        text(&logs).contains("configured logging driver does not support reading"),
        "{}",
        text(&logs)
    );
}

/// dockerd gives every private network namespace (a network, or `none`) two sysctls: any port is bindable
/// without CAP_NET_BIND_SERVICE and any group may ping; a container's own `--sysctl` wins, and a container
/// that joins another's namespace sees the donor's.
fn private_network_namespaces_have_dockerds_default_sysctls(kind: Kind) {
    let Some(e) = start(kind, "private_network_namespaces_have_dockerds_default_sysctls") else {
        return;
    };
    let read = "cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/net/ipv4/ping_group_range";
    let defaults = "0\n0\t2147483647";
    assert_eq!(
        run(&e, &["busybox", "sh", "-c", read]).trim(),
        defaults,
        "{:?}, none",
        e.kind
    );
    let net = format!("sysctls{}", suffix());
    let created = e.docker(&["network", "create", &net]);
    assert!(created.status.success(), "{}", text(&created));
    let on_net = |extra: &[&str]| {
        let mut args = vec!["run", "--rm", "--network", net.as_str()];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["busybox", "sh", "-c", read]);
        let out = e.docker(&args);
        assert!(out.status.success(), "{:?}: {}", e.kind, text(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(on_net(&[]), defaults, "{:?}, a network", e.kind);
    // A non-root user binds port 80 where the defaults hold.
    let bind = e.docker(&[
        "run",
        "--rm",
        "--network",
        &net,
        "--user",
        "1000",
        "busybox",
        "sh",
        "-c",
        "nc -l -p 80 & sleep 0.3; netstat -ltn | grep -c ':80 '",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&bind.stdout).trim(),
        "1",
        "{:?}: {}",
        e.kind,
        text(&bind)
    );
    let own = on_net(&["--sysctl", "net.ipv4.ip_unprivileged_port_start=1024"]);
    assert_eq!(own, "1024\n0\t2147483647", "{:?}, own sysctl", e.kind);
    let donor = format!("sysdonor{}", suffix());
    sleeper(&e, &donor, &net, &["--sysctl", "net.ipv4.ping_group_range=1 1"]);
    let joined = e.docker(&[
        "run",
        "--rm",
        "--network",
        &format!("container:{donor}"),
        "busybox",
        "sh",
        "-c",
        read,
    ]);
    assert_eq!(
        String::from_utf8_lossy(&joined.stdout).trim(),
        "0\n1\t1",
        "{:?}, joined: {}",
        e.kind,
        text(&joined)
    );
    e.docker(&["rm", "-f", &donor]);
    e.docker(&["network", "rm", &net]);
}

/// `--network none` is a namespace of its own with `lo` up (127.0.0.1 answers inside), which another container
/// may join; a container on `none`, on `host` or in another's namespace cannot be connected to a network.
fn the_none_network_has_loopback_and_takes_no_other_network(kind: Kind) {
    let Some(e) = start(kind, "the_none_network_has_loopback_and_takes_no_other_network") else {
        return;
    };
    let lo = "ip link show lo | grep -o 'UP,LOWER_UP'; ip -o -4 addr show lo | awk '{print $4}'";
    assert_eq!(
        run(&e, &["busybox", "sh", "-c", lo]).trim(),
        "UP,LOWER_UP\n127.0.0.1/8",
        "{:?}",
        e.kind
    );
    let (donor, host, joined) = (
        format!("none{}", suffix()),
        format!("host{}", suffix()),
        format!("join{}", suffix()),
    );
    sleeper(&e, &donor, "none", &[]);
    sleeper(&e, &host, "host", &[]);
    sleeper(&e, &joined, &format!("container:{donor}"), &[]);
    let inside = e.docker(&["exec", &joined, "sh", "-c", lo]);
    assert_eq!(
        String::from_utf8_lossy(&inside.stdout).trim(),
        "UP,LOWER_UP\n127.0.0.1/8",
        "{:?}: {}",
        e.kind,
        text(&inside)
    );
    let net = format!("nonenet{}", suffix());
    let created = e.docker(&["network", "create", &net]);
    assert!(created.status.success(), "{}", text(&created));
    for (name, says) in [
        (&donor, "one of the networks in private (none) mode"),
        (&host, "sharing network namespace with another container or host"),
        (&joined, "sharing network namespace with another container or host"),
    ] {
        let out = e.docker(&["network", "connect", &net, name]);
        assert!(
            !out.status.success() && text(&out).contains(says),
            "{:?}, connect {name}: {}",
            e.kind,
            text(&out)
        );
    }
    e.docker(&["rm", "-f", &joined, &host, &donor]);
    e.docker(&["network", "rm", &net]);
}

/// `host` and `none` are networks of every engine: listed, inspected (the id a container's entry names), never
/// created, removed or connected to again.
fn host_and_none_networks_are_listed_inspected_and_refused(kind: Kind) {
    let Some(e) = start(kind, "host_and_none_networks_are_listed_inspected_and_refused") else {
        return;
    };
    let out = |args: &[&str]| {
        let o = e.docker(args);
        (o.status.success(), text(&o))
    };
    let (ok, listed) = out(&["network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}"]);
    assert!(
        ok && listed.lines().any(|l| l == "host host local"),
        "{:?}: {listed}",
        e.kind
    );
    assert!(listed.lines().any(|l| l == "none null local"), "{:?}: {listed}", e.kind);
    let (ok, none) = out(&[
        "network",
        "inspect",
        "none",
        "--format",
        "{{.Driver}} {{len .IPAM.Config}} {{.Id}}",
    ]);
    assert!(ok && none.starts_with("null 0 "), "{:?}: {none}", e.kind);
    let none_id = none.trim().rsplit(' ').next().unwrap_or_default().to_owned();
    let (ok, builtin) = out(&["network", "ls", "-q", "--no-trunc", "--filter", "type=builtin"]);
    assert!(ok && builtin.lines().any(|l| l == none_id), "{:?}: {builtin}", e.kind);
    let (ok, said) = out(&["network", "rm", "host"]);
    assert!(
        !ok && said.contains("host is a pre-defined network and cannot be removed"),
        "{:?}: {said}",
        e.kind
    );
    let (ok, said) = out(&["network", "create", "none"]);
    assert!(
        !ok && said.contains("operation is not permitted on predefined none network"),
        "{:?}: {said}",
        e.kind
    );
    let c = format!("predef{}", suffix());
    sleeper(&e, &c, "none", &[]);
    let (_, entry) = out(&[
        "inspect",
        "--format",
        "{{.NetworkSettings.Networks.none.NetworkID}}",
        &c,
    ]);
    assert_eq!(entry.trim(), none_id, "{:?}", e.kind);
    predefined_networks_list_their_running_containers(&e, &c);
    let net = format!("predefnet{}", suffix());
    assert!(out(&["network", "create", &net]).0);
    let on_net = format!("predefon{}", suffix());
    sleeper(&e, &on_net, &net, &[]);
    let (ok, said) = out(&["network", "connect", "host", &on_net]);
    assert!(
        !ok && said.contains("connected to host network"),
        "{:?}: {said}",
        e.kind
    );
    let (ok, said) = out(&["network", "connect", "none", &on_net]);
    assert!(!ok && said.contains("private (none) mode"), "{:?}: {said}", e.kind);
    e.docker(&["rm", "-f", &c, &on_net]);
    e.docker(&["network", "rm", &net]);
}
