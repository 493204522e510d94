//! Exec into a running container: namespaces, env, user, exit codes, Docker's 126/127, tty.

mod runtime_support;
use runtime::{ExecStdio, ProcessSpec, Signal};
use runtime_support::*;
use std::io::Read;
use std::os::fd::OwnedFd;

/// Runs an exec with pipes; returns (exit code, stdout, stderr).
fn exec(f: &Fixture, id: &str, p: ProcessSpec, input: &[u8]) -> (i32, String, String) {
    let (in_r, in_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let (out_r, out_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let (err_r, err_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _ctx = rt.enter();
    let mut child =
        f.rt.exec(
            id,
            &p,
            ExecStdio {
                stdin: Some(in_r),
                stdout: Some(out_w),
                stderr: Some(err_w),
            },
        )
        .unwrap()
        .child;
    let mut w = std::fs::File::from(in_w);
    std::io::Write::write_all(&mut w, input).unwrap();
    drop(w);
    let read = |fd: OwnedFd| {
        let mut s = String::new();
        std::fs::File::from(fd).read_to_string(&mut s).unwrap();
        s
    };
    let status = rt.block_on(child.wait()).unwrap();
    (status.code().unwrap_or(-1), read(out_r), read(err_r))
}

fn proc(args: &[&str]) -> ProcessSpec {
    ProcessSpec {
        args: args.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

#[test]
fn exec_joins_the_container() {
    if !require_root("exec_joins_the_container") {
        return;
    }
    let f = Fixture::new();
    let mut spec = f.spec(&["sleep", "1000"]);
    spec.process.env = vec!["FROM_CONTAINER=1".into()];
    f.rt.start(&spec).unwrap();
    let (code, out, _) = exec(
        &f,
        &spec.id,
        proc(&[
            "sh",
            "-c",
            "echo $HOSTNAME $FROM_CONTAINER $X; cat /proc/1/cmdline; echo; exit 3",
        ]),
        b"",
    );
    assert_eq!(code, 3);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], format!("{} 1", spec.hostname));
    assert_eq!(lines[1].trim_end_matches('\0'), "sleep\u{0}1000");
    let mut p = proc(&["sh", "-c", "echo $X; id -u; pwd; cat"]);
    p.env = vec!["X=from-exec".into()];
    p.user = Some("nobody".into());
    p.cwd = Some("/tmp".into());
    let (code, out, _) = exec(&f, &spec.id, p, b"stdin-data");
    assert_eq!(code, 0);
    assert_eq!(out, "from-exec\n65534\n/tmp\nstdin-data");
    f.rt.signal(&spec.id, Signal::SIGKILL).unwrap();
    block_on(f.rt.wait_monitor(&spec.id)).unwrap();
    f.rt.remove(&spec.id).unwrap();
    assert_eq!(processes_with(&spec.id), 0);
}

#[test]
fn exec_errors_have_docker_codes() {
    if !require_root("exec_errors_have_docker_codes") {
        return;
    }
    let f = Fixture::new();
    let spec = f.spec(&["sleep", "1000"]);
    f.rt.start(&spec).unwrap();
    let (code, _, err) = exec(&f, &spec.id, proc(&["nosuchcmd"]), b"");
    assert_eq!(code, 126, "dockerd's exit code for an exec that cannot start");
    assert!(
        err.contains("exec: \"nosuchcmd\": executable file not found in $PATH"),
        "{err}"
    );
    let (code, _, err) = exec(&f, &spec.id, proc(&["/etc"]), b"");
    assert_eq!(code, 126, "{err}");
    f.rt.remove(&spec.id).unwrap();
    assert!(matches!(
        f.rt.exec(
            &spec.id,
            &proc(&["true"]),
            ExecStdio {
                stdin: None,
                stdout: None,
                stderr: None
            }
        ),
        Err(runtime::RuntimeError::NotRunning(_))
    ));
}

#[test]
fn exec_with_tty() {
    if !require_root("exec_with_tty") {
        return;
    }
    let f = Fixture::new();
    let spec = f.spec(&["sleep", "1000"]);
    f.rt.start(&spec).unwrap();
    let mut p = proc(&["sh", "-c", "tty; echo TERM=$TERM"]);
    p.tty = true;
    let (code, out, err) = exec(&f, &spec.id, p, b"");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("/dev/pts/") && out.contains("TERM=xterm\r\n"), "{out:?}");
    f.rt.remove(&spec.id).unwrap();
}

#[test]
fn exec_tty_resize() {
    if !require_root("exec_tty_resize") {
        return;
    }
    let f = Fixture::new();
    let spec = f.spec(&["sleep", "1000"]);
    f.rt.start(&spec).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _ctx = rt.enter();
    let (out_r, out_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    let mut p = proc(&["sh", "-c", "sleep 0.5; stty size"]);
    p.tty = true;
    let mut ex =
        f.rt.exec(
            &spec.id,
            &p,
            ExecStdio {
                stdin: None,
                stdout: Some(out_w),
                stderr: None,
            },
        )
        .unwrap();
    let ctl = f.rt.bundle_dir(&spec.id).join(format!("{}.ctl", ex.exec_id));
    for _ in 0..200 {
        if ctl.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    f.rt.resize_exec(&spec.id, &ex.exec_id, 33, 111).unwrap();
    let status = rt.block_on(ex.child.wait()).unwrap();
    let mut out = String::new();
    std::fs::File::from(out_r).read_to_string(&mut out).unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(out.trim(), "33 111");
    f.rt.remove(&spec.id).unwrap();
}
