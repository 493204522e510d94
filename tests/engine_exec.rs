//! `docker exec` against berth's engine: exit codes, env/user/workdir, 126/127, a tty under `script`, detached.

mod engine_support;
use engine_support::{require_root, suffix, Engine};
use std::process::Command;
use std::time::Duration;

#[test]
fn docker_exec_codes_env_user_tty() {
    if !require_root("docker_exec_codes_env_user_tty") {
        return;
    }
    let e = Engine::start();
    e.load_busybox();
    let name = format!("ex-{}", suffix());
    e.docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--hostname",
        "exhost",
        "--network",
        "none",
        "busybox",
        "sleep",
        "300",
    ]);

    let out = e.docker_raw(&["exec", &name, "sh", "-c", "echo $HOSTNAME; echo err >&2; exit 3"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "exhost");
    assert_eq!(String::from_utf8_lossy(&out.stderr).trim(), "err");

    let out = e.docker(&[
        "exec",
        "-e",
        "FOO=bar",
        "-w",
        "/tmp",
        "-u",
        "nobody",
        &name,
        "sh",
        "-c",
        "echo $FOO $(pwd) $(id -u)",
    ]);
    assert_eq!(out.trim(), "bar /tmp 65534");

    let out = e.docker_raw(&["exec", &name, "/no/such/binary"]);
    assert_eq!(
        out.status.code(),
        Some(127),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = e.docker_raw(&["exec", &name, "/etc/passwd"]);
    assert_eq!(
        out.status.code(),
        Some(126),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // stdin reaches the process and its EOF ends it.
    let mut child = Command::new(engine_support::docker_bin())
        .args(["exec", "-i", &name, "cat"])
        .env("DOCKER_HOST", format!("unix://{}", e.socket.display()))
        .env("DOCKER_CONFIG", e.dir.path().join("docker-config"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut si = child.stdin.take().unwrap();
        si.write_all(b"through stdin\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "through stdin\n");

    // -it under a real pty: the process sees a terminal.
    let cmd = format!(
        "DOCKER_HOST=unix://{} DOCKER_CONFIG={} docker exec -it {} sh -c 'tty; stty size; exit 4'",
        e.socket.display(),
        e.dir.path().join("docker-config").display(),
        name
    );
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("/dev/pts/"), "no tty in exec -it output: {text:?}");
    assert_eq!(out.status.code(), Some(4), "output: {text:?}");

    // Detached: runs in the background and leaves its effect.
    e.docker(&["exec", "-d", &name, "sh", "-c", "sleep 0.2; touch /tmp/detached"]);
    assert!(e.eventually(Duration::from_secs(10), || e
        .docker_raw(&["exec", &name, "test", "-f", "/tmp/detached"])
        .status
        .success()));

    // Exec in a stopped container is refused.
    e.docker(&["stop", "-t", "1", &name]);
    let out = e.docker_raw(&["exec", &name, "true"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not running"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn docker_top_stats_cp() {
    if !require_root("docker_top_stats_cp") {
        return;
    }
    let e = Engine::start();
    e.load_busybox();
    let name = format!("tsc-{}", suffix());
    e.docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        "none",
        "busybox",
        "sleep",
        "300",
    ]);
    let top = e.docker(&["top", &name, "-o", "pid,comm"]);
    let rows: Vec<&str> = top.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{top}");
    assert!(rows[0].ends_with("sleep"), "{top}");

    let stats = e.docker(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.PIDs}} {{.MemUsage}}",
        &name,
    ]);
    let f: Vec<&str> = stats.split_whitespace().collect();
    assert_eq!(f.first(), Some(&name.as_str()), "{stats}");
    assert_eq!(f.get(1), Some(&"1"), "{stats}");
    assert!(!stats.contains(" 0B /"), "memory usage missing: {stats}");

    let host = tempfile::tempdir().unwrap();
    let src = host.path().join("in.txt");
    std::fs::write(&src, "to the container\n").unwrap();
    e.docker(&["cp", src.to_str().unwrap(), &format!("{name}:/tmp/")]);
    assert_eq!(e.docker(&["exec", &name, "cat", "/tmp/in.txt"]), "to the container\n");
    e.docker(&[
        "exec",
        &name,
        "sh",
        "-c",
        "mkdir -p /d/sub && echo x > /d/sub/y && ln -s /etc /d/lnk && ln -s /etc /tmp/out",
    ]);
    let dst = host.path().join("out");
    e.docker(&["cp", &format!("{name}:/d"), dst.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(dst.join("sub/y")).unwrap(), "x\n");
    assert_eq!(
        std::fs::read_link(dst.join("lnk")).unwrap(),
        std::path::PathBuf::from("/etc")
    );
    // A symlink to /etc inside the container leads to the container's /etc, never the host's.
    let marker = format!("berth-cp-{}", suffix());
    let mfile = host.path().join(&marker);
    std::fs::write(&mfile, "m").unwrap();
    e.docker(&["cp", mfile.to_str().unwrap(), &format!("{name}:/tmp/out/")]);
    assert!(!std::path::Path::new("/etc").join(&marker).exists());
    assert_eq!(e.docker(&["exec", &name, "cat", &format!("/etc/{marker}")]), "m");
}
