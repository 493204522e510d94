//! `GET /containers/json` with every filter dockerd takes, differentially (see engine_api_diff.rs): the same
//! containers on both engines, the names each filter lists, the statuses and messages of bad filters, and
//! which stopped containers a list without `all` still shows.

mod api_diff_support;
#[allow(unused_macros)]
mod orchestrator_support;

use api_diff_support::{both, enc, Api};
use serde_json::{json, Value};

/// The names a list answered, in its order.
fn names(body: &Value) -> Value {
    let all = body.as_array().into_iter().flatten();
    Value::Array(all.map(|c| c["Names"].clone()).collect())
}

/// Lists with `query` (a filters object, and more query text) and records the names it gave.
fn listed(api: &mut Api, label: &str, filters: Value, more: &str) {
    let path = format!("/containers/json?filters={}{more}", enc(&filters.to_string()));
    let body = api.call(label, "GET", &path, None).agree(&["/message"]).body();
    if body.is_array() {
        api.observe(&format!("{label}: names"), names(&body));
    }
}

/// A container's private ports, sorted: dockerd lists them in its map's order, which changes from run to run.
fn private_ports(container: &Value) -> Value {
    let mut ports: Vec<(u64, bool)> = container["Ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| (p["PrivatePort"].as_u64().unwrap_or(0), p.get("PublicPort").is_some()))
        .collect();
    ports.sort();
    json!(ports)
}

fn make(api: &mut Api, name: &str, body: Value) {
    api.call(
        &format!("create {name}"),
        "POST",
        &format!("/containers/create?name={name}"),
        Some(body),
    );
}

fn scenario(api: &mut Api) {
    api.call(
        "network create",
        "POST",
        "/networks/create",
        Some(json!({"Name": "lf1"})),
    );
    api.call("volume create", "POST", "/volumes/create", Some(json!({"Name": "lfv"})));
    let web = json!({
        "Image": "busybox", "Cmd": ["sleep", "300"], "Labels": {"tier": "web"},
        "ExposedPorts": {"8080/tcp": {}, "80/tcp": {}},
        "HostConfig": {"NetworkMode": "lf1", "PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}}
    });
    make(api, "lf-web", web);
    let ok =
        json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": "none", "Binds": ["lfv:/data"]}});
    make(api, "lf-ok", ok);
    let bad = json!({"Image": "busybox", "Cmd": ["sh", "-c", "exit 3"], "HostConfig": {"NetworkMode": "none"}});
    make(api, "lf-bad", bad);
    let new =
        json!({"Image": "busybox", "Cmd": ["true"], "Labels": {"tier": "db"}, "HostConfig": {"NetworkMode": "none"}});
    make(api, "lf-new", new);
    for n in ["lf-web", "lf-ok", "lf-bad"] {
        api.call("start", "POST", &format!("/containers/{n}/start"), None);
    }
    for n in ["lf-ok", "lf-bad"] {
        api.call("wait", "POST", &format!("/containers/{n}/wait"), None)
            .agree(&["/StatusCode"]);
    }
    let all = "&all=1";
    let cases = [
        ("status exited", json!({"status": ["exited"]}), all),
        ("status created", json!({"status": ["created"]}), all),
        ("status without all", json!({"status": ["exited", "running"]}), ""),
        ("exited 3", json!({"exited": ["3"]}), all),
        ("exited 0", json!({"exited": ["0"]}), all),
        ("label key", json!({"label": ["tier"]}), all),
        ("label value", json!({"label": ["tier=web"]}), all),
        ("name part", json!({"name": ["lf-"]}), all),
        ("name regex", json!({"name": ["^/lf-w"]}), all),
        ("network", json!({"network": ["lf1"]}), all),
        ("volume name", json!({"volume": ["lfv"]}), all),
        ("volume destination", json!({"volume": ["/data"]}), all),
        ("publish names the host port", json!({"publish": ["80"]}), all),
        ("expose", json!({"expose": ["8080/tcp"]}), all),
        ("expose published", json!({"expose": ["79-81"]}), all),
        ("before", json!({"before": ["lf-bad"]}), all),
        ("since", json!({"since": ["lf-ok"]}), all),
        ("since without all", json!({"since": ["lf-web"]}), ""),
        ("ancestor", json!({"ancestor": ["busybox"]}), all),
        ("ancestor unknown", json!({"ancestor": ["nosuch:1"]}), all),
        ("health none", json!({"health": ["none"]}), all),
        ("is-task false", json!({"is-task": ["false"]}), all),
        ("is-task true", json!({"is-task": ["true"]}), all),
        ("two filters", json!({"label": ["tier"], "status": ["running"]}), ""),
        ("bad key", json!({"nosuch": ["x"]}), all),
        ("bad status", json!({"status": ["sleeping"]}), all),
        ("bad health", json!({"health": ["fine"]}), all),
        ("bad is-task", json!({"is-task": ["maybe"]}), all),
    ];
    for (label, filters, more) in cases {
        listed(api, label, filters, more);
    }
    listed(api, "limit lists stopped ones", json!({}), "&limit=3");
    let body = api
        .call("list on a network", "GET", "/containers/json", None)
        .agree(&["/0/Names", "/0/NetworkSettings/Networks/lf1/Aliases"])
        .body();
    api.observe("running on lf1", names(&body));
    api.observe("ports of the running one", private_ports(&body[0]));
    for n in ["lf-web", "lf-ok", "lf-bad", "lf-new"] {
        api.call("remove", "DELETE", &format!("/containers/{n}?force=1"), None);
    }
    api.call("network remove", "DELETE", "/networks/lf1", None);
    api.call("volume remove", "DELETE", "/volumes/lfv", None);
}

#[test]
fn container_list_filters() {
    both("container_list_filters", scenario);
}
