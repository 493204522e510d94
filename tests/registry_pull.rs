//! Pull and push against Debian's docker-registry on 127.0.0.1: by tag and digest, round trip, a
//! multi-platform index, a tampered blob, the real docker CLI, and two pulls at once.

mod engine_support;
mod registry_support;
use registry_support::*;
use std::time::Duration;

/// Pushes busybox (loaded into `e`) as `REG/<repo>:<tag>`; returns the manifest digest berth printed.
fn push_busybox(e: &Engine, reg: &LocalRegistry, repo: &str, tag: &str) -> String {
    e.berth(&["image", "load", "-i", busybox_tar().to_str().unwrap()]);
    let target = format!("{}/{repo}:{tag}", reg.addr);
    e.docker(&["tag", "busybox:latest", &target]);
    let out = e.berth(&["image", "push", &target]);
    digest_from_push(&out)
}

/// `GET /distribution/<name>/json` on `e`: (HTTP status, body).
fn distribution(e: &Engine, name: &str) -> (String, serde_json::Value) {
    let out = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "30", "-w", "\n%{http_code}", "--unix-socket"])
        .arg(&e.socket)
        .arg(format!("http://localhost/v1.41/distribution/{name}/json"))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    (status.to_owned(), serde_json::from_str(body).unwrap_or_default())
}

fn digest_from_push(out: &str) -> String {
    out.lines()
        .find_map(|l| l.split("digest: ").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no digest in push output: {out}"))
        .to_owned()
}

#[test]
fn pull_by_tag_and_by_digest_round_trip() {
    if !require_root("pull_by_tag_and_by_digest_round_trip") {
        return;
    }
    let reg = LocalRegistry::start();
    let a = Engine::start();
    let digest = push_busybox(&a, &reg, "t/busybox", "1");
    let id = a.inspect("busybox:latest", "{{.Id}}").unwrap();

    let b = Engine::start();
    let by_tag = format!("{}/t/busybox:1", reg.addr);
    let out = b.berth(&["image", "pull", &by_tag]);
    assert!(out.contains(&format!("Digest: {digest}")), "pull output: {out}");
    assert!(out.contains("Pull complete"), "pull output: {out}");
    assert_eq!(
        b.inspect(&by_tag, "{{.Id}}").unwrap(),
        id,
        "same image id after the round trip"
    );
    let repo_digests = b.inspect(&by_tag, "{{json .RepoDigests}}").unwrap();
    assert!(
        repo_digests.contains(&digest),
        "RepoDigests {repo_digests} lacks the pushed digest {digest}"
    );
    // Again: nothing new to fetch.
    let again = b.berth(&["image", "pull", &by_tag]);
    assert!(again.contains("Image is up to date"), "{again}");
    assert_eq!(
        b.docker(&["run", "--rm", &by_tag, "echo", "pulled-ok"]).trim(),
        "pulled-ok"
    );

    // Distribution inspect asks the registry without pulling: the manifest's descriptor and its platform.
    let (status, doc) = distribution(&b, &by_tag);
    assert_eq!(status, "200", "{doc}");
    assert_eq!(doc["Descriptor"]["digest"], digest.as_str(), "{doc}");
    assert!(doc["Descriptor"]["size"].as_u64().unwrap_or(0) > 0, "{doc}");
    assert_eq!(
        doc["Platforms"],
        serde_json::json!([{"architecture": "amd64", "os": "linux"}])
    );
    let (status, doc) = distribution(&b, &format!("{}/t/nosuch:1", reg.addr));
    assert_eq!(status, "404", "{doc}");

    let c = Engine::start();
    let by_digest = format!("{}/t/busybox@{digest}", reg.addr);
    c.berth(&["image", "pull", &by_digest]);
    assert_eq!(c.inspect(&by_digest, "{{.Id}}").unwrap(), id);
    // A digest that is not there: a clear not-found error, nothing stored.
    let missing = format!("{}/t/busybox@sha256:{}", reg.addr, "0".repeat(64));
    let out = c.berth_raw(&["image", "pull", &missing]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not found"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Uploads an OCI index over two pushed images (amd64 = busybox, arm64 = another image).
#[test]
fn multi_platform_index_picks_linux_amd64() {
    if !require_root("multi_platform_index_picks_linux_amd64") {
        return;
    }
    let reg = LocalRegistry::start();
    let e = Engine::start();
    let amd = push_busybox(&e, &reg, "multi/app", "amd64");
    let tmp = tempfile::tempdir().unwrap();
    let other = make_archive(tmp.path(), "other:arm", &[vec![("etc/arch", b"arm64\n".to_vec())]]);
    e.load_as(&other, "other:arm", &format!("{}/multi/app:arm64", reg.addr));
    let arm = digest_from_push(&e.berth(&["image", "push", &format!("{}/multi/app:arm64", reg.addr)]));
    let size = |tag: &str| reg.get_manifest("multi/app", tag).len();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": arm, "size": size("arm64"),
             "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
            {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": amd, "size": size("amd64"),
             "platform": {"architecture": "amd64", "os": "linux"}},
        ]
    });
    reg.put_manifest(
        "multi/app",
        "multi",
        "application/vnd.oci.image.index.v1+json",
        index.to_string().as_bytes(),
    );

    let p = Engine::start();
    let multi = format!("{}/multi/app:multi", reg.addr);
    let (status, doc) = distribution(&p, &multi);
    assert_eq!(status, "200", "{doc}");
    assert_eq!(
        doc["Descriptor"]["mediaType"],
        "application/vnd.oci.image.index.v1+json"
    );
    let platforms = serde_json::json!([
        {"architecture": "arm64", "os": "linux", "variant": "v8"},
        {"architecture": "amd64", "os": "linux"}
    ]);
    assert_eq!(doc["Platforms"], platforms);
    p.berth(&["image", "pull", &multi]);
    let busybox_id = e.inspect("busybox:latest", "{{.Id}}").unwrap();
    assert_eq!(
        p.inspect(&multi, "{{.Id}}").unwrap(),
        busybox_id,
        "linux/amd64 entry chosen"
    );
    assert_eq!(p.inspect(&multi, "{{.Architecture}}").unwrap(), "amd64");

    let q = Engine::start();
    q.berth(&["image", "pull", "--platform", "linux/arm64", &multi]);
    assert_eq!(
        q.inspect(&multi, "{{.Id}}").unwrap(),
        e.inspect("other:arm", "{{.Id}}").unwrap(),
        "--platform picks arm64"
    );
    let out = q.berth_raw(&["image", "pull", "--platform", "linux/s390x", &multi]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("linux/s390x") && err.contains("linux/amd64"),
        "{err}"
    );
}

