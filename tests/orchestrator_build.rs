//! Compose `build:` through the Engine API's classic builder: `berth up --build`, `berth build` and its flags,
//! layer reuse after a source edit, shared builds, failures, build secrets and additional contexts (berth's
//! extension of /build; refused on dockerd), the `errorDetail` of a failed RUN (each test once with dockerd, once
//! with berth's engine); rebuilds after same-size edits, deletions and a pruned engine (berth's context sync).

#[macro_use]
mod orchestrator_support;

use orchestrator_support::{require_root, Engine, Kind, Stack};
use std::path::Path;

for_each_engine!(
    up_build_brings_up_built_services_and_an_edit_reruns_from_its_copy,
    build_verb_flags_and_shared_builds,
    failing_run_stops_up_before_any_container,
    build_secrets_and_additional_contexts,
    failed_run_error_detail_carries_the_exit_code,
    rebuilds_see_every_context_change_and_reuse_the_rest,
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

/// Secrets from a file and from a variable, and one context of each kind: a directory, an image, a service; a
/// directory context as a base (`fromdir`).
const EXT_STACK: &str = "\
services:
  base:
    build: ./base
  app:
    build:
      context: ./app
      secrets:
        - tok
        - source: api
          target: api_key
      additional_contexts:
        lib: ./lib
        img: docker-image://busybox:latest
        basesvc: service:base
  needy:
    build:
      context: .
      dockerfile_inline: |
        FROM busybox
        RUN --mount=type=secret,id=absent,required true
  fromdir:
    build:
      context: .
      dockerfile_inline: |
        FROM files
        LABEL from=dir
      additional_contexts:
        files: ./files
secrets:
  tok:
    file: ./tok.txt
  api:
    environment: API_KEY
";

/// The RUNs compare the secrets in upper case: the lower-case values must appear nowhere in the image.
const EXT_DOCKERFILE: &str = "\
FROM basesvc
COPY --from=lib hello.txt /lib-hello.txt
COPY --from=img /etc/group /img-group
COPY . /ctx/
RUN --mount=type=secret,id=tok test \"$(tr a-z A-Z < /run/secrets/tok)\" = FILE-S3CRET && stat -c %a /run/secrets/tok > /tok-mode && stat -f -c %T /run/secrets/tok > /tok-fs && echo visible-marker > /marker
RUN --mount=type=secret,id=api_key,env=API test \"$(echo $API | tr a-z A-Z)\" = ENV-S3CRET && echo env-ok > /env-ok
";

fn build_secrets_and_additional_contexts(kind: Kind) {
    if !require_root("build_secrets_and_additional_contexts") {
        return;
    }
    let engine = Engine::start(kind);
    let stack = Stack::new(&engine, "bext", EXT_STACK);
    stack.set_env("API_KEY", "env-s3cret");
    let dir = stack.dir.path();
    write(dir, "base/Dockerfile", "FROM busybox\nRUN echo from-base > /base.txt\n");
    write(dir, "app/Dockerfile", EXT_DOCKERFILE);
    write(dir, "app/app.txt", "app\n");
    write(dir, "lib/hello.txt", "hello-lib\n");
    write(dir, "tok.txt", "file-s3cret");
    if kind == Kind::Dockerd {
        // dockerd's classic builder has no channel for secrets: a clear refusal naming the key, nothing sent.
        let out = stack.berth(&["build", "app"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{err}");
        assert!(
            err.contains("services.app.build.secrets") && err.contains("BuildKit"),
            "{err}"
        );
        return;
    }
    berth_err(&stack, &["build", "app"]);
    let image = format!("{}-app", stack.project);
    let run = |cmd: &str| {
        let out = engine.docker(&["run", "--rm", "--network", "none", &image, "sh", "-c", cmd]);
        assert!(out.status.success(), "{cmd}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(
        run("cat /base.txt /lib-hello.txt /tok-mode /env-ok /tok-fs"),
        "from-base\nhello-lib\n400\nenv-ok\ntmpfs\n",
        "the secret file is on a tmpfs"
    );
    let root = engine.berth_root().expect("berth's engine");
    assert!(
        !tree_holds(&root, b"file-s3cret"),
        "a secret file's content is on disk under {}",
        root.display()
    );
    assert!(run("head -1 /img-group").starts_with("root:"));
    assert_eq!(
        run("ls -A /ctx"),
        "Dockerfile\napp.txt\n",
        "the extension is not part of the context"
    );
    assert_eq!(run("test -e /run/secrets && echo there || echo gone"), "gone\n");
    // Nothing of a secret in the layers, the history or the config; the layers are searchable (the marker is).
    let saved = engine.docker(&["save", &image]);
    assert!(saved.status.success());
    let find = |hay: &[u8], needle: &str| hay.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(find(&saved.stdout, "visible-marker"), "layers are plain tars");
    for secret in ["file-s3cret", "env-s3cret"] {
        assert!(!find(&saved.stdout, secret), "{secret} is in the saved image");
    }
    let history = engine.docker_lines(&["history", "--no-trunc", &image]).join("\n");
    let inspect = engine.docker_lines(&["image", "inspect", &image]).join("\n");
    assert!(
        !history.contains("s3cret") && !inspect.contains("s3cret"),
        "{history}\n{inspect}"
    );
    assert!(history.contains("visible-marker"), "{history}");

    // A changed secret does not change the cache key; a required secret nobody gave names service and id.
    write(dir, "tok.txt", "changed");
    let again = berth_err(&stack, &["build", "app"]);
    let cached = step_cached(&again, "app", "/run/secrets/tok");
    assert!(!cached.is_empty() && cached.iter().all(|c| *c), "{again}");
    let out = stack.berth(&["build", "needy"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("\"needy\"") && err.contains("secret absent"),
        "{err}"
    );
    from_dir_context(&engine, &stack);
    stack.write(&EXT_STACK.replace("./lib", "https://example.invalid/lib.git"));
    let out = stack.berth(&["build", "app"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("services.app.build.additional_contexts.lib"),
        "{err}"
    );
}

/// `FROM` a directory context (BuildKit's reading): an image of the directory's files and no config of its own.
fn from_dir_context(engine: &Engine, stack: &Stack) {
    write(stack.dir.path(), "files/hello.txt", "hello-files\n");
    berth_err(stack, &["build", "fromdir"]);
    let image = format!("{}-fromdir", stack.project);
    let cfg = engine.docker_lines(&[
        "image",
        "inspect",
        "-f",
        "{{len .Config.Env}} {{.Config.Labels.from}}",
        &image,
    ]);
    assert_eq!(cfg, ["0 dir"], "no environment of its own (no PATH), the LABEL on top");
    let saved = engine.docker(&["save", &image]);
    let find = |needle: &[u8]| saved.stdout.windows(needle.len()).any(|w| w == needle);
    assert!(
        saved.status.success() && find(b"hello-files\n"),
        "the directory's files are the layer"
    );
}

/// Whether any regular file under `dir` contains `needle`.
fn tree_holds(dir: &std::path::Path, needle: &[u8]) -> bool {
    walk_files(dir)
        .iter()
        .any(|p| std::fs::read(p).is_ok_and(|data| data.windows(needle.len()).any(|w| w == needle)))
}

fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        match e.file_type() {
            Ok(t) if t.is_dir() => out.extend(walk_files(&e.path())),
            Ok(t) if t.is_file() => out.push(e.path()),
            _ => {}
        }
    }
    out
}

/// A failed RUN's last line as dockerd's classic builder sends it: `errorDetail.code` is the exit status.
fn failed_run_error_detail_carries_the_exit_code(kind: Kind) {
    if !require_root("failed_run_error_detail_carries_the_exit_code") {
        return;
    }
    let engine = Engine::start(kind);
    let dir = tempfile::tempdir().expect("tmp");
    write(dir.path(), "ctx/Dockerfile", "FROM busybox\nRUN exit 3\n");
    let tar = dir.path().join("ctx.tar");
    let ok = std::process::Command::new("tar")
        .arg("-C")
        .arg(dir.path().join("ctx"))
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .expect("tar");
    assert!(ok.success());
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "120", "--unix-socket"])
        .arg(&engine.socket)
        .args(["-X", "POST", "-H", "Content-Type: application/x-tar", "--data-binary"])
        .arg(format!("@{}", tar.display()))
        .arg("http://localhost/v1.41/build?rm=1")
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout);
    let last: serde_json::Value = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .next_back()
        .expect("a JSON line");
    assert_eq!(last["errorDetail"]["code"], 3, "{text}");
    let want = "The command '/bin/sh -c exit 3' returned a non-zero code: 3";
    let msg = last["errorDetail"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains(want) && last["error"] == msg, "{last}");
    let mut keys: Vec<&String> = last.as_object().expect("object").keys().collect();
    keys.sort();
    assert_eq!(keys, ["error", "errorDetail"], "{last}");
}

/// The content of `path` in `image`, from a throwaway container.
fn cat(engine: &Engine, image: &str, path: &str) -> String {
    engine
        .docker_lines(&["run", "--rm", "--network", "none", image, "cat", path])
        .join("\n")
}

/// Rebuilds of one context: unchanged, a same-size edit with the old mtime put back, a deletion, and an edit
/// after `builder prune` (on berth: the engine forgot the context it kept, so berth's client must send it all
/// again after the 409). Each time the image has exactly the context's content and the unchanged steps are cached.
fn rebuilds_see_every_context_change_and_reuse_the_rest(kind: Kind) {
    if !require_root("rebuilds_see_every_context_change_and_reuse_the_rest") {
        return;
    }
    let engine = Engine::start(kind);
    let stack = Stack::new(
        &engine,
        "sync",
        "services:\n  app:\n    image: @P@-app\n    build: ./app\n",
    );
    let cache = tempfile::tempdir().expect("cache dir");
    stack.set_env("XDG_CACHE_HOME", &cache.path().display().to_string());
    let dir = stack.dir.path();
    write(
        dir,
        "app/Dockerfile",
        "FROM busybox\nCOPY big.bin /big.bin\nCOPY src/ /src/\nRUN cat /src/* > /all\n",
    );
    write(dir, "app/big.bin", &"0123456789abcdef".repeat(1 << 16));
    write(dir, "app/src/a.txt", "aaaa\n");
    write(dir, "app/src/b.txt", "bbbb\n");
    let image = format!("{}-app", stack.project);
    berth_err(&stack, &["build"]);
    assert_eq!(cat(&engine, &image, "/all"), "aaaa\nbbbb");

    let again = berth_err(&stack, &["build"]);
    for step in ["COPY big.bin", "COPY src/", "RUN cat"] {
        assert_eq!(step_cached(&again, "app", step), [true], "{step}: {again}");
    }

    // Same size, same mtime: only the content (and the ctime) tells the edit.
    let a = dir.join("app/src/a.txt");
    let mtime = std::fs::metadata(&a).expect("stat").modified().expect("mtime");
    write(dir, "app/src/a.txt", "AAAA\n");
    std::fs::File::options()
        .write(true)
        .open(&a)
        .and_then(|f| f.set_modified(mtime))
        .expect("set mtime");
    let edited = berth_err(&stack, &["build"]);
    assert_eq!(step_cached(&edited, "app", "COPY big.bin"), [true], "{edited}");
    assert_eq!(step_cached(&edited, "app", "COPY src/"), [false], "{edited}");
    assert_eq!(cat(&engine, &image, "/all"), "AAAA\nbbbb");

    std::fs::remove_file(dir.join("app/src/b.txt")).expect("rm");
    berth_err(&stack, &["build"]);
    assert_eq!(cat(&engine, &image, "/all"), "AAAA");

    engine.docker(&["builder", "prune", "-f"]);
    write(dir, "app/src/a.txt", "cccc\n");
    berth_err(&stack, &["build"]);
    assert_eq!(cat(&engine, &image, "/all"), "cccc");
    assert_eq!(cat(&engine, &image, "/big.bin").len(), 1 << 20);
}
