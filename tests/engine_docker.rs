//! The real docker CLI against a berth engine: load, run, ps, logs, stop, rm, inspect, wait.

mod engine_support;

use engine_support::{require_root, Engine};

fn inspect_field(e: &Engine, name: &str, format: &str) -> String {
    e.docker(&["inspect", "-f", format, name]).trim().to_owned()
}

#[test]
fn docker_cli_lifecycle() {
    if !require_root("docker_cli_lifecycle") {
        return;
    }
    let e = Engine::start();
    e.load_busybox();
    let images = e.docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert_eq!(images.trim(), "busybox:latest");

    let out = e.docker_raw(&["run", "--rm", "busybox", "echo", "hello"]);
    assert!(
        out.status.success(),
        "docker run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n");
    assert_eq!(e.docker(&["ps", "-aq"]).trim(), "", "--rm left a container");

    // Short-lived --rm containers are removed, log and all, right after they exit: their output must reach
    // the attached client every time (it was lost when the follower opened the log only after the start).
    for i in 0..20 {
        let out = e.docker_raw(&["run", "--rm", "--network", "none", "busybox", "echo", "again"]);
        assert_eq!(String::from_utf8_lossy(&out.stdout), "again\n", "run {i}: output lost");
    }

    let out = e.docker_raw(&["run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");

    let name = format!("s{}", std::process::id());
    let id = e.docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--label",
        "suite=engine",
        "busybox",
        "sh",
        "-c",
        "echo ready; exec sleep 1000",
    ]);
    assert_eq!(id.trim().len(), 64);
    let ps = e.docker(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.contains(&name) && ps.contains("Up"), "docker ps: {ps}");
    let filtered = e.docker(&[
        "ps",
        "-q",
        "--filter",
        "label=suite=engine",
        "--filter",
        "status=running",
    ]);
    assert_eq!(filtered.trim(), &id.trim()[..12]);
    assert!(
        e.eventually(std::time::Duration::from_secs(5), || e.docker(&["logs", &name])
            == "ready\n")
    );
    assert_eq!(
        inspect_field(&e, &name, "{{.State.Status}} {{.State.Running}} {{.Name}}"),
        format!("running true /{name}")
    );
    assert_eq!(
        inspect_field(&e, &name, "{{.Config.Image}} {{index .Config.Labels \"suite\"}}"),
        "busybox engine"
    );

    // sleep as PID 1 ignores SIGTERM: the stop escalates to SIGKILL after the grace period.
    e.docker(&["stop", "-t", "2", &name]);
    assert_eq!(
        inspect_field(&e, &name, "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 137"
    );
    assert_eq!(e.docker(&["wait", &name]).trim(), "137");
    let ps = e.docker(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.contains("Exited (137)"), "docker ps -a: {ps}");
    assert_eq!(e.docker(&["logs", &name]), "ready\n", "logs survive the stop");

    e.docker(&["rm", &name]);
    let gone = e.docker_raw(&["inspect", &name]);
    assert!(!gone.status.success());
    assert!(String::from_utf8_lossy(&gone.stderr).contains("No such object"));
}

#[test]
fn docker_cli_errors_and_conflicts() {
    if !require_root("docker_cli_errors_and_conflicts") {
        return;
    }
    let e = Engine::start();
    e.load_busybox();
    let name = format!("c{}", std::process::id());
    e.docker(&["run", "-d", "--name", &name, "busybox", "sleep", "1000"]);
    let dup = e.docker_raw(&["create", "--name", &name, "busybox", "true"]);
    assert!(
        String::from_utf8_lossy(&dup.stderr).contains("is already in use"),
        "{dup:?}"
    );
    let rm = e.docker_raw(&["rm", &name]);
    assert!(
        String::from_utf8_lossy(&rm.stderr).contains("cannot remove a running container"),
        "{rm:?}"
    );
    let missing = e.docker_raw(&["logs", "nope-no-such"]);
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("No such container"),
        "{missing:?}"
    );
    let bad = e.docker_raw(&["run", "--rm", "busybox", "/no/such/binary"]);
    assert!(!bad.status.success());
    e.docker(&["rename", &name, &format!("{name}-2")]);
    e.docker(&["rm", "-f", &format!("{name}-2")]);
    assert_eq!(e.docker(&["ps", "-aq"]).trim(), "");
    let img = e.docker_raw(&["rmi", "busybox"]);
    assert!(img.status.success(), "{img:?}");
    assert_eq!(e.docker(&["images", "-q"]).trim(), "");
}

/// Runs a shell pipeline whose docker commands talk to `e` (for feeding stdin to `docker run -i`).
fn shell_with_docker(e: &Engine, script: &str) -> std::process::Output {
    std::process::Command::new("sh")
        .args(["-c", script])
        .env("DOCKER_HOST", format!("unix://{}", e.socket.display()))
        .env("DOCKER_CONFIG", e.dir.path().join("docker-config"))
        .env("PATH", path_with_docker())
        .output()
        .expect("running sh")
}

