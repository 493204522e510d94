//! Hostile layers served by a registry: path escapes, absolute symlinks used to write outside, hard links
//! to outside files, device nodes. Nothing may be written outside the layer directory.

mod engine_support;
mod registry_support;
use registry_support::*;
use sha2::Digest;

/// Builds a layer tar with Python's tarfile (so the entries can be hostile), from a script body that
/// adds members to `t`.
fn hostile_tar(dir: &std::path::Path, body: &str) -> Vec<u8> {
    let out = dir.join("layer.tar");
    let script = format!(
        "import tarfile, io\n\
         def f(t, name, data=b'pwned\\n'):\n    i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))\n\
         def l(t, name, target, kind):\n    i = tarfile.TarInfo(name); i.type = kind; i.linkname = target; t.addfile(i)\n\
         with tarfile.open({out:?}, 'w', format=tarfile.GNU_FORMAT) as t:\n{body}\n",
        out = out.display().to_string()
    );
    let st = std::process::Command::new("python3")
        .arg("-c")
        .arg(&script)
        .status()
        .unwrap();
    assert!(st.success(), "python tar builder failed");
    std::fs::read(out).unwrap()
}

fn sha(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

/// Publishes a one-layer OCI image made of `layer` as `repo:1`.
fn publish(reg: &LocalRegistry, repo: &str, layer: &[u8]) {
    let layer_digest = reg.put_blob(repo, layer);
    let config = serde_json::json!({"architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [sha(layer)]}})
    .to_string();
    let config_digest = reg.put_blob(repo, config.as_bytes());
    let manifest = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer.len()}]});
    reg.put_manifest(
        repo,
        "1",
        "application/vnd.oci.image.manifest.v1+json",
        manifest.to_string().as_bytes(),
    );
}

fn passwd_state() -> (Vec<u8>, u64) {
    use std::os::unix::fs::MetadataExt;
    (
        std::fs::read("/etc/passwd").unwrap(),
        std::fs::metadata("/etc/passwd").unwrap().nlink(),
    )
}

#[test]
fn hostile_layers_write_nothing_outside_the_layer() {
    if !require_root("hostile_layers_write_nothing_outside_the_layer") {
        return;
    }
    let reg = LocalRegistry::start();
    let e = Engine::start();
    let tmp = tempfile::tempdir().unwrap();
    let outside = tempfile::Builder::new().prefix("berth-outside-").tempdir().unwrap();
    let o = outside.path().display().to_string();
    let before = passwd_state();
    let cases = [
        (
            "dotdot",
            "    f(t, '../../etc/passwd')\n    f(t, '../../../../../../etc/passwd')".to_owned(),
        ),
        ("abs-path", "    f(t, '/etc/passwd')".to_owned()),
        (
            "symlink-out",
            format!("    l(t, 'out', {o:?}, tarfile.SYMTYPE)\n    f(t, 'out/evil')"),
        ),
        (
            "symlink-file",
            "    l(t, 'pw', '/etc/passwd', tarfile.SYMTYPE)\n    f(t, 'pw')".to_owned(),
        ),
        (
            "hardlink-abs",
            "    l(t, 'hl', '/etc/passwd', tarfile.LNKTYPE)".to_owned(),
        ),
        (
            "hardlink-dotdot",
            "    l(t, 'hl', '../../../../../../etc/passwd', tarfile.LNKTYPE)".to_owned(),
        ),
    ];
    for (name, body) in &cases {
        let layer = hostile_tar(tmp.path(), body);
        let repo = format!("bad/{name}");
        publish(&reg, &repo, &layer);
        let image = format!("{}/{repo}:1", reg.addr);
        let out = e.berth_raw(&["image", "pull", &image]);
        let stored = e.inspect(&image, "{{.Id}}");
        // Either refused, or (symlink-file: replacing the link by a file inside the layer) stored safely.
        if out.status.success() {
            assert_eq!(*name, "symlink-file", "{name}: hostile layer accepted");
            let lower = e.inspect(&image, "{{.GraphDriver.Data.LowerDir}}").unwrap();
            let pw = std::path::Path::new(&lower).join("pw");
            assert_eq!(
                std::fs::read(&pw).unwrap(),
                b"pwned\n",
                "{name}: file not written inside the layer"
            );
        } else {
            assert!(stored.is_none(), "{name}: image recorded after a refused pull");
            assert!(
                String::from_utf8_lossy(&out.stderr).contains("layer"),
                "{name}: unclear error: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert_eq!(passwd_state(), before, "{name}: /etc/passwd changed");
        assert!(
            std::fs::read_dir(outside.path()).unwrap().next().is_none(),
            "{name}: wrote into {o}"
        );
        assert!(
            !e.root.join("etc").exists() && !e.root.parent().unwrap().join("etc").exists(),
            "{name}: wrote beside the store"
        );
        assert!(
            e.layers().iter().all(|l| !l.starts_with(".tmp")),
            "{name}: unpack leftovers {:?}",
            e.layers()
        );
    }
}

/// A character device in a layer is created inside the layer directory only (the container's device
/// cgroup decides access); it never lands on the host's /dev.
#[test]
fn device_nodes_stay_inside_the_layer() {
    if !require_root("device_nodes_stay_inside_the_layer") {
        return;
    }
    let reg = LocalRegistry::start();
    let e = Engine::start();
    let tmp = tempfile::tempdir().unwrap();
    let unique = format!("berth-evil-{}", std::process::id());
    let body = format!(
        "    i = tarfile.TarInfo('dev/{unique}'); i.type = tarfile.CHRTYPE; i.devmajor = 1; i.devminor = 1; t.addfile(i)\n\
         \x20   i = tarfile.TarInfo('../{unique}'); i.type = tarfile.CHRTYPE; i.devmajor = 1; i.devminor = 1; t.addfile(i)"
    );
    let layer = hostile_tar(tmp.path(), &body);
    publish(&reg, "bad/dev", &layer);
    let image = format!("{}/bad/dev:1", reg.addr);
    let out = e.berth_raw(&["image", "pull", &image]);
    assert!(!out.status.success(), "device node escaping with .. accepted");
    assert!(
        !std::path::Path::new("/dev").join(&unique).exists(),
        "device node on the host's /dev"
    );
    assert!(
        !e.root.join(&unique).exists() && !e.root.join("layers").join(&unique).exists(),
        "device node outside the layer"
    );

    let body = format!("    i = tarfile.TarInfo('dev/{unique}'); i.type = tarfile.CHRTYPE; i.devmajor = 1; i.devminor = 1; t.addfile(i)");
    let layer = hostile_tar(tmp.path(), &body);
    publish(&reg, "bad/dev2", &layer);
    let image = format!("{}/bad/dev2:1", reg.addr);
    let out = e.berth_raw(&["image", "pull", &image]);
    if out.status.success() {
        use std::os::unix::fs::FileTypeExt;
        let lower = e.inspect(&image, "{{.GraphDriver.Data.LowerDir}}").unwrap();
        let node = std::path::Path::new(&lower).join("dev").join(&unique);
        assert!(
            std::fs::symlink_metadata(&node).unwrap().file_type().is_char_device(),
            "device node not inside the layer"
        );
    } else {
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("layer"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(
        !std::path::Path::new("/dev").join(&unique).exists(),
        "device node on the host's /dev"
    );
}
