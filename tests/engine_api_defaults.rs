//! What dockerd's create writes into a container's host config and mount points beyond what the client sent,
//! differentially (Debian's dockerd and berth's engine, see `api_diff_support`): the IPC and cgroup namespace
//! modes, the /dev/shm size, the network mode, swap at twice the memory, "unlimited" PID limit and swappiness
//! read as unset, the masked and read-only paths; and `Mounts` as inspect lists them (each mount's `Mode`,
//! `RW`, and no entry for `HostConfig.Tmpfs`); the fields dockerd writes `null` when unset; a running
//! container's sandbox.

mod api_diff_support;
#[allow(unused_macros)]
mod orchestrator_support;

use api_diff_support::{both, Api};
use serde_json::{json, Value};

/// The host config fields dockerd fills in at create.
const FILLED: &[&str] = &[
    "/HostConfig/IpcMode",
    "/HostConfig/CgroupnsMode",
    "/HostConfig/ShmSize",
    "/HostConfig/NetworkMode",
    "/HostConfig/Memory",
    "/HostConfig/MemorySwap",
    "/HostConfig/PidsLimit",
    "/HostConfig/MemorySwappiness",
    "/HostConfig/ReadonlyPaths",
];

/// Fields dockerd writes `null` for a container that sets none of them (Go nil slices, maps and pointers).
const NIL: &[&str] = &[
    "/ExecIDs",
    "/Config/Entrypoint",
    "/Config/Volumes",
    "/Config/OnBuild",
    "/HostConfig/Binds",
    "/HostConfig/CapAdd",
    "/HostConfig/Links",
    "/HostConfig/VolumesFrom",
    "/HostConfig/ExtraHosts",
];

#[test]
fn create_fills_dockerds_host_config_defaults() {
    both("create_fills_dockerds_host_config_defaults", |api| {
        let bare = json!({"Image": "busybox", "Cmd": ["true"]});
        api.call("create bare", "POST", "/containers/create?name=bare", Some(bare));
        let doc = api
            .call("inspect bare", "GET", "/containers/bare/json", None)
            .agree(FILLED)
            .agree(NIL)
            .body();
        masks_the_usual_paths(api, "bare", &doc);
        let unlimited = json!({
            "Image": "busybox",
            "Cmd": ["true"],
            "HostConfig": {"NetworkMode": "none", "Memory": 67_108_864, "PidsLimit": -1,
                           "MemorySwappiness": -1, "ShmSize": 0, "IpcMode": ""},
        });
        api.call("create limited", "POST", "/containers/create?name=lim", Some(unlimited));
        let doc = api
            .call("inspect limited", "GET", "/containers/lim/json", None)
            .agree(FILLED)
            .body();
        masks_the_usual_paths(api, "limited", &doc);
        let own = json!({
            "Image": "busybox",
            "Cmd": ["true"],
            "HostConfig": {"NetworkMode": "none", "ShmSize": 1_048_576, "IpcMode": "shareable",
                           "MaskedPaths": [], "ReadonlyPaths": ["/proc/sys"]},
        });
        api.call("create own", "POST", "/containers/create?name=own", Some(own));
        api.call("inspect own", "GET", "/containers/own/json", None)
            .agree(FILLED)
            .agree(&["/HostConfig/MaskedPaths"]);
        for name in ["bare", "lim", "own"] {
            api.call("remove", "DELETE", &format!("/containers/{name}"), None);
        }
    });
}

