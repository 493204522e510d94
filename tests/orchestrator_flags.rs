//! Docker Compose flags whose effect shows on the engine or in the output: `up` (`--abort-on-container-failure`,
//! `--attach-dependencies`, `--no-attach`, `--timestamps`, `--always-recreate-deps`, `-V`), `restart
//! --no-deps`, `pull --policy/--include-deps/--ignore-buildable`, `run` (`-i`, `-l`, `--cap-add`,
//! `--cap-drop`, `--env-from-file`, `--use-aliases`, `-q`), `attach`, `build --push/-m` and `config
//! --resolve-image-digests/--lock-image-digests`, each on both engines.

#[macro_use]
mod orchestrator_support;

use orchestrator_support::{require_root, Engine, Kind, Registry, Stack};
use std::process::{Command, Output, Stdio};

for_each_engine!(
    up_attach_and_abort_flags,
    up_recreate_flags_and_anonymous_volumes,
    restart_takes_dependents_unless_no_deps,
    pull_policy_include_deps_and_ignore_buildable,
    run_flags_reach_the_one_off,
    attach_forwards_stdin_and_returns_the_exit_code,
    config_pins_images_to_registry_digests,
);

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn with_stdin(mut cmd: Command, input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input).expect("write stdin");
    drop(stdin);
    child.wait_with_output().expect("wait")
}

/// A timestamp as the engines write them in logs (RFC 3339 with nanoseconds, UTC).
fn is_timestamp(s: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(s).is_ok() && s.ends_with('Z') && s.contains('.')
}

fn up_attach_and_abort_flags(kind: Kind) {
    if !require_root("up_attach_and_abort_flags") {
        return;
    }
    let engine = Engine::start(kind);
    let compose = "services:\n  db:\n    image: busybox\n    stop_signal: SIGKILL\n    command: [\"sh\", \"-c\", \"echo db-says; sleep 600\"]\n  web:\n    image: busybox\n    depends_on: [db]\n    command: [\"sh\", \"-c\", \"echo web-says; sleep 1\"]\n  ok:\n    image: busybox\n    profiles: [fail]\n    command: [\"sh\", \"-c\", \"echo ok-done\"]\n  bad:\n    image: busybox\n    profiles: [fail]\n    command: [\"sh\", \"-c\", \"sleep 2; echo bad-done; exit 4\"]\n";
    let stack = Stack::new(&engine, "upflags", compose);

    // `up web`: only web is attached and watched; `up` ends when web does, db keeps running.
    let out = stack.berth(&["up", "--no-color", "--timestamps", "web"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("web-says") && !stdout.contains("db-says"), "{stdout}");
    // --timestamps: `name | <RFC 3339 time> text`, as Compose prints it.
    let line = stdout.lines().find(|l| l.ends_with(" web-says")).expect("web's line");
    let (prefix, rest) = line.split_once(" | ").expect("prefixed");
    assert_eq!(prefix.trim_end(), format!("{}-web-1", stack.project));
    let ts = rest.split(' ').next().unwrap_or_default();
    assert!(is_timestamp(ts), "timestamp in {line:?}");
    let db_state = engine.docker_lines(&[
        "inspect",
        "-f",
        "{{.State.Running}}",
        &format!("{}-db-1", stack.project),
    ]);
    assert_eq!(db_state, ["true"], "the dependency was left running");

    // --attach-dependencies adds db's output (db recreated, so its first line comes again); --no-attach takes a
    // service out.
    let out = stack.berth(&[
        "up",
        "--no-color",
        "--attach-dependencies",
        "--force-recreate",
        "--always-recreate-deps",
        "web",
    ]);
    let (stdout, stderr) = text(&out);
    assert!(
        stdout.contains("web-says") && stdout.contains("db-says"),
        "{stdout}\n{stderr}"
    );
    let out = stack.berth(&[
        "up",
        "--no-color",
        "--attach-dependencies",
        "--no-attach",
        "db",
        "--force-recreate",
        "web",
    ]);
    let (stdout, _) = text(&out);
    assert!(stdout.contains("web-says") && !stdout.contains("db-says"), "{stdout}");
    let out = stack.berth(&["up", "--attach", "web", "--attach-dependencies"]);
    assert!(!out.status.success());
    assert!(text(&out)
        .1
        .contains("cannot combine --attach and --attach-dependencies"));
    let out = stack.berth(&["up", "-d", "--abort-on-container-failure"]);
    assert!(
        text(&out).1.contains("--detach cannot be combined with"),
        "{}",
        text(&out).1
    );
    stack.berth_ok(&["down", "-t", "0"]);

    // --abort-on-container-failure: ok's exit 0 stops nothing, bad's exit 4 stops all and is returned.
    let out = stack.berth(&[
        "--profile",
        "fail",
        "up",
        "--no-color",
        "--abort-on-container-failure",
        "ok",
        "bad",
        "db",
    ]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(4), "{stdout}\n{stderr}");
    assert!(stdout.contains("ok-done") && stdout.contains("bad-done"), "{stdout}");
    let running = engine.docker_lines(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=com.docker.compose.project={}", stack.project),
    ]);
    assert!(running.is_empty(), "the stack was stopped: {running:?}");
}

