//! Issue 7 end to end with the real docker CLI: names and aliases, isolation, published ports, network
//! commands, and no leaks after a kill -9 of the engine. Each test's engine runs in its own network
//! namespace (a host firewall with FORWARD drop must not interfere, and nothing reaches the real host);
//! the CLI talks to it over the unix socket, and curl/nc run in that namespace through nsenter.

mod engine_support;

use engine_support::{berth_bin, busybox_tar, docker_bin, mounts_under, require_root};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A named network namespace (`ip netns`), deleted on drop.
struct Netns(String);

impl Netns {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!("berth-t{}-{nanos:x}", std::process::id());
        assert!(Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .unwrap()
            .success());
        let ns = Netns(name);
        ns.sh("ip link set lo up");
        ns
    }

    fn path(&self) -> String {
        format!("/run/netns/{}", self.0)
    }

    /// Runs `sh -c cmd` inside the namespace (network only; same mounts).
    fn sh_raw(&self, cmd: &str) -> Output {
        Command::new("nsenter")
            .arg(format!("--net={}", self.path()))
            .args(["sh", "-c", cmd])
            .output()
            .unwrap()
    }

    fn sh(&self, cmd: &str) -> String {
        let o = self.sh_raw(cmd);
        assert!(
            o.status.success(),
            "`{cmd}` failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// A berth engine in its own namespace, on a temp root.
struct NsEngine {
    child: Option<Child>,
    dir: tempfile::TempDir,
    root: PathBuf,
    socket: PathBuf,
    ns: Netns,
}

impl NsEngine {
    fn start(dns_upstream: &str) -> Self {
        let dir = tempfile::Builder::new().prefix("berth-net-").tempdir().unwrap();
        let root = dir.path().join("root");
        let socket = dir.path().join("berth.sock");
        let mut e = NsEngine {
            child: None,
            dir,
            root,
            socket,
            ns: Netns::new(),
        };
        e.spawn(dns_upstream);
        e
    }

    fn spawn(&mut self, dns_upstream: &str) {
        std::fs::create_dir_all(&self.root).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("engine.log"))
            .unwrap();
        let child = Command::new("nsenter")
            .arg(format!("--net={}", self.ns.path()))
            .arg(berth_bin())
            .args(["engine", "run"])
            .env("BERTH_ROOT", &self.root)
            .env("BERTH_HOST", format!("unix://{}", self.socket.display()))
            .env("BERTH_DNS_UPSTREAMS", dns_upstream)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let end = Instant::now() + Duration::from_secs(20);
        while Instant::now() < end {
            if self.docker_raw(&["version"]).status.success() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "engine did not answer: {}",
            std::fs::read_to_string(self.dir.path().join("engine.log")).unwrap_or_default()
        );
    }

    /// Stops the engine (SIGTERM) and purges its networking (`berth engine stop --purge`) inside its namespace.
    fn stop_purge(&mut self) {
        if let Some(c) = &self.child {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
        let o = Command::new("nsenter")
            .arg(format!("--net={}", self.ns.path()))
            .arg(berth_bin())
            .args(["engine", "stop", "--purge"])
            .env("BERTH_ROOT", &self.root)
            .env("BERTH_HOST", format!("unix://{}", self.socket.display()))
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "berth engine stop --purge: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn docker_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(docker_bin());
        cmd.args(args)
            .env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .env_remove("DOCKER_CONTEXT")
            .stdin(Stdio::null());
        cmd
    }

    fn docker_raw(&self, args: &[&str]) -> Output {
        self.docker_cmd(args).output().unwrap()
    }

    fn docker(&self, args: &[&str]) -> String {
        let o = self.docker_raw(args);
        assert!(
            o.status.success(),
            "docker {args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn fails(&self, args: &[&str]) -> String {
        let o = self.docker_raw(args);
        assert!(!o.status.success(), "docker {args:?} should fail");
        String::from_utf8_lossy(&o.stderr).into_owned()
    }

    fn load_busybox(&self) {
        self.docker(&["load", "-i", busybox_tar().to_str().unwrap()]);
    }

    fn ip_of(&self, name: &str) -> String {
        self.docker(&[
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
            name,
        ])
        .trim()
        .to_owned()
    }
}

impl Drop for NsEngine {
    fn drop(&mut self) {
        if self.child.is_some() {
            let ids = self.docker_raw(&["ps", "-aq"]);
            for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
                let _ = self.docker_raw(&["rm", "-f", id]);
            }
            let _ = self.docker_raw(&["network", "prune", "-f"]);
            if let Some(c) = &self.child {
                let _ = Command::new("kill").arg(c.id().to_string()).status();
            }
            if let Some(mut c) = self.child.take() {
                let _ = c.wait();
            }
            // The namespace dies with the test, but the engine's registration and netns files must go too.
            let _ = Command::new("nsenter")
                .arg(format!("--net={}", self.ns.path()))
                .arg(berth_bin())
                .args(["engine", "stop", "--purge"])
                .env("BERTH_ROOT", &self.root)
                .env("BERTH_HOST", format!("unix://{}", self.socket.display()))
                .output();
        }
        for m in mounts_under(self.dir.path()).iter().rev() {
            let _ = Command::new("umount").args(["-l", m]).status();
        }
    }
}

/// A DNS stub on 127.0.0.1:<port> in the namespace answering every A query with 10.123.45.67.
fn dns_stub(ns: &Netns, port: u16) -> Child {
    let py = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", int(sys.argv[1])))
while True:
    q, a = s.recvfrom(512)
    end = q.index(b"\0", 12) + 5
    r = q[:2] + b"\x81\x80" + q[4:6] + b"\x00\x01\x00\x00\x00\x00" + q[12:end]
    r += b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + bytes([10, 123, 45, 67])
    s.sendto(r, a)
"#;
    Command::new("nsenter")
        .arg(format!("--net={}", ns.path()))
        .args(["python3", "-c", py, &port.to_string()])
        .spawn()
        .unwrap()
}

#[test]
fn names_aliases_isolation_and_network_commands() {
    if !require_root("names_aliases_isolation_and_network_commands") {
        return;
    }
    let e = NsEngine::start("127.0.0.1:5399");
    let mut stub = dns_stub(&e.ns, 5399);
    e.load_busybox();
    let n1 = e.docker(&["network", "create", "--subnet", "10.99.0.0/24", "n1"]);
    assert_eq!(
        e.docker(&[
            "network",
            "inspect",
            "-f",
            "{{range .IPAM.Config}}{{.Subnet}}{{end}}",
            "n1"
        ])
        .trim(),
        "10.99.0.0/24"
    );
    e.docker(&["network", "create", "n2"]);
    let httpd = "mkdir -p /w && echo page-$HOSTNAME > /w/index.html && exec httpd -f -p 80 -h /w";
    e.docker(&[
        "run",
        "-d",
        "--name",
        "a1",
        "--hostname",
        "a1",
        "--network",
        "n1",
        "--network-alias",
        "web",
        "busybox",
        "sh",
        "-c",
        httpd,
    ]);
    e.docker(&[
        "run",
        "-d",
        "--name",
        "a2",
        "--hostname",
        "a2",
        "--network",
        "n1",
        "--network-alias",
        "web",
        "busybox",
        "sh",
        "-c",
        httpd,
    ]);
    let (ip1, ip2) = (e.ip_of("a1"), e.ip_of("a2"));
    assert!(
        ip1.starts_with("10.99.0.") && ip2.starts_with("10.99.0.") && ip1 != ip2,
        "{ip1} {ip2}"
    );

    let probe = |net: &str, cmd: &str| e.docker_raw(&["run", "--rm", "--network", net, "busybox", "sh", "-c", cmd]);
    let ok = probe(
        "n1",
        "ping -c1 -W2 a1 && ping -c1 -W2 web && wget -qO- http://a1/ && wget -qO- http://a2/",
    );
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success() && out.contains("page-a1") && out.contains("page-a2"),
        "{out}{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // Two containers with the same alias: the name returns both addresses.
    let look = String::from_utf8_lossy(&probe("n1", "nslookup web").stdout).into_owned();
    assert!(look.contains(&ip1) && look.contains(&ip2), "nslookup web: {look}");
    // Unknown names go to the upstream (the stub on 127.0.0.1 of the engine's namespace).
    let fwd = String::from_utf8_lossy(&probe("n1", "nslookup outside.example").stdout).into_owned();
    assert!(fwd.contains("10.123.45.67"), "forwarded lookup: {fwd}");

    // Another network: neither names nor addresses of n1 reach.
    let iso = probe(
        "n2",
        &format!("ping -c1 -W1 a1; ping -c1 -W1 {ip1} || wget -T2 -qO- http://{ip1}/ || echo isolated"),
    );
    let out = String::from_utf8_lossy(&iso.stdout);
    assert!(out.contains("isolated") && !out.contains("page-a1"), "{out}");

    // connect/disconnect with an alias, live.
    e.docker(&[
        "run",
        "-d",
        "--name",
        "b1",
        "--network",
        "n2",
        "busybox",
        "sleep",
        "300",
    ]);
    e.docker(&["network", "connect", "--alias", "late", "n1", "b1"]);
    assert!(
        probe("n1", "ping -c1 -W2 late").status.success(),
        "alias of a connected container"
    );
    let members = e.docker(&[
        "network",
        "inspect",
        "-f",
        "{{range .Containers}}{{.Name}} {{end}}",
        "n1",
    ]);
    assert!(members.contains("b1") && members.contains("a1"), "{members}");
    assert!(
        e.fails(&["network", "rm", "n1"]).contains("active endpoints"),
        "rm in use refused"
    );
    let code = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "DELETE",
            "--unix-socket",
            e.socket.to_str().unwrap(),
        ])
        .arg(format!("http://berth/networks/{}", n1.trim()))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&code.stdout), "409");
    e.docker(&["network", "disconnect", "n1", "b1"]);
    assert!(
        !probe("n1", "ping -c1 -W1 late").status.success(),
        "alias gone after disconnect"
    );
    let _ = stub.kill();
    let _ = stub.wait();
}

