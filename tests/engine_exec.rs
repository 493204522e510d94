//! `docker exec` against berth's engine: exit codes, env/user/workdir, 126/127, a tty under `script` (size set
//! by the client, no stray bytes), the exec'd process's pid in exec inspect, detached.

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

    // dockerd: 126 for any exec that cannot start, a missing binary too (127 is `docker run`'s).
    let out = e.docker_raw(&["exec", &name, "/no/such/binary"]);
    assert_eq!(
        out.status.code(),
        Some(126),
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
    // What dockerd 20.10 answers (checked by hand): an unknown user and a missing workdir are 126 with runc's
    // words; the unknown user's exec used to report no exit code, which the docker CLI turned into 0.
    for (flags, words) in [
        (
            ["-u", "nosuch"],
            "unable to find user nosuch: no matching entries in passwd file",
        ),
        (
            ["-w", "/nonexist"],
            "chdir to cwd (\"/nonexist\") set in config.json failed: no such file or directory",
        ),
    ] {
        let out = e.docker_raw(&["exec", flags[0], flags[1], &name, "true"]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(126), "exec {flags:?}: {text}");
        assert!(text.contains(words), "exec {flags:?}: {text}");
    }

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

    // -it under a real pty whose size the client set: the process sees the terminal and that size at once,
    // and nothing but its output comes back (no stray NUL / ^@).
    let (text, code) = docker_under_pty(&e, &format!("exec -it {name}"), "tty; stty size; exit 4", 37, 101);
    assert!(text.contains("/dev/pts/"), "no tty in exec -it output: {text:?}");
    assert!(
        text.contains("37 101"),
        "stty size did not print the client's size: {text:?}"
    );
    assert!(
        !text.contains('\0') && !text.contains("^@"),
        "stray NUL in exec -it output: {text:?}"
    );
    assert_eq!(code, Some(4), "output: {text:?}");
    // docker run -it takes the same way (the container's process spec carries HostConfig.ConsoleSize).
    let (text, code) = docker_under_pty(&e, "run --rm -it --network none busybox", "stty size; exit 5", 29, 93);
    assert!(
        text.contains("29 93"),
        "run -it: stty size did not print the client's size: {text:?}"
    );
    assert!(
        !text.contains('\0') && !text.contains("^@"),
        "stray NUL in run -it output: {text:?}"
    );
    assert_eq!(code, Some(5), "output: {text:?}");

    // Exec inspect reports the exec'd process's host pid (not berth's helper), kept after it exits.
    let (st, body) = api(
        &e,
        "POST",
        &format!("/containers/{name}/exec"),
        r#"{"Cmd":["sleep","30"]}"#,
    );
    assert_eq!(st, 201, "{body}");
    let exec_id = json(&body)["Id"].as_str().unwrap().to_owned();
    let (st, body) = api(&e, "POST", &format!("/exec/{exec_id}/start"), r#"{"Detach":true}"#);
    assert_eq!(st, 200, "{body}");
    let mut pid = 0;
    assert!(e.eventually(Duration::from_secs(10), || {
        pid = json(&api(&e, "GET", &format!("/exec/{exec_id}/json"), "").1)["Pid"]
            .as_i64()
            .unwrap_or(0);
        pid > 0
    }));
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert_eq!(cmdline, b"sleep\x0030\x00", "pid {pid} is not the exec'd process");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let nspid = status.lines().find(|l| l.starts_with("NSpid:")).unwrap();
    assert_eq!(
        nspid.split_whitespace().count(),
        3,
        "not in the container's pid namespace: {nspid}"
    );
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let full_id = e.docker(&["inspect", "-f", "{{.Id}}", &name]).trim().to_owned();
    assert!(
        cgroup.contains(&full_id),
        "exec not in the container's cgroup: {cgroup}"
    );

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

/// Runs `docker <verb_args> sh -c <script>` (e.g. `exec -it NAME`) under `script`'s pty sized rows x cols
/// (stdin kept open, so `script` never injects an EOF character); returns the output and the exit code.
fn docker_under_pty(e: &Engine, verb_args: &str, script: &str, rows: u16, cols: u16) -> (String, Option<i32>) {
    use std::io::Read;
    let cmd = format!(
        "stty rows {rows} cols {cols}; DOCKER_HOST=unix://{} DOCKER_CONFIG={} docker {} sh -c '{}'",
        e.socket.display(),
        e.dir.path().join("docker-config").display(),
        verb_args,
        script
    );
    let mut child = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take();
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    let st = child.wait().unwrap();
    drop(stdin);
    (String::from_utf8_lossy(&out).into_owned(), st.code())
}

/// One HTTP/1.1 request on the engine's socket; returns the status and body (Docker API, no client library).
fn api(e: &Engine, method: &str, path: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(&e.socket).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: berth\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("bad JSON {body:?}: {e}"))
}

/// The probe server a healthcheck keeps in the container is berth's: `docker top` lists the user's processes
/// only, as on dockerd, whose probes are short execs.
#[test]
fn docker_top_leaves_out_the_probe_server() {
    let Some(e) = Engine::with_busybox("docker_top_leaves_out_the_probe_server") else {
        return;
    };
    let name = format!("tps-{}", suffix());
    let id = e.run_detached(
        &name,
        &["--health-cmd", "true", "--health-interval", "1s"],
        &["sleep", "300"],
    );
    let healthy = e.eventually(Duration::from_secs(30), || {
        e.docker(&["inspect", "-f", "{{.State.Health.Status}}", &name]).trim() == "healthy"
    });
    assert!(healthy, "never healthy");
    let top = e.docker(&["top", &name, "-o", "pid,comm"]);
    let rows: Vec<&str> = top.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{top}");
    assert!(rows[0].ends_with("sleep"), "{top}");
    // What berth keeps on the host for it: the monitor and the probe server; the helper that started the
    // server is gone.
    let kept = || {
        let mut names: Vec<String> = processes_mentioning(&id).into_iter().map(|(_, comm)| comm).collect();
        names.sort();
        names
    };
    let settled = e.eventually(Duration::from_secs(10), || kept().len() == 2);
    assert!(settled, "processes carrying the bundle: {:?}", kept());
    assert!(kept().contains(&"berth-probe".to_owned()), "{:?}", kept());
}

/// (pid, comm) of the host's processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<(i32, String)> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|d| d.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle))
        })
        .filter_map(|pid| {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
            Some((pid, comm.trim_end().to_owned()))
        })
        .collect()
}

#[test]
fn docker_top_stats_cp() {
    let Some(e) = Engine::with_busybox("docker_top_stats_cp") else {
        return;
    };
    let name = format!("tsc-{}", suffix());
    e.run_detached(&name, &[], &["sleep", "300"]);
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

    // A stopped container: its rootfs is mounted for the copy (both ways) and unmounted after.
    e.docker(&["stop", "-t", "0", &name]);
    let back = host.path().join("back.txt");
    e.docker(&["cp", &format!("{name}:/tmp/in.txt"), back.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&back).unwrap(), "to the container\n");
    e.docker(&["cp", src.to_str().unwrap(), &format!("{name}:/tmp/again.txt")]);
    let id = e.docker(&["inspect", "-f", "{{.Id}}", &name]);
    let rootfs = e.root.join("run").join(id.trim()).join("rootfs");
    assert!(
        engine_support::mounts_under(&rootfs).is_empty(),
        "the copy left the rootfs of a stopped container mounted"
    );
    e.docker(&["start", &name]);
    assert_eq!(
        e.docker(&["exec", &name, "cat", "/tmp/again.txt"]),
        "to the container\n"
    );
}
