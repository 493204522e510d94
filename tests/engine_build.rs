//! Dockerfile builds through `POST /build` (the classic builder's API): compressed contexts and ADD archives,
//! ADD of URLs with `--checksum`, `cachefrom` images, stages built at the same time, RUN `--mount`s; and that
//! a build leaves no build container or step mount behind; berth's context sync (kept files, 409, 400).

mod engine_support;
use engine_support::{mounts_under, Engine};
use std::path::Path;
use std::process::{Command, Stdio};

/// What a build answered.
struct Built {
    /// The `stream` texts, joined.
    out: String,
    /// The `error` message, if any.
    error: Option<String>,
    /// The image id (`aux`).
    id: Option<String>,
}

/// POSTs `body` (a context, possibly compressed) to /build with `query` and curl's `extra` arguments.
fn post(e: &Engine, body: &Path, query: &str, extra: &[&str]) -> std::process::Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "300"])
        .args(extra)
        .arg("--unix-socket")
        .arg(&e.socket)
        .args(["-X", "POST", "-H", "Content-Type: application/x-tar", "--data-binary"])
        .arg(format!("@{}", body.display()))
        .arg(format!("http://localhost/v1.41/build?{query}"))
        .output()
        .expect("curl")
}

/// POSTs `body` (a context, possibly compressed) to /build with `query`.
fn build(e: &Engine, body: &Path, query: &str) -> Built {
    let out = post(e, body, query, &[]);
    let mut b = Built {
        out: String::new(),
        error: None,
        id: None,
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
        if let Some(s) = v["stream"].as_str() {
            b.out.push_str(s);
        }
        if let Some(s) = v["error"].as_str() {
            b.error = Some(s.to_owned());
        }
        if let Some(s) = v["aux"]["ID"].as_str() {
            b.id = Some(s.to_owned());
        }
    }
    b
}

fn ok(b: Built) -> Built {
    assert!(b.error.is_none(), "build failed: {:?}\n{}", b.error, b.out);
    assert!(b.id.is_some(), "no image id:\n{}", b.out);
    b
}

fn sh(cmd: &str) {
    let st = Command::new("sh").arg("-c").arg(cmd).status().unwrap();
    assert!(st.success(), "{cmd} failed");
}

/// A context directory with `files` (name, content); returns its path (inside `tmp`).
fn context(tmp: &Path, files: &[(&str, &str)]) -> std::path::PathBuf {
    let dir = tmp.join(format!("ctx{}", rand_suffix()));
    for (name, content) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    dir
}

fn rand_suffix() -> String {
    engine_support::suffix()
}

/// The context as a plain tar.
fn tar_of(dir: &Path) -> std::path::PathBuf {
    let out = dir.with_extension("tar");
    sh(&format!("tar -C {} -cf {} .", dir.display(), out.display()));
    out
}

/// The content of `path` in `image`, read with `docker create` and `docker cp` (the build's result itself, not
/// a container's output).
fn file_in(e: &Engine, image: &str, path: &str) -> String {
    let id = e
        .docker(&["create", "--network", "none", image, "true"])
        .trim()
        .to_owned();
    let tar = e.docker_raw(&["cp", &format!("{id}:{path}"), "-"]);
    e.docker(&["rm", &id]);
    assert!(tar.status.success(), "{path} is not in {image}");
    let mut a = tar::Archive::new(&tar.stdout[..]);
    let mut entry = a.entries().unwrap().next().expect("an entry").unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
    text
}

/// No build container and no step mount is left.
fn nothing_left(e: &Engine) {
    let ps = e.docker(&["ps", "-aq"]);
    assert!(ps.trim().is_empty(), "containers left: {ps}");
    let m = mounts_under(&e.root.join("build"));
    assert!(m.is_empty(), "build mounts left: {m:?}");
}

