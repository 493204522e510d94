//! The differential harness of the Engine API: the same scenario runs against Debian's dockerd and berth's engine
//! (each private, see `orchestrator_support`), every response is recorded, and the two records are compared:
//! status codes, the keys of dockerd's JSON documents (each must be in berth's, with the same JSON type), and
//! the values a scenario names as ones that must agree (never ids or times).
#![allow(dead_code)]

use crate::orchestrator_support::{require_root, Engine, Kind};
use serde_json::Value;
use std::io::Write;
use std::process::{Command, Stdio};

/// The API version both engines are spoken to in (Debian's dockerd 20.10 tops out at 1.41).
pub const VERSION: &str = "v1.41";

/// Runs `scenario` on both engines and fails with every difference found.
pub fn both(test: &str, scenario: fn(&mut Api)) {
    if !require_root(test) {
        return;
    }
    // berth first: a running dockerd holds the harness lock that engine start-up takes.
    let berth = Engine::start(Kind::Berth);
    let mut b = Api::new(&berth);
    scenario(&mut b);
    let dockerd = Engine::start(Kind::Dockerd);
    let mut d = Api::new(&dockerd);
    scenario(&mut d);
    let diffs = differences(&d.seen, &b.seen);
    assert!(
        diffs.is_empty(),
        "{test}: {} difference(s) between dockerd and berth:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

/// One response as the comparison sees it.
#[derive(Debug, Clone)]
pub struct Obs {
    /// What the scenario did, e.g. `inspect running container`.
    pub label: String,
    pub status: u16,
    /// The JSON body, or the body as a string when it is not JSON.
    pub body: Value,
    /// JSON pointers whose values must be equal on both engines.
    pub agree: Vec<String>,
    /// JSON pointer prefixes left out of the key comparison (`*` matches one segment).
    pub ignore: Vec<String>,
    /// Compare the raw body bytes (streams: logs, attach, exec output).
    pub raw: Option<Vec<u8>>,
}

/// A client of one engine that records what it saw.
pub struct Api<'e> {
    pub engine: &'e Engine,
    pub seen: Vec<Obs>,
}

/// A request to send.
pub struct Req<'a> {
    pub method: &'a str,
    pub path: String,
    pub body: Option<Vec<u8>>,
    pub content_type: &'a str,
}

impl<'e> Api<'e> {
    /// A recorder for `engine`.
    pub fn new(engine: &'e Engine) -> Self {
        Api {
            engine,
            seen: Vec::new(),
        }
    }

    /// Sends a request without recording it (setup steps): status and body.
    pub fn send(&self, req: &Req) -> (u16, Vec<u8>) {
        let url = format!("http://localhost/{VERSION}{}", req.path);
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--max-time", "60", "--unix-socket"])
            .arg(&self.engine.socket)
            .args(["-X", req.method, "-o", "-", "-w", "\n%{http_code}"]);
        if req.body.is_some() {
            cmd.args(["-H", &format!("Content-Type: {}", req.content_type)])
                .args(["--data-binary", "@-"]);
        }
        let mut child = cmd
            .arg(&url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("curl");
        let mut stdin = child.stdin.take().expect("stdin");
        if let Some(b) = &req.body {
            stdin.write_all(b).expect("request body");
        }
        drop(stdin);
        let out = child.wait_with_output().expect("curl output");
        let text = out.stdout;
        let cut = text.iter().rposition(|b| *b == b'\n').unwrap_or(0);
        let status = String::from_utf8_lossy(&text[(cut + 1).min(text.len())..])
            .trim()
            .parse()
            .unwrap_or(0);
        (status, text[..cut].to_vec())
    }

    /// Records a value the scenario derived from responses (e.g. the names a filtered list returned): it must be
    /// equal on both engines.
    pub fn observe(&mut self, label: &str, value: Value) {
        self.seen.push(Obs {
            label: label.to_owned(),
            status: 0,
            body: value,
            agree: vec![String::new()],
            ignore: Vec::new(),
            raw: None,
        });
    }

    /// Sends a JSON request (or none) and records the response under `label`.
    pub fn call(&mut self, label: &str, method: &str, path: &str, body: Option<Value>) -> Rec<'_, 'e> {
        let req = Req {
            method,
            path: path.to_owned(),
            body: body.map(|b| b.to_string().into_bytes()),
            content_type: "application/json",
        };
        self.record(label, &req)
    }

    /// Sends `req` and records the response under `label`.
    pub fn record(&mut self, label: &str, req: &Req) -> Rec<'_, 'e> {
        let (status, bytes) = self.send(req);
        let body =
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        self.seen.push(Obs {
            label: label.to_owned(),
            status,
            body: body.clone(),
            agree: Vec::new(),
            ignore: Vec::new(),
            raw: None,
        });
        Rec(self)
    }
}

/// The last recorded response, to say what of it must agree.
pub struct Rec<'a, 'e>(&'a mut Api<'e>);

impl Rec<'_, '_> {
    fn last(&mut self) -> &mut Obs {
        self.0.seen.last_mut().expect("a recorded response")
    }

    /// The response body.
    pub fn body(&self) -> Value {
        self.0.seen.last().map(|o| o.body.clone()).unwrap_or_default()
    }

    /// The values at these pointers of the last response must agree.
    pub fn agree(mut self, pointers: &[&str]) -> Self {
        self.last().agree.extend(pointers.iter().map(|p| (*p).to_owned()));
        self
    }

