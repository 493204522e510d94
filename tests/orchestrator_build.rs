//! Compose `build:` through the Engine API's classic builder: `berth up --build`, `berth build` and its flags,
//! layer reuse after a source edit, shared builds, failures (each test once with dockerd, once with berth's engine).

#[macro_use]
mod orchestrator_support;

use orchestrator_support::{require_root, Engine, Kind, Stack};
use std::path::Path;

for_each_engine!(
    up_build_brings_up_built_services_and_an_edit_reruns_from_its_copy,
    build_verb_flags_and_shared_builds,
    failing_run_stops_up_before_any_container,
);

/// A multi-stage Dockerfile: a build arg consumed in one stage, a target, and a stage after it nobody needs.
const APP_DOCKERFILE: &str = "\
FROM busybox AS base
ARG GREETING=none
RUN echo \"$GREETING\" > /greeting

FROM busybox AS final
COPY --from=base /greeting /srv/greeting
COPY deps.txt /srv/deps.txt
RUN cp /srv/deps.txt /srv/deps.copy
COPY src.txt /srv/src.txt
RUN wc -c < /srv/src.txt > /srv/size
CMD [\"sleep\", \"2147483647\"]

FROM final AS never
RUN exit 7
";

const STACK: &str = "\
services:
  app:
    build:
      context: ./app
      target: final
      args:
        GREETING: hello
      labels:
        org.example.role: app
    stop_signal: SIGKILL
  tool:
    build:
      context: .
      dockerfile_inline: |
        FROM busybox
        RUN echo inline > /inline.txt
        CMD [\"sleep\", \"2147483647\"]
    stop_signal: SIGKILL
    depends_on: [app]
";

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

fn app_stack(engine: &Engine) -> Stack<'_> {
    let stack = Stack::new(engine, "bld", STACK);
    let dir = stack.dir.path();
    write(dir, "app/Dockerfile", APP_DOCKERFILE);
    write(dir, "app/deps.txt", "deps\n");
    write(dir, "app/src.txt", "one\n");
    write(dir, "app/.dockerignore", "*.log\n");
    write(dir, "app/noise.log", "never sent\n");
    stack
}

/// Runs berth, asserting success; returns stderr (where build progress goes).
fn berth_err(stack: &Stack, args: &[&str]) -> String {
    let out = stack.berth(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "berth {args:?} failed:\n{}\n{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

/// The step numbers (`#N`) of `service`'s steps whose text contains `needle`, and whether each was cached.
fn step_cached(output: &str, service: &str, needle: &str) -> Vec<bool> {
    let lines: Vec<&str> = output.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let Some(rest) = l.strip_prefix('#') else { continue };
        let Some((num, text)) = rest.split_once(' ') else {
            continue;
        };
        if !text.starts_with(&format!("[{service} ")) || !text.contains(needle) {
            continue;
        }
        let cached = lines[i + 1..]
            .iter()
            .find(|m| m.starts_with(&format!("#{num} CACHED")) || m.starts_with(&format!("#{num} DONE")))
            .is_some_and(|m| m.contains("CACHED"));
        out.push(cached);
    }
    out
}

fn layers(engine: &Engine, image: &str) -> Vec<String> {
    let out = engine.docker_lines(&["image", "inspect", "--format", "{{json .RootFS.Layers}}", image]);
    serde_json::from_str(&out[0]).expect("layers json")
}

fn up_build_brings_up_built_services_and_an_edit_reruns_from_its_copy(kind: Kind) {
    if !require_root("up_build_brings_up_built_services_and_an_edit_reruns_from_its_copy") {
        return;
    }
    let engine = Engine::start(kind);
    let stack = app_stack(&engine);
    let first = berth_err(&stack, &["up", "--build", "--wait"]);
    assert_eq!(
        stack.berth_ok(&["exec", "-T", "app", "cat", "/srv/greeting"]).trim(),
        "hello",
        "the build arg reached the first stage: {first}"
    );
    assert_eq!(stack.berth_ok(&["exec", "-T", "app", "cat", "/srv/size"]).trim(), "4");
    assert_eq!(
        stack.berth_ok(&["exec", "-T", "tool", "cat", "/inline.txt"]).trim(),
        "inline"
    );
    let ls = stack.berth(&["exec", "-T", "app", "ls", "/srv"]);
    assert!(
        !String::from_utf8_lossy(&ls.stdout).contains("noise"),
        "nothing .dockerignore excludes is in the image"
    );
    let app_image = format!("{}-app", stack.project);
    let label = engine.docker_lines(&[
        "image",
        "inspect",
        "--format",
        "{{index .Config.Labels \"org.example.role\"}}",
        &app_image,
    ]);
    assert_eq!(label, ["app"], "build labels are on the image");
    let before = layers(&engine, &app_image);

    write(stack.dir.path(), "app/src.txt", "two two\n");
    let second = berth_err(&stack, &["up", "--build", "--wait"]);
    assert_eq!(step_cached(&second, "app", "COPY deps.txt"), [true], "{second}");
    assert_eq!(step_cached(&second, "app", "RUN cp"), [true], "{second}");
    assert_eq!(
        step_cached(&second, "app", "COPY src.txt"),
        [false],
        "the edited file's COPY runs again: {second}"
    );
    assert_eq!(step_cached(&second, "app", "RUN wc"), [false], "{second}");
    assert_eq!(step_cached(&second, "tool", "RUN echo inline"), [true], "{second}");
    assert!(
        !second.contains("exit 7"),
        "the stage after the target is not built: {second}"
    );
    let after = layers(&engine, &app_image);
    assert_eq!(after.len(), before.len(), "{before:?} {after:?}");
    let shared = before.iter().zip(&after).take_while(|(a, b)| a == b).count();
    assert_eq!(
        shared,
        before.len() - 2,
        "every layer below the edited COPY is reused: {before:?} {after:?}"
    );
    assert_eq!(
        stack.berth_ok(&["exec", "-T", "app", "cat", "/srv/size"]).trim(),
        "8",
        "the rebuilt image's container was recreated"
    );
}

fn build_verb_flags_and_shared_builds(kind: Kind) {
    if !require_root("build_verb_flags_and_shared_builds") {
        return;
    }
    let engine = Engine::start(kind);
    let stack = app_stack(&engine);
    let compose = format!(
        "{STACK}  one:
    build: {{context: ./shared}}
  two:
    build: {{context: ./shared, tags: ['{}-extra:v1']}}
  same:
    build: {{context: ./shared}}
",
        stack.project
    );
    stack.write(&compose);
    write(
        stack.dir.path(),
        "shared/Dockerfile",
        "FROM busybox\nRUN echo shared > /s\n",
    );

    let out = berth_err(&stack, &["build", "--progress", "plain", "tool"]);
    assert!(out.contains("[tool 1/"), "{out}");
    assert!(
        !out.contains("[app "),
        "no dependency without --with-dependencies: {out}"
    );
    let out = berth_err(&stack, &["build", "--with-dependencies", "tool"]);
    assert!(out.contains("[app ") && out.contains("[tool "), "{out}");

    let out = berth_err(&stack, &["build", "--build-arg", "GREETING=bye", "--no-cache", "app"]);
    assert!(!out.contains("CACHED"), "--no-cache: {out}");
    let app_image = format!("{}-app", stack.project);
    let greeting = engine.docker_lines(&["run", "--rm", &app_image, "cat", "/srv/greeting"]);
    assert_eq!(greeting, ["bye"], "--build-arg wins over the file's args");

    let quiet = stack.berth(&["build", "-q", "app"]);
    assert!(quiet.status.success());
    assert!(
        quiet.stdout.is_empty() && quiet.stderr.is_empty(),
        "-q prints nothing: {}",
        String::from_utf8_lossy(&quiet.stderr)
    );

    // one and same share a build: built once, under both names.
    let out = berth_err(&stack, &["build", "one", "two", "same"]);
    let builds = out.lines().filter(|l| l.contains("Built")).count();
    assert_eq!(
        builds, 2,
        "one build for one+same, one for two (its tags differ): {out}"
    );
    let id = |image: &str| engine.docker_lines(&["image", "inspect", "--format", "{{.Id}}", image]);
    assert_eq!(
        id(&format!("{}-one", stack.project)),
        id(&format!("{}-same", stack.project))
    );
    assert_eq!(
        id(&format!("{}-two", stack.project)),
        id(&format!("{}-extra:v1", stack.project)),
        "tags: name the image too"
    );

    stack.write(&format!(
        "{compose}  far:\n    build: {{context: ./shared, platforms: [linux/s390x]}}\n"
    ));
    let refused = stack.berth(&["build"]);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && err.contains("linux/s390x"), "{err}");
    assert!(err.contains("services.far.build.platforms"), "{err}");
}

fn failing_run_stops_up_before_any_container(kind: Kind) {
    if !require_root("failing_run_stops_up_before_any_container") {
        return;
    }
    let engine = Engine::start(kind);
    let stack = Stack::new(
        &engine,
        "bad",
        "services:\n  ok:\n    image: busybox\n    command: [\"sleep\", \"60\"]\n  bad:\n    build: ./bad\n",
    );
    let dir = stack.dir.path();
    write(
        dir,
        "bad/Dockerfile",
        "FROM busybox\nRUN echo fine\nRUN echo last words && \\\n    exit 3\nRUN echo never\n",
    );
    let out = stack.berth(&["up", "-d"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("service \"bad\""), "names the service: {err}");
    assert!(err.contains("Dockerfile:3"), "names the line: {err}");
    assert!(err.contains("code: 3"), "names the exit code: {err}");
    assert!(err.contains("last words"), "shows the last output: {err}");
    assert!(!err.contains("never"), "{err}");
    let (containers, networks, _) = engine.leftovers(&stack.project);
    assert!(
        containers.is_empty() && networks.is_empty(),
        "nothing created: {containers:?} {networks:?}"
    );
    let tagged = engine.docker(&["image", "inspect", &format!("{}-bad", stack.project)]);
    assert!(!tagged.status.success(), "nothing tagged");

    std::fs::remove_file(dir.join("bad/Dockerfile")).expect("rm");
    let out = stack.berth(&["up", "-d"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("\"bad\"") && err.contains("Dockerfile"),
        "{err}"
    );
    std::fs::remove_dir(dir.join("bad")).expect("rmdir");
    let out = stack.berth(&["build"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("\"bad\"") && err.contains("context"),
        "{err}"
    );
}
