//! Issue 16's service attributes through `berth up` on both engines (dockerd is the oracle): each family's effect
//! is checked inside the container, with the same test on dockerd and on berth's engine.

#[macro_use]
mod orchestrator_support;

use orchestrator_support::{require_root, Engine, Kind, Stack};

for_each_engine!(
    cpu_and_memory_limits_apply_inside_the_container,
    label_file_labels_and_attach_false,
    post_start_runs_and_a_failing_hook_fails_up,
);

const SLEEP: &str = "    image: busybox\n    stop_signal: SIGKILL\n    command: [\"sleep\", \"2147483647\"]\n";

/// `exec -T service sh -c script`, trimmed stdout.
fn sh(stack: &Stack, service: &str, script: &str) -> String {
    stack
        .berth_ok(&["exec", "-T", service, "sh", "-c", script])
        .trim()
        .to_owned()
}

/// The container's own cgroup file `name` (v1 `controller/name` or the v2 unified file), read inside it.
fn cgroup_value(stack: &Stack, service: &str, v1: &str, v2: &str) -> String {
    sh(
        stack,
        service,
        &format!("cat /sys/fs/cgroup/{v1} 2>/dev/null || cat /sys/fs/cgroup/{v2}"),
    )
}

fn cpu_and_memory_limits_apply_inside_the_container(kind: Kind) {
    if !require_root("cpu_and_memory_limits_apply_inside_the_container") {
        return;
    }
    let engine = Engine::start(kind);
    let compose = format!(
        "services:\n  cpu:\n{SLEEP}    cpu_shares: 512\n    cpu_period: 50000\n    cpu_quota: 25000\n    mem_limit: 64m\n"
    );
    let stack = Stack::new(&engine, "limits", &compose);
    stack.berth_ok(&["up", "-d"]);
    assert_eq!(cgroup_value(&stack, "cpu", "cpu/cpu.shares", "cpu.weight"), "512");
    assert_eq!(
        cgroup_value(&stack, "cpu", "cpu/cpu.cfs_quota_us", "cpu.max"),
        "25000",
        "cpu_quota"
    );
    assert_eq!(
        cgroup_value(&stack, "cpu", "memory/memory.limit_in_bytes", "memory.max"),
        (64u64 << 20).to_string(),
        "mem_limit"
    );
    stack.berth_ok(&["down"]);
}

fn label_file_labels_and_attach_false(kind: Kind) {
    if !require_root("label_file_labels_and_attach_false") {
        return;
    }
    let engine = Engine::start(kind);
    let compose = "services:\n  quiet:\n    image: busybox\n    attach: false\n    command: [\"sh\", \"-c\", \"echo from-quiet; sleep 1\"]\n  loud:\n    image: busybox\n    label_file: ./loud.labels\n    labels: {tier: front}\n    command: [\"sh\", \"-c\", \"sleep 1; echo from-loud\"]\n";
    let stack = Stack::new(&engine, "labels", compose);
    std::fs::write(stack.dir.path().join("loud.labels"), "tier=back\nowner=berth\n").expect("label file");
    let out = stack.berth(&[
        "up",
        "--no-color",
        "--abort-on-container-exit",
        "--exit-code-from",
        "loud",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("from-loud"), "attached output of loud: {stdout}");
    assert!(
        !stdout.contains("from-quiet"),
        "attach: false keeps quiet's output out: {stdout}"
    );
    let labels = engine.docker_lines(&[
        "inspect",
        "--format",
        "{{index .Config.Labels \"owner\"}} {{index .Config.Labels \"tier\"}}",
        &format!("{}-loud-1", stack.project),
    ]);
    assert_eq!(
        labels,
        ["berth front"],
        "label_file labels are applied and labels: wins over them"
    );
    stack.berth_ok(&["down"]);
}

fn post_start_runs_and_a_failing_hook_fails_up(kind: Kind) {
    if !require_root("post_start_runs_and_a_failing_hook_fails_up") {
        return;
    }
    let engine = Engine::start(kind);
    let compose = format!(
        "services:\n  app:\n{SLEEP}    post_start:\n      - command: [\"sh\", \"-c\", \"echo $$GREETING > /tmp/hook; echo hook-said-$$GREETING\"]\n        environment: {{GREETING: hello}}\n"
    );
    let stack = Stack::new(&engine, "hooks", &compose);
    let out = stack.berth(&["up", "-d"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("hook-said-hello"),
        "the hook's output is shown: {stderr}"
    );
    assert_eq!(
        sh(&stack, "app", "cat /tmp/hook"),
        "hello",
        "the hook ran in the container"
    );

    stack.write(&format!(
        "services:\n  app:\n{SLEEP}    post_start:\n      - command: [\"sh\", \"-c\", \"echo broken-hook; exit 3\"]\n"
    ));
    let out = stack.berth(&["up", "-d"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a failing post_start fails up");
    assert!(
        stderr.contains("exited with code 3") && stderr.contains("broken-hook"),
        "the error carries the hook's exit code and output: {stderr}"
    );
    stack.berth_ok(&["down"]);
}
