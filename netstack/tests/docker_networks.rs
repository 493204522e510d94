//! The engine's network endpoints through the real docker CLI (needs root, BERTH_BIN, the docker
//! CLI and BERTH_TEST_IMAGES). Engine and CLI run inside the test's private network namespace.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};

use common::*;

struct Engine {
    child: Child,
}

impl Drop for Engine {
    /// Stops the engine as an operator would (SIGTERM), so it unmounts its run-dir tmpfs; SIGKILL after 10 s.
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Unmounts the engine's run-dir tmpfs if the engine could not (killed, or a panic before its stop), so the
/// temp root can go.
struct RunDirGuard(PathBuf);

impl Drop for RunDirGuard {
    fn drop(&mut self) {
        if std::fs::read_to_string("/proc/self/mountinfo").is_ok_and(|m| m.contains(&*self.0.to_string_lossy())) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

fn start_engine(bin: &Path, root: &Path) -> Engine {
    let log = std::fs::File::create(root.join("engine.log")).unwrap();
    let child = Command::new(bin)
        .args(["engine", "run"])
        .env("BERTH_ROOT", root)
        .env("BERTH_HOST", format!("unix://{}/berth.sock", root.display()))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let engine = Engine { child };
    for _ in 0..100 {
        if sh_ok(&format!(
            "curl -sf --unix-socket {}/berth.sock http://berth/_ping",
            root.display()
        )) {
            return engine;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!(
        "engine did not answer: {}",
        std::fs::read_to_string(root.join("engine.log")).unwrap_or_default()
    );
}

fn docker(root: &Path, args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .env("DOCKER_HOST", format!("unix://{}/berth.sock", root.display()))
        .output()
        .unwrap()
}

fn ok(root: &Path, args: &[&str]) -> String {
    let out = docker(root, args);
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn fails(root: &Path, args: &[&str]) -> String {
    let out = docker(root, args);
    assert!(!out.status.success(), "docker {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).to_string()
}

fn prerequisites(name: &str) -> Option<(PathBuf, PathBuf)> {
    if !require_root(name) {
        return None;
    }
    let bin = std::env::var_os("BERTH_BIN").map(PathBuf::from);
    let images = std::env::var_os("BERTH_TEST_IMAGES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("../tests/images/out"));
    match bin {
        Some(b) if b.exists() && sh_ok("command -v docker") && images.join("busybox.tar").exists() => Some((b, images)),
        _ => {
            if std::env::var("BERTH_TEST_REQUIRE_ROOT").as_deref() == Ok("1") {
                panic!("{name} needs BERTH_BIN, the docker CLI and BERTH_TEST_IMAGES/busybox.tar");
            }
            eprintln!("!!! SKIPPED (needs BERTH_BIN, docker CLI, busybox.tar): {name}");
            None
        }
    }
}

#[test]
fn docker_network_commands() {
    let Some((bin, images)) = prerequisites("docker_network_commands") else {
        return;
    };
    isolated(move || async move {
        let root_dir = tempfile::tempdir().unwrap();
        let root = root_dir.path().to_path_buf();
        let _mounts = MountGuard(root.join("netns"));
        let _run = RunDirGuard(root.join("run"));
        let engine = start_engine(&bin, &root);

        assert!(ok(&root, &["network", "ls", "--format", "{{.Name}}"])
            .lines()
            .any(|l| l == "bridge"));
        let id = ok(
            &root,
            &["network", "create", "--subnet", "10.99.0.0/24", "--label", "t=1", "n1"],
        );
        assert_eq!(id.len(), 64);
        let ipam = ok(
            &root,
            &[
                "network",
                "inspect",
                "n1",
                "--format",
                "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}",
            ],
        );
        assert_eq!(ipam, "10.99.0.0/24 10.99.0.1");
        assert!(
            sh(&format!("ip -o addr show brt-{}", &id[..11])).contains("10.99.0.1/24"),
            "bridge has the gateway address"
        );
        assert!(fails(&root, &["network", "create", "n1"]).contains("already exists"));
        assert!(fails(&root, &["network", "create", "--subnet", "10.99.0.128/25", "n3"]).contains("overlaps"));
        assert!(fails(&root, &["network", "create", "--subnet", "10.99.0.0/33", "n4"]).contains("Subnet"));
        assert_eq!(
            ok(
                &root,
                &["network", "ls", "--filter", "label=t=1", "--format", "{{.Name}}"]
            ),
            "n1"
        );

        ok(&root, &["load", "-i", images.join("busybox.tar").to_str().unwrap()]);
        ok(&root, &["create", "--name", "c1", "busybox", "sleep", "100"]);
        ok(
            &root,
            &["network", "connect", "--alias", "web", "--ip", "10.99.0.50", "n1", "c1"],
        );
        let members = ok(
            &root,
            &[
                "network",
                "inspect",
                "n1",
                "--format",
                "{{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}}",
            ],
        );
        assert_eq!(members, "c1 10.99.0.50/24");
        assert!(fails(&root, &["network", "connect", "n1", "c1"]).contains("already exists"));

        // In use: refused with 409.
        assert!(fails(&root, &["network", "rm", "n1"]).contains("active endpoints"));
        let code = sh(&format!(
            "curl -s -o /dev/null -w '%{{http_code}}' -X DELETE --unix-socket {}/berth.sock http://berth/v1.47/networks/n1",
            root.display()
        ));
        assert_eq!(code, "409");

        ok(&root, &["network", "disconnect", "n1", "c1"]);
        ok(&root, &["network", "rm", "n1"]);
        assert!(
            !sh("ip -o link").contains(&format!("brt-{}", &id[..11])),
            "bridge removed with the network"
        );
        assert!(fails(&root, &["network", "rm", "bridge"]).contains("pre-defined"));

        ok(&root, &["network", "create", "n2"]);
        let kept = ok(&root, &["network", "create", "--internal", "n5"]);
        ok(&root, &["network", "connect", "n5", "c1"]);
        assert_eq!(
            ok(&root, &["network", "prune", "-f"])
                .lines()
                .filter(|l| *l == "n2")
                .count(),
            1
        );

        // Restart: networks and endpoints persist, bridges come back.
        drop(engine);
        let run = root.join("run").display().to_string();
        assert!(
            !std::fs::read_to_string("/proc/self/mountinfo").unwrap().contains(&run),
            "an engine that stops with no container running unmounts its run dir"
        );
        sh(&format!("ip link del brt-{}", &kept[..11]));
        let _engine = start_engine(&bin, &root);
        let names = ok(&root, &["network", "ls", "--format", "{{.Name}}"]);
        assert!(names.contains("n5") && !names.contains("n2"), "{names}");
        assert!(
            sh("ip -o link").contains(&format!("brt-{}", &kept[..11])),
            "bridge re-made at start"
        );
        assert_eq!(
            ok(
                &root,
                &[
                    "network",
                    "inspect",
                    "n5",
                    "--format",
                    "{{.Internal}} {{len .Containers}}"
                ]
            ),
            "true 1"
        );
    });
}
