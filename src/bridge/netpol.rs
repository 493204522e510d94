//! NetworkPolicies that allow exactly the Compose network graph: ingress is denied by default, each network
//! lets its members reach each other, published ports are open to all, and services only on `internal`
//! networks may reach nothing but their networks' members and the cluster DNS.

use super::context::{BridgeError, Ctx};
use super::names::{self, NETWORK_LABEL, SERVICE_LABEL};
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;

fn select(key: &str, value: &str) -> LabelSelector {
    LabelSelector {
        match_labels: Some(BTreeMap::from([(key.to_owned(), value.to_owned())])),
        ..Default::default()
    }
}

fn network_peer(net: &str) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        pod_selector: Some(select(&format!("{NETWORK_LABEL}{net}"), "true")),
        ..Default::default()
    }
}

fn policy(ctx: &Ctx, name: &str, spec: NetworkPolicySpec) -> NetworkPolicy {
    NetworkPolicy {
        metadata: ctx.meta(name, &[]),
        spec: Some(spec),
    }
}

fn port(p: i32, protocol: &str) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(IntOrString::Int(p)),
        protocol: Some(protocol.to_owned()),
        ..Default::default()
    }
}

/// Networks the project's services are on (slugs), in project order.
fn used_networks(ctx: &Ctx) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for svc in ctx.project.services.values().filter(|s| s.network_mode.is_none()) {
        for n in svc.networks.keys().filter_map(|n| names::dns_label(n)) {
            if !out.contains(&n) {
                out.push(n);
            }
        }
    }
    out
}

/// All policies of the project.
pub fn convert(ctx: &mut Ctx) -> Result<(), BridgeError> {
    let deny = policy(
        ctx,
        "default-deny-ingress",
        NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            policy_types: Some(vec!["Ingress".into()]),
            ..Default::default()
        },
    );
    ctx.push("default-deny-ingress-network-policy.yaml".into(), &deny)?;
    for net in used_networks(ctx) {
        let p = policy(
            ctx,
            &format!("{net}-network-policy"),
            NetworkPolicySpec {
                pod_selector: Some(select(&format!("{NETWORK_LABEL}{net}"), "true")),
                policy_types: Some(vec!["Ingress".into()]),
                ingress: Some(vec![NetworkPolicyIngressRule {
                    from: Some(vec![network_peer(&net)]),
                    ..Default::default()
                }]),
                ..Default::default()
            },
        );
        ctx.push(format!("{net}-network-policy.yaml"), &p)?;
    }
    for (name, svc) in &ctx.project.services.clone() {
        let k8s = ctx.service_name(name.as_str());
        if !svc.ports.is_empty() {
            let mut ports: Vec<NetworkPolicyPort> = Vec::new();
            for p in &svc.ports {
                let proto = if p.protocol.is_empty() {
                    "TCP".into()
                } else {
                    p.protocol.to_ascii_uppercase()
                };
                let np = port(i32::from(p.target), &proto);
                if !ports.contains(&np) {
                    ports.push(np);
                }
            }
            let p = policy(
                ctx,
                &format!("{k8s}-published-network-policy"),
                NetworkPolicySpec {
                    pod_selector: Some(select(SERVICE_LABEL, &k8s)),
                    policy_types: Some(vec!["Ingress".into()]),
                    ingress: Some(vec![NetworkPolicyIngressRule {
                        ports: Some(ports),
                        ..Default::default()
                    }]),
                    ..Default::default()
                },
            );
            ctx.push(format!("{k8s}-published-network-policy.yaml"), &p)?;
        }
        internal_egress(ctx, &k8s, svc)?;
    }
    Ok(())
}

/// Egress limits for a service whose networks are all `internal`.
fn internal_egress(ctx: &mut Ctx, k8s: &str, svc: &compose::model::Service) -> Result<(), BridgeError> {
    let nets: Vec<&String> = svc.networks.keys().collect();
    let all_internal = svc.network_mode.is_none()
        && !nets.is_empty()
        && nets
            .iter()
            .all(|n| ctx.project.networks.get(*n).is_some_and(|net| net.internal));
    if !all_internal {
        return Ok(());
    }
    let peers: Vec<NetworkPolicyPeer> = nets
        .iter()
        .filter_map(|n| names::dns_label(n))
        .map(|n| network_peer(&n))
        .collect();
    let dns = NetworkPolicyEgressRule {
        ports: Some(vec![port(53, "UDP"), port(53, "TCP")]),
        to: Some(vec![NetworkPolicyPeer {
            namespace_selector: Some(LabelSelector::default()),
            ..Default::default()
        }]),
    };
    let p = policy(
        ctx,
        &format!("{k8s}-internal-network-policy"),
        NetworkPolicySpec {
            pod_selector: Some(select(SERVICE_LABEL, k8s)),
            policy_types: Some(vec!["Egress".into()]),
            egress: Some(vec![
                NetworkPolicyEgressRule {
                    to: Some(peers),
                    ..Default::default()
                },
                dns,
            ]),
            ..Default::default()
        },
    );
    ctx.push(format!("{k8s}-internal-network-policy.yaml"), &p)
}