#[test]
fn published_ports_tcp_range_udp_and_conflict() {
    if !require_root("published_ports_tcp_range_udp_and_conflict") {
        return;
    }
    let e = NsEngine::start("127.0.0.1:5399");
    e.load_busybox();
    e.docker(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        "127.0.0.1:18080:80",
        "busybox",
        "sh",
        "-c",
        "mkdir /w; echo hello-berth > /w/index.html; exec httpd -f -p 80 -h /w",
    ]);
    // The proxy accepts before httpd listens: poll until a body comes.
    let get = |port: u16| {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let o = e.ns.sh_raw(&format!("curl -s --max-time 3 http://127.0.0.1:{port}/"));
            if !o.stdout.is_empty() || Instant::now() > end {
                return o;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    assert_eq!(String::from_utf8_lossy(&get(18080).stdout), "hello-berth\n");
    assert_eq!(e.docker(&["port", "web", "80"]).trim(), "127.0.0.1:18080");
    let ps = e.docker(&["ps", "--filter", "name=web", "--format", "{{.Ports}}"]);
    assert_eq!(ps.trim(), "127.0.0.1:18080->80/tcp", "docker ps PORTS column");
    let err = e.fails(&[
        "run",
        "-d",
        "--name",
        "web2",
        "-p",
        "127.0.0.1:18080:80",
        "busybox",
        "sleep",
        "30",
    ]);
    assert!(err.contains("18080") && err.contains("already allocated"), "{err}");

    // A range of three tcp ports, each to its own server.
    e.docker(&[
        "run",
        "-d",
        "--name",
        "range",
        "-p",
        "127.0.0.1:18100-18102:80-82",
        "busybox",
        "sh",
        "-c",
        "for p in 80 81 82; do mkdir /w$p; echo r$p > /w$p/index.html; httpd -p $p -h /w$p; done; exec sleep 300",
    ]);
    for (host, inside) in [(18100, 80), (18101, 81), (18102, 82)] {
        assert_eq!(
            String::from_utf8_lossy(&get(host).stdout),
            format!("r{inside}\n"),
            "tcp {host}"
        );
    }

    // udp, loopback (userland proxy): one port and a range, each answered by the container.
    let helper = udp_echo_helper(e.dir.path());
    let mount = format!("{}:/udpecho:ro", helper.display());
    e.docker(&[
        "run",
        "-d",
        "--name",
        "udp",
        "-v",
        &mount,
        "-p",
        "127.0.0.1:18095:5000/udp",
        "-p",
        "127.0.0.1:18096-18097:5001-5002/udp",
        "-p",
        "18098:5003/udp",
        "busybox",
        "/udpecho",
        "5000",
        "5001",
        "5002",
        "5003",
    ]);
    assert_eq!(e.docker(&["port", "udp", "5000/udp"]).trim(), "127.0.0.1:18095");
    for (port, inside) in [(18095, 5000), (18096, 5001), (18097, 5002)] {
        assert_eq!(
            udp_ask(&e.ns, "127.0.0.1", port, "ping"),
            format!("{inside}:ping"),
            "udp 127.0.0.1:{port}"
        );
    }
    // udp to a non-loopback host address (the bridge's gateway): nft DNAT carries it, its counter moves.
    let gw = e
        .docker(&[
            "network",
            "inspect",
            "-f",
            "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
            "bridge",
        ])
        .trim()
        .to_owned();
    assert_eq!(udp_ask(&e.ns, &gw, 18098, "hi"), "5003:hi", "udp {gw}:18098");
    let chain = e.ns.sh("nft list chain ip berth ports");
    let dnat = chain
        .lines()
        .find(|l| l.contains("udp dport 18098"))
        .unwrap_or_else(|| panic!("no DNAT rule for 18098: {chain}"));
    assert!(!dnat.contains("counter packets 0 "), "DNAT rule never matched: {dnat}");
}

/// A static udp echo server (`udpecho PORT...`: answers `<port>:<payload>`), built with the host's cc.
fn udp_echo_helper(dir: &std::path::Path) -> PathBuf {
    const SRC: &str = r#"
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (i < argc - 1 && fork() != 0) continue;
        int port = atoi(argv[i]);
        int s = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
        if (bind(s, (struct sockaddr *)&a, sizeof a) != 0) { perror("bind"); return 1; }
        for (;;) {
            char in[1024], out[1100];
            struct sockaddr_in from; socklen_t fl = sizeof from;
            ssize_t n = recvfrom(s, in, sizeof in - 1, 0, (struct sockaddr *)&from, &fl);
            if (n < 0) continue;
            in[n] = 0;
            int m = snprintf(out, sizeof out, "%d:%s", port, in);
            sendto(s, out, m, 0, (struct sockaddr *)&from, fl);
        }
    }
    return 0;
}
"#;
    let src = dir.join("udpecho.c");
    let bin = dir.join("udpecho");
    std::fs::write(&src, SRC).unwrap();
    let out = Command::new("cc")
        .args(["-static", "-O2", "-o"])
        .arg(&bin)
        .arg(&src)
        .output()
        .expect("running cc (the udp test needs a C compiler with a static libc)");
    assert!(
        out.status.success(),
        "cc -static udpecho.c: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    bin
}

