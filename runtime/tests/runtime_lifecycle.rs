//! Container lifecycle through the runtime: run, logs, exit codes, start errors, stop, cleanup.

mod runtime_support;
use runtime_support::*;

#[test]
fn echo_hello_is_logged() {
    if !require_root("echo_hello_is_logged") {
        return;
    }
    let f = Fixture::new();
    let spec = f.spec(&["echo", "hello"]);
    let (code, log) = f.run(&spec);
    assert_eq!(code, 0);
    assert_eq!(log, "hello\n");
    let recs = runtime::logfile::read_records(&f.rt.log_path(&spec.id)).unwrap();
    assert_eq!(recs[0].stream, runtime::logfile::LogStream::Stdout);
    f.rt.remove(&spec.id).unwrap();
}

#[test]
fn an_image_with_the_same_layer_twice_runs() {
    if !require_root("an_image_with_the_same_layer_twice_runs") {
        return;
    }
    let f = Fixture::new();
    // A layer that adds one file, present twice in the stack (as two identical COPYs make it), over busybox.
    let extra = f.root.path().join("extra");
    std::fs::create_dir_all(&extra).unwrap();
    std::fs::write(extra.join("twice"), "same\n").unwrap();
    let mut spec = f.spec(&["cat", "/twice"]);
    spec.lower_dirs = vec![extra.clone(), extra, f.layer.clone()];
    let (code, log) = f.run(&spec);
    assert_eq!((code, log.as_str()), (0, "same\n"), "overlay of a repeated layer");
    f.rt.remove(&spec.id).unwrap();
}

#[test]
fn exit_code_and_streams() {
    if !require_root("exit_code_and_streams") {
        return;
    }
    let f = Fixture::new();
    let spec = f.spec(&["sh", "-c", "echo out; echo err >&2; exit 3"]);
    let (code, _) = f.run(&spec);
    assert_eq!(code, 3);
    let recs = runtime::logfile::read_records(&f.rt.log_path(&spec.id)).unwrap();
    let by = |s| {
        recs.iter()
            .filter(|r| r.stream == s)
            .map(|r| r.log.as_str())
            .collect::<String>()
    };
    assert_eq!(by(runtime::logfile::LogStream::Stdout), "out\n");
    assert_eq!(by(runtime::logfile::LogStream::Stderr), "err\n");
    f.rt.remove(&spec.id).unwrap();
}

#[test]
fn start_errors_read_like_docker_and_leave_nothing() {
    if !require_root("start_errors_read_like_docker_and_leave_nothing") {
        return;
    }
    let f = Fixture::new();
    for (args, code, msg) in [
        (
            vec!["nosuchcmd"],
            127,
            "exec: \"nosuchcmd\": executable file not found in $PATH",
        ),
        (vec!["/etc/passwd"], 126, "exec: \"/etc/passwd\": permission denied"),
        (
            vec!["/no/such"],
            127,
            "exec: \"/no/such\": stat /no/such: no such file or directory",
        ),
    ] {
        let spec = f.spec(&args);
        match f.rt.start(&spec) {
            Err(runtime::RuntimeError::StartFailed { message, exit_code }) => {
                assert_eq!((exit_code, message.as_str()), (code, msg));
            }
            other => panic!("{args:?}: {other:?}"),
        }
        assert!(!f.rt.is_running(&spec.id));
        assert_eq!(mounts_with(&spec.id), 0, "rootfs left mounted after a failed start");
        assert!(cgroups_of(&spec.id).is_empty(), "{:?}", cgroups_of(&spec.id));
        f.rt.remove(&spec.id).unwrap();
    }
}

#[test]
fn stop_with_signal_then_kill() {
    if !require_root("stop_with_signal_then_kill") {
        return;
    }
    use runtime::Signal;
    let f = Fixture::new();
    // PID 1 without a handler ignores SIGTERM (as under Docker); SIGKILL ends it with 128+9.
    let spec = f.spec(&["sleep", "1000"]);
    f.rt.start(&spec).unwrap();
    f.rt.signal(&spec.id, Signal::SIGTERM).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(f.rt.is_running(&spec.id));
    f.rt.signal(&spec.id, Signal::SIGKILL).unwrap();
    let rec = block_on(f.rt.wait_monitor(&spec.id)).unwrap();
    assert_eq!(rec.exit_code, 137);
    assert!(!rec.oom_killed);
    f.rt.remove(&spec.id).unwrap();
    // A handler sees the signal.
    let spec = f.spec(&[
        "sh",
        "-c",
        "trap 'echo got-term; exit 7' TERM; while true; do sleep 0.05; done",
    ]);
    f.rt.start(&spec).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    f.rt.signal(&spec.id, Signal::SIGTERM).unwrap();
    let rec = block_on(f.rt.wait_monitor(&spec.id)).unwrap();
    assert_eq!(rec.exit_code, 7);
    assert!(log_text(&f.rt, &spec.id).contains("got-term"));
    f.rt.remove(&spec.id).unwrap();
}

