//! Issue 8 end to end: named volumes, binds, tmpfs and bad input with the real docker CLI against a berth engine.

mod engine_support;

use engine_support::{leftover_mounts, mounts_under, require_root, Engine};
use std::process::Output;

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Names of the entries of `<root>/volumes` (volume dirs, and any leftover).
fn volume_dirs(e: &Engine) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(e.root.join("volumes"))
        .map(|rd| {
            rd.flatten()
                .map(|d| d.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn named_volume_survives_and_in_use_is_refused() {
    if !require_root("named_volume_survives_and_in_use_is_refused") {
        return;
    }
    let e = Engine::start();
    e.load_busybox();
    e.docker(&["volume", "create", "vol1"]);
    e.docker(&[
        "run",
        "--rm",
        "-v",
        "vol1:/data",
        "busybox",
        "sh",
        "-c",
        "echo hi > /data/f",
    ]);
    assert_eq!(
        e.docker(&["run", "--rm", "-v", "vol1:/data", "busybox", "cat", "/data/f"]),
        "hi\n"
    );
    e.docker(&["create", "--name", "user1", "-v", "vol1:/data", "busybox", "true"]);
    let refused = e.docker_raw(&["volume", "rm", "vol1"]);
    assert!(!refused.status.success(), "volume rm while in use succeeded");
    assert!(text(&refused).contains("in use"), "{}", text(&refused));
    assert!(e.root.join("volumes/vol1").exists());
    let mounts = e.docker(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}}{{end}}",
        "user1",
    ]);
    assert_eq!(mounts.trim(), "volume vol1 /data");
    e.docker(&["rm", "user1"]);
    e.docker(&["volume", "rm", "vol1"]);
    assert!(!e.root.join("volumes/vol1").exists(), "volume directory left on disk");

    // Created without a name, a volume is anonymous (as with Docker 23+): a plain prune takes it, not a named one.
    let anon = e.docker(&["volume", "create"]).trim().to_owned();
    e.docker(&["volume", "create", "kept1"]);
    let pruned = e.docker(&["volume", "prune", "-f"]);
    assert!(pruned.contains(&anon), "{pruned}");
    let left = e.docker(&["volume", "ls", "-q"]);
    assert!(left.lines().any(|l| l == "kept1") && !left.contains(&anon), "{left}");
    e.docker(&["volume", "rm", "kept1"]);
}

#[test]
fn copy_up_read_only_bind_and_tmpfs_limit() {
    if !require_root("copy_up_read_only_bind_and_tmpfs_limit") {
        return;
    }
    let e = Engine::start();
    e.load_busybox();
    // busybox's /usr/sbin holds applet links and /root is mode 700: both seed an empty named volume.
    let n = e.docker(&[
        "run",
        "--rm",
        "-v",
        "sbinvol:/usr/sbin",
        "busybox",
        "sh",
        "-c",
        "ls /usr/sbin | wc -l",
    ]);
    assert!(n.trim().parse::<u32>().unwrap() > 0, "copy-up gave an empty dir");
    assert!(
        std::fs::read_dir(e.root.join("volumes/sbinvol/_data")).unwrap().count() > 0,
        "copy-up is on disk"
    );
    assert_eq!(
        e.docker(&[
            "run",
            "--rm",
            "-v",
            "rootvol:/root",
            "busybox",
            "stat",
            "-c",
            "%a",
            "/root"
        ])
        .trim(),
        "700"
    );
    let n = e.docker(&[
        "run",
        "--rm",
        "--mount",
        "type=volume,src=nocopyvol,dst=/usr/sbin,volume-nocopy",
        "busybox",
        "sh",
        "-c",
        "ls /usr/sbin | wc -l",
    ]);
    assert_eq!(n.trim(), "0", "nocopy still copied");

    let host = e.dir.path().join("hostdir");
    std::fs::create_dir(&host).unwrap();
    let bind = format!("{}:/h:ro", host.display());
    let ro = e.docker_raw(&["run", "--rm", "-v", &bind, "busybox", "sh", "-c", "echo x > /h/f"]);
    assert!(
        !ro.status.success() && text(&ro).contains("Read-only file system"),
        "{}",
        text(&ro)
    );
    assert!(!host.join("f").exists());

    e.docker(&[
        "run",
        "--name",
        "tmpc",
        "--mount",
        "type=tmpfs,dst=/t,tmpfs-size=1048576",
        "busybox",
        "true",
    ]);
    let full = e.docker_raw(&[
        "run",
        "--rm",
        "--mount",
        "type=tmpfs,dst=/t,tmpfs-size=1048576",
        "busybox",
        "dd",
        "if=/dev/zero",
        "of=/t/big",
        "bs=1M",
        "count=2",
    ]);
    assert!(
        !full.status.success() && text(&full).contains("No space left on device"),
        "{}",
        text(&full)
    );
    e.docker(&["rm", "tmpc"]);
    assert!(
        leftover_mounts(&e.root).is_empty(),
        "mounts left: {:?}",
        leftover_mounts(&e.root)
    );
}

