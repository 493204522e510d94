//! Isolation of a default (unprivileged) container: namespaces, masked /proc, read-only /sys, seccomp and
//! capabilities refusing mount/reboot/module loading, memory (OOM recorded) and pids limits.

mod runtime_support;
use runtime::Resources;
use runtime_support::*;

fn run_sh(f: &Fixture, script: &str) -> (i32, String) {
    let spec = f.spec(&["sh", "-c", script]);
    let out = f.run(&spec);
    f.rt.remove(&spec.id).unwrap();
    out
}

#[test]
fn pid1_and_host_invisible() {
    if !require_root("pid1_and_host_invisible") {
        return;
    }
    let f = Fixture::new();
    let spec = f.spec(&[
        "sh",
        "-c",
        "echo pid=$$; echo host=$(hostname); ls /proc | grep -c '^[0-9]'; \
         (cat /sys/fs/cgroup/memory/cgroup.procs 2>/dev/null || cat /sys/fs/cgroup/cgroup.procs) | wc -l; \
         cut -d' ' -f5 /proc/self/mountinfo",
    ]);
    let hostname = spec.hostname.clone();
    let (code, log) = f.run(&spec);
    f.rt.remove(&spec.id).unwrap();
    assert_eq!(code, 0, "{log}");
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines[0], "pid=1");
    assert_eq!(lines[1], format!("host={hostname}"));
    assert_ne!(hostname, nix::unistd::gethostname().unwrap().to_string_lossy());
    let procs: usize = lines[2].parse().unwrap();
    assert!(procs <= 4, "container sees {procs} processes");
    // /sys/fs/cgroup shows the container's own cgroup (as on dockerd), never the host's hierarchy with its
    // thousands of processes.
    let in_cgroup: usize = lines[3].trim().parse().unwrap();
    assert!(
        in_cgroup <= 4,
        "/sys/fs/cgroup shows {in_cgroup} processes: the host's hierarchy?"
    );
    let mount_points = &lines[4..];
    for host_only in ["/run/netns", "/work", "/mnt/sandboxing"] {
        assert!(
            !mount_points.contains(&host_only),
            "host mount {host_only} visible: {mount_points:?}"
        );
    }
    assert!(mount_points.contains(&"/"));
}

#[test]
fn workload_starts_with_a_clean_signal_state() {
    if !require_root("workload_starts_with_a_clean_signal_state") {
        return;
    }
    let f = Fixture::new();
    // Nothing of the monitor's mask or Rust's ignored SIGPIPE may reach the workload: a pipe writer whose reader
    // left must die of SIGPIPE, as on any Linux box.
    // Read by grep itself, as PID 1: a shell in between would set its own dispositions.
    let spec = f.spec(&["grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"]);
    let (code, log) = f.run(&spec);
    f.rt.remove(&spec.id).unwrap();
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("SigBlk:\t0000000000000000"),
        "signals blocked in the workload: {log}"
    );
    assert!(
        log.contains("SigIgn:\t0000000000000000"),
        "signals ignored in the workload: {log}"
    );
}

#[test]
fn mount_reboot_modules_sys_are_refused() {
    if !require_root("mount_reboot_modules_sys_are_refused") {
        return;
    }
    let f = Fixture::new();
    let (_, log) = run_sh(
        &f,
        "mkdir -p /mnt/x; mount -t tmpfs none /mnt/x && echo MOUNTED; echo mount=$?",
    );
    assert!(!log.contains("MOUNTED"), "{log}");
    let (_, log) = run_sh(&f, "reboot -f; echo still-here");
    assert!(log.contains("still-here"), "{log}");
    let (_, log) = run_sh(&f, "head -c 100 /dev/zero > /tmp/x.ko; insmod /tmp/x.ko; echo rc=$?");
    assert!(
        log.contains("not permitted"),
        "insmod must get EPERM (not ENOEXEC): {log}"
    );
    assert!(log.contains("rc=1"), "{log}");
    let (_, log) = run_sh(&f, "echo 1 > /sys/kernel/mm/ksm/run; echo rc=$?; touch /sys/x; echo rc=$?; mkdir -p /sys/fs/cgroup/memory/x; echo rc=$?");
    assert!(log.contains("Read-only file system") && !log.contains("rc=0"), "{log}");
    // /proc/kcore is masked when the kernel has it; this kernel may not, so check every masked file it has.
    let masked: Vec<&str> = [
        "/proc/kcore",
        "/proc/keys",
        "/proc/timer_list",
        "/proc/interrupts",
        "/proc/sched_debug",
    ]
    .into_iter()
    .filter(|p| std::path::Path::new(p).exists())
    .collect();
    assert!(!masked.is_empty());
    let script = masked
        .iter()
        .map(|p| format!("echo {p}=$(cat {p} | wc -c);"))
        .collect::<String>();
    let (_, log) = run_sh(
        &f,
        &format!("{script} echo x > /proc/sys/kernel/domainname; echo rc=$?"),
    );
    for p in &masked {
        assert!(log.contains(&format!("{p}=0")), "{p} not masked: {log}");
    }
    assert!(log.contains("rc=1"), "/proc/sys must be read-only: {log}");
    let (_, log) = run_sh(&f, "grep -E '^(Seccomp|NoNewPrivs|CapEff):' /proc/self/status");
    assert!(log.contains("Seccomp:\t2"), "{log}");
    assert!(
        log.contains("CapEff:\t00000000a80425fb"),
        "docker's default capability set: {log}"
    );
}

