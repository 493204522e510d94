//! Shared helpers of the registry tests: Debian's docker-registry on 127.0.0.1 (tests/registry.sh), its
//! access log, raw uploads with curl, a throttling proxy, fixture images, and views of a berth engine's
//! image store. The engine itself, root check and binaries come from `engine_support` (each registry test
//! declares `mod engine_support;` next to `mod registry_support;`).
#![allow(dead_code)]

#[allow(unused_imports)]
pub use super::engine_support::{berth_bin, busybox_tar, eventually, require_root, Engine};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A docker-archive with one layer per given (path, content) list, made with tests/images/mkarchive.py.
pub fn make_archive(dir: &Path, tag: &str, layers: &[Vec<(&str, Vec<u8>)>]) -> PathBuf {
    let mut args = vec![repo_root().join("tests/images/mkarchive.py").display().to_string()];
    for (i, files) in layers.iter().enumerate() {
        let root = dir.join(format!("layer{i}"));
        for (p, data) in files {
            let f = root.join(p);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(&f, data).unwrap();
        }
        let tar = dir.join(format!("layer{i}.tar"));
        let st = Command::new("tar")
            .args(["--sort=name", "--mtime=@1700000000", "--owner=0", "--group=0", "-C"])
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap();
        assert!(st.success());
        args.push("--layer".into());
        args.push(tar.display().to_string());
    }
    let out = dir.join("image.tar");
    args.extend([
        "--tag".into(),
        tag.into(),
        "--out".into(),
        out.display().to_string(),
        "--cmd".into(),
        "sh".into(),
    ]);
    let st = Command::new("python3").args(&args).status().unwrap();
    assert!(st.success(), "mkarchive.py failed");
    out
}

/// Random bytes (incompressible) for big layers.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut f = std::fs::File::open("/dev/urandom").unwrap();
    let mut v = vec![0u8; n];
    f.read_exact(&mut v).unwrap();
    v
}

/// Debian's docker-registry, on a free 127.0.0.1 port, with storage in a temp dir; stopped on drop.
pub struct LocalRegistry {
    pub dir: tempfile::TempDir,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

/// One access-log line.
#[derive(Debug, Clone)]
pub struct Hit {
    pub method: String,
    pub uri: String,
    pub status: u64,
    pub written: u64,
}

impl LocalRegistry {
    /// Without authentication.
    pub fn start() -> Self {
        Self::start_inner(None)
    }

    /// With htpasswd authentication for `user`.
    pub fn start_with_auth(user: &str, password: &str) -> Self {
        Self::start_inner(Some(format!("{user}:{password}")))
    }

    fn start_inner(auth: Option<String>) -> Self {
        let dir = tempfile::Builder::new().prefix("berth-reg-").tempdir().unwrap();
        let mut cmd = Command::new(repo_root().join("tests/registry.sh"));
        cmd.arg("start").arg(dir.path());
        if let Some(a) = auth {
            cmd.arg(a);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "registry.sh: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let addr = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        LocalRegistry { dir, addr }
    }

    /// Requests the registry answered so far.
    pub fn hits(&self) -> Vec<Hit> {
        let log = std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default();
        log.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v.get("msg").and_then(|m| m.as_str()) == Some("response completed"))
            .map(|v| Hit {
                method: v["http.request.method"].as_str().unwrap_or("").to_owned(),
                uri: v["http.request.uri"].as_str().unwrap_or("").to_owned(),
                status: v["http.response.status"].as_u64().unwrap_or(0),
                written: v["http.response.written"].as_u64().unwrap_or(0),
            })
            .collect()
    }

    /// Successful GETs of one blob.
    pub fn blob_gets(&self, digest: &str) -> Vec<Hit> {
        self.hits()
            .into_iter()
            .filter(|h| h.method == "GET" && h.uri.contains(&format!("/blobs/{digest}")) && h.status < 300)
            .collect()
    }

    /// The file holding a blob in the registry's storage.
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.dir.path().join(format!(
            "storage/docker/registry/v2/blobs/sha256/{}/{hex}/data",
            &hex[..2]
        ))
    }