#[test]
fn init_forwards_signals_and_is_pid1() {
    if !require_root("init_forwards_signals_and_is_pid1") {
        return;
    }
    use runtime::Signal;
    let f = Fixture::new();
    let mut spec = f.spec(&["sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline; echo; exec sleep 1000"]);
    spec.init = true;
    f.rt.start(&spec).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    f.rt.signal(&spec.id, Signal::SIGTERM).unwrap();
    let rec = block_on(f.rt.wait_monitor(&spec.id)).unwrap();
    assert_eq!(rec.exit_code, 143, "tini forwards SIGTERM to sleep, which dies of it");
    assert!(
        log_text(&f.rt, &spec.id).starts_with("/sbin/docker-init -- sh"),
        "{}",
        log_text(&f.rt, &spec.id)
    );
    f.rt.remove(&spec.id).unwrap();
}

#[test]
fn remove_leaves_no_mounts_cgroups_or_processes() {
    if !require_root("remove_leaves_no_mounts_cgroups_or_processes") {
        return;
    }
    let f = Fixture::new();
    let spec = f.spec(&["sleep", "1000"]);
    let started = f.rt.start(&spec).unwrap();
    assert!(mounts_with(&spec.id) >= 1);
    assert!(!cgroups_of(&spec.id).is_empty());
    assert!(processes_with(&spec.id) >= 1, "monitor runs");
    // Remove while running: kills, reaps, cleans.
    f.rt.remove(&spec.id).unwrap();
    assert_eq!(mounts_with(&spec.id), 0);
    assert!(cgroups_of(&spec.id).is_empty(), "{:?}", cgroups_of(&spec.id));
    assert_eq!(processes_with(&spec.id), 0);
    assert!(!std::path::Path::new(&format!("/proc/{}", started.pid)).exists());
    assert!(!f.rt.bundle_dir(&spec.id).exists());
    assert!(!f.rt.data_dir(&spec.id).exists());
    f.rt.remove(&spec.id).unwrap();
}

#[test]
fn restart_keeps_the_container_filesystem() {
    if !require_root("restart_keeps_the_container_filesystem") {
        return;
    }
    let f = Fixture::new();
    let mut spec = f.spec(&["sh", "-c", "echo kept > /data.txt"]);
    assert_eq!(f.run(&spec).0, 0);
    assert_eq!(mounts_with(&spec.id), 0, "stopped container keeps no mount");
    spec.process.args = vec!["cat".into(), "/data.txt".into()];
    let (code, log) = f.run(&spec);
    assert_eq!(code, 0);
    assert!(log.ends_with("kept\n"), "{log}");
    f.rt.remove(&spec.id).unwrap();
}

#[test]
fn a_bundle_left_in_the_data_dir_by_an_older_engine_is_read_then_moved_at_start() {
    if !require_root("a_bundle_left_in_the_data_dir_by_an_older_engine_is_read_then_moved_at_start") {
        return;
    }
    let f = Fixture::new();
    let mut spec = f.spec(&["sh", "-c", "echo kept > /data.txt; exit 3"]);
    assert_eq!(f.run(&spec).0, 3);
    // The layout engines before the run dir made: the whole bundle, libcontainer state apart, in runtime/<id>.
    let (bundle, data) = (f.rt.bundle_dir(&spec.id), f.rt.data_dir(&spec.id));
    for entry in std::fs::read_dir(&bundle).unwrap().flatten() {
        std::fs::rename(entry.path(), data.join(entry.file_name())).unwrap();
    }
    std::fs::remove_dir(&bundle).unwrap();
    assert_eq!(f.rt.bundle_dir(&spec.id), data, "the old bundle is found");
    assert_eq!(f.rt.exit_record(&spec.id).map(|r| r.exit_code), Some(3));
    assert_eq!(f.rt.bundles().unwrap(), vec![spec.id.clone()]);

    spec.process.args = vec!["cat".into(), "/data.txt".into()];
    let (code, log) = f.run(&spec);
    assert_eq!((code, log.ends_with("kept\n")), (0, true), "{log}");
    assert_eq!(
        f.rt.bundle_dir(&spec.id),
        bundle,
        "the start moved the bundle to the run dir"
    );
    let mut left: Vec<String> = std::fs::read_dir(&data)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["container.log", "upper", "work"]);
    f.rt.remove(&spec.id).unwrap();
    assert!(!bundle.exists() && !data.exists());
    assert_eq!(mounts_with(&spec.id), 0);
}

