//! What Docker Compose and berth send the engine for the same file, compared where it lands. One berth engine;
//! each stack is brought up by Docker Compose v2 and then by berth under the same project name, and every
//! container's, network's and volume's inspect document must agree once the values that differ by nature
//! (ids, addresses, times, random host ports, versions) are masked. The engine stores what it is sent, so a
//! difference here is one in how berth translates the file (a mount sent otherwise, a network chosen as the
//! primary one, a capability spelled differently), the class of bug no test of berth alone can see.
//! Fixtures: `tests/translation/<case>/` and `examples/every-attribute`.

#[allow(unused_macros)]
mod orchestrator_support;

use orchestrator_support::{berth_bin, docker_compose, require_root, suffix, Engine, Kind};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

#[test]
fn services_translate_as_docker_compose() {
    compare("services_translate_as_docker_compose", &fixture("services"));
}

#[test]
fn mounts_translate_as_docker_compose() {
    compare("mounts_translate_as_docker_compose", &fixture("mounts"));
}

#[test]
fn attributes_translate_as_docker_compose() {
    compare("attributes_translate_as_docker_compose", &fixture("attributes"));
}

#[test]
fn modes_and_networks_translate_as_docker_compose() {
    compare("modes_and_networks_translate_as_docker_compose", &fixture("modes"));
}

#[test]
fn every_attribute_example_translates_as_docker_compose() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/every-attribute");
    compare("every_attribute_example_translates_as_docker_compose", &dir);
}

fn fixture(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/translation")
        .join(case)
}

/// The inspect documents of a project's containers, networks and volumes, keyed by name.
struct Snapshot {
    containers: Vec<Value>,
    networks: Vec<Value>,
    volumes: Vec<Value>,
}

fn compare(test: &str, source: &Path) {
    if !require_root(test) {
        return;
    }
    let engine = Engine::start(Kind::Berth);
    let dir = tempfile::Builder::new().prefix("borch-tr").tempdir().expect("temp dir");
    copy_dir(source, dir.path());
    let project = format!("tr{}", suffix());
    let run = |tool: &Path, args: &[&str]| {
        let out = Command::new(tool)
            .current_dir(dir.path())
            .env("DOCKER_HOST", engine.host())
            .env_remove("BERTH_HOST")
            .args(["-p", &project])
            .args(args)
            .output()
            .expect("compose tool");
        assert!(
            out.status.success(),
            "{} {args:?} failed:\n{}",
            tool.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let mut snapshots = Vec::new();
    for tool in [docker_compose(), berth_bin()] {
        run(&tool, &["up", "-d"]);
        snapshots.push(snapshot(&engine, &project));
        run(&tool, &["down", "-v", "-t", "0"]);
    }
    let (compose, berth) = (&snapshots[0], &snapshots[1]);
    let mut diffs = Vec::new();
    for (what, a, b) in [
        ("container", &compose.containers, &berth.containers),
        ("network", &compose.networks, &berth.networks),
        ("volume", &compose.volumes, &berth.volumes),
    ] {
        diffs.extend(compare_docs(what, a, b));
    }
    assert!(
        diffs.is_empty(),
        "{test}: berth's engine got other settings from berth than from Docker Compose:\n{}",
        diffs.join("\n")
    );
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("fixture dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy fixture file");
        }
    }
}

fn snapshot(engine: &Engine, project: &str) -> Snapshot {
    let filter = format!("label=com.docker.compose.project={project}");
    let inspect = |list: &[&str], verb: &[&str]| -> Vec<Value> {
        let ids = engine.docker_lines(&[list, &["--filter", &filter]].concat());
        if ids.is_empty() {
            return Vec::new();
        }
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let out = engine.docker(&[verb, &ids].concat());
        assert!(
            out.status.success(),
            "{verb:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Vec<Value>>(&out.stdout).expect("inspect JSON")
    };
    Snapshot {
        containers: inspect(&["ps", "-aq"], &["inspect"]),
        networks: inspect(&["network", "ls", "-q"], &["network", "inspect"]),
        volumes: inspect(&["volume", "ls", "-q"], &["volume", "inspect"]),
    }
}

/// Paths (joined with `/`) whose values differ by nature between two runs of one stack.
const MASKED: &[&str] = &[
    "Id",
    "Created",
    "CreatedAt",
    "Image",
    "ResolvConfPath",
    "HostnamePath",
    "HostsPath",
    "LogPath",
    "GraphDriver",
    "Mountpoint",
    "Config/Hostname",
    "Containers",
    "IPAM/Config",
    "State/Pid",
    "State/StartedAt",
    "State/FinishedAt",
    "State/Health/Log",
    "NetworkSettings/SandboxID",
    "NetworkSettings/SandboxKey",
    "NetworkSettings/EndpointID",
    "NetworkSettings/IPAddress",
    "NetworkSettings/MacAddress",
    "NetworkSettings/Gateway",
    "Config/Labels/com.docker.compose.config-hash",
    "Config/Labels/com.docker.compose.version",
    "Config/Labels/com.docker.compose.image",
    "Labels/com.docker.compose.version",
    "Options/com.docker.network.bridge.name",
];

/// Masked under every network of a container: what the engine assigned.
const MASKED_ENDPOINT: &[&str] = &["EndpointID", "NetworkID", "IPAddress", "Gateway", "MacAddress"];

fn masked(path: &str) -> bool {
    if MASKED.contains(&path) {
        return true;
    }
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["NetworkSettings", "Networks", _, field] => MASKED_ENDPOINT.contains(field),
        // A port key (`81/udp`) holds a slash itself.
        ["NetworkSettings", "Ports", .., "HostPort"] => true,
        _ => false,
    }
}