#[test]
fn compressed_contexts_and_add_archives() {
    let Some(e) = Engine::with_busybox("compressed_contexts_and_add_archives") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let df = "FROM busybox\nADD a.tar.gz /gz/\nADD a.tar.bz2 /bz/\nADD a.tar.xz /xz/\nADD a.tar.zst /zst/\n\
              RUN cat /gz/hello /bz/hello /xz/hello /zst/hello > /all\n";
    let ctx = context(tmp.path(), &[("Dockerfile", df)]);
    let arch = context(tmp.path(), &[("hello", "hi\n")]);
    let a = tar_of(&arch);
    let c = ctx.display();
    sh(&format!(
        "gzip -c {0} > {c}/a.tar.gz && bzip2 -c {0} > {c}/a.tar.bz2",
        a.display()
    ));
    sh(&format!(
        "xz -c {0} > {c}/a.tar.xz && zstd -q -c {0} > {c}/a.tar.zst",
        a.display()
    ));
    let plain = tar_of(&ctx);
    let p = plain.display();
    for (tool, ext) in [("gzip", "gz"), ("bzip2", "bz2"), ("xz", "xz"), ("zstd -q", "zst")] {
        sh(&format!("{tool} -c {p} > {p}.{ext}"));
        let b = ok(build(&e, Path::new(&format!("{p}.{ext}")), &format!("t=cmp:{ext}")));
        assert!(b.out.contains("Successfully tagged cmp:"), "{}", b.out);
    }
    let all = file_in(&e, "cmp:xz", "/all");
    assert_eq!(all, "hi\nhi\nhi\nhi\n");
    nothing_left(&e);
}

/// Seventy layers (dockerd takes up to 125): every RUN after about the 43rd failed while the overlay's options
/// named each layer by its full path and outgrew one page. The COPY on top mounts all of them in a step mount,
/// the container of the result all of them as its rootfs; files of the first, a middle and the last RUN are read.
#[test]
fn seventy_layers_build_and_run() {
    let Some(e) = Engine::with_busybox("seventy_layers_build_and_run") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut df = String::from("FROM busybox\n");
    for i in 1..=68 {
        df.push_str(&format!("RUN echo {i} > /f{i}\n"));
    }
    df.push_str("COPY top /top\n");
    let ctx = context(tmp.path(), &[("Dockerfile", &df), ("top", "on top\n")]);
    ok(build(&e, &tar_of(&ctx), "t=deep:70"));
    let layers = e.docker(&["image", "inspect", "-f", "{{len .RootFS.Layers}}", "deep:70"]);
    assert_eq!(layers.trim(), "70", "busybox's layer, 68 RUNs and a COPY");
    let out = e.docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "deep:70",
        "cat",
        "/f1",
        "/f44",
        "/f68",
        "/top",
    ]);
    assert_eq!(out, "1\n44\n68\non top\n");
    nothing_left(&e);
}

/// A file server on 127.0.0.1 (Python's http.server), stopped on drop.
struct Server {
    child: std::process::Child,
    port: u16,
}

impl Server {
    fn start(dir: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1", &port.to_string()])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let up = engine_support::eventually(std::time::Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(up, "the test file server did not start");
        Server { child, port }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn add_url_with_checksum() {
    let Some(e) = Engine::with_busybox("add_url_with_checksum") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let files = context(tmp.path(), &[("data.txt", "remote content\n")]);
    sh(&format!("touch -d @1000000000 {}/data.txt", files.display()));
    let srv = Server::start(&files);
    let sum = "sha256:5d1c37da1ddb7d3b9a4bd5e53ca8b1a8ca6ee1d1b4e6ee2c9a31e2ec0e2f8a8f";
    let good = {
        use sha2::Digest;
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(b"remote content\n")))
    };
    let url = format!("http://127.0.0.1:{}/data.txt", srv.port);
    let df = format!("FROM busybox\nADD --checksum={good} {url} /got/\nRUN stat -c '%a %Y %s' /got/data.txt > /meta\n");
    let ok_ctx = tar_of(&context(tmp.path(), &[("Dockerfile", &df)]));
    ok(build(&e, &ok_ctx, "t=url:1"));
    let meta = file_in(&e, "url:1", "/meta");
    assert_eq!(meta, "600 1000000000 15\n", "mode, Last-Modified mtime, size");
    let bad = format!("FROM busybox\nADD --checksum={sum} {url} /got/\n");
    let bad_ctx = tar_of(&context(tmp.path(), &[("Dockerfile", &bad)]));
    let b = build(&e, &bad_ctx, "t=url:2");
    let err = b.error.expect("a checksum mismatch fails the build");
    assert!(
        err.contains("Dockerfile:2") && err.contains("checksum mismatch"),
        "{err}"
    );
    assert!(err.contains(&good), "the error names the digest got: {err}");
    let missing = format!("FROM busybox\nADD {url}.nope /x\n");
    let b = build(&e, &tar_of(&context(tmp.path(), &[("Dockerfile", &missing)])), "");
    assert!(
        b.error.unwrap_or_default().contains("404"),
        "a missing URL fails with its status"
    );
    nothing_left(&e);
}