/// A container that sets none gets the usual masked paths (the lists differ between dockerd releases, so only
/// the ones every release masks are compared).
fn masks_the_usual_paths(api: &mut Api, label: &str, doc: &Value) {
    let masked: Vec<&str> = doc["HostConfig"]["MaskedPaths"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let usual = ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"];
    let held: Vec<&str> = usual.into_iter().filter(|p| masked.contains(p)).collect();
    api.observe(&format!("usual masked paths of {label}"), json!(held));
}

#[test]
fn mount_points_as_dockerd_lists_them() {
    both("mount_points_as_dockerd_lists_them", |api| {
        let body = json!({
            "Image": "busybox",
            "Cmd": ["true"],
            "Volumes": {"/anon": {}},
            "HostConfig": {
                "NetworkMode": "none",
                "Binds": ["dvol1:/v", "dvol2:/w:ro", "dvol3:/n:nocopy", "/tmp:/b", "/tmp:/c:ro,rshared"],
                "Mounts": [
                    {"Type": "volume", "Source": "dvol4", "Target": "/m", "ReadOnly": true},
                    {"Type": "volume", "Target": "/ma"},
                    {"Type": "bind", "Source": "/tmp", "Target": "/mb", "ReadOnly": true},
                    {"Type": "tmpfs", "Target": "/mt"},
                ],
                "Tmpfs": {"/t": "size=1m"},
            },
        });
        api.call("create", "POST", "/containers/create?name=mnt", Some(body));
        observe_mount_points(api, "mnt");
        // An inheriting container gets each mount point's type, source and flags, but no mode.
        let giver = json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {
            "NetworkMode": "none",
            "Binds": ["dvol1:/v", "/tmp:/b:ro"],
            "Mounts": [{"Type": "volume", "Source": "dvol4", "Target": "/m", "ReadOnly": true}],
        }});
        api.call("create giver", "POST", "/containers/create?name=giver", Some(giver));
        let heir = json!({"Image": "busybox", "Cmd": ["true"],
                          "HostConfig": {"NetworkMode": "none", "VolumesFrom": ["giver"]}});
        api.call("create heir", "POST", "/containers/create?name=heir", Some(heir));
        observe_mount_points(api, "heir");
        for c in ["heir", "giver"] {
            api.call("remove", "DELETE", &format!("/containers/{c}"), None);
        }
        api.call("remove", "DELETE", "/containers/mnt?v=1", None);
        for v in ["dvol1", "dvol2", "dvol3", "dvol4"] {
            api.call("remove volume", "DELETE", &format!("/volumes/{v}"), None);
        }
    });
}

/// Records the mount points of container `name` as inspect lists them.
fn observe_mount_points(api: &mut Api, name: &str) {
    // dockerd lists mount points in map order: the keys of `Mounts/0` belong to any of them, so the list is
    // left out of the key comparison and compared sorted by destination.
    let doc = api
        .call("inspect", "GET", &format!("/containers/{name}/json"), None)
        .ignore(&["/Mounts"])
        .body();
    // A bind's default propagation follows the mount namespace dockerd runs in (rslave under `ip netns exec`):
    // not compared.
    let mut points: Vec<Value> = doc["Mounts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|m| json!([m["Destination"], m["Type"], m["Mode"], m["RW"], m["Driver"]]))
        .collect();
    points.sort_by_key(|p| p[0].as_str().unwrap_or_default().to_owned());
    api.observe(&format!("mount points of {name}"), json!(points));
}

/// A running container has a sandbox: an id of 64 hex digits and a namespace path; a created one has neither.
#[test]
fn running_containers_have_a_sandbox() {
    both("running_containers_have_a_sandbox", |api| {
        let body = json!({"Image": "busybox", "Cmd": ["sleep", "300"], "HostConfig": {"NetworkMode": "none"}});
        api.call("create", "POST", "/containers/create?name=sbx", Some(body));
        let sandbox = |doc: &Value| {
            let id = doc["NetworkSettings"]["SandboxID"].as_str().unwrap_or_default();
            let key = doc["NetworkSettings"]["SandboxKey"].as_str().unwrap_or_default();
            json!([
                id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()),
                !key.is_empty()
            ])
        };
        let doc = api.call("inspect created", "GET", "/containers/sbx/json", None).body();
        api.observe("sandbox of a created container", sandbox(&doc));
        api.call("start", "POST", "/containers/sbx/start", None);
        let doc = api.call("inspect running", "GET", "/containers/sbx/json", None).body();
        api.observe("sandbox of a running container", sandbox(&doc));
        api.call("remove", "DELETE", "/containers/sbx?force=1", None);
    });
}
