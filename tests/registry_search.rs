//! `docker search` through berth's engine: the term's index (a stub `/v1/search` on 127.0.0.1) is asked with
//! the term and limit, and the answer is filtered as dockerd filters it.

mod engine_support;
use engine_support::*;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

const STUB: &str = r#"
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(sys.argv[1], "a") as f:
            f.write(self.path + "\n")
        body = json.dumps({"num_results": 2, "query": "app", "results": [
            {"name": "app-official", "description": "the one", "star_count": 7, "is_official": True, "is_automated": False},
            {"name": "app-other", "description": "", "star_count": 1, "is_official": False, "is_automated": True},
        ]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;

/// The stub index, stopped when dropped.
struct Index(Child);

impl Drop for Index {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn search_asks_the_terms_index_and_filters() {
    if !require_root("search_asks_the_terms_index_and_filters") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let asked = dir.path().join("asked");
    let mut child = Command::new("python3")
        .args(["-c", STUB])
        .arg(&asked)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _index = Index(child);
    let port = line.trim().to_owned();
    let e = Engine::start();
    let term = format!("127.0.0.1:{port}/app");
    let all = e.docker(&["search", "--format", "{{.Name}} {{.StarCount}}", &term]);
    assert_eq!(all.lines().collect::<Vec<_>>(), ["app-official 7", "app-other 1"]);
    let official = e.docker(&[
        "search",
        "--limit",
        "5",
        "--filter",
        "is-official=true",
        "--format",
        "{{.Name}}",
        &term,
    ]);
    assert_eq!(official.trim(), "app-official");
    let paths = std::fs::read_to_string(&asked).unwrap();
    assert!(paths.lines().any(|p| p == "/v1/search?q=app&n=5"), "{paths}");
    let bad = e.docker_raw(&["search", "--limit", "500", &term]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("Limit 500 is outside the range of [1, 100]"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}