#[test]
fn cachefrom_reuses_the_steps_of_a_listed_image() {
    let Some(e) = Engine::with_busybox("cachefrom_reuses_the_steps_of_a_listed_image") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let df = "FROM busybox\nENV A=1\nRUN echo one > /one\nCOPY f /f\nCMD [\"cat\", \"/f\"]\n";
    let ctx = tar_of(&context(tmp.path(), &[("Dockerfile", df), ("f", "file\n")]));
    let first = ok(build(&e, &ctx, "t=src:1"));
    let prune = |e: &Engine| {
        let out = Command::new("curl")
            .args(["-sS", "-X", "POST", "--unix-socket"])
            .arg(&e.socket)
            .arg("http://localhost/v1.41/build/prune")
            .output()
            .unwrap();
        assert!(out.status.success());
    };
    prune(&e);
    let unrelated = ok(build(&e, &ctx, "t=src:2&cachefrom=%5B%22nosuch%3A1%22%5D"));
    assert!(!unrelated.out.contains("Using cache"), "{}", unrelated.out);
    prune(&e);
    let again = ok(build(&e, &ctx, "t=src:3&cachefrom=%5B%22src%3A1%22%5D"));
    assert_eq!(again.out.matches("Using cache").count(), 4, "{}", again.out);
    assert_eq!(
        again.id, first.id,
        "the same steps on the same parents make the same image"
    );
    nothing_left(&e);
}

#[test]
fn independent_stages_build_at_the_same_time() {
    let Some(e) = Engine::with_busybox("independent_stages_build_at_the_same_time") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    // Each stage waits (a bounded while) for the other's mark in a shared cache mount: built one after the
    // other, the first would give up and fail.
    let wait = |me: &str, other: &str| {
        format!(
            "RUN --mount=type=cache,target=/c,id=meet sh -c 'touch /c/{me}; i=0; \
             while [ ! -f /c/{other} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; \
             test -f /c/{other} && echo {me} > /{me}-made'\n"
        )
    };
    let df = format!(
        "FROM busybox AS a\n{}FROM busybox AS b\n{}FROM busybox AS unused\nRUN true\n\
         FROM busybox\nCOPY --from=a /a-made /\nCOPY --from=b /b-made /\n",
        wait("a", "b"),
        wait("b", "a")
    );
    let ctx = tar_of(&context(tmp.path(), &[("Dockerfile", &df)]));
    let b = ok(build(&e, &ctx, "t=par:1"));
    let steps: Vec<&str> = b
        .out
        .lines()
        .filter_map(|l| l.strip_prefix("Step "))
        .map(|l| l.split(' ').next().unwrap_or_default())
        .collect();
    // As the classic builder: every stage up to the target is built, the unused one too.
    let want: Vec<String> = (1..=9).map(|n| format!("{n}/9")).collect();
    assert_eq!(
        steps, want,
        "steps in stage order, the unused stage built too:\n{}",
        b.out
    );
    assert_eq!(
        file_in(&e, "par:1", "/a-made") + &file_in(&e, "par:1", "/b-made"),
        "a\nb\n"
    );
    nothing_left(&e);
}