    /// These pointer prefixes of the last response are left out of the key comparison.
    pub fn ignore(mut self, pointers: &[&str]) -> Self {
        self.last().ignore.extend(pointers.iter().map(|p| (*p).to_owned()));
        self
    }

    /// These bytes (the stream the response carried, fetched again) must agree on both engines.
    pub fn bytes(mut self, raw: Vec<u8>) -> Self {
        self.last().raw = Some(raw);
        self
    }
}

/// Every difference between dockerd's record and berth's, one line each.
pub fn differences(dockerd: &[Obs], berth: &[Obs]) -> Vec<String> {
    let mut out = Vec::new();
    if dockerd.len() != berth.len() {
        out.push(format!(
            "{} responses on dockerd, {} on berth",
            dockerd.len(),
            berth.len()
        ));
    }
    for (d, b) in dockerd.iter().zip(berth) {
        let at = &d.label;
        if d.status != b.status {
            out.push(format!(
                "{at}: status {} on dockerd, {} on berth (berth said {})",
                d.status, b.status, b.body
            ));
            continue;
        }
        let mut missing = Vec::new();
        missing_keys(&d.body, &b.body, "", &d.ignore, &mut missing);
        out.extend(missing.into_iter().map(|m| format!("{at}: {m}")));
        for p in &d.agree {
            let (dv, bv) = (d.body.pointer(p), b.body.pointer(p));
            if dv.map(without_ids) != bv.map(without_ids) {
                out.push(format!("{at}: {p} is {dv:?} on dockerd, {bv:?} on berth"));
            }
        }
        if let (Some(dr), Some(br)) = (&d.raw, &b.raw) {
            // Frames of stdout and stderr come from two pipes: their order between streams is not defined.
            let same = match (demux(dr), demux(br)) {
                (Some(a), Some(b)) => a == b,
                _ => dr == br,
            };
            if !same {
                out.push(format!(
                    "{at}: bytes differ: dockerd {:?}, berth {:?}",
                    String::from_utf8_lossy(dr),
                    String::from_utf8_lossy(br)
                ));
            }
        }
    }
    out
}

/// `v` with every 64-hex-digit id in its strings written `<id>`: ids never agree between two engines, the
/// messages around them must.
fn without_ids(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(mask_ids(s)),
        Value::Array(items) => Value::Array(items.iter().map(without_ids).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), without_ids(v))).collect()),
        other => other.clone(),
    }
}

fn mask_ids(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        out.push_str(if run.len() == 64 { "<id>" } else { run });
        run.clear();
    };
    for c in s.chars() {
        if c.is_ascii_hexdigit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// The stdout and stderr bytes of a multiplexed stream, or None when `raw` is not one.
fn demux(raw: &[u8]) -> Option<[Vec<u8>; 2]> {
    let mut out = [Vec::new(), Vec::new()];
    let mut rest = raw;
    while !rest.is_empty() {
        let (head, tail) = rest.split_at_checked(8)?;
        let kind = usize::from(head[0]);
        if !(1..=2).contains(&kind) || head[1..4] != [0, 0, 0] {
            return None;
        }
        let len = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
        let (data, next) = tail.split_at_checked(len)?;
        out[kind - 1].extend_from_slice(data);
        rest = next;
    }
    Some(out)
}

fn ignored(path: &str, ignore: &[String]) -> bool {
    ignore.iter().any(|pat| {
        let mut segs = path.split('/');
        pat.split('/').all(|p| segs.next().is_some_and(|s| p == "*" || p == s))
    })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Keys of dockerd's document missing from berth's, and values of another JSON type (dockerd's null, and an
/// empty collection against berth's null, pass: Go's encoder writes nil slices and maps as null).
fn missing_keys(d: &Value, b: &Value, path: &str, ignore: &[String], out: &mut Vec<String>) {
    if ignored(path, ignore) {
        return;
    }
    match (d, b) {
        (Value::Object(dm), Value::Object(bm)) => {
            for (k, dv) in dm {
                let p = format!("{path}/{k}");
                match bm.get(k) {
                    None if !ignored(&p, ignore) => out.push(format!("{p} missing on berth")),
                    None => {}
                    Some(bv) => missing_keys(dv, bv, &p, ignore, out),
                }
            }
        }
        (Value::Array(da), Value::Array(ba)) => {
            if let (Some(d0), Some(b0)) = (da.first(), ba.first()) {
                missing_keys(d0, b0, &format!("{path}/0"), ignore, out);
            }
        }
        (Value::Null, _) => {}
        (Value::Array(a), Value::Null) if a.is_empty() => {}
        (Value::Object(o), Value::Null) if o.is_empty() => {}
        (Value::Number(_), Value::Number(_))
        | (Value::String(_), Value::String(_))
        | (Value::Bool(_), Value::Bool(_)) => {}
        _ => out.push(format!("{path}: {} on dockerd, {} on berth", kind(d), kind(b))),
    }
}

/// A tar archive holding one file, built with the tar CLI (import bodies).
pub fn tar_with_file(name: &str, content: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join(name), content).expect("write");
    let out = Command::new("tar")
        .arg("-C")
        .arg(dir.path())
        .args(["-cf", "-", name])
        .output()
        .expect("tar");
    assert!(out.status.success(), "tar failed");
    out.stdout
}

/// `s` percent-encoded for a query string.
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
