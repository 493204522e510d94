//! Shared harness of the orchestrator tests: a private engine per test (dockerd by default, berth's engine with
//! BERTH_TEST_ENGINE=berth), the busybox fixture loaded into it, and helpers to run `berth` and read engine events.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Returns false (after a loud line) when the test cannot run here; panics instead when CI requires it.
pub fn require_root(test: &str) -> bool {
    if nix_is_root() {
        return true;
    }
    if std::env::var("BERTH_TEST_REQUIRE_ROOT").as_deref() == Ok("1") {
        panic!("{test} needs root (BERTH_TEST_REQUIRE_ROOT=1)");
    }
    eprintln!("!!! SKIPPED (needs root): {test}");
    false
}

fn nix_is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

/// A random suffix for names of everything a test makes.
pub fn suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{:x}{:x}", std::process::id(), nanos % 0xfffff)
}

/// Which engine the tests drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dockerd,
    Berth,
}

/// A private engine on its own socket, stopped when dropped.
pub struct Engine {
    pub kind: Kind,
    pub socket: PathBuf,
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// Held for the whole life of a dockerd: daemons share the host's DOCKER iptables chains, and one
    /// daemon's start or shutdown removes rules another is adding.
    _exclusive: Option<std::fs::File>,
}

impl Engine {
    /// Starts the engine chosen by BERTH_TEST_ENGINE (dockerd by default) and loads busybox into it.
    pub fn start() -> Engine {
        let kind = match std::env::var("BERTH_TEST_ENGINE").as_deref() {
            Ok("berth") => Kind::Berth,
            _ => Kind::Dockerd,
        };
        let dir = tempfile::Builder::new()
            .prefix("borch")
            .tempdir_in("/tmp")
            .expect("temp dir");
        let socket = dir.path().join("engine.sock");
        // Engines starting side by side race on shared host state: one start-up at a time, and for dockerd
        // (whose iptables chains are global) one daemon at a time.
        let lock = std::fs::File::create("/tmp/berth-test-engine.lock").expect("lock file");
        lock.lock().expect("lock");
        let child = match kind {
            Kind::Dockerd => start_dockerd(dir.path(), &socket),
            Kind::Berth => start_berth(dir.path(), &socket),
        };
        let exclusive = (kind == Kind::Dockerd).then_some(lock);
        let engine = Engine {
            kind,
            socket,
            child: Some(child),
            dir,
            _exclusive: exclusive,
        };
        engine.wait_ready();
        engine.load_busybox();
        engine
    }