#[test]
fn bad_volume_input_is_a_400_and_creates_nothing() {
    if !require_root("bad_volume_input_is_a_400_and_creates_nothing") {
        return;
    }
    let e = Engine::start();
    e.load_busybox();
    let before = volume_dirs(&e);
    let ps_before = e.docker(&["ps", "-aq"]);
    let missing = e.dir.path().join("no-such-dir");
    let bind = format!("type=bind,src={},dst=/x", missing.display());
    let cases: [&[&str]; 3] = [
        &["volume", "create", "../x"],
        &["run", "--rm", "--mount", &bind, "busybox", "true"],
        &[
            "run",
            "--rm",
            "--mount",
            "type=volume,src=subvol,dst=/x,volume-subpath=../x",
            "busybox",
            "true",
        ],
    ];
    for args in cases {
        let out = e.docker_raw(args);
        assert!(!out.status.success(), "docker {args:?} succeeded");
        // The docker CLI prints the engine's 400 message; it names what was wrong.
        let msg = text(&out);
        assert!(msg.contains("Error response from daemon"), "docker {args:?}: {msg}");
    }
    let code = std::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--unix-socket",
            e.socket.to_str().unwrap(),
        ])
        .args([
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"Name":"../x"}"#,
            "http://berth/volumes/create",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&code.stdout), "400");
    assert_eq!(volume_dirs(&e), before, "bad input left a volume");
    assert!(!missing.exists(), "the missing bind source was created");
    assert_eq!(e.docker(&["ps", "-aq"]), ps_before, "bad input left a container");
}

#[test]
fn hundred_cycles_with_engine_kill9_leak_nothing() {
    if !require_root("hundred_cycles_with_engine_kill9_leak_nothing") {
        return;
    }
    let e = Engine::start();
    e.load_busybox();
    for i in 0..100 {
        if i == 50 {
            let pid = e.pid();
            assert!(std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status()
                .unwrap()
                .success());
            assert!(
                e.eventually(std::time::Duration::from_secs(10), || !std::path::Path::new(&format!(
                    "/proc/{pid}"
                ))
                .exists())
            );
            e.berth(&["engine", "start"]);
        }
        let vol = format!("cyc{i}");
        e.docker(&["volume", "create", &vol]);
        let bind = format!("{vol}:/d");
        e.docker(&[
            "run",
            "--rm",
            "-v",
            &bind,
            "--mount",
            "type=tmpfs,dst=/t",
            "busybox",
            "sh",
            "-c",
            "echo $0 > /d/f",
            &vol,
        ]);
        e.docker(&["volume", "rm", &vol]);
    }
    e.docker(&["volume", "prune", "-af"]);
    assert_eq!(volume_dirs(&e), Vec::<String>::new(), "orphan volume directories");
    let leaked: Vec<String> = mounts_under(&e.root)
        .into_iter()
        .filter(|m| m.contains("/volumes"))
        .collect();
    assert!(leaked.is_empty(), "leaked volume mounts: {leaked:?}");
    assert_eq!(e.docker(&["ps", "-aq"]).trim(), "");
}
