//! Container inspect fields that bollard's models no longer carry but dockerd still sends: the top-level
//! `NetworkSettings` endpoint fields (filled from the default bridge's endpoint, as dockerd does), the
//! `Networks` entry of a `none` or `host` container, and `HostConfig.KernelMemory*` for the API versions that
//! had them. Clients written for those versions index them.

use super::ApiVersion;
use crate::networks::Networks;
use serde_json::{json, Map, Value};

/// Adds the legacy fields to a completed inspect document of a container.
pub fn add_legacy_fields(doc: &mut Value, version: ApiVersion, nets: Option<&Networks>) {
    if version < ApiVersion(1, 44) {
        if let Some(host) = doc.get_mut("HostConfig").and_then(Value::as_object_mut) {
            host.entry("KernelMemory").or_insert(json!(0));
            host.entry("KernelMemoryTCP").or_insert(json!(0));
        }
    }
    predefined_entry(doc, nets, Life::of_inspect(doc));
    let Some(settings) = doc.get_mut("NetworkSettings").and_then(Value::as_object_mut) else {
        return;
    };
    go_nil_endpoint_fields(settings, version);
    top_level_endpoint(settings);
}

/// Adds the `Networks` entry of a `none` or `host` container to a completed list item, as dockerd lists it.
pub fn add_summary_legacy_fields(doc: &mut Value, nets: &Networks) {
    predefined_entry(doc, Some(nets), Life::of_summary(doc));
    if let Some(settings) = doc.get_mut("NetworkSettings").and_then(Value::as_object_mut) {
        list_endpoint_fields(settings);
    }
}

/// Fields dockerd writes `null` when unset, which [`super::complete::complete`] wrote as zero values: the
/// host config's and the config's lists that neither the request nor the image set (Go nil slices), their
/// pointers (`PidsLimit`, `MemorySwappiness`: a client reads 0 as a limit that is set), `Config.Volumes`, and
/// `ExecIDs` without execs. A host config without `Mounts` has no such key (`omitempty`).
pub fn go_nil_fields(doc: &mut Value, typed: &bollard::models::ContainerInspectResponse) {
    // Only the two sections are serialized again, to see which fields the record leaves unset.
    let host = serde_json::to_value(&typed.host_config).unwrap_or_default();
    let config = serde_json::to_value(&typed.config).unwrap_or_default();
    for (section, set, pointers) in [
        ("HostConfig", &host, &["PidsLimit", "MemorySwappiness"][..]),
        ("Config", &config, &["Volumes"][..]),
    ] {
        let Some(out) = doc.get_mut(section).and_then(Value::as_object_mut) else {
            continue;
        };
        // berth keeps an empty map of volumes where dockerd's config has none.
        let unset = |key: &str| {
            set.get(key)
                .is_none_or(|v| v.is_null() || (key == "Volumes" && v.as_object().is_some_and(Map::is_empty)))
        };
        let keys: Vec<String> = out
            .iter()
            // ConsoleSize is a Go array, never nil.
            .filter(|(k, v)| (v.is_array() && k.as_str() != "ConsoleSize") || pointers.contains(&k.as_str()))
            .map(|(k, _)| k.clone())
            .filter(|k| unset(k))
            .collect();
        for key in keys {
            out.insert(key, Value::Null);
        }
    }
    if let Some(host) = doc.get_mut("HostConfig").and_then(Value::as_object_mut) {
        // A Go `[2]uint`: whatever the request held (nothing, `[]`), dockerd shows two numbers.
        if host
            .get("ConsoleSize")
            .and_then(Value::as_array)
            .is_none_or(|a| a.len() != 2)
        {
            host.insert("ConsoleSize".into(), serde_json::json!([0, 0]));
        }
        if host
            .get("Mounts")
            .is_some_and(|m| m.is_null() || m.as_array().is_some_and(Vec::is_empty))
        {
            host.remove("Mounts");
        }
    }
    if typed.exec_ids.as_ref().is_none_or(Vec::is_empty) {
        doc["ExecIDs"] = Value::Null;
    }
}

/// dockerd's list copies only the ids, addresses and IPAM settings of an endpoint: the rest is null there.
fn list_endpoint_fields(settings: &mut Map<String, Value>) {
    let Some(networks) = settings.get_mut("Networks").and_then(Value::as_object_mut) else {
        return;
    };
    for entry in networks.values_mut().filter_map(Value::as_object_mut) {
        for key in ["Links", "Aliases", "DriverOpts", "DNSNames"] {
            entry.insert(key.to_owned(), Value::Null);
        }
        let unset = entry.get("IPAMConfig").and_then(Value::as_object).is_none_or(|o| {
            o.values()
                .all(|x| x.is_null() || x == "" || x.as_array().is_some_and(Vec::is_empty))
        });
        if unset {
            entry.insert("IPAMConfig".to_owned(), Value::Null);
        }
    }
}

