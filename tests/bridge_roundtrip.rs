//! Nothing is lost: for every service, image, command, environment, ports, replicas, mounts, healthcheck and
//! dependencies are read once from the Compose model (`berth config --format json`) and once from the
//! manifests `berth bridge convert` writes, and the two must agree.

mod bridge_support;

use bridge_support::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// What a user of the service observes, read the same way from both sides.
#[derive(Debug, Default, PartialEq)]
struct Facts {
    image: String,
    entrypoint: Option<Vec<String>>,
    command: Option<Vec<String>>,
    env: BTreeMap<String, String>,
    /// (container port, protocol)
    exposed: BTreeSet<(u64, String)>,
    /// (published port, container port, protocol)
    published: BTreeSet<(u64, u64, String)>,
    replicas: u64,
    /// (path in the container, read-only)
    mounts: BTreeSet<(String, bool)>,
    /// (argv, interval s, timeout s, retries, has start period)
    health: Option<(Vec<String>, u64, u64, u64, bool)>,
    /// (dependency, condition)
    deps: BTreeSet<(String, String)>,
}

fn strings(v: &Value) -> Option<Vec<String>> {
    v.as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_owned()).collect())
}

fn seconds(v: Option<&Value>, default: u64) -> u64 {
    let Some(s) = v.and_then(Value::as_str) else {
        return default;
    };
    // Go durations as the canonical model prints them: `1m30s`, `5s`, `500ms`.
    let (mut total, mut num) = (0f64, String::new());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let n: f64 = num.parse().unwrap();
        num.clear();
        total += match (c, chars.peek()) {
            ('m', Some('s')) => {
                chars.next();
                n / 1000.0
            }
            ('h', _) => n * 3600.0,
            ('m', _) => n * 60.0,
            ('s', _) => n,
            _ => panic!("duration {s}"),
        };
    }
    total.ceil().max(1.0) as u64
}

/// `berth config` prints a literal `$` as `$$` (its output can be loaded again); manifests escape it the
/// same way for Kubernetes' `$(VAR)` expansion, so both sides read `$$` as `$`.
fn unescape(v: &Value) -> Option<Vec<String>> {
    strings(v).map(|a| a.into_iter().map(|s| s.replace("$$", "$")).collect())
}

fn compose_facts(svc: &Value) -> Facts {
    let mut f = Facts {
        image: svc["image"].as_str().unwrap().to_owned(),
        entrypoint: unescape(&svc["entrypoint"]),
        command: unescape(&svc["command"]),
        replicas: svc["deploy"]["replicas"]
            .as_u64()
            .or(svc["scale"].as_u64())
            .unwrap_or(1),
        ..Facts::default()
    };
    for (k, v) in svc["environment"].as_object().into_iter().flatten() {
        if let Some(v) = v.as_str() {
            f.env.insert(k.clone(), v.replace("$$", "$"));
        }
    }
    for p in svc["ports"].as_array().into_iter().flatten() {
        let proto = p["protocol"].as_str().unwrap_or("tcp").to_uppercase();
        let target = p["target"].as_u64().unwrap();
        f.exposed.insert((target, proto.clone()));
        let published = p["published"].as_str().map_or(target, |s| s.parse().unwrap());
        f.published.insert((published, target, proto));
    }
    for e in svc["expose"].as_array().into_iter().flatten() {
        let e = e.as_str().unwrap();
        let (port, proto) = e.split_once('/').unwrap_or((e, "tcp"));
        f.exposed.insert((port.parse().unwrap(), proto.to_uppercase()));
    }
    for v in svc["volumes"].as_array().into_iter().flatten() {
        f.mounts.insert((
            v["target"].as_str().unwrap().to_owned(),
            v["read_only"].as_bool().unwrap_or(false),
        ));
    }
    for t in svc["tmpfs"].as_array().into_iter().flatten() {
        let t = t.as_str().unwrap();
        f.mounts.insert((t.split(':').next().unwrap().to_owned(), false));
    }
    for c in svc["configs"].as_array().into_iter().flatten() {
        let target = c["target"]
            .as_str()
            .map_or_else(|| format!("/{}", c["source"].as_str().unwrap()), str::to_owned);
        f.mounts.insert((target, true));
    }
    for s in svc["secrets"].as_array().into_iter().flatten() {
        let target = s["target"].as_str().map_or_else(
            || format!("/run/secrets/{}", s["source"].as_str().unwrap()),
            |t| {
                if t.starts_with('/') {
                    t.to_owned()
                } else {
                    format!("/run/secrets/{t}")
                }
            },
        );
        f.mounts.insert((target, true));
    }
    if !svc["shm_size"].is_null() {
        f.mounts.insert(("/dev/shm".into(), false));
    }
    let h = &svc["healthcheck"];
    if let Some(test) = unescape(&h["test"]).filter(|t| t.first().is_some_and(|k| k != "NONE")) {
        let argv = match test[0].as_str() {
            "CMD-SHELL" => vec!["/bin/sh".into(), "-c".into(), test[1..].join(" ")],
            _ => test[1..].to_vec(),
        };
        let start = !h["start_period"].is_null();
        f.health = Some((
            argv,
            seconds(h.get("interval"), 30),
            seconds(h.get("timeout"), 30),
            h["retries"].as_u64().unwrap_or(3),
            start,
        ));
    }
    for (dep, c) in svc["depends_on"].as_object().into_iter().flatten() {
        f.deps.insert((
            dep.clone(),
            c["condition"].as_str().unwrap_or("service_started").to_owned(),
        ));
    }
    f
}

