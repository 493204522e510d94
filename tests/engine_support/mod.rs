//! Shared helpers of the engine integration tests: root check, a berth engine in a temp root, the docker CLI.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

/// False (with a loud line) when not root, unless BERTH_TEST_REQUIRE_ROOT=1, which makes it panic.
pub fn require_root(test: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the effective uid.
    if std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(1) == 0 {
        return true;
    }
    if std::env::var("BERTH_TEST_REQUIRE_ROOT").as_deref() == Ok("1") {
        panic!("{test} needs root (BERTH_TEST_REQUIRE_ROOT=1)");
    }
    eprintln!("!!! SKIPPED (needs root): {test}");
    false
}

/// The berth binary: BERTH_BIN, else cargo's build of this package.
pub fn berth_bin() -> PathBuf {
    match std::env::var_os("BERTH_BIN") {
        Some(p) => PathBuf::from(p),
        None => assert_cmd::cargo::cargo_bin("berth"),
    }
}

/// The docker CLI: DOCKER_BIN, else `docker` on PATH.
pub fn docker_bin() -> PathBuf {
    std::env::var_os("DOCKER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("docker"))
}

/// busybox.tar: BERTH_TEST_IMAGES, else tests/images/out (built with tests/images/build.sh when missing).
pub fn busybox_tar() -> PathBuf {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        let dir = std::env::var_os("BERTH_TEST_IMAGES")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/images/out"));
        let tar = dir.join("busybox.tar");
        if !tar.exists() {
            // Build in a private dir and rename, so parallel test processes never see half a file.
            let tmp = tempfile::tempdir().unwrap();
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/images/build.sh");
            let st = Command::new(script)
                .arg(tmp.path())
                .status()
                .expect("running tests/images/build.sh");
            assert!(st.success(), "tests/images/build.sh failed");
            std::fs::create_dir_all(&dir).unwrap();
            let _ = std::fs::rename(tmp.path().join("busybox.tar"), &tar)
                .or_else(|_| std::fs::copy(tmp.path().join("busybox.tar"), &tar).map(|_| ()));
        }
        tar
    })
    .clone()
}

/// A berth engine on a temp root and its own socket (and docker config dir); on drop its containers
/// are removed and it stops with `--purge`, so its bridges, veths, netns and nft rules leave the host.
pub struct Engine {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub socket: PathBuf,
}

impl Engine {
    /// Starts a detached engine.
    pub fn start() -> Self {
        let dir = tempfile::Builder::new().prefix("berth-eng-").tempdir().unwrap();
        let root = dir.path().join("root");
        let socket = dir.path().join("berth.sock");
        let e = Engine { dir, root, socket };
        e.berth(&["engine", "start"]);
        e
    }

    /// The docker config dir of this engine's clients (and of the engine: credentials for pulls).
    pub fn docker_config(&self) -> PathBuf {
        self.dir.path().join("docker-config")
    }

    /// Points a command (berth or docker) at this engine only, whatever the caller's environment says.
    fn env(&self, c: &mut Command) {
        let host = format!("unix://{}", self.socket.display());
        c.env("BERTH_ROOT", &self.root)
            .env("BERTH_HOST", &host)
            .env("DOCKER_HOST", &host)
            .env("DOCKER_CONFIG", self.docker_config())
            .env_remove("DOCKER_CONTEXT");
    }

    /// Runs `berth <args>` against this engine; panics on failure.
    pub fn berth(&self, args: &[&str]) -> String {
        let out = self.berth_raw(args);
        assert!(
            out.status.success(),
            "berth {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `berth <args>` against this engine.
    pub fn berth_raw(&self, args: &[&str]) -> Output {
        let mut c = Command::new(berth_bin());
        c.args(args);
        self.env(&mut c);
        c.output().expect("running berth")
    }

    /// Runs the docker CLI against this engine.
    pub fn docker_raw(&self, args: &[&str]) -> Output {
        let mut c = Command::new(docker_bin());
        c.args(args);
        self.env(&mut c);
        c.output().expect("running docker")
    }

    /// Runs the docker CLI; panics on failure; returns stdout.
    pub fn docker(&self, args: &[&str]) -> String {
        let out = self.docker_raw(args);
        assert!(
            out.status.success(),
            "docker {args:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The prologue of most engine tests: None (after the loud skip line) without root, else a started engine
    /// with the busybox fixture loaded.
    pub fn with_busybox(test: &str) -> Option<Self> {
        if !require_root(test) {
            return None;
        }
        let e = Self::start();
        e.load_busybox();
        Some(e)
    }

    /// `docker run -d --name NAME --network none [OPTIONS...] busybox CMD...`; returns the container id.
    pub fn run_detached(&self, name: &str, options: &[&str], cmd: &[&str]) -> String {
        let mut args = vec!["run", "-d", "--name", name, "--network", "none"];
        args.extend_from_slice(options);
        args.push("busybox");
        args.extend_from_slice(cmd);
        self.docker(&args).trim().to_owned()
    }

    /// Loads the busybox fixture.
    pub fn load_busybox(&self) {
        let tar = busybox_tar();
        let out = self.docker(&["load", "-i", tar.to_str().unwrap()]);
        assert!(
            out.contains("Loaded image: busybox:latest"),
            "unexpected load output: {out}"
        );
    }

    /// Pid of the engine process.
    pub fn pid(&self) -> i32 {
        std::fs::read_to_string(self.root.join("engine.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    /// Removes every container, stops the engine and purges its networking from the host.
    pub fn shutdown(&self) {
        if self.berth_raw(&["engine", "status"]).status.success() {
            let ids = self.docker_raw(&["ps", "-aq", "--no-trunc"]);
            for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
                let _ = self.docker_raw(&["rm", "-f", id]);
            }
        }
        let out = self.berth_raw(&["engine", "stop", "--purge"]);
        if !out.status.success() {
            eprintln!(
                "engine_support: `berth engine stop --purge` failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// Waits until `f` holds (polling), up to `limit`.
    pub fn eventually(&self, limit: Duration, f: impl FnMut() -> bool) -> bool {
        eventually(limit, f)
    }
}

/// Polls `f` every 20 ms until it holds, up to `limit`.
pub fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + limit;
    while std::time::Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Mount points under an engine's state root that outlive what made them: all but the engine's own run-dir
/// tmpfs (`<root>/run`, there while the engine runs; `engine stop` takes it when no container is left).
pub fn leftover_mounts(root: &Path) -> Vec<String> {
    let run = root.join("run");
    mounts_under(root).into_iter().filter(|m| Path::new(m) != run).collect()
}

/// Mount points (from /proc/self/mountinfo) under `dir`.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let d = dir.to_string_lossy().into_owned();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(&d))
        .map(str::to_owned)
        .collect()
}

/// Cgroup directories named after any of `ids` (`.../berth/<id>` under every hierarchy).
pub fn cgroups_of(ids: &[String]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") else {
        return out;
    };
    let mut bases: Vec<PathBuf> = vec![PathBuf::from("/sys/fs/cgroup")];
    bases.extend(rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
    for b in bases {
        for id in ids {
            let p = b.join("berth").join(id);
            if p.exists() {
                out.push(p);
            }
        }
    }
    out
}

/// Processes whose command line mentions `needle` (e.g. the engine root: monitors carry their bundle path).
pub fn processes_mentioning(needle: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        if String::from_utf8_lossy(&cmd).contains(needle) {
            out.push(pid);
        }
    }
    out
}

/// A name suffix unique to this process and moment, so parallel tests never share object names.
pub fn suffix() -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{n:08x}{}", std::process::id())
}
