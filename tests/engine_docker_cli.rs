//! The docker CLI as its users run it, on Debian's dockerd (the oracle) and on berth's engine with the same
//! assertions: cp/diff/commit/history, export/import, system df and the prune verbs, update, every logs flag, attach with detach keys.

#[macro_use]
mod orchestrator_support;

use orchestrator_support::{require_root, suffix, Engine, Kind};
use std::collections::BTreeSet;
use std::process::{Command, Output, Stdio};

for_each_engine!(
    cp_diff_commit_history,
    export_import,
    system_df_and_prune,
    update_resources,
    logs_every_flag,
    attach_with_detach_keys,
    init_layer_entries_are_there_and_not_changes,
);

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn start(kind: Kind, test: &str) -> Option<Engine> {
    require_root(test).then(|| Engine::start(kind))
}

/// Runs the docker CLI, asserting success; returns stdout.
fn ok(e: &Engine, args: &[&str]) -> String {
    let out = e.docker(args);
    assert!(out.status.success(), "docker {args:?} on {:?}: {}", e.kind, text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs the docker CLI, asserting failure; returns stdout and stderr.
fn fails(e: &Engine, args: &[&str]) -> String {
    let out = e.docker(args);
    assert!(
        !out.status.success(),
        "docker {args:?} on {:?} succeeded: {}",
        e.kind,
        text(&out)
    );
    text(&out)
}

/// The docker CLI against `e` under `timeout` (a bounded wait for verbs that could block), with stdin closed.
fn bounded(e: &Engine, args: &[&str]) -> Output {
    Command::new("timeout")
        .args(["-s", "KILL", "60", "docker", "-H", &e.host()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("timeout docker")
}

/// `docker run -d --network none --name NAME busybox sleep 300`.
fn sleeper(e: &Engine, name: &str) {
    ok(
        e,
        &[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            "none",
            "busybox",
            "sleep",
            "300",
        ],
    );
}

fn lines(s: &str) -> Vec<String> {
    s.lines().filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn cp_diff_commit_history(kind: Kind) {
    let Some(e) = start(kind, "cp_diff_commit_history") else {
        return;
    };
    let c = format!("cp{}", suffix());
    sleeper(&e, &c);
    let exec = e.docker(&[
        "exec",
        &c,
        "sh",
        "-c",
        "mkdir /data && echo new > /data/new && echo hello > /f && echo extra:x:99: >> /etc/group && rm /bin/vi",
    ]);
    assert!(exec.status.success(), "exec: {}", text(&exec));

    // Host to container: a file, and a directory (copied as a directory of that name).
    let host = tempfile::tempdir().expect("temp dir");
    std::fs::write(host.path().join("fromhost"), "from host\n").expect("write");
    std::fs::create_dir(host.path().join("hostdir")).expect("mkdir");
    std::fs::write(host.path().join("hostdir/inner"), "inner\n").expect("write");
    let p = |name: &str| host.path().join(name).display().to_string();
    ok(&e, &["cp", &p("fromhost"), &format!("{c}:/data/fromhost")]);
    ok(&e, &["cp", &p("hostdir"), &format!("{c}:/data/")]);
    assert_eq!(
        e.exec_sh(&c, "cat /data/fromhost /data/hostdir/inner"),
        "from host\ninner\n"
    );

    // Container to host: a file, a directory, and a tar stream on stdout.
    ok(&e, &["cp", &format!("{c}:/etc/group"), &p("group")]);
    assert!(std::fs::read_to_string(p("group"))
        .expect("group")
        .contains("extra:x:99:"));
    ok(&e, &["cp", &format!("{c}:/data"), &p("back")]);
    assert_eq!(std::fs::read_to_string(p("back/new")).expect("back/new"), "new\n");
    assert_eq!(
        std::fs::read_to_string(p("back/hostdir/inner")).expect("inner"),
        "inner\n"
    );
    let tar = e.docker(&["cp", &format!("{c}:/data"), "-"]);
    assert!(tar.status.success(), "cp to stdout: {}", text(&tar));
    std::fs::write(p("data.tar"), &tar.stdout).expect("write tar");
    let listing = Command::new("tar").args(["-tf", &p("data.tar")]).output().expect("tar");
    let entries: BTreeSet<String> = lines(&String::from_utf8_lossy(&listing.stdout))
        .iter()
        .map(|l| l.trim_end_matches('/').to_owned())
        .collect();
    assert_eq!(
        entries,
        set(&[
            "data",
            "data/new",
            "data/fromhost",
            "data/hostdir",
            "data/hostdir/inner"
        ]),
        "tar from `docker cp {c}:/data -` on {kind:?}"
    );

    let diff: BTreeSet<String> = lines(&ok(&e, &["diff", &c])).into_iter().collect();
    let want = set(&[
        "A /data",
        "A /data/new",
        "A /data/fromhost",
        "A /data/hostdir",
        "A /data/hostdir/inner",
        "A /f",
        "C /etc",
        "C /etc/group",
        "C /bin",
        "D /bin/vi",
    ]);
    assert_eq!(diff, want, "docker diff on {kind:?}");

    let img = format!("committed{}:v1", suffix());
    let id = ok(
        &e,
        &[
            "commit",
            "-c",
            "ENV X=1",
            "-c",
            r#"CMD ["cat","/f"]"#,
            "-m",
            "msg",
            &c,
            &img,
        ],
    );
    assert!(id.trim().starts_with("sha256:"), "commit prints the image id: {id}");
    assert_eq!(ok(&e, &["run", "--rm", "--network", "none", &img]), "hello\n");
    assert_eq!(
        ok(
            &e,
            &[
                "run",
                "--rm",
                "--network",
                "none",
                &img,
                "sh",
                "-c",
                "echo $X; test -e /bin/vi || echo gone"
            ]
        ),
        "1\ngone\n"
    );
    let history = lines(&ok(
        &e,
        &["history", "--no-trunc", "--format", "{{.CreatedBy}}|{{.Comment}}", &img],
    ));
    assert_eq!(
        history.first().map(String::as_str),
        Some("sleep 300|msg"),
        "history on {kind:?}"
    );
    let env = ok(&e, &["image", "inspect", "--format", "{{json .Config.Env}}", &img]);
    assert!(env.contains("\"X=1\""), "Config.Env on {kind:?}: {env}");
    let cmd = ok(&e, &["image", "inspect", "--format", "{{json .Config.Cmd}}", &img]);
    assert_eq!(cmd.trim(), r#"["cat","/f"]"#, "Config.Cmd on {kind:?}");
    ok(&e, &["rm", "-f", &c]);
}

fn export_import(kind: Kind) {
    let Some(e) = start(kind, "export_import") else {
        return;
    };
    let c = format!("ex{}", suffix());
    sleeper(&e, &c);
    assert_eq!(e.exec_sh(&c, "echo exported > /f && echo ok"), "ok\n");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("file.tar").display().to_string();
    ok(&e, &["export", &c, "-o", &file]);
    let img = format!("imported{}:tag", suffix());
    let id = ok(&e, &["import", "-c", r#"CMD ["cat","/f"]"#, &file, &img]);
    assert!(id.trim().starts_with("sha256:"), "import prints the image id: {id}");
    assert_eq!(ok(&e, &["run", "--rm", "--network", "none", &img]), "exported\n");

    // The same tarball on stdin.
    let img2 = format!("imported2{}", suffix());
    let out = Command::new("docker")
        .args(["-H", &e.host(), "import", "-", &img2])
        .stdin(std::fs::File::open(&file).expect("open tar"))
        .output()
        .expect("docker import -");
    assert!(out.status.success(), "import - on {kind:?}: {}", text(&out));
    assert_eq!(
        ok(&e, &["run", "--rm", "--network", "none", &img2, "cat", "/f"]),
        "exported\n"
    );
    let cmd = ok(&e, &["image", "inspect", "--format", "{{json .Config.Cmd}}", &img2]);
    assert_eq!(cmd.trim(), "null", "an import without CMD has none on {kind:?}");
    import_from_url(&e, dir.path());
}

/// Serves `dir` over HTTP on the engine's 127.0.0.1 (port printed first), until dropped.
struct FileServer(std::process::Child, String);

impl FileServer {
    fn start(e: &Engine, dir: &std::path::Path) -> FileServer {
        use std::io::BufRead;
        const SERVE: &str = "import functools, http.server, sys\n\
            h = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])\n\
            s = http.server.HTTPServer(('127.0.0.1', 0), h)\n\
            print(s.server_address[1], flush=True)\n\
            s.serve_forever()\n";
        let mut child = e
            .host_command("python3")
            .args(["-c", SERVE])
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 http.server");
        let mut port = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut port)
            .expect("server port");
        FileServer(child, format!("127.0.0.1:{}", port.trim()))
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `docker import URL`: the engine downloads the archive; a missing file and a closed port fail as on dockerd.
fn import_from_url(e: &Engine, dir: &std::path::Path) {
    let kind = e.kind;
    let server = FileServer::start(e, dir);
    let img = format!("fromurl{}", suffix());
    let id = ok(
        e,
        &[
            "import",
            "-c",
            "ENV FROM_URL=1",
            &format!("http://{}/file.tar", server.1),
            &img,
        ],
    );
    let url = format!("http://{}/file.tar", server.1);
    assert!(
        id.contains(&format!("Downloading from {url}")),
        "import URL says it downloads on {kind:?}: {id}"
    );
    let last = id.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("sha256:"),
        "import URL prints the image id on {kind:?}: {id}"
    );
    assert_eq!(
        ok(
            e,
            &[
                "run",
                "--rm",
                "--network",
                "none",
                &img,
                "sh",
                "-c",
                "cat /f; echo $FROM_URL"
            ]
        ),
        "exported\n1\n"
    );
    let missing = fails(e, &["import", &format!("http://{}/missing.tar", server.1)]);
    assert!(
        missing.contains("with status 404"),
        "a missing archive on {kind:?}: {missing}"
    );
    let addr = server.1.clone();
    drop(server);
    let refused = fails(e, &["import", &format!("http://{addr}/file.tar")]);
    assert!(
        refused.to_lowercase().contains("connection refused"),
        "no server on {kind:?}: {refused}"
    );
}

fn system_df_and_prune(kind: Kind) {
    let Some(e) = start(kind, "system_df_and_prune") else {
        return;
    };
    let df = lines(&ok(&e, &["system", "df"]));
    let header: Vec<&str> = df[0].split_whitespace().collect();
    assert_eq!(
        header,
        ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"],
        "df header on {kind:?}"
    );
    let types: Vec<&str> = df[1..]
        .iter()
        .map(|l| {
            ["Images", "Containers", "Local Volumes", "Build Cache"]
                .into_iter()
                .find(|t| l.starts_with(t))
                .unwrap_or(l)
        })
        .collect();
    assert_eq!(
        types,
        ["Images", "Containers", "Local Volumes", "Build Cache"],
        "df rows on {kind:?}"
    );
    let verbose = ok(&e, &["system", "df", "-v"]);
    assert!(verbose.contains("Images space usage:"), "df -v on {kind:?}: {verbose}");

    // container prune: stopped ones go, running ones stay.
    let s = suffix();
    let (stopped, running) = (format!("stopped{s}"), format!("running{s}"));
    ok(&e, &["run", "--name", &stopped, "--network", "none", "busybox", "true"]);
    sleeper(&e, &running);
    let pruned = ok(&e, &["container", "prune", "-f"]);
    assert!(
        pruned.contains("Total reclaimed space"),
        "container prune on {kind:?}: {pruned}"
    );
    let left = lines(&ok(&e, &["ps", "-a", "--format", "{{.Names}}"]));
    assert!(
        !left.contains(&stopped) && left.contains(&running),
        "after prune on {kind:?}: {left:?}"
    );
    ok(&e, &["rm", "-f", &running]);

    // volume prune with a label filter: an unlabelled volume stays. Whether a named labelled one goes depends on
    // the API version (1.42 made prune take anonymous volumes only unless `--all`; Debian's dockerd speaks 1.41).
    let (vx, vy) = (format!("vx{s}"), format!("vy{s}"));
    ok(&e, &["volume", "create", "--label", "x=1", &vx]);
    ok(&e, &["volume", "create", &vy]);
    let pruned = ok(&e, &["volume", "prune", "-f", "--filter", "label=x"]);
    assert!(
        pruned.contains("Total reclaimed space"),
        "volume prune on {kind:?}: {pruned}"
    );
    let left = lines(&ok(&e, &["volume", "ls", "--format", "{{.Name}}"]));
    assert!(left.contains(&vy), "volumes after prune on {kind:?}: {left:?}");
    ok(&e, &["volume", "rm", &vy]);

    // image prune: a dangling image goes, the tagged one stays.
    let c = format!("donor{s}");
    sleeper(&e, &c);
    let tag = format!("dangling{s}:v");
    let first = ok(&e, &["commit", "-c", "LABEL x=1", &c, &tag]).trim().to_owned();
    let second = ok(&e, &["commit", "-c", "LABEL x=1", "-m", "again", &c, &tag])
        .trim()
        .to_owned();
    assert_ne!(first, second);
    let kept = ok(&e, &["image", "prune", "-f", "--filter", "label=nosuch"]);
    assert!(
        !kept.contains(&first),
        "a label no image has prunes nothing on {kind:?}: {kept}"
    );
    let pruned = ok(&e, &["image", "prune", "-f", "--filter", "label=x"]);
    assert!(
        pruned.contains("Total reclaimed space"),
        "image prune on {kind:?}: {pruned}"
    );
    assert!(
        pruned.contains(&first),
        "image prune names the dangling image on {kind:?}: {pruned}"
    );
    assert!(
        !e.docker(&["image", "inspect", &first]).status.success(),
        "{first} pruned on {kind:?}"
    );
    ok(&e, &["image", "inspect", &second]);
    ok(&e, &["rm", "-f", &c]);

    // network prune with a label filter.
    let (nx, ny) = (format!("nx{s}"), format!("ny{s}"));
    ok(&e, &["network", "create", "--internal", "--label", "x=1", &nx]);
    ok(&e, &["network", "create", "--internal", &ny]);
    let pruned = ok(&e, &["network", "prune", "-f", "--filter", "label=x"]);
    assert!(
        pruned.contains(&nx) && !pruned.contains(&ny),
        "network prune on {kind:?}: {pruned}"
    );
    let left = lines(&ok(&e, &["network", "ls", "--format", "{{.Name}}"]));
    assert!(
        !left.contains(&nx) && left.contains(&ny),
        "networks after prune on {kind:?}: {left:?}"
    );
    ok(&e, &["network", "rm", &ny]);
}

fn update_resources(kind: Kind) {
    let Some(e) = start(kind, "update_resources") else {
        return;
    };
    let c = format!("up{}", suffix());
    sleeper(&e, &c);
    ok(
        &e,
        &[
            "update",
            "--memory",
            "64m",
            "--memory-swap",
            "128m",
            "--cpu-shares",
            "512",
            "--restart",
            "on-failure:3",
            &c,
        ],
    );
    let got = ok(
        &e,
        &[
            "inspect",
            "--format",
            "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.CpuShares}} {{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}",
            &c,
        ],
    );
    assert_eq!(
        got.trim(),
        "67108864 134217728 512 on-failure 3",
        "inspect after update on {kind:?}"
    );
    let err = fails(&e, &["update", "--cpu-shares", "512", &format!("missing{}", suffix())]);
    assert!(
        err.contains("No such container"),
        "update of a missing container on {kind:?}: {err}"
    );
    ok(&e, &["rm", "-f", &c]);
}

/// Whether `token` is an RFC3339Nano UTC time as docker prints it (`2006-01-02T15:04:05.999999999Z`).
fn is_rfc3339_nano(token: &str) -> bool {
    let b = token.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && token.ends_with('Z')
        && match token[19..token.len() - 1].strip_prefix('.') {
            Some(fraction) => !fraction.is_empty() && fraction.bytes().all(|c| c.is_ascii_digit()),
            None => token.len() == 20,
        }
}

fn logs_every_flag(kind: Kind) {
    let Some(e) = start(kind, "logs_every_flag") else {
        return;
    };
    let c = format!("logs{}", suffix());
    ok(
        &e,
        &[
            "run",
            "--name",
            &c,
            "--network",
            "none",
            "--label",
            "tier=web",
            "--log-opt",
            "labels=tier",
            "busybox",
            "sh",
            "-c",
            "for i in 1 2 3 4 5; do echo line$i; done; echo oops >&2",
        ],
    );
    let logs = |extra: &[&str]| -> (Vec<String>, Vec<String>) {
        let mut args = vec!["logs"];
        args.extend_from_slice(extra);
        args.push(&c);
        let out = bounded(&e, &args);
        assert!(out.status.success(), "docker {args:?} on {kind:?}: {}", text(&out));
        (
            lines(&String::from_utf8_lossy(&out.stdout)),
            lines(&String::from_utf8_lossy(&out.stderr)),
        )
    };
    let all: Vec<String> = (1..=5).map(|i| format!("line{i}")).collect();
    assert_eq!(
        logs(&[]),
        (all.clone(), vec!["oops".to_owned()]),
        "docker logs on {kind:?}"
    );

    // --tail counts lines of both streams: the stdout part is a suffix of the lines, whichever came last.
    let (out, err) = logs(&["--tail", "2"]);
    assert_eq!(out.len() + err.len(), 2, "--tail 2 on {kind:?}: {out:?} {err:?}");
    assert!(all.ends_with(&out), "--tail 2 on {kind:?}: {out:?}");
    assert_eq!(logs(&["-n", "0"]), (vec![], vec![]), "-n 0 on {kind:?}");

    let (out, err) = logs(&["--timestamps"]);
    for l in out.iter().chain(&err) {
        let (ts, rest) = l.split_once(' ').unwrap_or((l, ""));
        assert!(is_rfc3339_nano(ts), "--timestamps prefix on {kind:?}: {l}");
        assert!(
            rest.starts_with("line") || rest == "oops",
            "--timestamps line on {kind:?}: {l}"
        );
    }
    assert_eq!((out.len(), err.len()), (5, 1));

    let everything = (all.clone(), vec!["oops".to_owned()]);
    let nothing = (vec![], vec![]);
    assert_eq!(logs(&["--since", "1h"]), everything, "--since 1h on {kind:?}");
    assert_eq!(logs(&["--until", "1h"]), nothing, "--until 1h on {kind:?}");
    assert_eq!(
        logs(&["--since", "2000-01-01T00:00:00Z"]),
        everything,
        "--since absolute on {kind:?}"
    );
    assert_eq!(
        logs(&["--until", "2000-01-01T00:00:00Z"]),
        nothing,
        "--until absolute on {kind:?}"
    );
    assert_eq!(
        logs(&["--since", "2999-01-01T00:00:00Z"]),
        nothing,
        "--since future on {kind:?}"
    );
    assert_eq!(
        logs(&["--until", "2999-01-01"]),
        everything,
        "--until future on {kind:?}"
    );
    assert_eq!(
        logs(&["--follow"]),
        everything,
        "--follow of an exited container on {kind:?}"
    );
    let detailed = |l: &String| format!("tier=web {l}");
    assert_eq!(
        logs(&["--details"]),
        (all.iter().map(detailed).collect(), vec!["tier=web oops".to_owned()]),
        "--details on {kind:?}"
    );
}

/// `docker attach` of a tty container under a pseudo-terminal (`script`): sends a line, waits for the
/// container's answer, sends ctrl-x and returns whether the client ended (bounded; killed otherwise).
fn attach_and_detach(e: &Engine, container: &str, config: Option<&std::path::Path>, keys: &str) -> (bool, String) {
    use std::io::{Read, Write};
    let cmd = format!("docker -H {} attach --sig-proxy=false {keys} {container}", e.host());
    let mut script = Command::new("script");
    script.args(["-qfc", &cmd, "/dev/null"]);
    if let Some(dir) = config {
        script.env("DOCKER_CONFIG", dir);
    }
    let mut child = script
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("script");
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let mut stdout = child.stdout.take().expect("stdout");
    let sink = seen.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().expect("lock").push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let mut stdin = child.stdin.take().expect("stdin");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    // The line may be typed before the client attached: the terminal holds it, so one write suffices.
    stdin.write_all(b"hello\n").expect("write");
    while !seen.lock().expect("lock").contains("got:hello") && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    stdin.write_all(b"\x18").expect("write detach key");
    let mut ended = false;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            ended = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    if !ended {
        let _ = child.kill();
    }
    let _ = child.wait();
    let out = seen.lock().expect("lock").clone();
    (ended, out)
}

fn attach_with_detach_keys(kind: Kind) {
    let Some(e) = start(kind, "attach_with_detach_keys") else {
        return;
    };
    let c = format!("att{}", suffix());
    let script = "while read l; do echo got:$l; done";
    ok(
        &e,
        &[
            "run",
            "-dit",
            "--name",
            &c,
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            script,
        ],
    );
    let running = || ok(&e, &["inspect", "--format", "{{.State.Running}}", &c]).trim() == "true";
    let (ended, out) = attach_and_detach(&e, &c, None, "--detach-keys ctrl-x");
    assert!(out.contains("got:hello"), "attach output on {kind:?}: {out:?}");
    assert!(ended, "ctrl-x detached the client on {kind:?}: {out:?}");
    assert!(running(), "the container runs on after detach on {kind:?}");

    // The same keys from the CLI's config file.
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("config.json"), r#"{"detachKeys":"ctrl-x"}"#).expect("config.json");
    let (ended, out) = attach_and_detach(&e, &c, Some(dir.path()), "");
    assert!(
        out.contains("got:hello"),
        "attach output with config.json on {kind:?}: {out:?}"
    );
    assert!(
        ended,
        "detachKeys of config.json detached the client on {kind:?}: {out:?}"
    );
    assert!(running(), "the container runs on after detach on {kind:?}");
    ok(&e, &["rm", "-f", &c]);
}

/// Docker's init layer: `/.dockerenv` (empty, 0755) and `/etc/mtab` -> `/proc/mounts` are in every container,
/// a deletion of one is kept across a restart, and neither is a change (`docker diff`, `commit`). (dockerd's
/// diff shows such a deletion, berth's does not: berth keeps the two in the container's own layer.)
fn init_layer_entries_are_there_and_not_changes(kind: Kind) {
    let Some(e) = start(kind, "init_layer_entries_are_there_and_not_changes") else {
        return;
    };
    let look = "stat -c '%a %s %U' /.dockerenv; readlink /etc/mtab; stat -c '%a %U' /etc";
    let seen = ok(&e, &["run", "--rm", "--network", "none", "busybox", "sh", "-c", look]);
    assert_eq!(seen, "755 0 root\n/proc/mounts\n755 root\n", "on {kind:?}");
    let c = format!("initlayer{}", suffix());
    ok(
        &e,
        &[
            "run",
            "--name",
            &c,
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            "touch /x",
        ],
    );
    assert_eq!(ok(&e, &["diff", &c]).trim(), "A /x", "docker diff on {kind:?}");
    let img = format!("initlayer{}:v1", suffix());
    ok(&e, &["commit", &c, &img]);
    let listed = ok(&e, &["run", "--rm", "--network", "none", &img, "sh", "-c", look]);
    assert_eq!(listed, seen, "a committed image on {kind:?}");
    ok(&e, &["rm", &c]);
    let gone = format!("initgone{}", suffix());
    ok(
        &e,
        &[
            "run",
            "--name",
            &gone,
            "--network",
            "none",
            "busybox",
            "rm",
            "/.dockerenv",
        ],
    );
    // The entries sit below the container's own layer: deleting one is a change of the container's.
    assert_eq!(
        ok(&e, &["diff", &gone]).trim(),
        "D /.dockerenv",
        "docker diff on {kind:?}"
    );
    let after = e.docker(&["start", "-a", &gone]);
    assert!(
        !after.status.success(),
        "the deletion is kept on {kind:?}: {}",
        text(&after)
    );
    ok(&e, &["rm", &gone]);
    ok(&e, &["rmi", &img]);
    bare_image_gets_its_mount_points_from_the_init_layer(&e);
}

/// An image of nothing but a static busybox: `/proc`, `/sys`, `/dev`, `/etc` and the stubs the runtime mounts
/// over come from the init layer, so they are not the container's changes.
fn bare_image_gets_its_mount_points_from_the_init_layer(e: &Engine) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("bin")).expect("bin");
    std::fs::copy("/bin/busybox", dir.path().join("bin/busybox")).expect("copy busybox");
    let tar = dir.path().join("bare.tar").display().to_string();
    let made = Command::new("tar")
        .args(["-C", &dir.path().display().to_string(), "-cf", &tar, "bin"])
        .status()
        .expect("tar");
    assert!(made.success());
    let img = format!("bare{}", suffix());
    ok(e, &["import", &tar, &img]);
    let c = format!("bare{}", suffix());
    let look = "/bin/busybox ls -a / /etc && /bin/busybox touch /x";
    let seen = ok(
        e,
        &[
            "run",
            "--name",
            &c,
            "--network",
            "none",
            &img,
            "/bin/busybox",
            "sh",
            "-c",
            look,
        ],
    );
    let kind = e.kind;
    assert!(
        seen.starts_with("/:\n.\n..\n.dockerenv\nbin\ndev\netc\nproc\nsys\n"),
        "ls on {kind:?}: {seen}"
    );
    assert!(
        seen.contains("/etc:\n.\n..\nhostname\nhosts\nmtab\nresolv.conf\n"),
        "ls on {kind:?}: {seen}"
    );
    // diff and commit take the same entries: only the container's own file.
    assert_eq!(ok(e, &["diff", &c]).trim(), "A /x", "docker diff on {kind:?}");
    ok(e, &["rm", &c]);
    ok(e, &["rmi", &img]);
}
