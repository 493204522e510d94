//! Verbs beyond up/down against a real engine: replicas and --scale, exec and run exit codes, refusal of
//! attributes berth cannot honour yet, auto-starting berth's own engine, push to a local registry, cp.

#[macro_use]
mod orchestrator_support;

use orchestrator_support::{berth_bin, require_root, Engine, Kind, Registry, Stack};

for_each_engine!(
    replicas_scale_exec_and_run_exit_codes,
    secrets_and_configs_are_mounted_as_files,
    exec_and_run_allocate_a_tty_when_stdin_is_a_terminal,
    push_sends_service_images_with_the_config_credentials,
    cp_copies_files_and_directories_both_ways,
);
use std::process::Command;

#[test]
fn unsupported_attribute_is_refused_by_name_before_any_engine_call() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("compose.yaml"),
        "services:\n  web:\n    image: busybox\n    isolation: process\n",
    )
    .expect("write");
    // An engine address nothing listens on: the refusal must come before any connection attempt.
    let out = Command::new(berth_bin())
        .current_dir(dir.path())
        .env("DOCKER_HOST", format!("unix://{}/nothing.sock", dir.path().display()))
        .args(["up", "-d"])
        .output()
        .expect("berth");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("compose.yaml:4:5: services.web.isolation") && err.contains("Windows-only"),
        "{err}"
    );
    assert!(!err.contains("nothing.sock"), "refused before connecting: {err}");
}

fn replicas_scale_exec_and_run_exit_codes(kind: Kind) {
    if !require_root("replicas_scale_exec_and_run_exit_codes") {
        return;
    }
    let engine = Engine::start(kind);
    let compose = "services:\n  w:\n    image: busybox\n    stop_signal: SIGKILL\n    deploy: {replicas: 2}\n    environment: {ROLE: worker}\n    command: [\"sleep\", \"2147483647\"]\n";
    let stack = Stack::new(&engine, "verbs", compose);
    stack.berth_ok(&["up", "-d", "--wait"]);
    let ids = stack.berth_ok(&["ps", "-q"]);
    assert_eq!(ids.lines().count(), 2, "deploy.replicas: 2 → two containers");

    stack.berth_ok(&["up", "-d", "--wait", "--scale", "w=3"]);
    let names = stack.berth_ok(&["ps", "--format", "json"]);
    for n in 1..=3 {
        assert!(
            names.contains(&format!("{}-w-{n}", stack.project)),
            "replica {n} exists: {names}"
        );
    }
    stack.berth_ok(&["up", "-d", "--wait", "--scale", "w=1"]);
    assert_eq!(
        stack.berth_ok(&["ps", "-q"]).lines().count(),
        1,
        "scaling down removes the extra replicas"
    );

    let out = stack.berth(&["exec", "-T", "w", "sh", "-c", "echo role=$ROLE; exit 5"]);
    assert_eq!(out.status.code(), Some(5), "exec returns the command's exit code");
    assert!(String::from_utf8_lossy(&out.stdout).contains("role=worker"));

    let out = stack.berth(&["run", "--rm", "-e", "X=y", "w", "sh", "-c", "echo x=$X; exit 6"]);
    assert_eq!(out.status.code(), Some(6), "run returns the one-off's exit code");
    assert!(String::from_utf8_lossy(&out.stdout).contains("x=y"));
    let all = engine.docker_lines(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=com.docker.compose.project={}", stack.project),
        "--format",
        "{{.Names}}",
    ]);
    assert_eq!(all.len(), 1, "run --rm removed its container: {all:?}");
}