    /// Uploads a blob (monolithic), returns its digest.
    pub fn put_blob(&self, repo: &str, data: &[u8]) -> String {
        use sha2::Digest;
        let digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)));
        let f = self.dir.path().join("upload.bin");
        std::fs::write(&f, data).unwrap();
        let loc = curl(&[
            "-sS",
            "-D",
            "-",
            "-o",
            "/dev/null",
            "-X",
            "POST",
            &format!("http://{}/v2/{repo}/blobs/uploads/", self.addr),
        ]);
        let loc = loc
            .lines()
            .find_map(|l| l.strip_prefix("Location: ").or_else(|| l.strip_prefix("location: ")))
            .unwrap()
            .trim()
            .to_owned();
        let url = if loc.starts_with("http") {
            loc
        } else {
            format!("http://{}{loc}", self.addr)
        };
        let sep = if url.contains('?') { '&' } else { '?' };
        curl(&[
            "-sSf",
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/octet-stream",
            "--data-binary",
            &format!("@{}", f.display()),
            &format!("{url}{sep}digest={digest}"),
        ]);
        digest
    }

    /// Uploads a manifest under `reference` (tag or digest).
    pub fn put_manifest(&self, repo: &str, reference: &str, media_type: &str, body: &[u8]) {
        let f = self.dir.path().join("manifest.json");
        std::fs::write(&f, body).unwrap();
        curl(&[
            "-sSf",
            "-X",
            "PUT",
            "-H",
            &format!("Content-Type: {media_type}"),
            "--data-binary",
            &format!("@{}", f.display()),
            &format!("http://{}/v2/{repo}/manifests/{reference}", self.addr),
        ]);
    }

    /// Fetches a manifest body.
    pub fn get_manifest(&self, repo: &str, reference: &str) -> Vec<u8> {
        let out = Command::new("curl")
            .args([
                "-sSf",
                "-H",
                "Accept: application/vnd.docker.distribution.manifest.v2+json",
                "-H",
                "Accept: application/vnd.oci.image.manifest.v1+json",
            ])
            .arg(format!("http://{}/v2/{repo}/manifests/{reference}", self.addr))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "curl manifest: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        let _ = Command::new(repo_root().join("tests/registry.sh"))
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}

fn curl(args: &[&str]) -> String {
    let out = Command::new("curl").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A TCP proxy on 127.0.0.1 that forwards to `target`, sending server bytes at most `rate` bytes/s
/// (0 = unlimited) and, while `cap` is non-zero, holding every connection once it has sent `cap`
/// bytes to its client (a download that stops midway, whatever the timing); counts bytes sent.
pub struct SlowProxy {
    pub addr: String,
    pub rate: Arc<AtomicU64>,
    pub cap: Arc<AtomicU64>,
    pub sent: Arc<AtomicU64>,
    requests: Requests,
}

/// One request a client sent through the proxy: its target and its `Range` header, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxiedRequest {
    pub method: String,
    pub uri: String,
    pub range: Option<String>,
}

type Requests = Arc<std::sync::Mutex<Vec<ProxiedRequest>>>;

/// Limits of the server-to-client direction of a proxied connection.
#[derive(Clone)]
struct Limits {
    rate: Arc<AtomicU64>,
    cap: Arc<AtomicU64>,
    sent: Arc<AtomicU64>,
}

impl SlowProxy {
    pub fn start(target: &str, rate: u64) -> Self {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let limits = Limits {
            rate: Arc::new(AtomicU64::new(rate)),
            cap: Arc::new(AtomicU64::new(0)),
            sent: Arc::new(AtomicU64::new(0)),
        };
        let requests = Requests::default();
        let (target, lim, reqs) = (target.to_owned(), limits.clone(), requests.clone());
        std::thread::spawn(move || {
            for c in l.incoming().flatten() {
                let Ok(up) = TcpStream::connect(&target) else { continue };
                let (c2, up2) = (c.try_clone().unwrap(), up.try_clone().unwrap());
                let reqs = reqs.clone();
                std::thread::spawn(move || pump(c2, up2, Side::Client(RequestLog::new(reqs))));
                let lim = lim.clone();
                std::thread::spawn(move || pump(up, c, Side::Server(lim)));
            }
        });
        SlowProxy {
            addr,
            rate: limits.rate,
            cap: limits.cap,
            sent: limits.sent,
            requests,
        }
    }

    /// GET requests of one blob that went through the proxy, in the order they were sent. Unlike the
    /// registry's access log, which lists a response only once the registry finished writing it, this
    /// holds a request as soon as the client sent it.
    pub fn blob_gets(&self, digest: &str) -> Vec<ProxiedRequest> {
        let needle = format!("/blobs/{digest}");
        let all = self.requests.lock().unwrap().clone();
        all.into_iter()
            .filter(|r| r.method == "GET" && r.uri.contains(&needle))
            .collect()
    }
}

/// Which direction a pump carries: requests from the client, or throttled responses from the server.
enum Side {
    Client(RequestLog),
    Server(Limits),
}

