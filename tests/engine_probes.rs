//! Health probes as users see them, on dockerd and on berth's engine (berth runs them from a probe server kept
//! inside the container, see runtime::probe): output, exit codes, the container's user/env/cwd, the timeout,
//! a missing command; and on berth, that one server answers every probe of a container.

#[macro_use]
#[allow(unused_macros)]
mod orchestrator_support;

use orchestrator_support::{require_root, suffix, Engine, Kind};
use serde_json::Value;
use std::time::{Duration, Instant};

for_each_engine!(
    probe_output_codes_and_process_settings,
    probe_timeout_and_missing_command,
    top_lists_only_the_workload_of_a_probed_container
);

/// `docker run -d` with `args` before the image; returns the container name.
fn run(e: &Engine, args: &[&str], cmd: &[&str]) -> String {
    let name = format!("probe-{}", suffix());
    let mut all = vec!["run", "-d", "--network", "none", "--name", &name];
    all.extend_from_slice(args);
    all.push("busybox");
    all.extend_from_slice(cmd);
    let out = e.docker(&all);
    assert!(
        out.status.success(),
        "docker run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    name
}

/// The health log once it holds at least `n` results (waits up to 30 s).
fn health_log(e: &Engine, name: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = e.docker(&["inspect", "-f", "{{json .State.Health.Log}}", name]);
        let log: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap_or_default();
        if log.len() >= n {
            return log;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: {} probe result(s) after 30 s",
            log.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Prints the calling process's seccomp mode, no_new_privs flag and capability sets, one `Key:value` line each.
const SECURITY: &str = "grep -E '^(CapBnd|CapEff|NoNewPrivs|Seccomp):' /proc/self/status | tr -d '\\t'";
/// What [`SECURITY`] prints for uid 1000 in a container with dockerd's defaults and `--cap-add NET_ADMIN`:
/// no effective capabilities, the default bounding set with NET_ADMIN, the default seccomp filter.
const SECURITY_LINES: &[&str] = &[
    "CapBnd:00000000a80435fb",
    "CapEff:0000000000000000",
    "NoNewPrivs:0",
    "Seccomp:2",
];

fn probe_output_codes_and_process_settings(kind: Kind) {
    if !require_root(&format!("probe_output_codes_and_process_settings::{kind:?}")) {
        return;
    }
    let e = Engine::start(kind);
    // stdout and stderr, the container's user, working directory and environment, its capabilities and seccomp
    // filter, a non-zero exit code, and the parent pid (berth: the probe server, the same for every probe).
    let probe = format!("echo out; echo err >&2; id -u; pwd; echo $FOO; {SECURITY}; echo ppid=$PPID; exit 3");
    let name = run(
        &e,
        &[
            "--user",
            "1000",
            "--workdir",
            "/tmp",
            "--env",
            "FOO=bar",
            "--cap-add",
            "NET_ADMIN",
            "--health-cmd",
            &probe,
            "--health-interval",
            "1s",
            "--health-retries",
            "100",
        ],
        &["sleep", "300"],
    );
    let log = health_log(&e, &name, 3);
    let mut parents = Vec::new();
    for r in &log {
        assert_eq!(r["ExitCode"], 3, "{r}");
        let output = r["Output"].as_str().unwrap_or_default();
        // dockerd reads stdout and stderr from two pipes, so the order between them is not fixed.
        let mut lines: Vec<&str> = output.lines().filter(|l| !l.starts_with("ppid=")).collect();
        lines.sort_unstable();
        let mut want = vec!["/tmp", "1000"];
        want.extend_from_slice(SECURITY_LINES);
        want.extend_from_slice(&["bar", "err", "out"]);
        assert_eq!(lines, want, "{kind:?}: {r}");
        let ppid = output.lines().find_map(|l| l.strip_prefix("ppid=")).unwrap_or_default();
        parents.push(ppid.trim().to_owned());
    }
    // An exec runs under the same filter and capabilities.
    let exec = e.docker(&["exec", "-u", "1000", &name, "sh", "-c", SECURITY]);
    let exec = String::from_utf8_lossy(&exec.stdout);
    let mut lines: Vec<&str> = exec.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, SECURITY_LINES, "{kind:?}: exec");
    // Another user's exec gets that user's HOME (uid 1000 has no passwd entry: "/"), root's gets /root.
    for (user, home) in [("1000", "/"), ("0", "/root")] {
        let out = e.docker(&["exec", "-u", user, &name, "sh", "-c", "echo $HOME"]);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            home,
            "{kind:?}: exec -u {user}"
        );
    }
    // The workload's stdin without -i is /dev/null opened read-write (access mode 2 in its fdinfo flags).
    let out = e.docker(&["exec", &name, "sh", "-c", "grep ^flags /proc/1/fdinfo/0"]);
    let flags = String::from_utf8_lossy(&out.stdout);
    let mode = flags
        .split_whitespace()
        .nth(1)
        .and_then(|f| u32::from_str_radix(f, 8).ok())
        .map(|f| f & 3);
    assert_eq!(mode, Some(2), "{kind:?}: stdin of PID 1: {flags}");
    // A privileged exec cannot have more than the container's bounding set: it fails to start (126).
    let out = e.docker(&["exec", "--privileged", &name, "true"]);
    assert_eq!(
        out.status.code(),
        Some(126),
        "{kind:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    if kind == Kind::Berth {
        // One server inside the container's pid namespace ran them all (an exec per probe has parent 0).
        assert_ne!(parents[0], "0", "{parents:?}");
        assert!(parents.iter().all(|p| *p == parents[0]), "{parents:?}");
    }
    // Output is cut at 4 KiB, as dockerd cuts it.
    let big = run(
        &e,
        &[
            "--health-cmd",
            "head -c 10000 /dev/zero | tr '\\0' x",
            "--health-interval",
            "1s",
        ],
        &["sleep", "300"],
    );
    let log = health_log(&e, &big, 1);
    assert_eq!(log[0]["ExitCode"], 0, "{}", log[0]);
    // (dockerd marks the cut with a 3-byte ellipsis after the 4096 bytes it keeps.)
    let kept = log[0]["Output"].as_str().unwrap_or_default();
    assert_eq!(kept.bytes().filter(|b| *b == b'x').count(), 4096, "{kind:?}");
    let _ = e.docker(&["rm", "-f", &name, &big]);
}

fn probe_timeout_and_missing_command(kind: Kind) {
    if !require_root(&format!("probe_timeout_and_missing_command::{kind:?}")) {
        return;
    }
    let e = Engine::start(kind);
    let slow = run(
        &e,
        &[
            "--health-cmd",
            "sleep 30",
            "--health-interval",
            "1s",
            "--health-timeout",
            "1s",
        ],
        &["sleep", "300"],
    );
    let log = health_log(&e, &slow, 1);
    assert_eq!(log[0]["ExitCode"], -1, "{}", log[0]);
    assert_eq!(log[0]["Output"], "Health check exceeded timeout (1s)", "{kind:?}");
    // The killed probe leaves nothing behind in the container.
    let out = e.docker(&["exec", &slow, "ps", "-o", "comm"]);
    let left = String::from_utf8_lossy(&out.stdout);
    assert!(
        left.lines().filter(|l| l.trim() == "sleep").count() <= 2,
        "{kind:?}: {left}"
    );
    // A probe command (exec form) that does not exist: a failed probe naming it, and the container unhealthy.
    let missing = format!("probe-{}", suffix());
    let body = r#"{"Image": "busybox", "Cmd": ["sleep", "300"], "HostConfig": {"NetworkMode": "none"},
        "Healthcheck": {"Test": ["CMD", "no-such-probe"], "Interval": 1000000000, "Retries": 1}}"#;
    let out = std::process::Command::new("curl")
        .args(["-sS", "--fail", "--unix-socket"])
        .arg(&e.socket)
        .args(["-H", "Content-Type: application/json", "-d", body])
        .arg(format!("http://localhost/containers/create?name={missing}"))
        .output()
        .expect("curl");
    assert!(out.status.success(), "create: {}", String::from_utf8_lossy(&out.stderr));
    e.docker_lines(&["start", &missing]);
    let log = health_log(&e, &missing, 1);
    assert_ne!(log[0]["ExitCode"], 0, "{}", log[0]);
    let text = log[0]["Output"].as_str().unwrap_or_default();
    assert!(
        text.contains("exec: \"no-such-probe\": executable file not found in $PATH"),
        "{kind:?}: {text}"
    );
    if kind == Kind::Berth {
        assert_eq!(log[0]["ExitCode"], 127, "{}", log[0]);
    }
    let status = e.docker_lines(&["inspect", "-f", "{{.State.Health.Status}}", &missing]);
    assert_eq!(status, ["unhealthy"], "{kind:?}");
    let _ = e.docker(&["rm", "-f", &missing]);
    let _ = e.docker(&["rm", "-f", &slow]);
}

/// `docker top` of a container with a healthcheck: what stays listed is the workload alone. A probe caught
/// running shows up once (dockerd's exec, berth's probe command), so only processes in every one of a few
/// listings count; berth's probe server, kept in the container, must not be one of them.
fn top_lists_only_the_workload_of_a_probed_container(kind: Kind) {
    if !require_root(&format!("top_lists_only_the_workload_of_a_probed_container::{kind:?}")) {
        return;
    }
    let e = Engine::start(kind);
    let name = run(
        &e,
        &["--health-cmd", "true", "--health-interval", "1s"],
        &["sleep", "300"],
    );
    health_log(&e, &name, 1);
    let listing = || -> std::collections::BTreeSet<String> {
        let out = e.docker(&["top", &name, "-o", "pid,comm"]);
        assert!(
            out.status.success(),
            "docker top: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().nth(1).map(str::to_owned))
            .collect()
    };
    let mut kept = listing();
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(300));
        let next = listing();
        kept.retain(|c| next.contains(c));
    }
    assert_eq!(kept.into_iter().collect::<Vec<_>>(), vec!["sleep".to_owned()]);
}