/// Sends `msg` to udp `ip:port` from the test namespace, resending until an answer comes (10 s).
fn udp_ask(ns: &Netns, ip: &str, port: u16, msg: &str) -> String {
    let py = r#"
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.3)
end = time.time() + 10
while time.time() < end:
    s.sendto(sys.argv[3].encode(), (sys.argv[1], int(sys.argv[2])))
    try:
        print(s.recv(2048).decode(), end=""); sys.exit(0)
    except socket.timeout:
        pass
sys.exit("no answer")
"#;
    let o = Command::new("nsenter")
        .arg(format!("--net={}", ns.path()))
        .args(["python3", "-c", py, ip, &port.to_string(), msg])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "udp {ip}:{port}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn create_with_unknown_network_is_refused_at_create() {
    if !require_root("create_with_unknown_network_is_refused_at_create") {
        return;
    }
    let e = NsEngine::start("127.0.0.1:5399");
    e.load_busybox();
    // No `--pull never` needed: the refusal is a 400, which the docker CLI does not answer with a pull.
    let err = e.fails(&["create", "--name", "lost", "--network", "nosuch-net", "busybox", "true"]);
    assert!(err.contains("network nosuch-net not found"), "{err}");
    // Through the API: a 400 from create itself, and no container left behind.
    let body = r#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"NetworkMode":"nosuch-net"}}"#;
    let o = Command::new("curl")
        .args([
            "-s",
            "-w",
            "\n%{http_code}",
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
            body,
        ])
        .arg("--unix-socket")
        .arg(&e.socket)
        .arg("http://berth/containers/create?name=lost2")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        text.ends_with("\n400") && text.contains("network nosuch-net not found"),
        "{text}"
    );
    let endpoints = r#"{"Image":"busybox","Cmd":["true"],"NetworkingConfig":{"EndpointsConfig":{"nosuch-net":{}}}}"#;
    let o = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "POST",
            "-H",
            "Content-Type: application/json",
            "-d",
            endpoints,
        ])
        .arg("--unix-socket")
        .arg(&e.socket)
        .arg("http://berth/containers/create?name=lost3")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "400",
        "EndpointsConfig naming an unknown network"
    );
    assert_eq!(e.docker(&["ps", "-aq"]).trim(), "", "nothing created");
}