#[test]
fn run_mounts_bind_cache_tmpfs_and_secret() {
    let Some(e) = Engine::with_busybox("run_mounts_bind_cache_tmpfs_and_secret") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let df = "FROM busybox AS s\nRUN echo staged > /s.txt\nFROM busybox\n\
              RUN --mount=type=bind,source=data,target=/in --mount=from=s,source=/s.txt,target=/mnt/s.txt \
              --mount=type=tmpfs,target=/scratch --mount=type=secret,id=optional \
              sh -c 'cat /in/x /mnt/s.txt > /out && touch /scratch/t && ! touch /in/y 2>/dev/null'\n\
              RUN --mount=type=cache,target=/var/cache/k sh -c 'echo $((`cat /var/cache/k/n 2>/dev/null || echo 0` + 1)) > /var/cache/k/n; cp /var/cache/k/n /n'\n";
    let ctx = tar_of(&context(
        tmp.path(),
        &[("Dockerfile", df), ("data/x", "from context\n")],
    ));
    ok(build(&e, &ctx, "t=mnt:1"));
    let run = |cmd: &str| e.docker_raw(&["run", "--rm", "--network", "none", "mnt:1", "sh", "-c", cmd]);
    assert_eq!(
        String::from_utf8_lossy(&run("cat /out /n").stdout),
        "from context\nstaged\n1\n"
    );
    let stubs = run("ls -d /in /scratch /mnt /var/cache/k");
    assert!(!stubs.status.success(), "mount targets are not in the image: {stubs:?}");
    // The cache directory outlives the build: a build without the layer cache counts on from it.
    ok(build(&e, &ctx, "t=mnt:2&nocache=1"));
    assert_eq!(file_in(&e, "mnt:2", "/n"), "2\n");
    let df = "FROM busybox\nRUN --mount=type=secret,id=tok,required true\n";
    let b = build(&e, &tar_of(&context(tmp.path(), &[("Dockerfile", df)])), "");
    let err = b.error.expect("a required secret the client did not send fails");
    assert!(err.contains("Dockerfile:2") && err.contains("secret tok"), "{err}");
    nothing_left(&e);
}

/// berth's extension of /build (`.berth-build/` in the context tar): a secret mounted with the mount's owner and
/// mode, a named context that wins over a stage of the same name, and the extension invisible to COPY.
#[test]
fn extension_secrets_and_named_contexts() {
    let Some(e) = Engine::with_busybox("extension_secrets_and_named_contexts") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let df = "FROM busybox AS dep\nRUN echo from-stage > /dep.txt\nFROM busybox\n\
              COPY --from=dep /dep.txt /dep.txt\nCOPY . /ctx/\n\
              RUN --mount=type=secret,id=k,target=/k/key,uid=5,mode=0440 stat -c '%u %a' /k/key > /key-meta && ! test -w /k/key 2>/dev/null || true\n";
    let manifest = r#"{"secrets":{"k":{"file":"secrets/0"}},"contexts":{"dep":{"dir":"contexts/0"}}}"#;
    let ctx = context(
        tmp.path(),
        &[
            ("Dockerfile", df),
            (".berth-build/manifest.json", manifest),
            (".berth-build/secrets/0", "k-s3cret"),
            (".berth-build/contexts/0/dep.txt", "from-context\n"),
        ],
    );
    ok(build(&e, &tar_of(&ctx), "t=ext:1"));
    assert_eq!(file_in(&e, "ext:1", "/dep.txt"), "from-context\n");
    assert_eq!(file_in(&e, "ext:1", "/key-meta"), "5 440\n");
    let ls = e.docker_raw(&["run", "--rm", "--network", "none", "ext:1", "ls", "-A", "/ctx", "/k"]);
    assert_eq!(String::from_utf8_lossy(&ls.stdout), "/ctx:\nDockerfile\n", "{ls:?}");
    nothing_left(&e);
}