#[test]
fn another_runtime_instance_adopts_a_running_container() {
    if !require_root("another_runtime_instance_adopts_a_running_container") {
        return;
    }
    use runtime::{Runtime, Signal};
    let f = Fixture::new();
    let spec = f.spec(&["sleep", "1000"]);
    f.rt.start(&spec).unwrap();
    // As after an engine restart: a fresh Runtime on the same root finds, signals and waits for it.
    let rt2 = Runtime::new(f.root.path()).unwrap().with_monitor_exe(berth_bin());
    assert!(rt2.is_running(&spec.id));
    assert_eq!(rt2.bundles().unwrap(), vec![spec.id.clone()]);
    rt2.pause(&spec.id).unwrap();
    rt2.resume(&spec.id).unwrap();
    rt2.signal(&spec.id, Signal::SIGKILL).unwrap();
    let rec = block_on(rt2.wait_monitor(&spec.id)).unwrap();
    assert_eq!(rec.exit_code, 137);
    rt2.remove(&spec.id).unwrap();
}

#[test]
fn tty_output_is_logged() {
    if !require_root("tty_output_is_logged") {
        return;
    }
    let f = Fixture::new();
    let mut spec = f.spec(&["sh", "-c", "tty; echo TERM=$TERM"]);
    spec.process.tty = true;
    let (code, log) = f.run(&spec);
    f.rt.remove(&spec.id).unwrap();
    assert_eq!(code, 0);
    assert!(log.contains("/dev/pts/0") || log.contains("/dev/console"), "{log:?}");
    assert!(log.contains("TERM=xterm"), "{log:?}");
}

#[test]
fn open_stdin_feeds_the_container() {
    if !require_root("open_stdin_feeds_the_container") {
        return;
    }
    let f = Fixture::new();
    let mut spec = f.spec(&["sh", "-c", "read line; echo got:$line"]);
    spec.process.open_stdin = true;
    f.rt.start(&spec).unwrap();
    let mut fifo = std::fs::OpenOptions::new()
        .write(true)
        .open(f.rt.stdin_path(&spec.id))
        .unwrap();
    std::io::Write::write_all(&mut fifo, b"hi there\n").unwrap();
    let rec = block_on(f.rt.wait_monitor(&spec.id)).unwrap();
    assert_eq!(rec.exit_code, 0);
    assert_eq!(log_text(&f.rt, &spec.id), "got:hi there\n");
    f.rt.remove(&spec.id).unwrap();
}