fn container_id(engine: &Engine, name: &str) -> String {
    engine.docker_lines(&["inspect", "-f", "{{.Id}}", name]).concat()
}

fn up_recreate_flags_and_anonymous_volumes(kind: Kind) {
    if !require_root("up_recreate_flags_and_anonymous_volumes") {
        return;
    }
    let engine = Engine::start(kind);
    let compose = "services:\n  db:\n    image: busybox\n    stop_signal: SIGKILL\n    volumes: [/data]\n    command: [\"sh\", \"-c\", \"test -f /data/stamp || cat /proc/sys/kernel/random/uuid > /data/stamp; sleep 600\"]\n  web:\n    image: busybox\n    stop_signal: SIGKILL\n    depends_on: [db]\n    command: [\"sleep\", \"600\"]\n";
    let stack = Stack::new(&engine, "recreate", compose);
    let (db, web) = (format!("{}-db-1", stack.project), format!("{}-web-1", stack.project));
    let stamp = || -> String {
        for _ in 0..50 {
            let out = engine.docker(&["exec", &db, "cat", "/data/stamp"]);
            if out.status.success() && !out.stdout.is_empty() {
                return String::from_utf8_lossy(&out.stdout).trim().to_owned();
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("no stamp in {db}");
    };
    stack.berth_ok(&["up", "-d", "web"]);
    let (db0, web0, stamp0) = (container_id(&engine, &db), container_id(&engine, &web), stamp());

    // --force-recreate recreates the named service only; its dependency keeps its container.
    stack.berth_ok(&["up", "-d", "--force-recreate", "web"]);
    assert_eq!(container_id(&engine, &db), db0, "db is a dependency: not forced");
    assert_ne!(container_id(&engine, &web), web0, "web was forced");

    // --always-recreate-deps recreates the dependency; a recreated container keeps its anonymous volume.
    stack.berth_ok(&["up", "-d", "--always-recreate-deps", "web"]);
    let db1 = container_id(&engine, &db);
    assert_ne!(db1, db0, "db recreated");
    assert_eq!(stamp(), stamp0, "the recreated db took over its anonymous volume");

    // -V recreates the named services with fresh anonymous volumes.
    stack.berth_ok(&["up", "-d", "-V", "db"]);
    assert_ne!(container_id(&engine, &db), db1, "-V recreates");
    assert_ne!(stamp(), stamp0, "-V gave a fresh anonymous volume");
    let out = stack.berth(&["up", "-d", "-V", "--no-recreate"]);
    assert!(text(&out)
        .1
        .contains("--no-recreate and --renew-anon-volumes are incompatible"));
}

fn started_at(engine: &Engine, name: &str) -> String {
    engine
        .docker_lines(&["inspect", "-f", "{{.State.StartedAt}}", name])
        .concat()
}

fn restart_takes_dependents_unless_no_deps(kind: Kind) {
    if !require_root("restart_takes_dependents_unless_no_deps") {
        return;
    }
    let engine = Engine::start(kind);
    let compose = "services:\n  db:\n    image: busybox\n    stop_signal: SIGKILL\n    command: [\"sleep\", \"600\"]\n  web:\n    image: busybox\n    stop_signal: SIGKILL\n    command: [\"sleep\", \"600\"]\n    depends_on:\n      db: {condition: service_started, restart: true}\n  other:\n    image: busybox\n    stop_signal: SIGKILL\n    command: [\"sleep\", \"600\"]\n    depends_on: [db]\n";
    let stack = Stack::new(&engine, "restart", compose);
    stack.berth_ok(&["up", "-d"]);
    let name = |s: &str| format!("{}-{s}-1", stack.project);
    let before = |s: &str| started_at(&engine, &name(s));
    let (db0, web0, other0) = (before("db"), before("web"), before("other"));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    stack.berth_ok(&["restart", "db"]);
    let (db1, web1) = (before("db"), before("web"));
    assert_ne!(db1, db0, "db restarted");
    assert_ne!(web1, web0, "web depends on db with restart: true, so it restarted too");
    assert_eq!(before("other"), other0, "other's dependency has no restart: true");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    stack.berth_ok(&["restart", "--no-deps", "db"]);
    assert_ne!(before("db"), db1, "db restarted");
    assert_eq!(before("web"), web1, "--no-deps: web left alone");
}

fn pull_policy_include_deps_and_ignore_buildable(kind: Kind) {
    if !require_root("pull_policy_include_deps_and_ignore_buildable") {
        return;
    }
    let engine = Engine::start(kind);
    // No registry is reachable: a pull that happens fails, one that is skipped does not.
    let compose = "services:\n  web:\n    image: busybox\n    depends_on: [dep]\n  dep:\n    image: 127.0.0.1:9/nosuch/dep:1\n  built:\n    image: 127.0.0.1:9/nosuch/built:1\n    build: {context: .}\n";
    let stack = Stack::new(&engine, "pullflags", compose);
    std::fs::write(stack.dir.path().join("Dockerfile"), "FROM busybox\n").expect("Dockerfile");
    stack.berth_ok(&["pull", "--policy", "missing", "web"]);
    let out = stack.berth(&["pull", "--policy", "missing", "--include-deps", "web"]);
    assert!(!out.status.success(), "--include-deps pulls dep's missing image");
    assert!(text(&out).1.contains("nosuch/dep"), "{}", text(&out).1);
    // A buildable service's pull failure is a warning; --ignore-buildable does not even try.
    let out = stack.berth(&["pull", "--policy", "missing", "built"]);
    assert!(
        out.status.success() && text(&out).1.contains("nosuch/built"),
        "{}",
        text(&out).1
    );
    let out = stack.berth(&["pull", "--policy", "missing", "--ignore-buildable", "built"]);
    assert!(
        out.status.success() && !text(&out).1.contains("nosuch/built"),
        "{}",
        text(&out).1
    );
    let out = stack.berth(&["pull", "--policy", "sometimes"]);
    assert!(
        !out.status.success() && text(&out).1.contains("--policy"),
        "{}",
        text(&out).1
    );
}

fn run_flags_reach_the_one_off(kind: Kind) {
    if !require_root("run_flags_reach_the_one_off") {
        return;
    }
    let engine = Engine::start(kind);
    let compose = "services:\n  tool:\n    image: busybox\n    stop_signal: SIGKILL\n    cap_drop: [NET_RAW]\n    environment: {FROM_SERVICE: s, OVERRIDDEN: service}\n    networks:\n      default: {aliases: [toolbox]}\n";
    let stack = Stack::new(&engine, "runflags", compose);
    std::fs::write(
        stack.dir.path().join("extra.env"),
        "FROM_FILE=f\nOVERRIDDEN=file\nCLI=file\n",
    )
    .expect("env file");
    let out = stack.berth(&[
        "run",
        "-d",
        "-q",
        "--name",
        "oneoff",
        "-l",
        "team=blue",
        "--cap-add",
        "NET_ADMIN",
        "--cap-drop",
        "CHOWN",
        "--env-from-file",
        "extra.env",
        "-e",
        "CLI=cli",
        "tool",
        "sleep",
        "600",
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.is_empty(), "-q prints no container id: {stdout:?}");
    let inspect = |f: &str| engine.docker_lines(&["inspect", "-f", f, "oneoff"]).concat();
    assert_eq!(inspect("{{index .Config.Labels \"team\"}}"), "blue");
    assert!(inspect("{{.HostConfig.CapAdd}}").contains("NET_ADMIN"));
    let dropped = inspect("{{.HostConfig.CapDrop}}");
    assert!(dropped.contains("CHOWN") && dropped.contains("NET_RAW"), "{dropped}");
    let env = inspect("{{json .Config.Env}}");
    for want in ["FROM_SERVICE=s", "FROM_FILE=f", "OVERRIDDEN=file", "CLI=cli"] {
        assert!(env.contains(want), "{want} in {env}");
    }
    assert!(
        !env.contains("CLI=file") && !env.contains("OVERRIDDEN=service"),
        "{env}"
    );
    // As Compose: no network alias for a one-off unless --use-aliases.
    let aliases = inspect("{{json .NetworkSettings.Networks}}");
    assert!(
        !aliases.contains("toolbox") && !aliases.contains("\"tool\""),
        "{aliases}"
    );
    stack.berth_ok(&[
        "run",
        "-d",
        "--name",
        "aliased",
        "--use-aliases",
        "tool",
        "sleep",
        "600",
    ]);
    let aliases = engine
        .docker_lines(&["inspect", "-f", "{{json .NetworkSettings.Networks}}", "aliased"])
        .concat();
    assert!(aliases.contains("toolbox") && aliases.contains("\"tool\""), "{aliases}");
    let _ = engine.docker(&["rm", "-f", "oneoff", "aliased"]);

    // -i (the default) feeds our stdin to the one-off without a TTY; -i=false does not.
    let out = with_stdin(stack.command(&["run", "--rm", "-T", "tool", "cat"]), b"hello\n");
    assert_eq!(text(&out).0, "hello\n", "{}", text(&out).1);
    let out = with_stdin(
        stack.command(&["run", "--rm", "-T", "-i=false", "tool", "cat"]),
        b"hello\n",
    );
    assert!(out.status.success() && text(&out).0.is_empty(), "{:?}", text(&out));
    let out = stack.berth(&["run", "--rm", "-l", "nolabel", "tool", "true"]);
    assert!(!out.status.success() && text(&out).1.contains("KEY=VALUE"));
}

fn attach_forwards_stdin_and_returns_the_exit_code(kind: Kind) {
    if !require_root("attach_forwards_stdin_and_returns_the_exit_code") {
        return;
    }
    let engine = Engine::start(kind);
    let compose = "services:\n  ask:\n    image: busybox\n    stdin_open: true\n    command: [\"sh\", \"-c\", \"read line; echo got=$$line; exit 7\"]\n";
    let stack = Stack::new(&engine, "attach", compose);
    stack.berth_ok(&["up", "-d"]);
    let out = with_stdin(stack.command(&["attach", "ask"]), b"hi\n");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(7), "{stdout}\n{stderr}");
    assert!(stdout.contains("got=hi"), "{stdout}");
    let out = stack.berth(&["attach", "--index", "2", "ask"]);
    assert!(
        !out.status.success() && text(&out).1.contains("index 2"),
        "{}",
        text(&out).1
    );
}

fn config_pins_images_to_registry_digests(kind: Kind) {
    if !require_root("config_pins_images_to_registry_digests") {
        return;
    }
    let engine = Engine::start(kind);
    let registry = Registry::start(&engine, "bob", "pw-for-digests");
    let reg = registry.addr.clone();
    let compose = format!(
        "services:\n  app:\n    image: {reg}/p/app:1\n  local:\n    build: .\n  built:\n    image: {reg}/p/built:1\n    build: .\n"
    );
    let stack = Stack::new(&engine, "digests", &compose);
    std::fs::write(stack.dir.path().join("Dockerfile"), "FROM busybox\n").expect("Dockerfile");
    let config = stack.dir.path().join("docker-config");
    std::fs::create_dir_all(&config).expect("mkdir");
    let auth = base64(b"bob:pw-for-digests");
    std::fs::write(
        config.join("config.json"),
        format!(r#"{{"auths": {{"{reg}": {{"auth": "{auth}"}}}}}}"#),
    )
    .expect("config.json");
    stack.set_env("DOCKER_CONFIG", config.to_str().expect("utf-8"));
    engine.docker_lines(&["tag", "busybox:latest", &format!("{reg}/p/app:1")]);
    stack.berth_ok(&["push", "app"]);
    // build --push (with a memory limit for the build) sends the built image to its registry.
    assert_eq!(registry.manifest_status("p/built", "1", "bob", "pw-for-digests"), "404");
    stack.berth_ok(&["build", "-m", "256m", "--push", "built"]);
    assert_eq!(registry.manifest_status("p/built", "1", "bob", "pw-for-digests"), "200");
    // The digest the registry serves for the tag.
    let url = format!("http://{reg}/v2/p/app/manifests/1");
    let head = engine
        .host_command("curl")
        .args(["-s", "-I", "-u", "bob:pw-for-digests"])
        .args(["-H", "Accept: application/vnd.docker.distribution.manifest.v2+json"])
        .args(["-H", "Accept: application/vnd.oci.image.manifest.v1+json"])
        .arg(&url)
        .output()
        .expect("curl");
    let head = String::from_utf8_lossy(&head.stdout).to_ascii_lowercase();
    let digest = head
        .lines()
        .find_map(|l| l.strip_prefix("docker-content-digest:"))
        .map(|d| d.trim().to_owned())
        .expect("the registry names the digest");
    let pinned = format!("{reg}/p/app:1@{digest}");
    let out = stack.berth_ok(&["config", "--resolve-image-digests", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(doc["services"]["app"]["image"], serde_json::json!(pinned), "{out}");
    assert!(
        doc["services"]["local"].get("image").is_none(),
        "a service without image is left alone"
    );
    assert!(doc["services"]["local"].get("build").is_some());
    let out = stack.berth_ok(&["config", "--lock-image-digests", "app"]);
    assert_eq!(out, format!("services:\n  app:\n    image: {pinned}\n"));
}

fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