#[test]
fn tampered_blob_is_refused_and_nothing_is_stored() {
    if !require_root("tampered_blob_is_refused_and_nothing_is_stored") {
        return;
    }
    let reg = LocalRegistry::start();
    let e = Engine::start();
    let tmp = tempfile::tempdir().unwrap();
    let archive = make_archive(tmp.path(), "tamper:1", &[vec![("data/blob", random_bytes(512 * 1024))]]);
    let target = format!("{}/t/tamper:1", reg.addr);
    e.load_as(&archive, "tamper:1", &target);
    e.berth(&["image", "push", &target]);
    let layer = manifest_layers(&reg.get_manifest("t/tamper", "1")).remove(0);
    let file = reg.blob_file(&layer);
    let mut data = std::fs::read(&file).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0xff;
    std::fs::write(&file, &data).unwrap();

    let p = Engine::start();
    let out = p.berth_raw(&["image", "pull", &target]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "tampered pull succeeded");
    assert!(err.contains(&layer), "error does not name the digest {layer}: {err}");
    assert!(p.inspect(&target, "{{.Id}}").is_none(), "image recorded");
    assert!(
        p.docker(&["images", "-q"]).trim().is_empty(),
        "images listed after a refused pull"
    );
    assert!(!p.blobs().contains(&layer), "tampered blob stored");
    assert!(p.blobs().is_empty(), "blobs stored: {:?}", p.blobs());
    assert!(p.layers().is_empty(), "layers left: {:?}", p.layers());
    assert!(
        p.partials().is_empty() && p.finished_downloads().is_empty(),
        "download leftovers"
    );
}

#[test]
fn docker_cli_pulls_and_pushes_through_berth() {
    if !require_root("docker_cli_pulls_and_pushes_through_berth") {
        return;
    }
    let reg = LocalRegistry::start();
    let a = Engine::start();
    let digest = push_busybox(&a, &reg, "d/busybox", "1");
    let b = Engine::start();
    let name = format!("{}/d/busybox:1", reg.addr);
    let out = b.docker(&["pull", &name]);
    assert!(
        out.contains(&format!("Digest: {digest}")) && out.contains("Downloaded newer image"),
        "docker pull: {out}"
    );
    let pushed = format!("{}/d/copy:2", reg.addr);
    b.docker(&["tag", &name, &pushed]);
    let out = b.docker(&["push", &pushed]);
    assert!(out.contains("2: digest: sha256:"), "docker push: {out}");
    assert_eq!(
        manifest_layers(&reg.get_manifest("d/copy", "2")),
        manifest_layers(&reg.get_manifest("d/busybox", "1"))
    );
    let c = Engine::start();
    c.docker(&["pull", &pushed]);
    assert_eq!(
        c.docker(&["run", "--rm", &pushed, "echo", "via-docker"]).trim(),
        "via-docker"
    );
}