#[test]
fn berth_engine_is_started_on_demand() {
    if !require_root("berth_engine_is_started_on_demand") {
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("borch-auto")
        .tempdir_in("/tmp")
        .expect("temp dir");
    let host = format!("unix://{}/b.sock", dir.path().display());
    let root = dir.path().join("root");
    let berth = |args: &[&str]| {
        Command::new(berth_bin())
            .current_dir(dir.path())
            .env_remove("DOCKER_HOST")
            .env("BERTH_HOST", &host)
            .env("BERTH_ROOT", &root)
            .args(args)
            .output()
            .expect("berth")
    };
    let out = berth(&["-p", "nothing", "ps"]);
    assert!(
        out.status.success(),
        "ps auto-started the engine: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(berth(&["engine", "status"]).status.success());
    // --purge: this root is thrown away, so its default bridge in the host namespace must go with it.
    assert!(berth(&["engine", "stop", "--purge"]).status.success());
}

const SECRETS: &str = r#"
services:
  s:
    image: busybox
    stop_signal: SIGKILL
    command: ["sleep", "2147483647"]
    secrets:
      - tok
      - {source: envsec, target: api_key, uid: "1000", gid: "1001", mode: 0440}
    configs:
      - {source: conf, target: /etc/app.conf}
      - plain
secrets:
  tok: {file: ./tok.txt}
  envsec: {environment: API_KEY}
configs:
  conf: {content: "port=8080"}
  plain: {file: ./plain.conf}
"#;

fn secrets_and_configs_are_mounted_as_files(kind: Kind) {
    if !require_root("secrets_and_configs_are_mounted_as_files") {
        return;
    }
    let engine = Engine::start(kind);
    let stack = Stack::new(&engine, "sec", SECRETS);
    std::fs::write(stack.dir.path().join("tok.txt"), "file-secret").expect("write");
    std::fs::write(stack.dir.path().join("plain.conf"), "plain-config").expect("write");
    let state = stack.dir.path().join("state");
    stack.set_env("BERTH_COMPOSE_STATE", state.to_str().expect("utf-8"));
    stack.set_env("API_KEY", "env-secret");
    stack.berth_ok(&["up", "-d", "--wait"]);
    let read = |path: &str| stack.berth_ok(&["exec", "-T", "s", "cat", path]);
    assert_eq!(
        read("/run/secrets/tok"),
        "file-secret",
        "file secret at /run/secrets/<name>"
    );
    assert_eq!(
        read("/run/secrets/api_key"),
        "env-secret",
        "environment secret at its target"
    );
    assert_eq!(
        read("/etc/app.conf"),
        "port=8080",
        "content config at its absolute target"
    );
    assert_eq!(read("/plain"), "plain-config", "file config at /<name>");
    let meta = stack.berth_ok(&["exec", "-T", "s", "stat", "-c", "%u:%g:%a", "/run/secrets/api_key"]);
    assert_eq!(meta.trim(), "1000:1001:440", "uid, gid and mode of the long syntax");
    let write = stack.berth(&["exec", "-T", "s", "sh", "-c", "echo x > /run/secrets/tok"]);
    assert!(!write.status.success(), "secrets are mounted read-only");
    assert_eq!(
        std::fs::read_to_string(stack.dir.path().join("tok.txt")).expect("read"),
        "file-secret"
    );
    stack.berth_ok(&["down"]);
    assert!(!state.join(&stack.project).exists(), "down removes the staged files");
}

/// Runs `argv` on a new pseudo-terminal of 40x100, types `input` into it, returns (exit code, output).
fn under_pty(argv: &[&str], envs: &[(&str, &str)], input: &str) -> (i32, String) {
    const PTY: &str = r#"
import fcntl, json, os, pty, signal, struct, sys, termios, time
argv, envs, data = json.loads(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    os.environ.update(envs)
    os.execvp(argv[0], argv)
def give_up(*_):
    os.kill(pid, signal.SIGKILL)
    sys.stdout.write("!!! killed after 60 s\n")
signal.signal(signal.SIGALRM, give_up)
signal.alarm(60)
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
time.sleep(1.5)
os.write(fd, data.encode())
out = b""
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
"#;
    let spec = serde_json::json!([
        argv,
        envs.iter().cloned().collect::<std::collections::HashMap<_, _>>(),
        input
    ]);
    let out = Command::new("python3")
        .args(["-c", PTY, &spec.to_string()])
        .output()
        .expect("python3");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn exec_and_run_allocate_a_tty_when_stdin_is_a_terminal(kind: Kind) {
    if !require_root("exec_and_run_allocate_a_tty_when_stdin_is_a_terminal") {
        return;
    }
    let engine = Engine::start(kind);
    let compose =
        "services:\n  w:\n    image: busybox\n    stop_signal: SIGKILL\n    command: [\"sleep\", \"2147483647\"]\n";
    let stack = Stack::new(&engine, "tty", compose);
    stack.berth_ok(&["up", "-d", "--wait"]);
    let berth = berth_bin().display().to_string();
    let compose_file = stack.dir.path().join("compose.yaml").display().to_string();
    let host = engine.host();
    // `berth -p P -f F <verb...>` on a pseudo-terminal, `input` typed into it.
    let on_tty = |verb: &[&str], input: &str| {
        let mut argv = vec![berth.as_str(), "-p", &stack.project, "-f", &compose_file];
        argv.extend_from_slice(verb);
        under_pty(&argv, &[("DOCKER_HOST", host.as_str())], input)
    };
    // The size is read after the input, by when the resize that follows the exec's start has landed.
    let (code, out) = on_tty(
        &[
            "exec",
            "w",
            "sh",
            "-c",
            "tty; read line; echo got=$line; stty size; exit 4",
        ],
        "abc\r",
    );
    assert_eq!(code, 4, "exec returns the command's exit code: {out}");
    assert!(out.contains("/dev/pts/"), "the command runs on a TTY: {out:?}");
    assert!(out.contains("40 100"), "the TTY has the terminal's size: {out:?}");
    assert!(out.contains("got=abc"), "keys typed reach the command: {out:?}");

    let (_, out) = on_tty(&["exec", "-T", "w", "sh", "-c", "tty; exit 0"], "");
    assert!(out.contains("not a tty"), "-T disables the TTY: {out:?}");

    let (code, out) = on_tty(
        &["run", "--rm", "w", "sh", "-c", "tty; read line; echo got=$line; exit 3"],
        "abc\r",
    );
    assert_eq!(code, 3, "run returns the one-off's exit code: {out}");
    assert!(out.contains("/dev/pts/"), "the one-off runs on a TTY: {out:?}");
    assert!(out.contains("got=abc"), "keys typed reach the one-off: {out:?}");
    let filter = "label=com.docker.compose.oneoff=True";
    assert!(
        engine.docker_lines(&["ps", "-aq", "--filter", filter]).is_empty(),
        "run --rm removed its container"
    );
}

#[test]
fn push_refuses_a_service_without_image_before_any_engine_call() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("compose.yaml"),
        "services:\n  noimg:\n    command: [\"true\"]\n",
    )
    .expect("write");
    let out = Command::new(berth_bin())
        .current_dir(dir.path())
        .env("DOCKER_HOST", format!("unix://{}/nothing.sock", dir.path().display()))
        .args(["push"])
        .output()
        .expect("berth");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("services.noimg") && err.contains("image"),
        "the error names the service and the missing image: {err}"
    );
    assert!(!err.contains("nothing.sock"), "refused before connecting: {err}");
}

fn push_sends_service_images_with_the_config_credentials(kind: Kind) {
    if !require_root("push_sends_service_images_with_the_config_credentials") {
        return;
    }
    let engine = Engine::start(kind);
    let registry = Registry::start(&engine, "alice", "s3cret-pw");
    let reg = registry.addr.clone();
    let compose = format!(
        "services:\n  app:\n    image: {reg}/p/app:1\n    command: [\"true\"]\n  missing:\n    image: {reg}/p/missing:1\n    command: [\"true\"]\n"
    );
    let stack = Stack::new(&engine, "push", &compose);
    engine.docker_lines(&["tag", "busybox:latest", &format!("{reg}/p/app:1")]);
    // Credentials only in a config.json of our own: the engine gets them from berth (X-Registry-Auth).
    let config = stack.dir.path().join("docker-config");
    stack.set_env("DOCKER_CONFIG", config.to_str().expect("utf-8"));
    let out = stack.berth(&["push", "app"]);
    assert!(!out.status.success(), "a push without credentials is refused");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{reg}/p/app:1")),
        "the error names the image: {err}"
    );

    std::fs::create_dir_all(&config).expect("mkdir");
    let auth = base64_encode(b"alice:s3cret-pw");
    std::fs::write(
        config.join("config.json"),
        format!(r#"{{"auths": {{"{reg}": {{"auth": "{auth}"}}}}}}"#),
    )
    .expect("write config.json");
    let out = stack.berth(&["push", "app"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "push with the stored credentials: {err}");
    assert!(err.contains("Pushed"), "progress lines as the pull verb's: {err}");
    assert_eq!(registry.manifest_status("p/app", "1", "alice", "s3cret-pw"), "200");

    let out = stack.berth(&["push"]);
    assert!(!out.status.success(), "an image that is not there fails the push");
    assert!(String::from_utf8_lossy(&out.stderr).contains("p/missing:1"));
    let out = stack.berth(&["push", "-q", "--ignore-push-failures"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "--ignore-push-failures: {err}");
    assert!(err.contains("WARN") && err.contains("p/missing:1"), "{err}");
    assert!(!err.contains("Pushed"), "-q prints no progress: {err}");

    let out = stack.berth(&["push", "nosuch"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such service: nosuch"));
}

fn base64_encode(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn cp_copies_files_and_directories_both_ways(kind: Kind) {
    if !require_root("cp_copies_files_and_directories_both_ways") {
        return;
    }
    let engine = Engine::start(kind);
    let compose = "services:\n  w:\n    image: busybox\n    stop_signal: SIGKILL\n    deploy: {replicas: 2}\n    command: [\"sleep\", \"2147483647\"]\n";
    let stack = Stack::new(&engine, "cp", compose);
    stack.berth_ok(&["up", "-d", "--wait"]);
    let here = stack.dir.path();
    std::fs::write(here.join("f.txt"), "hello-cp\n").expect("write");
    let exec = |args: &[&str]| {
        let mut all = vec!["exec", "-T"];
        all.extend_from_slice(args);
        stack.berth_ok(&all)
    };

    // A file in and back out.
    stack.berth_ok(&["cp", "f.txt", "w:/tmp/f.txt"]);
    assert_eq!(exec(&["w", "cat", "/tmp/f.txt"]), "hello-cp\n");
    stack.berth_ok(&["cp", "w:/tmp/f.txt", "back.txt"]);
    assert_eq!(
        std::fs::read_to_string(here.join("back.txt")).expect("read"),
        "hello-cp\n"
    );
    assert_eq!(
        exec(&[
            "--index",
            "2",
            "w",
            "sh",
            "-c",
            "test -e /tmp/f.txt && echo yes || echo no"
        ]),
        "no\n",
        "without --all only replica 1 receives the file"
    );
    stack.berth_ok(&["cp", "--all", "f.txt", "w:/tmp/all.txt"]);
    assert_eq!(exec(&["--index", "2", "w", "cat", "/tmp/all.txt"]), "hello-cp\n");

    // A directory with -a keeps its owners; without, files belong to the container's root.
    let tree = here.join("tree");
    std::fs::create_dir_all(tree.join("sub")).expect("mkdir");
    std::fs::write(tree.join("sub/g"), "deep").expect("write");
    for p in [tree.clone(), tree.join("sub"), tree.join("sub/g")] {
        std::os::unix::fs::chown(&p, Some(1234), Some(5678)).expect("chown");
    }
    stack.berth_ok(&["cp", "-a", "tree", "w:/tmp/"]);
    assert_eq!(exec(&["w", "cat", "/tmp/tree/sub/g"]), "deep");
    assert_eq!(
        exec(&["w", "stat", "-c", "%u:%g", "/tmp/tree/sub/g"]).trim(),
        "1234:5678"
    );
    stack.berth_ok(&["cp", "tree", "w:/tmp/plain"]);
    assert_eq!(
        exec(&["w", "cat", "/tmp/plain/sub/g"]),
        "deep",
        "a new name for the copy"
    );
    assert_eq!(exec(&["w", "stat", "-c", "%u:%g", "/tmp/plain/sub/g"]).trim(), "0:0");
    stack.berth_ok(&["cp", "w:/tmp/tree", "out"]);
    assert_eq!(std::fs::read_to_string(here.join("out/sub/g")).expect("read"), "deep");
    std::fs::create_dir(here.join("contents")).expect("mkdir");
    stack.berth_ok(&["cp", "w:/tmp/tree/.", "contents"]);
    assert_eq!(
        std::fs::read_to_string(here.join("contents/sub/g")).expect("read"),
        "deep"
    );

    // -L copies what a link points at, under the link's name; without it the link itself is copied.
    exec(&["w", "ln", "-s", "f.txt", "/tmp/link"]);
    stack.berth_ok(&["cp", "w:/tmp/link", "raw-link"]);
    let raw = std::fs::read_link(here.join("raw-link")).expect("a symbolic link");
    assert_eq!(raw, std::path::Path::new("f.txt"));
    stack.berth_ok(&["cp", "-L", "w:/tmp/link", "followed.txt"]);
    assert_eq!(
        std::fs::read_to_string(here.join("followed.txt")).expect("read"),
        "hello-cp\n"
    );
    std::os::unix::fs::symlink("f.txt", here.join("local-link")).expect("symlink");
    stack.berth_ok(&["cp", "-L", "local-link", "w:/tmp/from-link"]);
    assert_eq!(exec(&["w", "cat", "/tmp/from-link"]), "hello-cp\n");
    assert_eq!(
        exec(&["w", "sh", "-c", "test -L /tmp/from-link && echo link || echo file"]),
        "file\n"
    );

    // `-` is a tar stream on stdout / stdin.
    let out = stack.command(&["cp", "w:/tmp/f.txt", "-"]).output().expect("berth");
    assert!(out.status.success());
    let listed = pipe("tar", &["-tf", "-"], &out.stdout);
    assert_eq!(listed.trim(), "f.txt", "a tar of the file on stdout");
    let out = stack
        .command(&["cp", "-L", "w:/tmp/link", "-"])
        .output()
        .expect("berth");
    assert!(out.status.success());
    let listed = pipe("tar", &["-xOf", "-", "link"], &out.stdout);
    assert_eq!(listed, "hello-cp\n", "-L: the file's bytes under the link's name");
    let tar = Command::new("tar")
        .current_dir(here)
        .args(["-cf", "-", "f.txt"])
        .output()
        .expect("tar");
    exec(&["w", "mkdir", "/tmp/in"]);
    exec(&["--index", "2", "w", "mkdir", "/tmp/in"]);
    let mut cmd = stack.command(&["cp", "--all", "-", "w:/tmp/in"]);
    let status = run_with_stdin(&mut cmd, &tar.stdout);
    assert!(status.success(), "cp - SERVICE:DIR");
    assert_eq!(exec(&["w", "cat", "/tmp/in/f.txt"]), "hello-cp\n");
    assert_eq!(
        exec(&["--index", "2", "w", "cat", "/tmp/in/f.txt"]),
        "hello-cp\n",
        "stdin is read once and sent to every replica"
    );

    // Errors name what is wrong.
    let err = |args: &[&str]| {
        let out = stack.berth(args);
        assert!(!out.status.success(), "berth {args:?} must fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(err(&["cp", "nosuch:/x", "."]).contains("no such service: nosuch"));
    assert!(err(&["cp", "w:/nope", "."]).contains("path not found: w:/nope"));
    assert!(err(&["cp", "--index", "9", "f.txt", "w:/tmp"]).contains("no container with index 9"));
    assert!(err(&["cp", "nothere.txt", "w:/tmp"]).contains("path not found: nothere.txt"));
    assert!(err(&["cp", "f.txt", "w:/no/such/dir/x"]).contains("w:/no/such/dir does not exist"));
}

/// Runs `program args` with `input` on stdin; returns its stdout.
fn pipe(program: &str, args: &[&str], input: &[u8]) -> String {
    let mut cmd = Command::new(program);
    cmd.args(args);
    let out = output_with_stdin(&mut cmd, input);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn run_with_stdin(cmd: &mut Command, input: &[u8]) -> std::process::ExitStatus {
    output_with_stdin(cmd, input).status
}

fn output_with_stdin(cmd: &mut Command, input: &[u8]) -> std::process::Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}