fn manifest_facts(objects: &[Value], service: &str) -> Facts {
    let labelled = |o: &Value| o["metadata"]["labels"]["com.docker.compose.service"] == service;
    let workload = objects
        .iter()
        .find(|o| (o["kind"] == "Deployment" || o["kind"] == "Job") && labelled(o))
        .unwrap_or_else(|| panic!("no workload for {service}"));
    let spec = &workload["spec"];
    let pod = &spec["template"]["spec"];
    let c = &pod["containers"][0];
    let mut f = Facts {
        image: c["image"].as_str().unwrap().to_owned(),
        entrypoint: unescape(&c["command"]),
        command: unescape(&c["args"]),
        replicas: spec["replicas"].as_u64().or(spec["completions"].as_u64()).unwrap(),
        ..Facts::default()
    };
    for e in c["env"].as_array().into_iter().flatten() {
        f.env.insert(
            e["name"].as_str().unwrap().into(),
            e["value"].as_str().unwrap().replace("$$", "$"),
        );
    }
    for p in c["ports"].as_array().into_iter().flatten() {
        f.exposed.insert((
            p["containerPort"].as_u64().unwrap(),
            p["protocol"].as_str().unwrap().into(),
        ));
    }
    let lb = objects
        .iter()
        .find(|o| o["kind"] == "Service" && labelled(o) && o["spec"]["type"] == "LoadBalancer");
    for p in lb.iter().flat_map(|s| s["spec"]["ports"].as_array().unwrap()) {
        f.published.insert((
            p["port"].as_u64().unwrap(),
            p["targetPort"].as_u64().unwrap(),
            p["protocol"].as_str().unwrap().into(),
        ));
    }
    for m in c["volumeMounts"].as_array().into_iter().flatten() {
        f.mounts.insert((
            m["mountPath"].as_str().unwrap().into(),
            m["readOnly"].as_bool().unwrap_or(false),
        ));
    }
    let probe = &c["readinessProbe"];
    if !probe.is_null() {
        assert_eq!(
            probe, &c["livenessProbe"],
            "{service}: readiness and liveness probes are the healthcheck"
        );
        f.health = Some((
            strings(&probe["exec"]["command"]).unwrap(),
            probe["periodSeconds"].as_u64().unwrap(),
            probe["timeoutSeconds"].as_u64().unwrap(),
            probe["failureThreshold"].as_u64().unwrap(),
            !c["startupProbe"].is_null(),
        ));
    }
    for init in pod["initContainers"].as_array().into_iter().flatten() {
        let dep = init["name"]
            .as_str()
            .unwrap()
            .strip_prefix("wait-for-")
            .expect("wait-for-<dependency>");
        let script = init["command"][2].as_str().unwrap();
        let cond = if script.contains("--for=condition=Ready") {
            "service_healthy"
        } else if script.contains("--for=condition=complete") {
            "service_completed_successfully"
        } else {
            assert!(script.contains("nc -z") || script.contains("nslookup"), "{script}");
            "service_started"
        };
        f.deps.insert((dep.to_owned(), cond.to_owned()));
    }
    f
}

#[test]
fn nothing_is_lost_between_compose_and_manifests() {
    let mut checked = 0;
    for file in examples().into_iter().chain(fixtures()) {
        let model = canonical(&file);
        let (stream, _) = convert_stdout(&file, &[]);
        let objects = documents(&stream);
        for (name, svc) in model["services"].as_object().unwrap() {
            let want = compose_facts(svc);
            let got = manifest_facts(&objects, name);
            assert_eq!(got, want, "{}: service {name}", file.display());
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} services checked");
}
