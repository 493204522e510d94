//! Helpers shared by the privileged volume tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use volumes::{mountinfo, Volume, VolumeName, VolumeStore};

/// True when the test may run; without root it says so loudly (or fails, in CI).
pub fn require_root(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var("BERTH_TEST_REQUIRE_ROOT").as_deref() == Ok("1") {
        panic!("{test} needs root and BERTH_TEST_REQUIRE_ROOT=1");
    }
    eprintln!("!!! SKIPPED (needs root): {test}");
    false
}

/// A store in a fresh temporary state root; checks for leaked mounts when dropped.
pub struct TestStore {
    pub root: tempfile::TempDir,
    pub store: VolumeStore,
}

impl TestStore {
    pub fn new() -> Self {
        let root = tempfile::Builder::new()
            .prefix("berth-vol-test-")
            .tempdir()
            .expect("tempdir");
        let store = VolumeStore::new(root.path()).expect("store");
        TestStore { root, store }
    }

    pub fn path(&self) -> &Path {
        self.root.path()
    }

    /// A fresh directory under the test root.
    pub fn dir(&self, name: &str) -> PathBuf {
        let p = self.root.path().join(name);
        std::fs::create_dir_all(&p).expect("mkdir");
        p
    }

    /// Mounts below the test root.
    pub fn mounts(&self) -> Vec<PathBuf> {
        mountinfo::mounts_under(self.root.path()).expect("mountinfo")
    }

    /// Entries of `<root>/volumes`.
    pub fn volume_dirs(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.store.dir())
            .expect("read volumes dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    pub fn create(&self, name: &str, opts: &[(&str, &str)]) -> Volume {
        let opts = opts.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.store
            .create(Some(name.parse().expect("name")), BTreeMap::new(), opts)
            .expect("create volume")
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        let leaked = mountinfo::mounts_under(self.root.path()).unwrap_or_default();
        for m in &leaked {
            let _ = nix::mount::umount2(m, nix::mount::MntFlags::MNT_DETACH);
        }
        if !leaked.is_empty() && !std::thread::panicking() {
            panic!("leaked mounts under the test root: {leaked:?}");
        }
    }
}

/// Unmounts a target when dropped (so a failing assertion leaves no mount behind).
pub struct MountGuard(pub PathBuf);

impl Drop for MountGuard {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// A unique volume name for this test.
pub fn unique(prefix: &str) -> VolumeName {
    let n: u32 = rand_suffix();
    format!("{prefix}-{n:08x}").parse().expect("name")
}

fn rand_suffix() -> u32 {
    let name = VolumeName::generate();
    u32::from_str_radix(&name.as_str()[..8], 16).expect("hex")
}

/// Writes `len` bytes to `path`, returning the OS error number on failure.
pub fn write_bytes(path: &Path, len: usize) -> Result<(), i32> {
    use std::io::Write;
    let mut f = std::fs::File::create(path).map_err(|e| e.raw_os_error().unwrap_or(-1))?;
    let chunk = vec![0x5au8; 64 * 1024];
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len());
        f.write_all(&chunk[..n]).map_err(|e| e.raw_os_error().unwrap_or(-1))?;
        left -= n;
    }
    f.sync_all().map_err(|e| e.raw_os_error().unwrap_or(-1))
}
