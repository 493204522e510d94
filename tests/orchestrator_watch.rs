//! `berth watch` (Compose's `develop.watch`): syncs of created, changed and deleted files and directories,
//! ignore patterns and editor files, bursts, `sync+restart`, `sync+exec`, `initial_sync`, a non-root `USER`
//! owning synced files (busybox with `USER` in its Dockerfile, Debian with Compose's `user:`), an edit of the
//! Compose file recreating only what it changed, a path that appears later, and `rebuild` leaving dependents alone unless they ask
//! (each test once with dockerd, once with berth's engine). Waits poll `berth exec` with a deadline.

#[macro_use]
mod orchestrator_support;

use orchestrator_support::{berth_bin, require_root, Engine, Kind, Stack};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

for_each_engine!(
    sync_rules_follow_edits,
    rebuild_recreates_only_its_service,
    up_watch_follows_symlinked_targets_and_waits_for_stopped_containers
);

const SYNC_STACK: &str = "\
services:
  app:
    image: busybox
    command: [sleep, '2147483647']
    stop_signal: SIGKILL
    develop:
      watch:
        - {path: ./src, target: /app, action: sync, ignore: ['*.log', 'tmp/']}
        - {path: ./init, target: /init, action: sync, initial_sync: true}
        - {path: ./later/deep, target: /later, action: sync}
  hook:
    image: busybox
    command: [sleep, '2147483647']
    stop_signal: SIGKILL
    develop:
      watch:
        - path: ./cmd
          target: /cmd
          action: sync+exec
          exec:
            command: [sh, -c, 'cat /cmd/x > /cmd/ran']
  rs:
    image: busybox
    command: [sh, -c, 'echo up >> /tmp/starts; exec sleep 2147483647']
    stop_signal: SIGKILL
    develop:
      watch:
        - {path: ./rs, target: /rs, action: sync+restart}
  owned:
    build:
      context: ./owned
    stop_signal: SIGKILL
    develop:
      watch:
        - {path: ./own, target: /home/dev/own, action: sync}
  reader:
    image: busybox
    command: [sh, -c, 'cat /cfg/msg > /tmp/seen && exec sleep 2147483647']
    stop_signal: SIGKILL
    develop:
      watch:
        - {path: ./cfg, target: /cfg, action: sync+restart, initial_sync: true}
  deb:
    image: berth-test/debian:bookworm
    command: [sleep, infinity]
    user: nobody
    stop_signal: SIGKILL
    develop:
      watch:
        - {path: ./deb, target: /tmp/deb, action: sync}
";

const OWNED_DOCKERFILE: &str = "\
FROM busybox
RUN echo 'dev:x:1234:1234::/home/dev:/bin/sh' >> /etc/passwd && echo 'dev:x:1234:' >> /etc/group \\
    && mkdir -p /home/dev && chown 1234:1234 /home/dev