/// Endpoint fields dockerd writes as `null` when unset (Go nil slices and maps, a nil `IPAMConfig`), and,
/// before API 1.44, the container's short id among the `Aliases` of a user-defined network.
fn go_nil_endpoint_fields(settings: &mut Map<String, Value>, version: ApiVersion) {
    let Some(networks) = settings.get_mut("Networks").and_then(Value::as_object_mut) else {
        return;
    };
    for (name, entry) in networks.iter_mut() {
        let Some(entry) = entry.as_object_mut() else { continue };
        let empty = |v: &Value| match v {
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o
                .values()
                .all(|x| x.is_null() || x == "" || x.as_array().is_some_and(Vec::is_empty)),
            _ => false,
        };
        for key in ["Links", "DriverOpts", "IPAMConfig", "Aliases", "DNSNames"] {
            if entry.get(key).is_some_and(empty) {
                entry.insert(key.to_owned(), Value::Null);
            }
        }
        let short_id = entry
            .get("DNSNames")
            .and_then(Value::as_array)
            .and_then(|n| n.last())
            .cloned();
        let user_network = !matches!(name.as_str(), "bridge" | "host" | "none");
        if let (true, true, Some(id)) = (version < ApiVersion(1, 44), user_network, short_id) {
            let aliases = entry.entry("Aliases").or_insert(Value::Null);
            if aliases.is_null() {
                *aliases = json!([]);
            }
            if let Some(aliases) = aliases.as_array_mut() {
                if !aliases.contains(&id) {
                    aliases.push(id);
                }
            }
        }
    }
}

/// Where a container is in its life, as far as its `none` or `host` entry shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Life {
    /// Never started: no network id yet.
    Created,
    /// Running (or paused): an endpoint.
    Running,
    /// Started once, not running now.
    Stopped,
}

impl Life {
    /// From an inspect document's `State`.
    fn of_inspect(doc: &Value) -> Self {
        let started = doc
            .pointer("/State/StartedAt")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if doc.pointer("/State/Running").and_then(Value::as_bool) == Some(true) {
            Life::Running
        } else if started.is_empty() || started == super::complete::GO_ZERO_TIME {
            Life::Created
        } else {
            Life::Stopped
        }
    }

    /// From a list item's `State` word.
    fn of_summary(doc: &Value) -> Self {
        match doc.get("State").and_then(Value::as_str) {
            Some("running" | "paused") => Life::Running,
            Some("created") => Life::Created,
            _ => Life::Stopped,
        }
    }
}

/// dockerd lists a `none` or `host` container under that network: the network's id once the container has
/// started, an endpoint id while it runs.
fn predefined_entry(doc: &mut Value, nets: Option<&Networks>, life: Life) {
    let text = |p: &str| doc.pointer(p).and_then(Value::as_str).unwrap_or_default().to_owned();
    let (mode, container) = (text("/HostConfig/NetworkMode"), text("/Id"));
    if !matches!(mode.as_str(), "none" | "host") {
        return;
    }
    let Some(settings) = doc.get_mut("NetworkSettings").and_then(Value::as_object_mut) else {
        return;
    };
    let networks = settings.entry("Networks").or_insert_with(|| json!({}));
    let Some(networks) = networks.as_object_mut() else {
        return;
    };
    if networks.contains_key(&mode) {
        return;
    }
    let mut entry = super::complete::complete(&bollard::models::EndpointSettings::default(), &[]);
    let id = nets
        .filter(|_| life != Life::Created)
        .and_then(|n| n.resolve_shown(&mode).ok())
        .map(|n| n.id)
        .unwrap_or_default();
    if life == Life::Running && !id.is_empty() {
        entry["EndpointID"] = json!(crate::networks::predefined_endpoint_id(&id, &container));
    }
    entry["NetworkID"] = json!(id);
    networks.insert(mode, entry);
}

/// The endpoint fields at the top of `NetworkSettings`: the default bridge's values, else empty.
fn top_level_endpoint(settings: &mut Map<String, Value>) {
    let bridge = settings.get("Networks").and_then(|n| n.get("bridge")).cloned();
    let from = |key: &str, zero: Value| bridge.as_ref().and_then(|b| b.get(key)).cloned().unwrap_or(zero);
    let fields = [
        ("EndpointID", from("EndpointID", json!(""))),
        ("Gateway", from("Gateway", json!(""))),
        ("GlobalIPv6Address", from("GlobalIPv6Address", json!(""))),
        ("GlobalIPv6PrefixLen", from("GlobalIPv6PrefixLen", json!(0))),
        ("IPAddress", from("IPAddress", json!(""))),
        ("IPPrefixLen", from("IPPrefixLen", json!(0))),
        ("IPv6Gateway", from("IPv6Gateway", json!(""))),
        ("MacAddress", from("MacAddress", json!(""))),
        ("Bridge", json!("")),
        ("HairpinMode", json!(false)),
        ("LinkLocalIPv6Address", json!("")),
        ("LinkLocalIPv6PrefixLen", json!(0)),
        ("SecondaryIPAddresses", Value::Null),
        ("SecondaryIPv6Addresses", Value::Null),
    ];
    for (key, value) in fields {
        settings.entry(key).or_insert(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridge_endpoint_is_copied_to_the_top_and_none_gets_its_entry() {
        let mut doc = json!({
            "HostConfig": {"NetworkMode": "default"},
            "State": {"Running": true},
            "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.2", "IPPrefixLen": 16}}}
        });
        add_legacy_fields(&mut doc, ApiVersion(1, 41), None);
        assert_eq!(doc["NetworkSettings"]["IPAddress"], "172.17.0.2");
        assert_eq!(doc["NetworkSettings"]["IPPrefixLen"], 16);
        assert_eq!(doc["NetworkSettings"]["SecondaryIPAddresses"], Value::Null);
        assert_eq!(doc["HostConfig"]["KernelMemoryTCP"], 0);

        let mut none = json!({"HostConfig": {"NetworkMode": "none"}, "NetworkSettings": {"Networks": {}}});
        add_legacy_fields(&mut none, ApiVersion(1, 47), None);
        assert!(none["NetworkSettings"]["Networks"]["none"].get("IPAddress").is_some());
        assert_eq!(none["NetworkSettings"]["IPAddress"], "");
        assert!(
            none["HostConfig"].get("KernelMemory").is_none(),
            "gone from the API in 1.44"
        );
    }
}