/// berth's objects in the engine's namespace, counted from the kernel's own listings.
#[derive(Debug)]
struct Objects {
    /// Bridges `brt-*` (`ip -o link`).
    bridges: Vec<String>,
    /// Host-side veths `vb*`.
    veths: Vec<String>,
    /// Namespace files under the root plus nsfs mounts there.
    netns: usize,
    /// Rules of table `ip berth` by owner label (`berth:<tag>:<kind>:<id>`), base rules excluded.
    rules: Vec<String>,
    /// Whether `table ip berth` exists.
    table: bool,
    /// Routes (both families) through berth's bridges or veths.
    routes: Vec<String>,
}

fn berth_objects(e: &NsEngine) -> Objects {
    let links: Vec<String> =
        e.ns.sh("ip -o link show")
            .lines()
            .filter_map(|l| {
                l.split(": ")
                    .nth(1)
                    .map(|n| n.split('@').next().unwrap_or(n).to_owned())
            })
            .collect();
    let netns_dir = e.root.join("netns");
    let netns = std::fs::read_dir(&netns_dir).map(|rd| rd.count()).unwrap_or(0) + mounts_under(&netns_dir).len();
    let nft = e.ns.sh_raw("nft list table ip berth");
    let rules = String::from_utf8_lossy(&nft.stdout)
        .lines()
        .filter_map(|l| l.split("comment \"").nth(1))
        .map(|c| c.trim_end_matches('"').to_owned())
        .filter(|c| c != "berth:base")
        .collect();
    let routes = ["-4", "-6"]
        .iter()
        .flat_map(|fam| {
            e.ns.sh(&format!("ip -o {fam} route show table all"))
                .lines()
                .filter(|l| l.contains(" dev brt-") || l.contains(" dev vb"))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    Objects {
        routes,
        bridges: links.iter().filter(|l| l.starts_with("brt-")).cloned().collect(),
        veths: links.iter().filter(|l| l.starts_with("vb")).cloned().collect(),
        netns,
        rules,
        table: nft.status.success(),
    }
}

#[test]
fn fifty_networks_hundred_containers_kill9_no_leak() {
    if !require_root("fifty_networks_hundred_containers_kill9_no_leak") {
        return;
    }
    let mut e = NsEngine::start("127.0.0.1:5399");
    e.load_busybox();
    for i in 0..50 {
        // Explicit subnets: the default pools hold 30 networks.
        e.docker(&[
            "network",
            "create",
            "--subnet",
            &format!("10.77.{i}.0/24"),
            &format!("leak{i}"),
        ]);
    }
    for i in 0..100 {
        if i == 50 {
            // Mid-way, with containers running on several networks: the engine dies hard and comes back.
            for j in 0..3 {
                e.docker(&[
                    "run",
                    "-d",
                    "--name",
                    &format!("live{j}"),
                    "--network",
                    &format!("leak{j}"),
                    "-p",
                    &format!("127.0.0.1:{}:80", 18200 + j),
                    "busybox",
                    "sleep",
                    "300",
                ]);
            }
            e.kill9();
            e.spawn("127.0.0.1:5399");
            assert_eq!(
                e.docker(&["ps", "-q"]).lines().count(),
                3,
                "running containers re-adopted"
            );
            // kill -9 with a `network connect` in flight, at several points of it.
            for (k, delay_ms) in [0u64, 3, 10, 30].into_iter().enumerate() {
                let net = format!("leak{}", 10 + k);
                let mut connect = e
                    .docker_cmd(&["network", "connect", &net, "live0"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap();
                std::thread::sleep(Duration::from_millis(delay_ms));
                e.kill9();
                let _ = connect.wait();
                e.spawn("127.0.0.1:5399");
            }
            for j in 0..3 {
                e.docker(&["rm", "-f", &format!("live{j}")]);
            }
        }
        let net = format!("leak{}", i % 50);
        e.docker(&["run", "--rm", "--network", &net, "busybox", "true"]);
    }
    for i in 0..50 {
        e.docker(&["network", "rm", &format!("leak{i}")]);
    }
    // What is still in use: the default `bridge` network (its bridge and rules) only.
    let bridge_id = e
        .docker(&["network", "inspect", "-f", "{{.Id}}", "bridge"])
        .trim()
        .to_owned();
    let left = berth_objects(&e);
    assert_eq!(
        left.bridges,
        vec![format!("brt-{}", &bridge_id[..11])],
        "bridges: {left:?}"
    );
    assert!(left.veths.is_empty(), "veths left: {left:?}");
    assert_eq!(left.netns, 0, "namespace files or mounts left: {left:?}");
    let bridge_dev = format!(" dev brt-{} ", &bridge_id[..11]);
    assert!(
        left.routes.iter().all(|r| r.contains(&bridge_dev)),
        "routes of removed networks left: {left:?}"
    );
    assert!(
        !left.rules.is_empty(),
        "the bridge network's rules are in use: {left:?}"
    );
    assert!(
        left.rules.iter().all(|r| r.ends_with(&format!(":net:{bridge_id}"))),
        "rules of removed networks/containers left: {left:?}"
    );

    // A throwaway root: stop with --purge leaves nothing of berth's in the namespace.
    e.stop_purge();
    let after = berth_objects(&e);
    assert!(
        after.bridges.is_empty()
            && after.veths.is_empty()
            && after.netns == 0
            && after.rules.is_empty()
            && after.routes.is_empty()
            && !after.table,
        "after stop --purge: {after:?}"
    );
    let registry = std::fs::read_dir("/run/berth/netstack").into_iter().flatten().flatten();
    let root = e.root.join("netns").display().to_string();
    for r in registry {
        let text = std::fs::read_to_string(r.path()).unwrap_or_default();
        assert!(!text.ends_with(&root), "registration left: {}", r.path().display());
    }
}