fn path_with_docker() -> String {
    let dir = engine_support::docker_bin()
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    format!("{dir}:{}", std::env::var("PATH").unwrap_or_default())
}

#[test]
fn docker_run_interactive_gets_stdin_and_its_end() {
    if !require_root("docker_run_interactive_gets_stdin_and_its_end") {
        return;
    }
    let e = Engine::start();
    e.load_busybox();
    // Input piped before the container even starts reaches it, and the pipe's end is the container's EOF.
    let out = shell_with_docker(
        &e,
        "printf 'a\\nb\\n' | docker run --rm -i busybox sh -c 'wc -l; echo done'",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["2", "done"]
    );

    // Without StdinOnce (docker run -d -i), stdin outlives an attach: a second attach still feeds the same reader.
    let id = e.docker(&[
        "run",
        "-d",
        "-i",
        "busybox",
        "sh",
        "-c",
        "while read l; do echo got:$l; done; echo eof",
    ]);
    let id = id.trim();
    for word in ["one", "two"] {
        let mut client = std::process::Command::new(engine_support::docker_bin())
            .args(["attach", "--sig-proxy=false", id])
            .env("DOCKER_HOST", format!("unix://{}", e.socket.display()))
            .env("DOCKER_CONFIG", e.dir.path().join("docker-config"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write;
        client
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{word}\n").as_bytes())
            .unwrap();
        let seen = e.eventually(std::time::Duration::from_secs(10), || {
            e.docker(&["logs", id]).contains(&format!("got:{word}"))
        });
        let _ = client.kill();
        let _ = client.wait();
        assert!(seen, "{word} did not reach the container: {}", e.docker(&["logs", id]));
    }
    assert!(
        !e.docker(&["logs", id]).contains("eof"),
        "stdin ended when an attach closed it"
    );
    assert_eq!(inspect_field(&e, id, "{{.State.Status}}"), "running");
    e.docker(&["rm", "-f", id]);
}

/// Legacy links on the default bridge, as dockerd makes them: the linking container's environment names the
/// linked one's name, ports and variables; `docker ps` lists the link as a name of the linked container until
/// `docker rm --link` removes it (both containers stay). A restart-always container that exited is restarting
/// when `docker wait` returns, so a plain `docker rm` is refused.
#[test]
fn legacy_links_and_restarting_containers() {
    if !require_root("legacy_links_and_restarting_containers") {
        return;
    }
    let e = Engine::start();
    e.load_busybox();
    e.docker(&[
        "run", "-d", "--name", "lk1", "-e", "FOO=1", "--expose", "80", "busybox", "sleep", "1000",
    ]);
    let ip = inspect_field(&e, "lk1", "{{.NetworkSettings.Networks.bridge.IPAddress}}");
    e.docker(&[
        "create",
        "--name",
        "lk2",
        "--link",
        "lk1:my-db",
        "busybox",
        "sleep",
        "1000",
    ]);
    e.docker(&["start", "lk2"]);
    let env = e.docker(&["exec", "lk2", "env"]);
    for want in [
        "MY_DB_NAME=/lk2/my-db".to_owned(),
        "MY_DB_ENV_FOO=1".to_owned(),
        format!("MY_DB_PORT=tcp://{ip}:80"),
        format!("MY_DB_PORT_80_TCP_ADDR={ip}"),
        "MY_DB_PORT_80_TCP_PORT=80".to_owned(),
    ] {
        assert!(env.lines().any(|l| l == want), "{want} missing from:\n{env}");
    }
    assert!(!env.contains("MY_DB_ENV_PATH"), "{env}");
    // The CLI shows link names only untruncated.
    let names = |e: &Engine| {
        let out = e.docker(&["ps", "--no-trunc", "--filter", "name=lk1", "--format", "{{.Names}}"]);
        let mut names: Vec<String> = out.trim().split(',').map(str::to_owned).collect();
        names.sort();
        names
    };
    assert_eq!(names(&e), ["lk1", "lk2/my-db"]);
    e.docker(&["rm", "--link", "lk2/my-db"]);
    assert_eq!(names(&e), ["lk1"]);
    assert_eq!(
        e.docker(&["ps", "-q"]).lines().count(),
        2,
        "rm --link removed a container"
    );

    e.docker(&[
        "run",
        "-d",
        "--name",
        "rs1",
        "--restart",
        "always",
        "--network",
        "none",
        "busybox",
        "true",
    ]);
    e.docker(&["wait", "rs1"]);
    let rm = e.docker_raw(&["rm", "rs1"]);
    let err = String::from_utf8_lossy(&rm.stderr).to_lowercase();
    assert!(
        !rm.status.success() && err.contains("stop the container before"),
        "{err}"
    );
    e.docker(&["rm", "-f", "rs1", "lk1", "lk2"]);
}