#[test]
fn concurrent_pulls_download_each_blob_once() {
    if !require_root("concurrent_pulls_download_each_blob_once") {
        return;
    }
    let reg = LocalRegistry::start();
    let e = Engine::start();
    let tmp = tempfile::tempdir().unwrap();
    let archive = make_archive(
        tmp.path(),
        "big:1",
        &[
            vec![("data/a", random_bytes(3 << 20))],
            vec![("data/b", random_bytes(1 << 20))],
        ],
    );
    e.load_as(&archive, "big:1", &format!("{}/c/big:1", reg.addr));
    e.berth(&["image", "push", &format!("{}/c/big:1", reg.addr)]);
    let layers = manifest_layers(&reg.get_manifest("c/big", "1"));
    // Slow the registry down so both pulls overlap.
    let proxy = SlowProxy::start(&reg.addr, 4 << 20);
    let p = Engine::start();
    let name = format!("{}/c/big:1", proxy.addr);
    let spawn = || {
        let mut c = std::process::Command::new(berth_bin());
        c.args(["image", "pull", &name])
            .env("BERTH_ROOT", &p.root)
            .env("BERTH_HOST", format!("unix://{}", p.socket.display()))
            .env("DOCKER_CONFIG", p.docker_config())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        c.spawn().unwrap()
    };
    let (one, two) = (spawn(), spawn());
    for child in [one, two] {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "concurrent pull failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for l in &layers {
        assert_eq!(
            reg.blob_gets(l).len(),
            1,
            "layer {l} fetched more than once: {:?}",
            reg.blob_gets(l)
        );
    }
    assert!(eventually(Duration::from_secs(2), || p
        .inspect(&name, "{{.Id}}")
        .is_some()));
}

/// Compresses `data` with a command-line tool (`gzip`, `zstd`) reading stdin.
fn compress(tool: &str, data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut c = std::process::Command::new(tool)
        .args(["-c", "-q"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = c.stdin.take().unwrap();
    let input = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input).unwrap());
    let out = c.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success(), "{tool} failed");
    out.stdout
}

fn layer_tar(dir: &std::path::Path, name: &str, content: &[u8]) -> Vec<u8> {
    let root = dir.join(format!("root-{name}"));
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join(name), content).unwrap();
    let tar = dir.join(format!("{name}.tar"));
    assert!(std::process::Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap()
        .success());
    std::fs::read(tar).unwrap()
}

#[test]
fn oci_image_with_gzip_and_zstd_layers() {
    if !require_root("oci_image_with_gzip_and_zstd_layers") {
        return;
    }
    use sha2::Digest;
    let sha = |d: &[u8]| format!("sha256:{}", hex::encode(sha2::Sha256::digest(d)));
    let reg = LocalRegistry::start();
    let tmp = tempfile::tempdir().unwrap();
    let plain1 = layer_tar(tmp.path(), "from-gzip", b"gzip layer\n");
    let plain2 = layer_tar(tmp.path(), "from-zstd", b"zstd layer\n");
    let (gz, zst) = (compress("gzip", &plain1), compress("zstd", &plain2));
    let repo = "fmt/oci";
    let d1 = reg.put_blob(repo, &gz);
    let d2 = reg.put_blob(repo, &zst);
    let config = serde_json::json!({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["true"]},
        "rootfs": {"type": "layers", "diff_ids": [sha(&plain1), sha(&plain2)]}})
    .to_string();
    let dc = reg.put_blob(repo, config.as_bytes());
    let manifest = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": dc, "size": config.len()},
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d1, "size": gz.len()},
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "digest": d2, "size": zst.len()}]});
    reg.put_manifest(
        repo,
        "1",
        "application/vnd.oci.image.manifest.v1+json",
        manifest.to_string().as_bytes(),
    );
    let e = Engine::start();
    let name = format!("{}/{repo}:1", reg.addr);
    e.berth(&["image", "pull", &name]);
    assert_eq!(e.inspect(&name, "{{.Id}}").unwrap(), dc);
    let lower = e.inspect(&name, "{{.GraphDriver.Data.LowerDir}}").unwrap();
    let found: Vec<String> = lower
        .split(':')
        .flat_map(|d| {
            std::fs::read_dir(d)
                .unwrap()
                .flatten()
                .map(|f| f.file_name().to_string_lossy().into_owned())
        })
        .collect();
    assert!(
        found.contains(&"from-gzip".to_owned()) && found.contains(&"from-zstd".to_owned()),
        "{found:?}"
    );
    // Pushing it on keeps the zstd layer as is (an OCI manifest).
    let copy = format!("{}/fmt/copy:1", reg.addr);
    e.docker(&["tag", &name, &copy]);
    e.berth(&["image", "push", &copy]);
    let m: serde_json::Value = serde_json::from_slice(&reg.get_manifest("fmt/copy", "1")).unwrap();
    assert_eq!(
        m["layers"][1]["mediaType"], "application/vnd.oci.image.layer.v1.tar+zstd",
        "{m}"
    );
    assert_eq!(m["layers"][1]["digest"], d2.as_str());
}