/// Collects the request heads of one client connection (bodies are skipped by `Content-Length`).
struct RequestLog {
    out: Requests,
    buf: Vec<u8>,
    skip: usize,
}

impl RequestLog {
    fn new(out: Requests) -> Self {
        RequestLog {
            out,
            buf: Vec::new(),
            skip: 0,
        }
    }

    fn feed(&mut self, data: &[u8]) {
        let mut pending = data.to_vec();
        loop {
            let n = self.skip.min(pending.len());
            self.skip -= n;
            pending.drain(..n);
            if pending.is_empty() {
                return;
            }
            self.buf.append(&mut pending);
            let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                return;
            };
            let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
            // What follows the head is its body, then the next request.
            pending = self.buf.split_off(end + 4);
            self.buf.clear();
            self.skip = self.record(&head);
        }
    }

    /// Records one head; returns the length of the body that follows it.
    fn record(&mut self, head: &str) -> usize {
        let mut lines = head.lines();
        let mut first = lines.next().unwrap_or("").split(' ');
        let (method, uri) = (first.next().unwrap_or(""), first.next().unwrap_or(""));
        let header = |name: &str| {
            head.lines()
                .skip(1)
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim().to_owned())
        };
        self.out.lock().unwrap().push(ProxiedRequest {
            method: method.to_owned(),
            uri: uri.to_owned(),
            range: header("range"),
        });
        header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0)
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, mut side: Side) {
    let mut buf = vec![0u8; 16 * 1024];
    let mut conn_sent = 0u64;
    loop {
        let want = match &side {
            Side::Server(l) => hold_at_cap(l, conn_sent, buf.len()),
            Side::Client(_) => buf.len(),
        };
        let n = match from.read(&mut buf[..want]) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Side::Client(log) = &mut side {
            log.feed(&buf[..n]);
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        conn_sent += n as u64;
        if let Side::Server(l) = &side {
            l.sent.fetch_add(n as u64, Ordering::Relaxed);
            let r = l.rate.load(Ordering::Relaxed);
            if r > 0 {
                std::thread::sleep(Duration::from_secs_f64(n as f64 / r as f64));
            }
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
    let _ = from.shutdown(std::net::Shutdown::Both);
}

/// Waits while the connection is at the cap; returns how many bytes it may read next.
fn hold_at_cap(l: &Limits, conn_sent: u64, max: usize) -> usize {
    loop {
        let cap = l.cap.load(Ordering::Relaxed);
        if cap == 0 {
            return max;
        }
        if conn_sent < cap {
            return max.min((cap - conn_sent) as usize);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// What the registry tests read from an engine: image inspect, loads, and its store's directories.
pub trait StoreView {
    /// `docker image inspect -f FORMAT`.
    fn inspect(&self, image: &str, format: &str) -> Option<String>;
    /// Loads an archive and tags its image as `tag`.
    fn load_as(&self, archive: &Path, source_tag: &str, tag: &str);
    /// Blob digests in the store.
    fn blobs(&self) -> Vec<String>;
    /// Unpacked layer directories (and leftovers) in the store.
    fn layers(&self) -> Vec<String>;
    /// Files in the partial-download area, with their lengths.
    fn partials(&self) -> Vec<(String, u64)>;
    /// Finished downloads not yet in the store.
    fn finished_downloads(&self) -> Vec<String>;
}

impl StoreView for Engine {
    fn inspect(&self, image: &str, format: &str) -> Option<String> {
        let out = self.docker_raw(&["image", "inspect", "-f", format, image]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    fn load_as(&self, archive: &Path, source_tag: &str, tag: &str) {
        self.berth(&["image", "load", "-i", archive.to_str().unwrap()]);
        self.docker(&["tag", source_tag, tag]);
    }

    fn blobs(&self) -> Vec<String> {
        list(&self.root.join("blobs/sha256"))
            .into_iter()
            .map(|n| format!("sha256:{n}"))
            .collect()
    }

    fn layers(&self) -> Vec<String> {
        list(&self.root.join("layers"))
    }

    fn partials(&self) -> Vec<(String, u64)> {
        let d = self.root.join("pulls/partial");
        list(&d)
            .into_iter()
            .map(|n| {
                let len = std::fs::metadata(d.join(&n)).map(|m| m.len()).unwrap_or(0);
                (n, len)
            })
            .collect()
    }

    fn finished_downloads(&self) -> Vec<String> {
        list(&self.root.join("pulls/blobs"))
    }
}

fn list(d: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(d)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// A manifest's layer digests (from the registry's copy).
pub fn manifest_layers(body: &[u8]) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    v["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_owned())
        .collect()
}
