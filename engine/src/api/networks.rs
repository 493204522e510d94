//! Network endpoints: create, inspect, list (filters), remove, prune, connect, disconnect.

use super::{parse_json, ApiResult, AppState};
use crate::error::{EngineError, Result};
use crate::networks::{EndpointRecord, NetworkRecord};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use bollard::models::{
    EndpointResource, Ipam, IpamConfig, NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse,
    NetworkDisconnectRequest, NetworkInspect, NetworkPruneResponse, NetworkSummary,
};
use std::collections::HashMap;

type Q = Query<HashMap<String, String>>;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/networks", get(list))
        .route("/networks/create", post(create))
        .route("/networks/prune", post(prune))
        .route("/networks/{id}", get(inspect).delete(remove))
        .route("/networks/{id}/connect", post(connect))
        .route("/networks/{id}/disconnect", post(disconnect))
}

fn aux_view<T: ToString>(aux: &std::collections::BTreeMap<String, T>) -> Option<HashMap<String, String>> {
    (!aux.is_empty()).then(|| aux.iter().map(|(k, v)| (k.clone(), v.to_string())).collect())
}

/// `IPAM.Config`: the IPv4 entry, then the IPv6 one of a dual-stack network.
fn ipam_view(rec: &NetworkRecord) -> Ipam {
    let a = &rec.alloc;
    // A config-only network allocated nothing: its configuration as given.
    let mut config = match rec.config_only {
        true => rec.ipam_given.clone().unwrap_or_default(),
        false => {
            a.v4.iter()
                .map(|v| IpamConfig {
                    subnet: Some(v.subnet.to_string()),
                    gateway: Some(v.gateway.to_string()),
                    ip_range: v.ip_range.map(|r| r.to_string()),
                    auxiliary_addresses: aux_view(&v.aux),
                })
                .collect()
        }
    };
    config.extend(a.v6.as_ref().map(|v| IpamConfig {
        subnet: Some(v.subnet.to_string()),
        gateway: Some(v.gateway.to_string()),
        ip_range: v.ip_range.map(|r| r.to_string()),
        auxiliary_addresses: aux_view(&v.aux),
    }));
    if !rec.config_only {
        config.extend(rec.unused_v6_configs());
    }
    // Rows from before the options were kept show `{}`, as berth always did.
    let options = match &rec.ipam_given {
        Some(_) => rec.ipam_options.as_ref().map(|o| o.clone().into_iter().collect()),
        None => Some(HashMap::new()),
    };
    Ipam {
        driver: Some("default".into()),
        config: Some(config),
        options,
    }
}

fn summary(rec: &NetworkRecord) -> NetworkSummary {
    NetworkSummary {
        name: Some(rec.name.clone()),
        id: Some(rec.id.clone()),
        created: Some(rec.created.clone()),
        scope: Some("local".into()),
        driver: Some(rec.driver.clone()),
        enable_ipv4: Some(rec.config_only || rec.alloc.v4.is_some()),
        enable_ipv6: Some(rec.enable_ipv6),
        ipam: Some(ipam_view(rec)),
        internal: Some(rec.internal),
        attachable: Some(rec.attachable),
        ingress: Some(false),
        config_only: Some(rec.config_only),
        config_from: Some(bollard::models::ConfigReference {
            network: Some(rec.config_from.clone().unwrap_or_default()),
        }),
        options: Some(rec.options.clone().into_iter().collect()),
        labels: Some(rec.labels.clone().into_iter().collect()),
        ..Default::default()
    }
}

fn inspect_view(rec: &NetworkRecord, eps: &[EndpointRecord]) -> NetworkInspect {
    let prefix = rec.alloc.subnet_gateway().map_or(0, |(s, _)| s.prefix_len());
    let prefix6 = rec.alloc.v6.as_ref().map_or(0, |v| v.subnet.prefix_len());
    let containers = eps
        .iter()
        .map(|e| {
            let mac = e.shown_mac(&rec.driver, true);
            let res = EndpointResource {
                name: Some(e.name.clone()),
                endpoint_id: Some(e.endpoint_id.clone()),
                mac_address: Some(mac),
                ipv4_address: Some(e.ip.map(|a| format!("{a}/{prefix}")).unwrap_or_default()),
                ipv6_address: Some(e.ip6.map(|a| format!("{a}/{prefix6}")).unwrap_or_default()),
            };
            (e.container.clone(), res)
        })
        .collect();
    let s = summary(rec);
    NetworkInspect {
        name: s.name,
        id: s.id,
        created: s.created,
        scope: s.scope,
        driver: s.driver,
        enable_ipv4: s.enable_ipv4,
        enable_ipv6: s.enable_ipv6,
        ipam: s.ipam,
        internal: s.internal,
        attachable: s.attachable,
        ingress: s.ingress,
        config_only: s.config_only,
        config_from: s.config_from,
        options: s.options,
        labels: s.labels,
        containers: Some(containers),
        ..Default::default()
    }
}