/// POSTs `body` to /build with `query`; returns the HTTP status and the body.
fn post_status(e: &Engine, body: &Path, query: &str) -> (u16, String) {
    let out = post(e, body, query, &["-w", "\n%{http_code}"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.trim_end().rsplit_once('\n').unwrap_or(("", text.trim()));
    (code.parse().unwrap_or(0), body.to_owned())
}

/// berth's context sync (`sync` in `.berth-build/manifest.json`): a file left out of the tar and listed as kept
/// comes from the context the engine kept for the key; a kept file the engine does not hold is a 409 (the client
/// sends everything again), a path outside the context a 400 naming the field.
#[test]
fn context_sync_keeps_files_and_refuses_what_it_lacks() {
    use std::os::unix::fs::MetadataExt;
    let Some(e) = Engine::with_busybox("context_sync_keeps_files_and_refuses_what_it_lacks") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let df = "FROM busybox\nCOPY . /ctx/\n";
    let key = format!("k{}", rand_suffix());
    let first = context(
        tmp.path(),
        &[
            ("Dockerfile", df),
            ("data.txt", "kept\n"),
            (
                ".berth-build/manifest.json",
                &format!(r#"{{"sync":{{"key":"{key}"}}}}"#),
            ),
        ],
    );
    ok(build(&e, &tar_of(&first), "t=sync:1"));
    let m = std::fs::metadata(first.join("data.txt")).unwrap();
    let digest = "f".repeat(64);
    let keep = |path: &str, digest: &str| {
        format!(
            r#"{{"sync":{{"key":"{key}","keep":[{{"path":"{path}","digest":"{digest}","size":5,"mode":{},"mtime":{}}}]}}}}"#,
            m.mode() & 0o7777,
            m.mtime()
        )
    };
    let real = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(b"kept\n"))
    };
    assert_ne!(real, digest, "the test's wrong digest is wrong");
    // A context of the Dockerfile and a manifest that keeps `path` with `digest`, as a tar.
    let synced = |path: &str, digest: &str| {
        let manifest = keep(path, digest);
        tar_of(&context(
            tmp.path(),
            &[("Dockerfile", df), (".berth-build/manifest.json", &manifest)],
        ))
    };
    let second = synced("data.txt", &real);
    ok(build(&e, &second, "t=sync:2"));
    assert_eq!(file_in(&e, "sync:2", "/ctx/data.txt"), "kept\n");
    let ls = e.docker_raw(&["run", "--rm", "--network", "none", "sync:2", "ls", "-A", "/ctx"]);
    assert_eq!(String::from_utf8_lossy(&ls.stdout), "Dockerfile\ndata.txt\n", "{ls:?}");

    let (code, body) = post_status(&e, &synced("data.txt", &digest), "t=sync:3");
    assert_eq!(code, 409, "{body}");
    let (code, body) = post_status(&e, &synced("../data.txt", &real), "t=sync:4");
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("sync.keep[0].path"), "{body}");
    nothing_left(&e);
}

/// A build context by git URL (`remote=`), as dockerd takes it: fetched with git from a daemon on 127.0.0.1,
/// `#ref:dir` naming the branch and the context directory; a ref the repository lacks is dockerd's
/// `error fetching` 500, a remote that is no URL a 400.
#[test]
fn git_remote_contexts() {
    let Some(e) = Engine::with_busybox("git_remote_contexts") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("r.git");
    std::fs::create_dir_all(repo.join("sub")).unwrap();
    std::fs::write(repo.join("sub/Dockerfile"), "FROM busybox\nCOPY hello /hello\n").unwrap();
    std::fs::write(repo.join("sub/hello"), "from git\n").unwrap();
    sh(&format!(
        "cd {} && git init -q -b side && git add . && git -c user.email=t@t -c user.name=t commit -qm one",
        repo.display()
    ));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let mut daemon = Command::new("git")
        .args(["daemon", "--export-all", "--reuseaddr", "--listen=127.0.0.1"])
        .arg(format!("--port={port}"))
        .arg(format!("--base-path={}", tmp.path().display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("git daemon");
    // Readiness, not timing: the daemon listens once it has started.
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(daemon.try_wait().unwrap().is_none(), "git daemon exited");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let unused = tar_of(&context(tmp.path(), &[("unused", "the body is not read with remote=")]));
    let url = format!("git://127.0.0.1:{port}/r.git");
    ok(build(&e, &unused, &format!("t=git:1&remote={url}%23side:sub")));
    assert_eq!(file_in(&e, "git:1", "/hello"), "from git\n");
    let (code, body) = post_status(&e, &unused, &format!("remote={url}%23nosuch"));
    assert!(
        code == 500 && body.contains("error fetching") && body.contains("nosuch"),
        "{code} {body}"
    );
    let (code, body) = post_status(&e, &unused, "remote=abc");
    assert!(
        code == 400 && body.contains("could not be recognized as URL"),
        "{code} {body}"
    );
    let _ = daemon.kill();
    let _ = daemon.wait();
    nothing_left(&e);
}