    /// `unix://` address of the engine.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        // Start-up of a daemon we just spawned: nothing to subscribe to yet, so this one wait polls.
        while Instant::now() < deadline {
            if self.docker(&["version"]).status.success() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "engine {:?} did not answer on {} (log: {})",
            self.kind,
            self.socket.display(),
            self.log()
        );
    }

    /// The engine's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("engine.log")).unwrap_or_default()
    }

    fn load_busybox(&self) {
        let images = std::env::var("BERTH_TEST_IMAGES")
            .map(PathBuf::from)
            .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/images/out"));
        let tar = images.join("busybox.tar");
        if !tar.is_file() {
            let status = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/images/build.sh"))
                .arg(&images)
                .status()
                .expect("build.sh");
            assert!(status.success(), "tests/images/build.sh failed");
        }
        let out = self.docker(&["load", "-i", tar.to_str().expect("utf-8 path")]);
        assert!(
            out.status.success(),
            "docker load failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs the docker CLI against this engine.
    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .arg("-H")
            .arg(self.host())
            .args(args)
            .output()
            .expect("docker CLI")
    }

    /// Runs the docker CLI and returns stdout lines, asserting success.
    pub fn docker_lines(&self, args: &[&str]) -> Vec<String> {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Names of the containers, networks and volumes labelled with `project`.
    pub fn leftovers(&self, project: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
        let filter = format!("label=com.docker.compose.project={project}");
        (
            self.docker_lines(&["ps", "-a", "--filter", &filter, "--format", "{{.Names}}"]),
            self.docker_lines(&["network", "ls", "--filter", &filter, "--format", "{{.Name}}"]),
            self.docker_lines(&["volume", "ls", "--filter", &filter, "--format", "{{.Name}}"]),
        )
    }

    /// The project's container events between two engine times (unix seconds, fractional allowed).
    pub fn events(&self, project: &str, since: &str, until: &str) -> Vec<Event> {
        let filter = format!("label=com.docker.compose.project={project}");
        self.docker_lines(&[
            "events",
            "--since",
            since,
            "--until",
            until,
            "--filter",
            "type=container",
            "--filter",
            &filter,
            "--format",
            "{{json .}}",
        ])
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| Event {
            action: v["Action"].as_str().unwrap_or_default().to_owned(),
            name: v["Actor"]["Attributes"]["name"].as_str().unwrap_or_default().to_owned(),
            service: v["Actor"]["Attributes"]["com.docker.compose.service"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            time_nano: v["timeNano"].as_i64().unwrap_or_default(),
        })
        .collect()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // Whatever a failed test left behind goes before the engine does: containers outlive berth's engine
        // by design, and dockerd keeps the bridges of networks that still exist.
        let ids = self.docker(&["ps", "-aq"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.docker(&["rm", "-f", "-v", id]);
        }
        let _ = self.docker(&["network", "prune", "-f"]);
        let _ = self.docker(&["volume", "prune", "-f"]);
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn start_dockerd(dir: &Path, socket: &Path) -> Child {
    // A private daemon: own roots, no default bridge, no outbound masquerading, an address pool of its own so
    // bridges of parallel tests never overlap. iptables stays on: the embedded DNS (service names) needs its
    // redirect rules inside each container's namespace.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let pool = format!("base=10.{}.0.0/16,size=24", 100 + ((std::process::id() ^ nanos) % 150));
    let log = std::fs::File::create(dir.join("engine.log")).expect("log file");
    Command::new("dockerd")
        .args(["--data-root", &dir.join("data").display().to_string()])
        .args(["--exec-root", &dir.join("exec").display().to_string()])
        .args(["--pidfile", &dir.join("dockerd.pid").display().to_string()])
        .args(["-H", &format!("unix://{}", socket.display())])
        .args(["--bridge", "none", "--iptables=true", "--ip-masq=false"])
        .args(["--default-address-pool", &pool])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("dockerd (Debian's docker.io) must be installed")
}

fn start_berth(dir: &Path, socket: &Path) -> Child {
    let log = std::fs::File::create(dir.join("engine.log")).expect("log file");
    Command::new(berth_bin())
        .args(["engine", "run"])
        .env("BERTH_ROOT", dir.join("root"))
        .env("BERTH_HOST", format!("unix://{}", socket.display()))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("berth engine run")
}

/// The berth binary under test.
pub fn berth_bin() -> PathBuf {
    std::env::var("BERTH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_BIN_EXE_berth")))
}

/// A container event as the tests read it.
#[derive(Debug, Clone)]
pub struct Event {
    pub action: String,
    pub name: String,
    pub service: String,
    pub time_nano: i64,
}

/// A project directory with a compose.yaml, plus the engine to run berth against.
pub struct Stack<'e> {
    pub engine: &'e Engine,
    pub dir: tempfile::TempDir,
    pub project: String,
}

impl<'e> Stack<'e> {
    /// Writes `compose` (with `@P@` replaced by the project name) into a fresh directory.
    pub fn new(engine: &'e Engine, stem: &str, compose: &str) -> Stack<'e> {
        let project = format!("{stem}{}", suffix());
        let dir = tempfile::Builder::new()
            .prefix("borch-stack")
            .tempdir()
            .expect("temp dir");
        let stack = Stack { engine, dir, project };
        stack.write(compose);
        stack
    }

    /// Replaces the compose file.
    pub fn write(&self, compose: &str) {
        std::fs::write(
            self.dir.path().join("compose.yaml"),
            compose.replace("@P@", &self.project),
        )
        .expect("write compose.yaml");
    }

    /// Runs `berth -p <project> <args>` in the stack directory against the engine.
    pub fn berth(&self, args: &[&str]) -> Output {
        Command::new(berth_bin())
            .current_dir(self.dir.path())
            .env("DOCKER_HOST", self.engine.host())
            .env_remove("BERTH_HOST")
            .args(["-p", &self.project])
            .args(args)
            .output()
            .expect("berth binary")
    }

    /// Runs berth and asserts success, returning stdout.
    pub fn berth_ok(&self, args: &[&str]) -> String {
        let out = self.berth(args);
        assert!(
            out.status.success(),
            "berth {args:?} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Stack<'_> {
    fn drop(&mut self) {
        let _ = self.berth(&["down", "-v", "-t", "0", "--remove-orphans"]);
    }
}

/// Engine-side current time as `docker events` takes it.
pub fn now_arg() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock");
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

/// GETs `path` from 127.0.0.1:`port` and returns the body.
pub fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").expect("send");
    let mut body = String::new();
    stream.read_to_string(&mut body).expect("read");
    body
}

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}