/// The keys of `GET /networks` filters.
const LIST_FILTERS: &[&str] = &["dangling", "driver", "id", "label", "name", "scope", "type"];

/// Docker's `filters` query of a network endpoint, refusing keys outside `allowed`.
fn parse_filters(raw: Option<&String>, allowed: &[&str]) -> Result<HashMap<String, Vec<String>>> {
    crate::filters::parse(raw.map_or("", String::as_str), allowed)
}

fn label_matches(rec: &NetworkRecord, wanted: &[String]) -> bool {
    wanted.iter().all(|w| match w.split_once('=') {
        Some((k, v)) => rec.labels.get(k).is_some_and(|x| x == v),
        None => rec.labels.contains_key(w),
    })
}

/// What a list filter asks of a network beyond its record.
#[derive(Debug, Clone, Copy)]
struct Kind {
    /// It has endpoints (`dangling`).
    in_use: bool,
    /// `bridge`, `host` or `none` (`type=builtin`).
    builtin: bool,
}

fn matches(rec: &NetworkRecord, f: &HashMap<String, Vec<String>>, kind: Kind) -> Result<bool> {
    let in_use = kind.in_use;
    for (key, vals) in f {
        if vals.is_empty() {
            continue;
        }
        let ok = match key.as_str() {
            "name" => vals.iter().any(|v| rec.name.contains(v.as_str())),
            "id" => vals.iter().any(|v| rec.id.starts_with(v.as_str())),
            "driver" => vals.contains(&rec.driver),
            "label" => label_matches(rec, vals),
            "scope" => vals.iter().any(|v| v == "local"),
            "type" => vals.iter().any(|v| (v == "builtin") == kind.builtin),
            "dangling" => vals.iter().any(|v| matches!(v.as_str(), "true" | "1") != in_use),
            other => return Err(EngineError::BadRequest(format!("filters: invalid filter {other:?}"))),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

async fn create(State(engine): State<AppState>, body: Bytes) -> ApiResult<(StatusCode, Json<NetworkCreateResponse>)> {
    let req: NetworkCreateRequest = parse_json(&body, "network config")?;
    let nets = engine.networks.get().await?;
    let id = nets.create(req).await?;
    Ok((
        StatusCode::CREATED,
        Json(NetworkCreateResponse {
            id,
            warning: String::new(),
        }),
    ))
}

/// A network document as dockerd writes it: `IPAM.Options` is `null`, not absent, when none were given.
fn network_json<T: serde::Serialize>(doc: &T) -> serde_json::Value {
    let mut v = serde_json::to_value(doc).unwrap_or_default();
    if let Some(ipam) = v.get_mut("IPAM").and_then(|i| i.as_object_mut()) {
        ipam.entry("Options").or_insert(serde_json::Value::Null);
    }
    v
}

async fn list(State(engine): State<AppState>, Query(q): Q) -> ApiResult<Json<Vec<serde_json::Value>>> {
    let filters = parse_filters(q.get("filters"), LIST_FILTERS)?;
    let nets = engine.networks.get().await?;
    let mut out = Vec::new();
    let predefined = nets.host_and_none()?;
    let builtin: Vec<String> = predefined.iter().map(|n| n.id.clone()).collect();
    for rec in nets.records()?.into_iter().chain(predefined) {
        let in_use = !nets.endpoints_of_network(&rec.id)?.is_empty();
        let kind = Kind {
            in_use,
            builtin: rec.default_bridge || builtin.contains(&rec.id),
        };
        if matches(&rec, &filters, kind)? {
            let mut doc = network_json(&summary(&rec));
            // dockerd's list entries carry an empty `Containers` (their endpoints are inspect's).
            if let Some(o) = doc.as_object_mut() {
                o.entry("Containers").or_insert_with(|| serde_json::json!({}));
            }
            out.push(doc);
        }
    }
    Ok(Json(out))
}

async fn inspect(State(engine): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<serde_json::Value>> {
    let nets = engine.networks.get().await?;
    let rec = nets.resolve_shown(&id)?;
    let eps = nets.endpoints_of_network(&rec.id)?;
    let mut view = inspect_view(&rec, &eps);
    if nets.host_and_none()?.iter().any(|p| p.id == rec.id) {
        view.containers = Some(on_predefined(&engine, &rec)?);
    }
    Ok(Json(network_json(&view)))
}

/// The running containers on `host` or `none` (`rec`), which have no endpoint rows: dockerd lists them with
/// an endpoint id and no addresses.
fn on_predefined(engine: &crate::Engine, rec: &NetworkRecord) -> ApiResult<HashMap<String, EndpointResource>> {
    Ok(engine
        .db
        .containers()?
        .into_iter()
        .filter(|c| {
            c.state.status == crate::state::ContainerStatus::Running
                && c.host_config.network_mode.as_deref() == Some(rec.name.as_str())
        })
        .map(|c| {
            let res = EndpointResource {
                name: Some(c.name.clone()),
                endpoint_id: Some(crate::networks::predefined_endpoint_id(&rec.id, &c.id)),
                mac_address: Some(String::new()),
                ipv4_address: Some(String::new()),
                ipv6_address: Some(String::new()),
            };
            (c.id, res)
        })
        .collect())
}

async fn remove(State(engine): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    engine.networks.get().await?.remove(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn prune(State(engine): State<AppState>, Query(q): Q) -> ApiResult<Json<NetworkPruneResponse>> {
    let filters = parse_filters(q.get("filters"), &["label", "label!", "until"])?;
    let labels = filters.get("label").cloned().unwrap_or_default();
    let not_labels = filters.get("label!").cloned().unwrap_or_default();
    let nets = engine.networks.get().await?;
    // `until`: only networks created before it go (checked first, so a bad value deletes nothing).
    let now = chrono::Utc::now();
    let mut too_new = std::collections::HashSet::new();
    for rec in nets.records()? {
        let created = chrono::DateTime::parse_from_rfc3339(&rec.created).map_or(now, |t| t.with_timezone(&chrono::Utc));
        if !crate::filters::until_matches(&filters, created, now)? {
            too_new.insert(rec.id);
        }
    }
    let deleted = nets
        .prune(|rec| {
            too_new.contains(&rec.id)
                || !label_matches(rec, &labels)
                || (!not_labels.is_empty() && label_matches(rec, &not_labels))
        })
        .await?;
    Ok(Json(NetworkPruneResponse {
        networks_deleted: Some(deleted),
    }))
}

async fn connect(State(engine): State<AppState>, Path(id): Path<String>, body: Bytes) -> ApiResult<StatusCode> {
    let req: NetworkConnectRequest = parse_json(&body, "network connect config")?;
    let nets = engine.networks.get().await?;
    nets.connect(&id, &req.container, req.endpoint_config.as_ref()).await?;
    Ok(StatusCode::OK)
}

async fn disconnect(State(engine): State<AppState>, Path(id): Path<String>, body: Bytes) -> ApiResult<StatusCode> {
    let req: NetworkDisconnectRequest = parse_json(&body, "network disconnect config")?;
    engine.networks.get().await?.disconnect(&id, &req.container).await?;
    Ok(StatusCode::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &str, labels: &[(&str, &str)]) -> NetworkRecord {
        NetworkRecord {
            id: format!("{:0>64}", "ab12"),
            name: name.into(),
            driver: "bridge".into(),
            created: String::new(),
            internal: false,
            attachable: false,
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            options: Default::default(),
            alloc: netstack::NetworkAllocation {
                v4: Some(netstack::Allocation4 {
                    subnet: "10.99.0.0/24".parse().unwrap(),
                    gateway: "10.99.0.1".parse().unwrap(),
                    ip_range: None,
                    leases: Default::default(),
                    last: None,
                    aux: Default::default(),
                }),
                v6: None,
            },
            mtu: None,
            default_bridge: false,
            enable_ipv6: false,
            ipam_given: None,
            ipam_options: None,
            config_only: false,
            config_from: None,
        }
    }

    #[test]
    fn filters_in_both_shapes() {
        let f = parse_filters(
            Some(&r#"{"name":{"front":true},"label":["com.docker.compose.project=p"]}"#.to_string()),
            LIST_FILTERS,
        )
        .unwrap();
        let r = rec("p_frontend", &[("com.docker.compose.project", "p")]);
        let used = |in_use| Kind { in_use, builtin: false };
        assert!(matches(&r, &f, used(false)).unwrap());
        let f = parse_filters(Some(&r#"{"name":["back"]}"#.to_string()), LIST_FILTERS).unwrap();
        assert!(!matches(&r, &f, used(false)).unwrap());
        let f = parse_filters(Some(&r#"{"dangling":["true"]}"#.to_string()), LIST_FILTERS).unwrap();
        assert!(matches(&r, &f, used(false)).unwrap() && !matches(&r, &f, used(true)).unwrap());
        assert!(parse_filters(Some(&"[1]".to_string()), LIST_FILTERS).is_err());
        assert!(
            parse_filters(Some(&r#"{"colour":["red"]}"#.to_string()), LIST_FILTERS).is_err(),
            "unknown filters are refused"
        );
    }
}
