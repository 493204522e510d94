//! Stage tests through the public loader, on small projects written to temp dirs.

use compose::{load, load_document, ErrorKind, LoadOptions};
use serde_json::{json, Value};
use std::path::Path;

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let p = dir.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("mkdir {}: {e}", parent.display()));
        }
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
    }
}

fn opts(dir: &Path, env: &[(&str, &str)]) -> LoadOptions {
    LoadOptions {
        working_dir: Some(dir.to_path_buf()),
        environment: Some(env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
        ..LoadOptions::default()
    }
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"))
}

fn doc(o: &LoadOptions) -> Value {
    load_document(o).unwrap_or_else(|e| panic!("load: {e}")).document
}

#[test]
fn extends_same_file_other_file_and_chains() {
    let d = tmp();
    write(
        d.path(),
        &[
            ("compose.yaml", "services:\n  web:\n    extends: {file: lib/common.yaml, service: mid}\n    environment: {ROLE: web}\n  worker:\n    extends: web\n    command: work\n"),
            ("lib/common.yaml", "services:\n  base:\n    image: app\n    environment: {LOG: info}\n    volumes: ['./code:/code']\n  mid:\n    extends: base\n    environment: {LOG: debug}\n"),
        ],
    );
    let v = doc(&opts(d.path(), &[]));
    let web = &v["services"]["web"];
    assert_eq!(web["image"], "app");
    assert_eq!(web["environment"], json!({"LOG": "debug", "ROLE": "web"}));
    // Paths of an extended service are relative to the file that defines it.
    let src = d.path().join("lib/code");
    assert_eq!(web["volumes"][0]["source"], json!(src.to_string_lossy()));
    assert_eq!(v["services"]["worker"]["command"], json!(["work"]));
    assert_eq!(v["services"]["worker"]["environment"]["ROLE"], "web");
}

#[test]
fn extends_cycle_is_refused_with_the_chain() {
    let d = tmp();
    write(
        d.path(),
        &[(
            "compose.yaml",
            "services:\n  a: {image: a, extends: b}\n  b: {image: b, extends: a}\n",
        )],
    );
    let e = load_document(&opts(d.path(), &[]))
        .err()
        .unwrap_or_else(|| panic!("cycle accepted"));
    assert_eq!(e.kind, ErrorKind::Reference);
    assert!(e.message.contains("a -> b -> a"), "{e}");
    assert!(e.location.is_some(), "{e}");
}

#[test]
fn include_with_env_file_and_project_directory() {
    let d = tmp();
    write(
        d.path(),
        &[
            ("compose.yaml", "include:\n  - path: sub/db.yaml\n    env_file: sub/db.env\nservices:\n  app: {image: app, depends_on: [db]}\n"),
            ("sub/db.yaml", "services:\n  db:\n    image: \"postgres:${PG}\"\n    volumes: ['./init:/init']\n"),
            ("sub/db.env", "PG=16\n"),
        ],
    );
    let v = doc(&opts(d.path(), &[]));
    assert_eq!(v["services"]["db"]["image"], "postgres:16");
    let init = d.path().join("sub/init");
    assert_eq!(
        v["services"]["db"]["volumes"][0]["source"],
        json!(init.to_string_lossy())
    );
}

#[test]
fn include_cycle_and_conflict_are_refused() {
    let d = tmp();
    write(
        d.path(),
        &[
            ("compose.yaml", "include: [other.yaml]\nservices: {a: {image: a}}\n"),
            ("other.yaml", "include: [compose.yaml]\n"),
        ],
    );
    let e = load_document(&opts(d.path(), &[]))
        .err()
        .unwrap_or_else(|| panic!("cycle accepted"));
    assert!(e.message.contains("include cycle"), "{e}");
    let d = tmp();
    write(
        d.path(),
        &[
            ("compose.yaml", "include: [other.yaml]\nservices: {a: {image: a}}\n"),
            ("other.yaml", "services: {a: {image: b}}\n"),
        ],
    );
    let e = load_document(&opts(d.path(), &[]))
        .err()
        .unwrap_or_else(|| panic!("conflict accepted"));
    assert!(e.message.contains("conflicts"), "{e}");
}

#[test]
fn override_files_merge_with_reset_and_override_tags() {
    let d = tmp();
    write(
        d.path(),
        &[
            ("compose.yaml", "services:\n  app:\n    image: app\n    ports: ['80:80']\n    environment: {A: a}\n    volumes: ['./d:/data', 'cache:/cache']\nvolumes: {cache: {}}\n"),
            ("compose.override.yaml", "services:\n  app:\n    ports: !reset []\n    environment: !override {B: b}\n    volumes: ['./e:/data']\n"),
        ],
    );
    let v = doc(&opts(d.path(), &[]));
    let app = &v["services"]["app"];
    assert!(app.get("ports").is_none());
    assert_eq!(app["environment"], json!({"B": "b"}));
    assert_eq!(app["volumes"][0]["source"], json!(d.path().join("e").to_string_lossy()));
    assert_eq!(app["volumes"][1]["source"], "cache");
}

#[test]
fn profiles_from_flag_and_environment() {
    let d = tmp();
    write(d.path(), &[("compose.yaml", "services:\n  app: {image: app}\n  dbg: {image: b, profiles: [debug]}\n  ops: {image: o, profiles: [ops]}\n")]);
    let names = |o: &LoadOptions| -> Vec<String> {
        doc(o)["services"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(names(&opts(d.path(), &[])), vec!["app"]);
    assert_eq!(names(&opts(d.path(), &[("COMPOSE_PROFILES", "debug,ops")])).len(), 3);
    let mut o = opts(d.path(), &[]);
    o.profiles = vec!["ops".into()];
    assert_eq!(names(&o), vec!["app", "ops"]);
}

/// A service a command names runs whatever the active profiles (Compose adds its profiles to them); the env
/// files of services left disabled are not read, so they may be missing.
#[test]
fn named_services_are_enabled_and_disabled_ones_read_no_env_files() {
    let d = tmp();
    let file = "services:\n  app: {image: app}\n  tool: {image: t, profiles: [tools], env_file: [tool.env]}\n  \
                other: {image: o, profiles: [tools]}\n  dbg: {image: b, profiles: [debug], env_file: [missing.env]}\n";
    write(d.path(), &[("compose.yaml", file), ("tool.env", "MODE=tool\n")]);
    let loaded = |services: &[&str]| {
        let o = LoadOptions {
            services: services.iter().map(|s| s.to_string()).collect(),
            ..opts(d.path(), &[])
        };
        doc(&o)
    };
    let plain = loaded(&[]);
    let names: Vec<&String> = plain["services"]
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    assert_eq!(
        names,
        ["app"],
        "dbg's missing env file is not read while dbg is disabled"
    );
    let with_tool = loaded(&["tool"]);
    let names: Vec<&String> = with_tool["services"]
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    assert_eq!(names, ["app", "tool", "other"], "naming tool enables its profile");
    assert_eq!(with_tool["services"]["tool"]["environment"]["MODE"], "tool");
    let o = LoadOptions {
        services: vec!["dbg".into()],
        ..opts(d.path(), &[])
    };
    let err = load_document(&o).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        err.contains("services.dbg.env_file") && err.contains("missing.env"),
        "{err}"
    );
}

#[test]
fn project_name_precedence() {
    let d = tmp();
    write(
        d.path(),
        &[
            ("compose.yaml", "name: from-file\nservices: {s: {image: s}}\n"),
            (".env", "COMPOSE_PROJECT_NAME=from-dotenv\n"),
        ],
    );
    assert_eq!(doc(&opts(d.path(), &[]))["name"], "from-dotenv");
    let mut o = opts(d.path(), &[]);
    o.project_name = Some("from-flag".into());
    assert_eq!(doc(&o)["name"], "from-flag");
    o.project_name = Some("Bad Name".into());
    assert!(load_document(&o).is_err());
}

#[test]
fn dotenv_and_env_file_feed_interpolation_and_environment() {
    let d = tmp();
    write(
        d.path(),
        &[
            ("compose.yaml", "services:\n  s:\n    image: \"s:${TAG}\"\n    env_file: [a.env, {path: missing.env, required: false}]\n    environment: [FROM_SHELL, LOCAL=1]\n"),
            (".env", "TAG=1.2 # comment\n"),
            ("a.env", "export A='x y'\nB=\"line\\nnext\"\n"),
        ],
    );
    let v = doc(&opts(d.path(), &[("FROM_SHELL", "sh")]));
    let s = &v["services"]["s"];
    assert_eq!(s["image"], "s:1.2");
    assert_eq!(
        s["environment"],
        json!({"A": "x y", "B": "line\nnext", "FROM_SHELL": "sh", "LOCAL": "1"})
    );
}

#[test]
fn errors_name_file_line_column_and_key() {
    let d = tmp();
    write(
        d.path(),
        &[(
            "compose.yaml",
            "services:\n  web:\n    image: w\n    ports: ['80:80', '81:81', 'x:y:z:w']\n",
        )],
    );
    let e = load_document(&opts(d.path(), &[]))
        .err()
        .unwrap_or_else(|| panic!("bad port accepted"));
    assert_eq!(e.key_path.as_deref(), Some("services.web.ports[2]"));
    let loc = e.location.clone().unwrap_or_else(|| panic!("no location: {e}"));
    assert_eq!(
        (loc.line, loc.file.file_name().and_then(|f| f.to_str())),
        (4, Some("compose.yaml"))
    );
    write(
        d.path(),
        &[(
            "compose.yaml",
            "services:\n  web:\n    image: w\n    enviroment: {A: 1}\n",
        )],
    );
    let e = load_document(&opts(d.path(), &[]))
        .err()
        .unwrap_or_else(|| panic!("typo accepted"));
    assert!(e.to_string().contains("did you mean \"environment\""), "{e}");
    assert!(e.to_string().contains("compose.yaml:4:5"), "{e}");
}

#[test]
fn typed_project_and_graph() {
    let d = tmp();
    write(
        d.path(),
        &[(
            "compose.yaml",
            "services:\n  front: {image: f, depends_on: {api: {condition: service_started}}, ports: ['127.0.0.1:8080:80']}\n  api: {image: a, depends_on: {db: {condition: service_healthy, restart: true}}}\n  db:\n    image: d\n    healthcheck: {test: 'pg_isready', interval: 1m30s}\n    shm_size: 64m\n    volumes: ['data:/var/lib/db']\nvolumes: {data: {}}\nx-meta: {owner: me}\n",
        )],
    );
    let p = load(&opts(d.path(), &[])).unwrap_or_else(|e| panic!("{e}"));
    let db = p.service("db").unwrap_or_else(|| panic!("no db"));
    let hc = db.healthcheck.clone().unwrap_or_default();
    assert_eq!(hc.test, vec!["CMD-SHELL", "pg_isready"]);
    assert_eq!(hc.interval.map(|d| d.0.as_secs()), Some(90));
    assert_eq!(db.shm_size.map(|b| b.0), Some(64 * 1024 * 1024));
    assert_eq!(db.volumes[0].kind, "volume");
    let front = p.service("front").unwrap_or_else(|| panic!("no front"));
    assert_eq!(front.ports[0].target, 80);
    assert_eq!(front.ports[0].published.map(|p| p.to_string()).as_deref(), Some("8080"));
    assert_eq!(p.extensions.get("x-meta"), Some(&json!({"owner": "me"})));
    let g = p.graph();
    assert_eq!(
        g.start_order().ok(),
        Some(vec!["db".into(), "api".into(), "front".into()])
    );
    assert_eq!(
        g.stop_order().ok(),
        Some(vec!["front".into(), "api".into(), "db".into()])
    );
    let dep = g.dependencies("api");
    assert_eq!(dep[0].0, "db");
    assert!(dep[0].1.restart && dep[0].1.condition == "service_healthy");
}

#[test]
fn stdin_and_multiple_files() {
    let d = tmp();
    write(d.path(), &[("base.yaml", "services:\n  a: {image: a, command: x}\n")]);
    let mut o = opts(d.path(), &[]);
    o.files = vec!["base.yaml".into(), "-".into()];
    o.stdin = Some("services:\n  a: {command: [y, z]}\n".into());
    let v = doc(&o);
    assert_eq!(v["services"]["a"]["command"], json!(["y", "z"]));
    assert_eq!(
        v["name"],
        json!(d
            .path()
            .file_name()
            .and_then(|n| n.to_str())
            .map(compose::discover::normalize_project_name))
    );
}

#[test]
fn three_tier_example_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/three-tier");
    let p = load(&LoadOptions {
        working_dir: Some(dir),
        environment: Some(Default::default()),
        ..LoadOptions::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.name, "three-tier");
    assert_eq!(
        p.graph().start_order().ok(),
        Some(vec!["cache".into(), "api".into(), "front".into()])
    );
    let api = p.service("api").and_then(|s| s.command.clone()).unwrap_or_default();
    assert_eq!(api, ["python3", "-u", "/app/app.py"]);
    // Relative bind sources resolve against the project directory.
    let bind = p
        .service("api")
        .and_then(|s| s.volumes.first())
        .and_then(|v| v.source.clone())
        .unwrap_or_default();
    assert!(
        bind.starts_with('/') && bind.ends_with("three-tier/api"),
        "api's ./api bind: {bind}"
    );
}

#[test]
fn rare_attributes_are_typed() {
    let d = tmp();
    write(
        d.path(),
        &[(
            "compose.yaml",
            r#"services:
  s:
    image: s
    devices: ["/dev/fuse", "/dev/a:/dev/b:r"]
    gpus: all
    blkio_config: {weight: 300, device_read_bps: [{path: /dev/sda, rate: 1mb}]}
    post_start: [{command: "echo hi", user: root, environment: [A=1]}]
    group_add: [mail, 42]
    ulimits: {nofile: {soft: 10, hard: 20}, nproc: 5}
    logging: {driver: json-file, options: {max-size: 10m, max-file: 3}}
    deploy:
      placement: {constraints: [node.role==manager]}
      update_config: {parallelism: 2, delay: 10s}
      resources: {reservations: {devices: [{capabilities: [gpu], count: all}]}}
    x-custom: {k: v}
"#,
        )],
    );
    let p = load(&opts(d.path(), &[])).unwrap_or_else(|e| panic!("{e}"));
    let s = p.service("s").unwrap_or_else(|| panic!("no s"));
    assert_eq!(s.devices[0].target.as_deref(), Some("/dev/fuse"));
    assert_eq!(s.devices[1].permissions.as_deref(), Some("r"));
    assert_eq!(s.post_start[0].command, Some(vec!["echo".to_owned(), "hi".to_owned()]));
    assert_eq!(s.group_add, vec!["mail", "42"]);
    assert_eq!(
        s.blkio_config
            .as_ref()
            .and_then(|b| b.device_read_bps[0].rate)
            .map(|r| r.0),
        Some(1 << 20)
    );
    assert_eq!(
        s.logging
            .as_ref()
            .and_then(|l| l.options.get("max-file").cloned().flatten())
            .as_deref(),
        Some("3")
    );
    let dep = s.deploy.clone().unwrap_or_default();
    assert_eq!(dep.update_config.and_then(|u| u.delay).map(|d| d.0.as_secs()), Some(10));
    assert_eq!(dep.placement.constraints, vec!["node.role==manager"]);
    assert!(matches!(
        s.ulimits.get("nproc"),
        Some(compose::model::Ulimit::Single(5))
    ));
    assert_eq!(s.extensions.get("x-custom"), Some(&json!({"k": "v"})));
}

#[test]
fn raw_env_file_and_located_reference_errors() {
    let d = tmp();
    write(
        d.path(),
        &[
            ("compose.yaml", "services:\n  s:\n    image: s\n    env_file: [{path: raw.env, format: raw}]\n    networks: [front, backk]\nnetworks: {front: {}, back: {}}\n"),
            ("raw.env", "Q=\"kept\" # as is\n"),
        ],
    );
    let e = load_document(&opts(d.path(), &[]))
        .err()
        .unwrap_or_else(|| panic!("undefined network accepted"));
    assert_eq!(e.key_path.as_deref(), Some("services.s.networks.backk"));
    assert!(e.message.contains("did you mean \"back\""), "{e}");
    assert_eq!(e.location.map(|l| l.line), Some(5));
    write(
        d.path(),
        &[(
            "compose.yaml",
            "services:\n  s:\n    image: s\n    env_file: [{path: raw.env, format: raw}]\n",
        )],
    );
    assert_eq!(
        doc(&opts(d.path(), &[]))["services"]["s"]["environment"]["Q"],
        "\"kept\" # as is"
    );
}
