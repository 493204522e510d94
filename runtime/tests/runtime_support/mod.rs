//! Shared helpers of the runtime tests: root check, the busybox layer, unique ids, a runtime in a temp root.
#![allow(dead_code)]

use runtime::{ContainerSpec, ProcessSpec, Runtime};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// False (with a loud line) when not root, unless BERTH_TEST_REQUIRE_ROOT=1, which makes it panic.
pub fn require_root(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var("BERTH_TEST_REQUIRE_ROOT").as_deref() == Ok("1") {
        panic!("{test} needs root (BERTH_TEST_REQUIRE_ROOT=1)");
    }
    eprintln!("!!! SKIPPED (needs root): {test}");
    false
}

/// A runtime under a fresh temp root, plus the busybox layer dir.
pub struct Fixture {
    pub root: tempfile::TempDir,
    pub layer: PathBuf,
    pub rt: Runtime,
}

impl Fixture {
    pub fn new() -> Self {
        let root = tempfile::Builder::new().prefix("berth-rt-").tempdir().unwrap();
        let layer = root.path().join("layer");
        unpack_busybox(&layer);
        let root = if std::env::var_os("BERTH_TEST_KEEP").is_some() {
            let r = root;
            eprintln!("keeping {}", r.path().display());
            tempfile::TempDir::new_in(r.keep()).unwrap()
        } else {
            root
        };
        let rt = Runtime::new(root.path()).unwrap().with_monitor_exe(berth_bin());
        Self { root, layer, rt }
    }

    /// A spec running `args` in busybox with a unique id.
    pub fn spec(&self, args: &[&str]) -> ContainerSpec {
        let id = new_id();
        ContainerSpec {
            name: format!("t-{}", &id[..8]),
            hostname: id[..12].to_owned(),
            id,
            lower_dirs: vec![self.layer.clone()],
            process: ProcessSpec {
                args: args.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// Starts, waits (blocking), returns the exit code and the log text (stdout+stderr in order).
    pub fn run(&self, spec: &ContainerSpec) -> (i32, String) {
        self.rt.start(spec).unwrap();
        let rec = block_on(self.rt.wait_monitor(&spec.id)).unwrap();
        let log = log_text(&self.rt, &spec.id);
        (rec.exit_code, log)
    }
}

pub fn log_text(rt: &Runtime, id: &str) -> String {
    runtime::logfile::read_records(&rt.log_path(id))
        .unwrap()
        .into_iter()
        .map(|r| r.log)
        .collect()
}

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// The `berth` binary that serves `__monitor`: BERTH_BIN, else the workspace's debug build.
pub fn berth_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_BIN") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/berth")
}

/// 64 random hex digits.
pub fn new_id() -> String {
    let mut b = [0u8; 32];
    std::fs::File::open("/dev/urandom").unwrap().read_exact(&mut b).unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn images_dir() -> PathBuf {
    std::env::var_os("BERTH_TEST_IMAGES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/images/out"))
}

/// Unpacks the busybox image's single layer into `dest` (building the image first when missing).
pub fn unpack_busybox(dest: &Path) {
    let mut tarball = images_dir().join("busybox.tar");
    let tmp = tempfile::tempdir().unwrap();
    if !tarball.exists() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/images/build.sh");
        let st = Command::new(script).arg(tmp.path()).status().unwrap();
        assert!(st.success(), "tests/images/build.sh failed");
        tarball = tmp.path().join("busybox.tar");
    }
    let outer = tmp.path().join("outer");
    std::fs::create_dir_all(&outer).unwrap();
    let st = Command::new("tar")
        .arg("xf")
        .arg(&tarball)
        .arg("-C")
        .arg(&outer)
        .status()
        .unwrap();
    assert!(st.success());
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(outer.join("manifest.json")).unwrap()).unwrap();
    let layer = manifest[0]["Layers"][0].as_str().unwrap();
    std::fs::create_dir_all(dest).unwrap();
    let st = Command::new("tar")
        .arg("xf")
        .arg(outer.join(layer))
        .arg("-C")
        .arg(dest)
        .status()
        .unwrap();
    assert!(st.success());
}

impl Drop for Fixture {
    /// Removes every container left by a failing test, so a failure leaks nothing either.
    fn drop(&mut self) {
        for id in self.rt.bundles().unwrap_or_default() {
            let _ = self.rt.remove(&id);
        }
    }
}

/// Lines of /proc/self/mountinfo mentioning `needle`.
pub fn mounts_with(needle: &str) -> usize {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(needle))
        .count()
}

/// Cgroup dirs named after `id` under any hierarchy.
pub fn cgroups_of(id: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        for p in [e.path().join("berth").join(id), e.path().join(id)] {
            if p.exists() {
                out.push(p);
            }
        }
    }
    out
}

/// Processes whose command line mentions `needle`.
pub fn processes_with(needle: &str) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()))
        .filter(|e| {
            std::fs::read(e.path().join("cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(needle))
                .unwrap_or(false)
        })
        .count()
}