#[test]
fn killed_monitor_is_reported_and_cleaned() {
    if !require_root("killed_monitor_is_reported_and_cleaned") {
        return;
    }
    let f = Fixture::new();
    let spec = f.spec(&["sleep", "1000"]);
    let started = f.rt.start(&spec).unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(started.monitor_pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let rec = block_on(f.rt.wait_monitor(&spec.id)).unwrap();
    assert!(rec.error.is_some(), "{rec:?}");
    assert!(!f.rt.is_running(&spec.id));
    // The orphaned container still runs; remove finds it through its cgroup.
    f.rt.remove(&spec.id).unwrap();
    assert!(
        !std::path::Path::new(&format!("/proc/{}/cmdline", started.pid)).exists()
            || std::fs::read_to_string(format!("/proc/{}/stat", started.pid))
                .unwrap_or_default()
                .contains(") Z")
    );
    assert_eq!(mounts_with(&spec.id), 0);
    assert!(cgroups_of(&spec.id).is_empty());
}

#[test]
fn tty_resize() {
    if !require_root("tty_resize") {
        return;
    }
    let f = Fixture::new();
    let mut spec = f.spec(&["sh", "-c", "sleep 0.5; stty size"]);
    spec.process.tty = true;
    f.rt.start(&spec).unwrap();
    f.rt.resize(&spec.id, 40, 120).unwrap();
    let rec = block_on(f.rt.wait_monitor(&spec.id)).unwrap();
    assert_eq!(rec.exit_code, 0);
    assert_eq!(log_text(&f.rt, &spec.id).trim(), "40 120");
    let plain = f.spec(&["sleep", "1000"]);
    f.rt.start(&plain).unwrap();
    assert!(f.rt.resize(&plain.id, 40, 120).is_err(), "no terminal to resize");
    f.rt.remove(&plain.id).unwrap();
    f.rt.remove(&spec.id).unwrap();
}

#[test]
fn start_after_a_killed_monitor_replaces_the_orphan() {
    if !require_root("start_after_a_killed_monitor_replaces_the_orphan") {
        return;
    }
    let f = Fixture::new();
    let mut spec = f.spec(&["sleep", "1000"]);
    let first = f.rt.start(&spec).unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first.monitor_pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    block_on(f.rt.wait_monitor(&spec.id)).unwrap();
    spec.process.args = vec!["echo".into(), "second".into()];
    f.rt.start(&spec).unwrap();
    let rec = block_on(f.rt.wait_monitor(&spec.id)).unwrap();
    assert_eq!(rec.exit_code, 0);
    assert!(log_text(&f.rt, &spec.id).ends_with("second\n"));
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", first.pid)).unwrap_or_default();
    assert!(
        stat.is_empty() || stat.contains(") Z"),
        "orphaned first container still runs: {stat}"
    );
    f.rt.remove(&spec.id).unwrap();
    assert!(cgroups_of(&spec.id).is_empty());
}

#[test]
fn monitors_killed_at_any_moment_leak_nothing_after_remove() {
    if !require_root("monitors_killed_at_any_moment_leak_nothing_after_remove") {
        return;
    }
    let f = Fixture::new();
    let root = f.root.path().to_string_lossy().into_owned();
    let mut ids = Vec::new();
    for i in 0..20u64 {
        let spec = f.spec(&["sleep", "1000"]);
        ids.push(spec.id.clone());
        let pid_file = f.rt.bundle_dir(&spec.id).join("monitor.pid");
        let rt = f.rt.clone();
        let starter = std::thread::spawn(move || rt.start(&spec).map(|_| ()));
        // Kill the monitor as soon as it exists, at a different moment of its start-up each round.
        for _ in 0..2000 {
            if pid_file.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_micros(500));
        }
        std::thread::sleep(std::time::Duration::from_micros(i * 700));
        if let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
        {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
        let _ = starter.join().unwrap();
    }
    // As after a crash: a fresh runtime on the same root removes every bundle it finds.
    let rt2 = runtime::Runtime::new(f.root.path())
        .unwrap()
        .with_monitor_exe(berth_bin());
    for id in rt2.bundles().unwrap() {
        rt2.remove(&id).unwrap();
    }
    assert_eq!(mounts_with(&root), 0, "leaked mounts");
    assert_eq!(processes_with(&root), 0, "leaked monitors");
    for id in &ids {
        assert!(cgroups_of(id).is_empty(), "leaked cgroup {:?}", cgroups_of(id));
    }
    let sleeps = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            let cg = std::fs::read_to_string(e.path().join("cgroup")).unwrap_or_default();
            ids.iter().any(|id| cg.contains(id.as_str()))
        })
        .count();
    assert_eq!(sleeps, 0, "leaked container processes");
    assert_eq!(
        std::fs::read_dir(f.root.path().join("run").join("libcontainer"))
            .unwrap()
            .count(),
        0,
        "leaked libcontainer state"
    );
}

/// Parent pid and argv of a process, from /proc.
fn parent_and_args(pid: i32) -> (i32, Vec<String>) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let ppid = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let args = cmdline
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    (ppid, args)
}

#[test]
fn monitors_are_forked_by_one_zygote_that_is_replaced_when_it_dies() {
    if !require_root("monitors_are_forked_by_one_zygote_that_is_replaced_when_it_dies") {
        return;
    }
    let f = Fixture::new();
    let (a, b, c) = (
        f.spec(&["sleep", "1000"]),
        f.spec(&["sleep", "1000"]),
        f.spec(&["sleep", "1000"]),
    );
    let (sa, sb) = (f.rt.start(&a).unwrap(), f.rt.start(&b).unwrap());
    let (zygote, monitor_args) = parent_and_args(sa.monitor_pid);
    assert_eq!(
        parent_and_args(sb.monitor_pid).0,
        zygote,
        "both monitors come from one zygote"
    );
    let bundle = f.rt.bundle_dir(&a.id).to_string_lossy().into_owned();
    assert_eq!(
        monitor_args[1..],
        ["__monitor".to_owned(), bundle],
        "a forked monitor reads like an exec'd one"
    );
    assert_eq!(parent_and_args(zygote).1[1..], ["__zygote".to_owned()]);
    assert_eq!(f.rt.monitor_pid(&a.id), Some(sa.monitor_pid));

    // A dead zygote is replaced at the next start; the monitors it forked live on.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(zygote), runtime::Signal::SIGKILL).unwrap();
    let sc = f.rt.start(&c).unwrap();
    let (second, _) = parent_and_args(sc.monitor_pid);
    assert_ne!(second, zygote);
    assert_eq!(parent_and_args(second).1[1..], ["__zygote".to_owned()]);
    assert!(f.rt.is_running(&a.id) && f.rt.is_running(&b.id) && f.rt.is_running(&c.id));
    for spec in [&a, &b, &c] {
        f.rt.signal(&spec.id, runtime::Signal::SIGKILL).unwrap();
        assert_eq!(block_on(f.rt.wait_monitor(&spec.id)).unwrap().exit_code, 137);
        f.rt.remove(&spec.id).unwrap();
    }
}