USER dev
CMD [\"sleep\", \"2147483647\"]
";

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

/// `berth watch` running in the background, its output in a file; SIGINT on drop if still running.
struct Watch {
    child: Child,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Watch {
    fn start(stack: &Stack, args: &[&str]) -> Watch {
        let mut all = vec!["watch"];
        all.extend_from_slice(args);
        Watch::spawn(stack, &all)
    }

    /// Any berth verb that watches (`watch`, `up --watch`), in the background.
    fn spawn(stack: &Stack, all: &[&str]) -> Watch {
        // Outside the project: the watch must not see its own output change.
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("watch.log");
        let file = std::fs::File::create(&log).expect("log file");
        let child = stack
            .command(all)
            .stdout(Stdio::from(file.try_clone().expect("dup")))
            .stderr(Stdio::from(file))
            .spawn()
            .expect("berth watch");
        Watch { child, log, _dir: dir }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (bounded) until the watch says it is watching.
    fn enabled(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.output().contains("Watch enabled") {
            assert!(Instant::now() < deadline, "the watch never started:\n{}", self.output());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Interrupts the watch and returns its exit status and output.
    fn interrupt(mut self) -> (bool, String) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).expect("pid"));
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("SIGINT");
        let ok = self.child.wait().expect("wait").success();
        (ok, self.output())
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `berth exec -T svc sh -c script` output, or None when it failed.
fn exec(stack: &Stack, svc: &str, script: &str) -> Option<String> {
    let out = stack.berth(&["exec", "-T", svc, "sh", "-c", script]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Polls until `script` in `svc` prints `want` (bounded; a miss panics with the watch output).
fn until(stack: &Stack, watch: &Watch, svc: &str, script: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = None;
    while Instant::now() < deadline {
        last = exec(stack, svc, script);
        if last.as_deref() == Some(want) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "{svc}: `{script}` never printed {want:?} (last: {last:?})\nwatch output:\n{}",
        watch.output()
    );
}

fn sync_rules_follow_edits(kind: Kind) {
    if !require_root("sync_rules_follow_edits") {
        return;
    }
    let engine = Engine::start(kind);
    engine.load_image("debian.tar");
    let stack = Stack::new(&engine, "wsy", SYNC_STACK);
    let dir = stack.dir.path();
    for d in ["src", "cmd", "rs", "own", "deb"] {
        std::fs::create_dir_all(dir.join(d)).expect("mkdir");
    }
    write(dir, "owned/Dockerfile", OWNED_DOCKERFILE);
    write(dir, "init/a.txt", "initial\n");
    // `reader` exits at its first start (no /cfg/msg yet); each sync must land before its command runs again.
    write(dir, "cfg/msg", "first");
    let watch = Watch::start(&stack, &[]);
    until(&stack, &watch, "reader", "cat /tmp/seen", "first");
    // initial_sync copies what was there before the watch started.
    until(&stack, &watch, "app", "cat /init/a.txt", "initial");

    write(dir, "src/one.txt", "1");
    until(&stack, &watch, "app", "cat /app/one.txt", "1");
    write(dir, "src/one.txt", "2");
    until(&stack, &watch, "app", "cat /app/one.txt", "2");
    write(dir, "src/sub/deep/two.txt", "two");
    until(&stack, &watch, "app", "cat /app/sub/deep/two.txt", "two");

    // Ignored names and editor files never arrive: checked once a later file did.
    write(dir, "src/noise.log", "no");
    write(dir, "src/tmp/scratch", "no");
    write(dir, "src/.one.txt.swp", "no");
    write(dir, "src/one.txt~", "no");
    write(dir, "src/4913", "no");
    write(dir, "src/sentinel", "s");
    until(&stack, &watch, "app", "cat /app/sentinel", "s");
    let leaked = "ls -a /app/noise.log /app/tmp /app/.one.txt.swp /app/one.txt~ /app/4913 2>/dev/null | wc -l";
    assert_eq!(exec(&stack, "app", leaked).as_deref(), Some("0"), "{}", watch.output());

    // A burst: the last write wins.
    for i in 0..40 {
        write(dir, "src/burst.txt", &i.to_string());
    }
    until(&stack, &watch, "app", "cat /app/burst.txt", "39");

    std::fs::remove_file(dir.join("src/one.txt")).expect("rm");
    until(&stack, &watch, "app", "test -e /app/one.txt || echo gone", "gone");
    std::fs::remove_dir_all(dir.join("src/sub")).expect("rm -r");
    until(&stack, &watch, "app", "test -e /app/sub || echo gone", "gone");

    // A rule path that did not exist when the watch started.
    write(dir, "later/deep/f.txt", "late");
    until(&stack, &watch, "app", "cat /later/f.txt", "late");

    write(dir, "cmd/x", "exec'd");
    until(&stack, &watch, "hook", "cat /cmd/ran", "exec'd");

    for text in ["second", "third"] {
        write(dir, "cfg/msg", text);
        until(&stack, &watch, "reader", "cat /tmp/seen", text);
    }

    write(dir, "rs/f", "restarted");
    until(&stack, &watch, "rs", "cat /rs/f", "restarted");
    until(&stack, &watch, "rs", "wc -l < /tmp/starts", "2");

    write(dir, "own/f", "mine");
    until(&stack, &watch, "owned", "stat -c %u:%g /home/dev/own/f", "1234:1234");
    until(&stack, &watch, "owned", "cat /home/dev/own/f", "mine");

    // The Debian fixture with `user: nobody` (set in Compose, not in the image): its files and new
    // directories belong to that user.
    write(dir, "deb/sub/f", "deb");
    until(&stack, &watch, "deb", "cat /tmp/deb/sub/f", "deb");
    until(
        &stack,
        &watch,
        "deb",
        "stat -c %U:%G /tmp/deb/sub /tmp/deb/sub/f | sort -u",
        "nobody:nogroup",
    );

    // An edit of the Compose file recreates what it changed, and only that; the rules still apply after.
    let hook_before = started(&stack, "hook");
    let edited = SYNC_STACK.replacen(
        "  app:\n    image: busybox\n",
        "  app:\n    image: busybox\n    environment: {RELOADED: 'yes'}\n",
        1,
    );
    assert_ne!(edited, SYNC_STACK);
    write(dir, "compose.yaml", &edited);
    until(&stack, &watch, "app", "echo $RELOADED", "yes");
    write(dir, "src/after.txt", "after");
    until(&stack, &watch, "app", "cat /app/after.txt", "after");
    assert_eq!(started(&stack, "hook"), hook_before, "{}", watch.output());

    let (ok, output) = watch.interrupt();
    assert!(ok, "berth watch did not end cleanly:\n{output}");
    assert!(output.contains("Compose configuration applied"), "{output}");
    assert!(output.contains("Syncing service \"app\" after"), "{output}");
    assert!(output.contains("service \"rs\" restarted"), "{output}");
    // The stack outlives the watch, as after `up -d` (app was recreated: only what came after is there).
    assert_eq!(exec(&stack, "app", "cat /app/after.txt").as_deref(), Some("after"));
}

const REBUILD_STACK: &str = "\
services:
  api:
    build: ./api
    stop_signal: SIGKILL
    develop:
      watch:
        - {path: ./api, action: rebuild}
  web:
    image: busybox
    command: [sleep, '2147483647']
    stop_signal: SIGKILL
    depends_on: [api]
  worker:
    image: busybox
    command: [sleep, '2147483647']
    stop_signal: SIGKILL
    depends_on:
      api: {condition: service_started, restart: true}
";

/// `docker inspect` of the service's container: id and start time.
fn started(stack: &Stack, svc: &str) -> String {
    let name = format!("{}-{svc}-1", stack.project);
    let lines = stack
        .engine
        .docker_lines(&["inspect", "-f", "{{.Id}} {{.State.StartedAt}}", &name]);
    lines.join("\n")
}

fn rebuild_recreates_only_its_service(kind: Kind) {
    if !require_root("rebuild_recreates_only_its_service") {
        return;
    }
    let engine = Engine::start(kind);
    let stack = Stack::new(&engine, "wrb", REBUILD_STACK);
    let dir = stack.dir.path();
    write(
        dir,
        "api/Dockerfile",
        "FROM busybox\nCOPY v.txt /v.txt\nCMD [\"sleep\", \"2147483647\"]\n",
    );
    write(dir, "api/v.txt", "1");
    let watch = Watch::start(&stack, &[]);
    until(&stack, &watch, "api", "cat /v.txt", "1");
    // Let the watch settle in before taking the reference start times.
    watch.enabled();
    let (api, web, worker) = (
        started(&stack, "api"),
        started(&stack, "web"),
        started(&stack, "worker"),
    );

    write(dir, "api/v.txt", "2");
    until(&stack, &watch, "api", "cat /v.txt", "2");
    let deadline = Instant::now() + Duration::from_secs(60);
    while started(&stack, "worker") == worker && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let (ok, output) = watch.interrupt();
    assert!(ok, "{output}");
    assert_ne!(started(&stack, "api"), api, "api was not recreated:\n{output}");
    assert_eq!(started(&stack, "web"), web, "web was restarted:\n{output}");
    let worker_now = started(&stack, "worker");
    assert_ne!(
        worker_now, worker,
        "worker (restart: true) was not restarted:\n{output}"
    );
    // Restarted, not recreated: same container id.
    assert_eq!(worker_now.split(' ').next(), worker.split(' ').next());
}

const LINK_STACK: &str = "\
services:
  link:
    build: ./link
    stop_signal: SIGKILL
    develop:
      watch:
        - {path: ./src, target: /app, action: sync}
  keep:
    image: busybox
    command: [sleep, '2147483647']
    stop_signal: SIGKILL
";

/// `up --watch`: syncs into a target that is a symlink to a directory land behind it (the link stays), and a
/// change made while the container is stopped arrives when it starts again.
fn up_watch_follows_symlinked_targets_and_waits_for_stopped_containers(kind: Kind) {
    if !require_root("up_watch_follows_symlinked_targets_and_waits_for_stopped_containers") {
        return;
    }
    let engine = Engine::start(kind);
    let stack = Stack::new(&engine, "wup", LINK_STACK);
    let dir = stack.dir.path();
    write(
        dir,
        "link/Dockerfile",
        "FROM busybox\nRUN mkdir -p /srv/app && ln -s /srv/app /app\nCMD [\"sleep\", \"2147483647\"]\n",
    );
    std::fs::create_dir_all(dir.join("src")).expect("mkdir");
    let watch = Watch::spawn(&stack, &["up", "--watch"]);
    watch.enabled();

    write(dir, "src/a.txt", "a");
    until(&stack, &watch, "link", "cat /srv/app/a.txt", "a");
    write(dir, "src/sub/b.txt", "b");
    until(&stack, &watch, "link", "cat /srv/app/sub/b.txt", "b");
    assert_eq!(
        exec(&stack, "link", "readlink /app").as_deref(),
        Some("/srv/app"),
        "{}",
        watch.output()
    );

    let syncs = |w: &Watch| w.output().matches("Syncing service").count();
    let before = syncs(&watch);
    let stopped = stack.berth(&["stop", "link"]);
    assert!(stopped.status.success(), "{}", String::from_utf8_lossy(&stopped.stderr));
    write(dir, "src/c.txt", "while stopped");
    // The watch sees the edit while nothing runs; give it the time a batch takes before starting again.
    let deadline = Instant::now() + Duration::from_secs(30);
    while syncs(&watch) == before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let started = stack.berth(&["start", "link"]);
    assert!(started.status.success(), "{}", String::from_utf8_lossy(&started.stderr));
    until(&stack, &watch, "link", "cat /app/c.txt", "while stopped");

    let (_, output) = watch.interrupt();
    assert!(output.contains("Syncing service \"link\""), "{output}");
}

/// Bad rules are refused when the file is loaded, naming the file, line and service; no engine is reached.
#[test]
fn bad_rules_are_refused_with_their_position() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cases = [
        (
            "services:\n  web:\n    image: busybox\n    develop:\n      watch:\n        - path: .\n          action: rebuild\n",
            "compose.yaml:7",
            "service \"web\" has none",
        ),
        (
            "services:\n  web:\n    image: busybox\n    develop:\n      watch:\n        - path: .\n          action: sync\n          target: app\n",
            "compose.yaml:8",
            "absolute",
        ),
    ];
    for (compose, at, what) in cases {
        std::fs::write(dir.path().join("compose.yaml"), compose).expect("write");
        let out = std::process::Command::new(berth_bin())
            .current_dir(dir.path())
            .env("DOCKER_HOST", "unix:///nonexistent/berth-watch-test.sock")
            .args(["-p", "wbad", "watch", "--no-up"])
            .output()
            .expect("berth");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{compose}");
        assert!(stderr.contains(at) && stderr.contains(what), "{stderr}");
        assert!(stderr.contains("services.web.develop.watch[0]"), "{stderr}");
    }
}
