//! Shared harness of the privileged tests.
//!
//! Each test runs inside a fresh network namespace of its own (a private "host"): its bridges,
//! veths, routes, nft table and 127.0.0.1 are invisible to the real host and to other tests, and
//! the real host's firewall (which may drop forwarded traffic) does not interfere. Namespace files
//! are still real nsfs bind mounts in a temporary directory.
#![allow(dead_code)]

use std::future::Future;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use ipnet::Ipv4Net;
use netstack::{Config, ContainerId, InstanceTag, Netstack, NetworkId, NetworkSpec};
use rand::Rng;

/// True when the test may run; prints the loud skip line otherwise (panics under BERTH_TEST_REQUIRE_ROOT=1).
pub fn require_root(name: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    if std::env::var("BERTH_TEST_REQUIRE_ROOT").as_deref() == Ok("1") {
        panic!("{name} needs root (BERTH_TEST_REQUIRE_ROOT=1)");
    }
    eprintln!("!!! SKIPPED (needs root): {name}");
    false
}

/// Runs `f` on a thread inside a new network namespace with `lo` up, on its own tokio runtime.
pub fn isolated<F, Fut>(f: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let res = std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare netns");
        sh("ip link set lo up");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(f());
    })
    .join();
    if let Err(panic) = res {
        std::panic::resume_unwind(panic);
    }
}

/// Runs a shell command (in the caller's namespaces); returns stdout; panics on failure.
pub fn sh(cmd: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(cmd).output().expect("spawn sh");
    assert!(
        out.status.success(),
        "`{cmd}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// True when `cmd` exits 0.
pub fn sh_ok(cmd: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// A random 64-hex id.
pub fn rand_hex() -> String {
    let mut rng = rand::rng();
    (0..64)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0'))
        .collect()
}

/// A random network id.
pub fn net_id() -> NetworkId {
    rand_hex().parse().expect("hex id")
}

/// A random container id.
pub fn ctr_id() -> ContainerId {
    rand_hex().parse().expect("hex id")
}

/// A netstack for one test: private netns dir, random instance tag, DNS upstream as given.
pub struct TestStack {
    pub stack: Netstack,
    pub tag: InstanceTag,
    pub guard: MountGuard,
    pub dir: tempfile::TempDir,
}

impl TestStack {
    pub fn new(upstream: Option<std::net::SocketAddr>) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let tag = InstanceTag::new(&format!("t{}", &rand_hex()[..10])).expect("tag");
        let mut cfg = Config::new(&dir.path().join("netns"), tag.clone());
        cfg.upstream_dns = Some(upstream.into_iter().collect());
        cfg.registry_dir = dir.path().join("registry");
        let stack = Netstack::new(cfg).expect("netstack");
        let guard = MountGuard(dir.path().join("netns"));
        TestStack { stack, tag, guard, dir }
    }

    pub fn netns_dir(&self) -> PathBuf {
        self.dir.path().join("netns")
    }
}

/// Unmounts the namespace files of a test when dropped, so a failed test leaves no mounts behind
/// (the kernel objects die with the test's namespace).
pub struct MountGuard(pub PathBuf);

impl Drop for MountGuard {
    fn drop(&mut self) {
        unmount_all(&self.0);
    }
}

/// Unmounts and deletes every namespace file in `dir`.
pub fn unmount_all(dir: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let _ = netstack::netns::remove_path(&entry.path());
    }
}

/// A /24 inside 10.213.0.0/16 that no route of this namespace covers.
pub async fn free_subnet(stack: &Netstack, third_octet: u8) -> Ipv4Net {
    let net = Ipv4Net::new(Ipv4Addr::new(10, 213, third_octet, 0), 24).expect("subnet");
    let routes = stack.host_routes().await.expect("routes");
    assert!(
        !routes.iter().any(|r| matches!(r, ipnet::IpNet::V4(r) if r.prefix_len() > 0 && (r.contains(&net.network()) || net.contains(&r.network())))),
        "test subnet {net} collides with a route"
    );
    net
}

/// A network spec on `subnet` with gateway .1.
pub fn spec(id: &NetworkId, subnet: Ipv4Net, internal: bool) -> NetworkSpec {
    NetworkSpec {
        id: id.clone(),
        v4: Some((subnet, host(subnet, 1))),
        internal,
        driver: Default::default(),
        mtu: None,
        v6: None,
        bridge_opts: Default::default(),
    }
}

/// The IPv4 subnet of a spec made by [`spec`].
pub fn subnet_of(s: &NetworkSpec) -> Ipv4Net {
    s.v4.map(|(n, _)| n).unwrap_or_default()
}

/// The IPv4 gateway of a spec made by [`spec`].
pub fn gateway_of(s: &NetworkSpec) -> Ipv4Addr {
    s.v4.map(|(_, g)| g).unwrap_or(Ipv4Addr::UNSPECIFIED)
}

/// Address number `n` of `subnet`.
pub fn host(subnet: Ipv4Net, n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(subnet.network()) + n)
}

/// True when `ping` from the namespace at `ns` reaches `ip` (three tries: a fresh port may drop the first).
pub fn ping(ns: &Path, ip: Ipv4Addr) -> bool {
    (0..3).any(|_| sh_ok(&format!("nsenter --net={} ping -c1 -W1 {ip}", ns.display())))
}

/// A server thread inside a namespace; stops when dropped.
pub struct NsServer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for NsServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn ns_thread(
    ns: &Path,
    body: impl FnOnce(std::sync::Arc<std::sync::atomic::AtomicBool>, std::sync::mpsc::Sender<()>) + Send + 'static,
) -> NsServer {
    let file = std::fs::File::open(ns).expect("open netns");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let flag = stop.clone();
    let thread = std::thread::spawn(move || {
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        body(flag, ready_tx);
    });
    ready_rx
        .recv_timeout(std::time::Duration::from_secs(5))
        .expect("server ready");
    NsServer {
        stop,
        thread: Some(thread),
    }
}

/// TCP server in `ns` on `port`: answers each connection with `reply` and closes.
pub fn tcp_server_in(ns: &Path, port: u16, reply: &'static str) -> NsServer {
    ns_thread(ns, move |stop, ready| {
        let l = std::net::TcpListener::bind(("0.0.0.0", port)).expect("bind in netns");
        l.set_nonblocking(true).expect("nonblocking");
        let _ = ready.send(());
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            match l.accept() {
                Ok((mut c, _)) => {
                    use std::io::Write;
                    let _ = c.set_nonblocking(false);
                    let _ = c.write_all(reply.as_bytes());
                }
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
            }
        }
    })
}

/// UDP echo server in `ns` on `port`.
pub fn udp_echo_in(ns: &Path, port: u16) -> NsServer {
    ns_thread(ns, move |stop, ready| {
        let u = std::net::UdpSocket::bind(("0.0.0.0", port)).expect("bind in netns");
        u.set_read_timeout(Some(std::time::Duration::from_millis(20)))
            .expect("timeout");
        let _ = ready.send(());
        let mut buf = [0u8; 1500];
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            if let Ok((n, from)) = u.recv_from(&mut buf) {
                let _ = u.send_to(&buf[..n], from);
            }
        }
    })
}

/// Reads everything a TCP server at `addr` sends.
pub fn tcp_fetch(addr: std::net::SocketAddr) -> std::io::Result<String> {
    use std::io::Read;
    let mut c = std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(3))?;
    c.set_read_timeout(Some(std::time::Duration::from_secs(3)))?;
    let mut s = String::new();
    c.read_to_string(&mut s)?;
    Ok(s)
}
