//! The Engine API, differentially: each endpoint family's scenario runs against Debian's dockerd and berth's
//! engine (both private, see `orchestrator_support`), and the responses must agree in status code, in the keys
//! of every JSON document dockerd returns (with their JSON types) and in the values that do not depend on
//! the engine (names, commands, labels, counts, stream bytes). Deliberate differences are listed in
//! docs/compose-differences.md.

mod api_diff_support;
#[allow(unused_macros)]
mod orchestrator_support;

use api_diff_support::{both, enc, tar_with_file, Req};
use serde_json::{json, Value};

fn id_of(v: &Value) -> String {
    v["Id"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn system_swarm_and_plugins() {
    both("system_swarm_and_plugins", |api| {
        api.call("ping", "GET", "/_ping", None).agree(&[""]);
        api.call("version", "GET", "/version", None)
            .agree(&["/Os"])
            .ignore(&["/Platform", "/Components"]);
        api.call("info", "GET", "/info", None)
            .agree(&["/OSType", "/Swarm/LocalNodeState"])
            .ignore(&[
                "/Plugins",
                "/Runtimes",
                "/RegistryConfig",
                "/GenericResources",
                "/Warnings",
                // The harness gives its dockerd a pool (listed then); berth's pools are the defaults, which
                // dockerd lists as null.
                "/DefaultAddressPools",
            ]);
        api.call("system df", "GET", "/system/df", None)
            .ignore(&["/Images/0/Id", "/Images/0/Created"])
            .agree(&["/Images/0/RepoTags", "/Containers", "/Volumes", "/BuildCache"]);
        api.call("unknown path", "GET", "/nosuch/endpoint", None)
            .agree(&["/message"]);
        for path in ["/swarm", "/nodes", "/services", "/tasks", "/secrets", "/configs"] {
            api.call(&format!("GET {path} outside a swarm"), "GET", path, None)
                .agree(&["/message"]);
        }
        api.call("swarm leave outside a swarm", "POST", "/swarm/leave", None)
            .agree(&["/message"]);
        api.call("swarm unlockkey", "GET", "/swarm/unlockkey", None)
            .agree(&["/message"]);
        api.call(
            "service create outside a swarm",
            "POST",
            "/services/create",
            Some(json!({})),
        );
        api.call("plugins", "GET", "/plugins", None).agree(&[""]);
        api.call("plugin inspect missing", "GET", "/plugins/nosuch/json", None);
    });
}

#[test]
fn containers() {
    both("containers", |api| {
        let base = json!({"Image": "busybox", "HostConfig": {"NetworkMode": "none"}});
        let mut long = base.clone();
        long["Cmd"] = json!(["sh", "-c", "echo out; echo err >&2; exec sleep 300"]);
        long["Labels"] = json!({"diff": "yes"});
        let c1 = id_of(
            &api.call("create", "POST", "/containers/create?name=c1", Some(long.clone()))
                .body(),
        );
        api.call(
            "create duplicate name",
            "POST",
            "/containers/create?name=c1",
            Some(long.clone()),
        );
        api.call(
            "create bad name",
            "POST",
            "/containers/create?name=a%20b",
            Some(long.clone()),
        );
        api.call(
            "create missing image",
            "POST",
            "/containers/create",
            Some(json!({"Image": "nosuch:1"})),
        )
        .agree(&["/message"]);
        let mut badlog = base.clone();
        badlog["HostConfig"]["LogConfig"] = json!({"Type": "nosuchdriver"});
        api.call("create bad log driver", "POST", "/containers/create", Some(badlog));
        api.call("inspect created", "GET", "/containers/c1/json", None)
            .agree(&[
                "/Name",
                "/Path",
                "/Args",
                "/State/Status",
                "/Config/Cmd",
                "/Config/Labels",
                "/RestartCount",
            ])
            .ignore(&["/HostConfig/Devices"]);
        // dockerd's omitempty fields that are not pointers: a bind mount has no Name or Driver key, a
        // container without ports no ExposedPorts, one without annotations no Annotations.
        let mut bound = base.clone();
        bound["HostConfig"]["Binds"] = json!(["/tmp:/hosttmp:ro"]);
        api.call("create with a bind", "POST", "/containers/create?name=cb", Some(bound));
        api.call("inspect bind", "GET", "/containers/cb/json", None)
            .agree(&[
                "/Mounts/0/Type",
                "/Mounts/0/Name",
                "/Mounts/0/Driver",
                "/Mounts/0/RW",
                "/Config/ExposedPorts",
                "/HostConfig/Annotations",
            ])
            .ignore(&["/HostConfig/Devices"]);
        let f = enc(r#"{"name":["cb"]}"#);
        api.call("list bind", "GET", &format!("/containers/json?all=1&filters={f}"), None)
            .agree(&["/0/Mounts/0/Name", "/0/Mounts/0/Driver", "/0/Mounts/0/Type"]);
        api.call("remove bind", "DELETE", "/containers/cb", None);
        api.call("start", "POST", &format!("/containers/{c1}/start"), None);
        api.call("start again", "POST", "/containers/c1/start", None);
        api.call("inspect running", "GET", "/containers/c1/json", None).agree(&[
            "/State/Status",
            "/State/Running",
            "/HostConfig/NetworkMode",
        ]);
        api.call("list", "GET", "/containers/json", None).agree(&[
            "/0/Names",
            "/0/State",
            "/0/Labels",
            "/0/Image",
            "/0/Command",
        ]);
        let f = r#"{"label":["diff=yes"],"status":["running"]}"#;
        api.call(
            "list filtered",
            "GET",
            &format!("/containers/json?filters={}", enc(f)),
            None,
        )
        .agree(&["/0/Names"]);
        api.call(
            "list bad filter",
            "GET",
            &format!("/containers/json?filters={}", enc(r#"{"nosuch":["x"]}"#)),
            None,
        );
        api.call("top", "GET", "/containers/c1/top", None).agree(&["/Titles"]);
        api.call("stats one-shot", "GET", "/containers/c1/stats?stream=0", None)
            .agree(&["/name"])
            .ignore(&["/memory_stats/stats", "/blkio_stats", "/storage_stats"]);
        api.call(
            "update",
            "POST",
            "/containers/c1/update",
            Some(json!({"CpuShares": 512, "Memory": 67108864})),
        )
        .agree(&[""]);
        api.call(
            "update with swap",
            "POST",
            "/containers/c1/update",
            Some(json!({"CpuShares": 512, "Memory": 67108864, "MemorySwap": 134217728})),
        )
        .agree(&[""]);
        api.call("inspect updated", "GET", "/containers/c1/json", None)
            .agree(&["/HostConfig/CpuShares", "/HostConfig/Memory"]);
        api.call("pause", "POST", "/containers/c1/pause", None);
        api.call("inspect paused", "GET", "/containers/c1/json", None)
            .agree(&["/State/Status", "/State/Paused"]);
        api.call("unpause", "POST", "/containers/c1/unpause", None);
        api.call("rename", "POST", "/containers/c1/rename?name=c1b", None);
        api.call("kill", "POST", "/containers/c1b/kill?signal=KILL", None);
        api.call("wait killed", "POST", "/containers/c1b/wait", None)
            .agree(&[""]);
        api.call("kill stopped", "POST", "/containers/c1b/kill", None);
        api.call("remove link of plain name", "DELETE", "/containers/c1b?link=1", None);
        api.call("remove missing", "DELETE", "/containers/nosuch", None)
            .agree(&["/message"]);

        let mut short = base.clone();
        short["Cmd"] = json!(["sh", "-c", "echo out; echo err >&2"]);
        api.call("create short", "POST", "/containers/create?name=c2", Some(short));
        api.call("start short", "POST", "/containers/c2/start", None);
        api.call("wait short", "POST", "/containers/c2/wait", None).agree(&[""]);
        let logs = Req {
            method: "GET",
            path: "/containers/c2/logs?stdout=1&stderr=1".into(),
            body: None,
            content_type: "",
        };
        let raw = api.send(&logs).1;
        api.record("logs", &logs).bytes(raw);
        let attach = Req {
            method: "POST",
            path: "/containers/c2/attach?stream=0&logs=1&stdout=1&stderr=1".into(),
            body: None,
            content_type: "",
        };
        let raw = api.send(&attach).1;
        api.record("attach logs=1 stream=0", &attach).bytes(raw);
        api.call("export", "GET", "/containers/c2/export", None);
        api.call(
            "prune",
            "POST",
            &format!("/containers/prune?filters={}", enc(r#"{"label":["nosuch"]}"#)),
            None,
        )
        .agree(&["/ContainersDeleted"]);
        let pruned = api.call("prune all stopped", "POST", "/containers/prune", None).body();
        let n = pruned["ContainersDeleted"].as_array().map_or(0, Vec::len);
        api.call("containers left", "GET", "/containers/json?all=1", None)
            .agree(&["/0/Names"]);
        assert_eq!(n, 2, "prune removes c1b and c2: {pruned}");
    });
}

#[test]
fn exec() {
    both("exec", |api| {
        let body = json!({"Image": "busybox", "Cmd": ["sleep", "300"], "HostConfig": {"NetworkMode": "none"}});
        api.call("create", "POST", "/containers/create?name=e1", Some(body));
        api.call(
            "exec on created",
            "POST",
            "/containers/e1/exec",
            Some(json!({"Cmd": ["true"]})),
        );
        api.call("start", "POST", "/containers/e1/start", None);
        let cmd =
            json!({"Cmd": ["sh", "-c", "echo out; echo err >&2; exit 3"], "AttachStdout": true, "AttachStderr": true});
        let id = id_of(&api.call("exec create", "POST", "/containers/e1/exec", Some(cmd)).body());
        api.call("exec inspect", "GET", &format!("/exec/{id}/json"), None)
            .agree(&["/Running", "/ExitCode", "/ProcessConfig"]);
        let start = Req {
            method: "POST",
            path: format!("/exec/{id}/start"),
            body: Some(br#"{"Detach":false,"Tty":false}"#.to_vec()),
            content_type: "application/json",
        };
        let (_, bytes) = api.send(&start);
        api.record("exec start again", &start);
        api.call("exec inspect done", "GET", &format!("/exec/{id}/json"), None)
            .agree(&["/Running", "/ExitCode"])
            .bytes(bytes);
        api.call("exec missing", "GET", "/exec/nosuch/json", None);
        api.call("exec no cmd", "POST", "/containers/e1/exec", Some(json!({})));
        api.call("remove running", "DELETE", "/containers/e1", None);
        api.call("remove forced", "DELETE", "/containers/e1?force=1", None);
    });
}

#[test]
fn images_and_volumes() {
    both("images_and_volumes", |api| {
        api.call("image list", "GET", "/images/json", None)
            .agree(&["/0/RepoTags", "/0/Id", "/0/Size"]);
        api.call("image inspect", "GET", "/images/busybox/json", None)
            .agree(&[
                "/Id",
                "/RepoTags",
                "/Os",
                "/Architecture",
                "/Config/Cmd",
                "/RootFS",
                "/Config/ExposedPorts",
                "/Config/ArgsEscaped",
                "/Config/StopSignal",
                "/Config/Shell",
            ])
            .ignore(&["/GraphDriver/Data", "/Metadata", "/ContainerConfig"]);
        // dockerd 20.10 says "no such image: nosuch:1: No such image: nosuch:1" (its error wrapped twice);
        // later dockerds and berth say it once (docs/compose-differences.md).
        api.call("image inspect missing", "GET", "/images/nosuch:1/json", None);
        api.call("tag", "POST", "/images/busybox/tag?repo=diff&tag=t1", None);
        api.call("untag", "DELETE", "/images/diff:t1", None).agree(&[""]);
        let import = Req {
            method: "POST",
            path: "/images/create?fromSrc=-&repo=imported&tag=v1&changes=CMD%20%5B%22%2Fhello%22%5D".into(),
            body: Some(tar_with_file("hello", "hi\n")),
            content_type: "application/x-tar",
        };
        api.record("import", &import);
        api.call("inspect imported", "GET", "/images/imported:v1/json", None)
            .agree(&["/RepoTags", "/Os", "/Config/Cmd", "/Size"])
            .ignore(&["/GraphDriver/Data", "/Metadata", "/ContainerConfig"]);
        let broken = Req {
            method: "POST",
            path: "/images/load".into(),
            body: Some(b"this is not a tar archive".to_vec()),
            content_type: "application/x-tar",
        };
        api.record("load broken archive", &broken);
        api.call("image prune dangling", "POST", "/images/prune", None);
        api.call("remove missing image", "DELETE", "/images/nosuch:1", None)
            .agree(&["/message"]);

        api.call(
            "volume create",
            "POST",
            "/volumes/create",
            Some(json!({"Name": "v1", "Labels": {"k": "v"}})),
        )
        .agree(&["/Name", "/Driver", "/Labels", "/Scope", "/Options"]);
        api.call("volume inspect", "GET", "/volumes/v1", None)
            .agree(&["/Name", "/Labels"]);
        api.call("volume list", "GET", "/volumes", None)
            .agree(&["/Volumes/0/Name"]);
        api.call("volume missing", "GET", "/volumes/nosuch", None);
        api.call("volume prune", "POST", "/volumes/prune", None)
            .agree(&["/VolumesDeleted"]);
        api.call("volume remove missing", "DELETE", "/volumes/nosuch", None);
    });
}

#[test]
fn commit_history_and_changes() {
    both("commit_history_and_changes", |api| {
        let body = json!({"Image": "busybox", "HostConfig": {"NetworkMode": "none"},
            "Cmd": ["sh", "-c", "mkdir -p /made/deep && echo x > /made/deep/f && echo y >> /etc/group && rm /bin/true"]});
        let c = id_of(
            &api.call("create", "POST", "/containers/create?name=chg", Some(body))
                .body(),
        );
        api.call("start", "POST", &format!("/containers/{c}/start"), None);
        // dockerd 20.10 writes `"Error": null`; berth leaves the key out (as newer dockerds do).
        api.call("wait", "POST", "/containers/chg/wait", None)
            .agree(&["/StatusCode"])
            .ignore(&["/Error"]);
        // dockerd lists the changes in its walk's order: the entries (path and kind) must agree as a set.
        let rec = api.call("changes", "GET", "/containers/chg/changes", None);
        let mut list: Vec<(String, i64)> = rec
            .body()
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|c| {
                (
                    c["Path"].as_str().unwrap_or_default().to_owned(),
                    c["Kind"].as_i64().unwrap_or(-1),
                )
            })
            .collect();
        list.sort();
        rec.bytes(format!("{list:?}").into_bytes());
        api.call("changes missing", "GET", "/containers/nosuch/changes", None)
            .agree(&["/message"]);
        let changes = [
            "ENV A=1",
            "CMD [\"/bin/sh\", \"-c\", \"echo hi\"]",
            "LABEL k=v",
            "WORKDIR /made",
            "EXPOSE 80/tcp",
        ];
        let q: String = changes.iter().map(|c| format!("&changes={}", enc(c))).collect();
        api.call(
            "commit",
            "POST",
            &format!("/commit?container=chg&repo=committed&tag=1&comment=hello&author=me{q}"),
            None,
        );
        api.call(
            "commit bad change",
            "POST",
            "/commit?container=chg&changes=NOPE%201",
            None,
        );
        api.call("commit missing", "POST", "/commit?container=nosuch", None)
            .agree(&["/message"]);
        api.call("inspect committed", "GET", "/images/committed:1/json", None)
            .agree(&[
                "/RepoTags",
                "/Comment",
                "/Author",
                "/Config/Env",
                "/Config/Cmd",
                "/Config/Labels",
                "/Config/WorkingDir",
                "/Config/ExposedPorts",
            ])
            // dockerd 20.10 stores the container's whole config (Hostname, Attach*, Tty, Image...) and a
            // Parent link; berth's image config has the image fields only, as OCI configs do.
            .ignore(&[
                "/GraphDriver/Data",
                "/Metadata",
                "/ContainerConfig",
                "/Parent",
                "/DockerVersion",
                "/Config/Hostname",
                "/Config/Domainname",
                "/Config/AttachStdin",
                "/Config/AttachStdout",
                "/Config/AttachStderr",
                "/Config/Tty",
                "/Config/OpenStdin",
                "/Config/StdinOnce",
                "/Config/Image",
            ]);
        api.call("history", "GET", "/images/committed:1/history", None).agree(&[
            "/0/Comment",
            "/0/CreatedBy",
            "/0/Tags",
            "/1/CreatedBy",
            "/1/Tags",
            "/1/Size",
            "/2/CreatedBy",
        ]);
        api.call("history of a base", "GET", "/images/busybox/history", None)
            .agree(&[""]);
        api.call("history missing", "GET", "/images/nosuch:1/history", None)
            .agree(&["/message"]);
    });
}

/// Percent-encodes a query value.
#[test]
fn container_network_entries() {
    both("container_network_entries", |api| {
        api.call(
            "network create",
            "POST",
            "/networks/create",
            Some(json!({"Name": "dn1", "IPAM": {"Config": [{"Subnet": "10.213.0.0/24"}]}})),
        );
        let body = json!({
            "Image": "busybox", "Cmd": ["true"],
            "HostConfig": {"NetworkMode": "dn1"},
            "NetworkingConfig": {"EndpointsConfig": {"dn1": {"Aliases": ["al"]}}}
        });
        api.call("create on network", "POST", "/containers/create?name=n1", Some(body));
        let entry = "/NetworkSettings/Networks/dn1";
        let fields = |names: &[&str]| names.iter().map(|f| format!("{entry}/{f}")).collect::<Vec<_>>();
        let created = fields(&["Aliases", "NetworkID", "EndpointID", "IPAddress", "MacAddress", "Links"]);
        api.call("inspect created", "GET", "/containers/n1/json", None)
            .agree(&created.iter().map(String::as_str).collect::<Vec<_>>());
        api.call("start", "POST", "/containers/n1/start", None);
        api.call("wait", "POST", "/containers/n1/wait", None).agree(&[""]);
        let exited = fields(&["EndpointID", "IPAddress", "IPPrefixLen", "Gateway", "MacAddress"]);
        api.call("inspect exited", "GET", "/containers/n1/json", None)
            .agree(&exited.iter().map(String::as_str).collect::<Vec<_>>());
        api.call("remove", "DELETE", "/containers/n1", None);
        api.call("network remove", "DELETE", "/networks/dn1", None);
    });
}

#[test]
fn static_addresses_need_user_subnets() {
    both("static_addresses_need_user_subnets", |api| {
        let net = |name: &str, ipam: Value| json!({"Name": name, "IPAM": {"Config": ipam}});
        api.call("network auto", "POST", "/networks/create", Some(net("sa1", json!([]))));
        let v4 = json!([{"Subnet": "10.214.0.0/24"}]);
        api.call("network v4", "POST", "/networks/create", Some(net("sa2", v4)));
        let v6 = json!([{"Subnet": "2001:db8:5::/64"}, {"Subnet": "2001:db8:6::/64", "Gateway": "2001:db8:6::9"}]);
        api.call("network v6 kept", "POST", "/networks/create", Some(net("sa3", v6)));
        api.call("inspect v6 kept", "GET", "/networks/sa3", None).agree(&[
            "/EnableIPv6",
            "/IPAM/Options",
            "/IPAM/Config/1",
            "/IPAM/Config/2",
        ]);
        let ctr = |network: &str, ipam: Value| {
            json!({
                "Image": "busybox", "Cmd": ["sleep", "30"],
                "HostConfig": {"NetworkMode": network},
                "NetworkingConfig": {"EndpointsConfig": {network: {"IPAMConfig": ipam}}}
            })
        };
        let ip4 = json!({"IPv4Address": "10.214.0.9"});
        let ip6 = json!({"IPv6Address": "2001:db8:5::f00d"});
        api.call(
            "v4 on auto",
            "POST",
            "/containers/create?name=sa-c1",
            Some(ctr("sa1", ip4.clone())),
        );
        api.call("start v4 on auto", "POST", "/containers/sa-c1/start", None)
            .agree(&["/message"]);
        api.call(
            "v6 on v4",
            "POST",
            "/containers/create?name=sa-c2",
            Some(ctr("sa2", ip6.clone())),
        );
        api.call("start v6 on v4", "POST", "/containers/sa-c2/start", None)
            .agree(&["/message"]);
        api.call(
            "v6 kept",
            "POST",
            "/containers/create?name=sa-c3",
            Some(ctr("sa3", ip6)),
        );
        api.call("start v6 kept", "POST", "/containers/sa-c3/start", None);
        let entry = |f: &str| format!("/NetworkSettings/Networks/sa3/{f}");
        let (cfg, global) = (entry("IPAMConfig"), entry("GlobalIPv6Address"));
        api.call("inspect v6 kept", "GET", "/containers/sa-c3/json", None)
            .agree(&[&cfg, &global]);
        let connect = json!({"Container": "sa-c3", "EndpointConfig": {"IPAMConfig": ip4}});
        api.call("connect v4 on auto", "POST", "/networks/sa1/connect", Some(connect))
            .agree(&["/message"]);
        for c in ["sa-c1", "sa-c2", "sa-c3"] {
            api.call("remove", "DELETE", &format!("/containers/{c}?force=1"), None);
        }
        for n in ["sa1", "sa2", "sa3"] {
            api.call("network remove", "DELETE", &format!("/networks/{n}"), None);
        }
    });
}

#[test]
fn config_only_networks() {
    both("config_only_networks", |api| {
        let ipam = json!({"Config": [{"Subnet": "10.215.0.0/24", "Gateway": "10.215.0.1"}]});
        let opts = json!({"com.docker.network.bridge.enable_icc": "false"});
        let cfg = json!({"Name": "co1", "ConfigOnly": true, "IPAM": ipam, "Options": opts, "Labels": {"k": "v"}});
        api.call("config-only create", "POST", "/networks/create", Some(cfg));
        let shown = [
            "/Driver",
            "/ConfigOnly",
            "/ConfigFrom",
            "/IPAM",
            "/Options",
            "/Labels",
            "/Containers",
        ];
        api.call("config-only inspect", "GET", "/networks/co1", None)
            .agree(&shown);
        let refused = [
            (
                "operator fields",
                json!({"Name": "co2", "ConfigOnly": true, "Internal": true}),
            ),
            (
                "config from config",
                json!({"Name": "co3", "ConfigOnly": true, "ConfigFrom": {"Network": "co1"}}),
            ),
            (
                "own labels",
                json!({"Name": "cf0", "ConfigFrom": {"Network": "co1"}, "Labels": {"a": "b"}}),
            ),
            (
                "own options",
                json!({"Name": "cf0", "ConfigFrom": {"Network": "co1"}, "Options": {"a": "b"}}),
            ),
            (
                "missing config",
                json!({"Name": "cf0", "ConfigFrom": {"Network": "nosuch"}}),
            ),
            ("ingress", json!({"Name": "in1", "Ingress": true})),
            (
                "two subnets",
                json!({"Name": "ts", "IPAM": {"Config": [{"Subnet": "10.216.0.0/24"}, {"Subnet": "10.217.0.0/24"}]}}),
            ),
        ];
        for (name, body) in refused {
            api.call(name, "POST", "/networks/create", Some(body))
                .agree(&["/message"]);
        }
        let from = json!({"Name": "cf1", "ConfigFrom": {"Network": "co1"}});
        api.call("config from", "POST", "/networks/create", Some(from));
        api.call("config from inspect", "GET", "/networks/cf1", None).agree(&[
            "/Driver",
            "/ConfigOnly",
            "/ConfigFrom",
            "/IPAM/Config/0/Subnet",
            "/Options",
            "/Labels",
        ]);
        api.call("remove config in use", "DELETE", "/networks/co1", None)
            .agree(&["/message"]);
        let ctr = json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": "co1"}});
        api.call(
            "create on config-only",
            "POST",
            "/containers/create?name=co-c1",
            Some(ctr),
        );
        api.call("start on config-only", "POST", "/containers/co-c1/start", None)
            .agree(&["/message"]);
        api.call("remove", "DELETE", "/containers/co-c1?force=1", None);
        api.call("prune keeps config-only", "POST", "/networks/prune", None)
            .agree(&["/NetworksDeleted"]);
        api.call("remove config-only", "DELETE", "/networks/co1", None);
    });
}

/// Issue 18's bridge options and labels as dockerd keeps and shows them: a name with spaces, `Attachable`,
/// labels, driver options (masquerade off, host binding address, MTU), `IPAM.Options`, `CheckDuplicate`, the
/// `host` driver refused, the label filter of list and prune.
#[test]
fn network_options_labels_and_prune() {
    both("network_options_labels_and_prune", |api| {
        let body = json!({
            "Name": "opt net 1", "CheckDuplicate": true, "Attachable": true,
            "Labels": {"tier": "back", "empty": ""},
            "Options": {
                "com.docker.network.bridge.enable_ip_masquerade": "false",
                "com.docker.network.bridge.host_binding_ipv4": "127.0.0.1",
                "com.docker.network.driver.mtu": "1400"
            },
            "IPAM": {
                "Config": [{"Subnet": "10.218.0.0/24", "IPRange": "10.218.0.128/25", "Gateway": "10.218.0.1",
                            "AuxiliaryAddresses": {"r": "10.218.0.130"}}],
                "Options": {"foo": "bar"}
            }
        });
        api.call("create with options", "POST", "/networks/create", Some(body));
        api.call(
            "inspect with options",
            "GET",
            &format!("/networks/{}", enc("opt net 1")),
            None,
        )
        .agree(&[
            "/Name",
            "/Driver",
            "/Scope",
            "/Attachable",
            "/Internal",
            "/EnableIPv6",
            "/Labels",
            "/Options",
            "/IPAM",
        ]);
        let again = json!({"Name": "opt net 1", "CheckDuplicate": true});
        api.call("duplicate name", "POST", "/networks/create", Some(again))
            .agree(&["/message"]);
        let host = json!({"Name": "h1", "Driver": "host"});
        api.call("host driver", "POST", "/networks/create", Some(host))
            .agree(&["/message"]);
        let plain = json!({"Name": "opt2", "Labels": {"tier": "front"}});
        api.call("plain create", "POST", "/networks/create", Some(plain));
        api.call("plain inspect", "GET", "/networks/opt2", None).agree(&[
            "/Attachable",
            "/Labels",
            "/Options",
            "/IPAM/Options",
        ]);
        let back = enc(r#"{"label":["tier=back"]}"#);
        let listed = api
            .call("list by label", "GET", &format!("/networks?filters={back}"), None)
            .body();
        let names: Vec<Value> = listed
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n.get("Name").cloned())
            .collect();
        api.observe("names listed by label", Value::Array(names));
        let front = enc(r#"{"label":["tier=front"]}"#);
        api.call(
            "prune by label",
            "POST",
            &format!("/networks/prune?filters={front}"),
            None,
        )
        .agree(&["/NetworksDeleted"]);
        api.call("prune the rest", "POST", "/networks/prune", None)
            .agree(&["/NetworksDeleted"]);
    });
}