#[test]
fn memory_limit_kills_with_oom_recorded() {
    if !require_root("memory_limit_kills_with_oom_recorded") {
        return;
    }
    let f = Fixture::new();
    let mut spec = f.spec(&[
        "sh",
        "-c",
        "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived",
    ]);
    spec.resources = Resources {
        memory: Some(16 << 20),
        ..Default::default()
    };
    f.rt.start(&spec).unwrap();
    let rec = block_on(f.rt.wait_monitor(&spec.id)).unwrap();
    let log = log_text(&f.rt, &spec.id);
    f.rt.remove(&spec.id).unwrap();
    assert!(rec.oom_killed, "{rec:?} {log}");
    assert!(!log.contains("survived"));
}

#[test]
fn pids_limit_holds() {
    if !require_root("pids_limit_holds") {
        return;
    }
    let f = Fixture::new();
    // 20 background sleeps; `set -- /proc/[0-9]*` counts processes without forking.
    let script = "for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do sleep 2 & done; set -- /proc/[0-9]*; echo running=$#";
    let control = f.spec(&["sh", "-c", script]);
    let (code, log) = f.run(&control);
    f.rt.remove(&control.id).unwrap();
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("running=21"), "without a limit all sleeps run: {log}");
    let mut spec = f.spec(&["sh", "-c", script]);
    spec.resources = Resources {
        pids_limit: Some(8),
        ..Default::default()
    };
    let (code, log) = f.run(&spec);
    f.rt.remove(&spec.id).unwrap();
    assert_ne!(code, 0);
    assert!(log.contains("can't fork") && !log.contains("running="), "{log}");
}

#[test]
fn readonly_rootfs_and_tmpfs() {
    if !require_root("readonly_rootfs_and_tmpfs") {
        return;
    }
    let f = Fixture::new();
    let mut spec = f.spec(&[
        "sh",
        "-c",
        "touch /x 2>&1; touch /scratch/y && echo tmpfs-ok; grep ' /scratch ' /proc/mounts",
    ]);
    spec.security.readonly_rootfs = true;
    spec.tmpfs = vec![("/scratch".into(), "size=1m".into())];
    let (_, log) = f.run(&spec);
    f.rt.remove(&spec.id).unwrap();
    assert!(log.contains("Read-only file system"), "{log}");
    assert!(log.contains("tmpfs-ok") && log.contains("noexec"), "{log}");
}

/// The container's seccomp filter as the kernel holds it (PTRACE_SECCOMP_GET_FILTER on a stopped tracee).
fn kernel_filter(pid: i32) -> Vec<u8> {
    const PTRACE_SECCOMP_GET_FILTER: libc::c_uint = 0x420c;
    let trace = |req: libc::c_uint, data: *mut libc::c_void| {
        // SAFETY: requests on a tracee of ours; `data` is null or a buffer sized for the answer.
        let rc = unsafe { libc::ptrace(req, pid, 0usize, data) };
        assert!(rc >= 0, "ptrace {req:#x}: {}", std::io::Error::last_os_error());
        rc
    };
    trace(libc::PTRACE_SEIZE, std::ptr::null_mut());
    trace(libc::PTRACE_INTERRUPT, std::ptr::null_mut());
    nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None).unwrap();
    // With a null buffer the call returns the filter's length in instructions.
    let len = trace(PTRACE_SECCOMP_GET_FILTER, std::ptr::null_mut());
    let mut buf = vec![0u8; len as usize * std::mem::size_of::<libc::sock_filter>()];
    assert_eq!(trace(PTRACE_SECCOMP_GET_FILTER, buf.as_mut_ptr().cast()), len);
    trace(libc::PTRACE_DETACH, std::ptr::null_mut());
    buf
}

#[test]
fn the_kernel_holds_the_engines_compile_of_the_seccomp_profile() {
    if !require_root("the_kernel_holds_the_engines_compile_of_the_seccomp_profile") {
        return;
    }
    let f = Fixture::new();
    let spec = f.spec(&["sleep", "1000"]);
    let started = f.rt.start(&spec).unwrap();
    // The engine compiled the profile once and wrote it beside config.json: the profile, then the program.
    let file = std::fs::read(f.rt.bundle_dir(&spec.id).join(runtime::seccomp::PROGRAM_FILE)).unwrap();
    let newline = file.iter().position(|b| *b == b'\n').unwrap();
    let profile: serde_json::Value = serde_json::from_slice(&file[..newline]).unwrap();
    assert_eq!(profile["defaultAction"], "SCMP_ACT_ALLOW", "{profile}");
    let program = &file[newline + 1..];
    assert!(!program.is_empty() && program.len() % std::mem::size_of::<libc::sock_filter>() == 0);
    assert_eq!(kernel_filter(started.pid), program, "the init loaded another filter");
    f.rt.signal(&spec.id, runtime::Signal::SIGKILL).unwrap();
    block_on(f.rt.wait_monitor(&spec.id)).unwrap();
    f.rt.remove(&spec.id).unwrap();
}