fn compare_docs(what: &str, a: &[Value], b: &[Value]) -> Vec<String> {
    let key = |d: &Value| d["Name"].as_str().unwrap_or_default().to_owned();
    let mut out = Vec::new();
    for doc in a {
        let name = key(doc);
        match b.iter().find(|d| key(d) == name) {
            None => out.push(format!("{what} {name}: made by Docker Compose only")),
            Some(other) => {
                let mut found = Vec::new();
                walk(&normalise(doc), &normalise(other), "", &mut found);
                out.extend(found.into_iter().map(|d| format!("{what} {name}: {d}")));
            }
        }
    }
    for doc in b.iter().filter(|d| !a.iter().any(|x| key(x) == key(d))) {
        out.push(format!("{what} {}: made by berth only", key(doc)));
    }
    out
}

fn walk(x: &Value, y: &Value, path: &str, out: &mut Vec<String>) {
    match (x, y) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}/{k}")
                };
                if masked(&p) {
                    continue;
                }
                match (a.get(k), b.get(k)) {
                    (Some(v), Some(w)) => walk(v, w, &p, out),
                    (Some(v), None) => out.push(format!("{p}: Docker Compose {v}, berth nothing")),
                    (None, Some(w)) => out.push(format!("{p}: Docker Compose nothing, berth {w}")),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() && a.iter().chain(b).all(Value::is_object) => {
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                walk(v, w, &format!("{path}/{i}"), out);
            }
        }
        _ if x != y => out.push(format!("{path}: Docker Compose {x}, berth {y}")),
        _ => {}
    }
}

/// Orders what Docker Compose sends in Go map order (random), and blanks what names a container by id.
fn normalise(doc: &Value) -> Value {
    let mut d = doc.clone();
    sort_by_key(d.pointer_mut("/HostConfig/Mounts"), "Target");
    sort_by_key(d.pointer_mut("/Mounts"), "Destination");
    sort_by_key(d.pointer_mut("/HostConfig/Ulimits"), "Name");
    for list in ["/HostConfig/Binds", "/HostConfig/ExtraHosts", "/Config/Env"] {
        if let Some(Value::Array(items)) = d.pointer_mut(list) {
            items.sort_by_key(Value::to_string);
        }
    }
    for mode in ["IpcMode", "PidMode", "NetworkMode"] {
        let Some(m) = d.pointer_mut(&format!("/HostConfig/{mode}")) else {
            continue;
        };
        if m.as_str().is_some_and(|m| m.starts_with("container:")) {
            *m = "container:*".into();
        }
    }
    if let Some(Value::Array(from)) = d.pointer_mut("/HostConfig/VolumesFrom") {
        from.iter_mut().for_each(|f| *f = "*".into());
    }
    if let Some(Value::Array(mounts)) = d.pointer_mut("/Mounts") {
        for m in mounts.iter_mut().filter_map(Value::as_object_mut) {
            // Anonymous volumes: a fresh random name each run.
            if m.get("Name").and_then(Value::as_str).is_some_and(|n| n.len() == 64) {
                m.insert("Name".into(), "anonymous".into());
                m.insert("Source".into(), "anonymous".into());
            }
        }
    }
    for ep in endpoints(&mut d) {
        // The last name is the container's short id.
        if let Some(Value::Array(names)) = ep.get_mut("DNSNames") {
            names.pop();
        }
    }
    drop_numbered_links(&mut d);
    d
}

fn endpoints(d: &mut Value) -> impl Iterator<Item = &mut serde_json::Map<String, Value>> {
    d.pointer_mut("/NetworkSettings/Networks")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|nets| nets.values_mut())
        .filter_map(Value::as_object_mut)
}

/// Docker Compose also links `<container>:<service>-<n>` and `<container>:<container>`, with `n` the linking
/// container's own number (a quirk of its port of Compose v1): berth sends the aliases the file names only.
fn drop_numbered_links(d: &mut Value) {
    let numbered = |link: &Value| {
        let Some((container, alias)) = link.as_str().and_then(|l| l.split_once(':')) else {
            return false;
        };
        let numbered = alias.rsplit_once('-').is_some_and(|(_, n)| n.parse::<u32>().is_ok());
        numbered && container.ends_with(alias)
    };
    if let Some(Value::Array(links)) = d.pointer_mut("/HostConfig/Links") {
        links.retain(|l| !numbered(l));
    }
    for ep in endpoints(d) {
        if let Some(Value::Array(links)) = ep.get_mut("Links") {
            links.retain(|l| !numbered(l));
        }
    }
}

fn sort_by_key(list: Option<&mut Value>, key: &str) {
    if let Some(Value::Array(items)) = list {
        items.sort_by_key(|m| m[key].to_string());
    }
}
