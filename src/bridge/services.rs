//! Services: one per Compose service so its name resolves as on a Compose network (ClusterIP for its
//! ports, headless when it has none), one per network alias, and a LoadBalancer for published ports.

use super::container::port_list;
use super::context::{BridgeError, Ctx};
use super::names::{self, port_name, SERVICE_LABEL};
use compose::model::Service;
use k8s_openapi::api::core::v1::{Service as K8sService, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;

fn selector(k8s: &str) -> Option<BTreeMap<String, String>> {
    Some(BTreeMap::from([(SERVICE_LABEL.to_owned(), k8s.to_owned())]))
}

fn port(name: String, port: u16, target: u16, protocol: &str) -> ServicePort {
    ServicePort {
        name: Some(name),
        port: i32::from(port),
        target_port: Some(IntOrString::Int(i32::from(target))),
        protocol: Some(protocol.to_owned()),
        ..Default::default()
    }
}

/// The in-cluster Service: ClusterIP with the container's ports, or headless without ports.
fn internal(ctx: &mut Ctx, name: &str, svc: &Service, object: &str) -> K8sService {
    let key = format!("services.{name}");
    let k8s = ctx.service_name(name);
    let ports: Vec<ServicePort> = port_list(ctx, &key, svc)
        .into_iter()
        .map(|(p, proto)| port(port_name(&proto, p), p, p, &proto))
        .collect();
    let dnsrr = svc.deploy.as_ref().and_then(|d| d.endpoint_mode.as_deref()) == Some("dnsrr");
    let headless = ports.is_empty() || dnsrr;
    K8sService {
        metadata: ctx.meta(object, &[(SERVICE_LABEL, &k8s)]),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            cluster_ip: headless.then(|| "None".into()),
            // A headless name resolves once a pod runs, healthy or not, as a Compose service name does.
            publish_not_ready_addresses: ports.is_empty().then_some(true),
            selector: selector(&k8s),
            ports: (!ports.is_empty()).then_some(ports),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Published ports as a LoadBalancer Service `<name>-published` (Compose Bridge's choice).
fn published(ctx: &mut Ctx, name: &str, svc: &Service) -> Option<K8sService> {
    let key = format!("services.{name}");
    let k8s = ctx.service_name(name);
    let mut ports: Vec<ServicePort> = Vec::new();
    for (i, p) in svc.ports.iter().enumerate() {
        let pkey = format!("{key}.ports[{i}]");
        let proto = if p.protocol.is_empty() {
            "TCP".to_owned()
        } else {
            p.protocol.to_ascii_uppercase()
        };
        let host = match p.published {
            None => p.target,
            Some(range) => {
                if range.end != range.start {
                    ctx.warn(
                        &pkey,
                        format!("host port range {range}: the load balancer listens on its first port"),
                    );
                }
                range.start
            }
        };
        if p.host_ip.as_deref().is_some_and(|ip| ip != "0.0.0.0" && ip != "::") {
            ctx.warn(
                &format!("{pkey}.host_ip"),
                "a load balancer listens on its own addresses; the host address is not kept",
            );
        }
        if ports
            .iter()
            .any(|q| q.port == i32::from(host) && q.protocol.as_deref() == Some(proto.as_str()))
        {
            ctx.warn(&pkey, format!("{host}/{proto} is already published; not kept"));
            continue;
        }
        ports.push(port(port_name(&proto, host), host, p.target, &proto));
    }
    if ports.is_empty() {
        return None;
    }
    Some(K8sService {
        metadata: ctx.meta(&format!("{k8s}-published"), &[(SERVICE_LABEL, &k8s)]),
        spec: Some(ServiceSpec {
            type_: Some("LoadBalancer".into()),
            selector: selector(&k8s),
            ports: Some(ports),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// Network aliases other than the service's name, as more Services selecting the same pods.
fn aliases(ctx: &mut Ctx, name: &str, svc: &Service) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (net, cfg) in &svc.networks {
        for (i, a) in cfg.iter().flat_map(|c| c.aliases.iter()).enumerate() {
            let akey = format!("services.{name}.networks.{net}.aliases[{i}]");
            match names::dns_label(a) {
                Some(l) if l == *a => {
                    let taken = ctx.names.values().any(|n| *n == l) || out.contains(&l);
                    if taken {
                        if l != ctx.service_name(name) {
                            ctx.warn(&akey, format!("{a:?} is already a service's name; not kept"));
                        }
                    } else {
                        out.push(l);
                    }
                }
                _ => ctx.warn(
                    &akey,
                    format!("{a:?} is not a DNS label, so no Service can carry it; not kept"),
                ),
            }
        }
    }
    out
}

/// All Services of one Compose service.
pub fn convert(ctx: &mut Ctx, name: &str, svc: &Service) -> Result<(), BridgeError> {
    let k8s = ctx.service_name(name);
    let main = internal(ctx, name, svc, &k8s);
    ctx.push(format!("{k8s}-expose.yaml"), &main)?;
    for alias in aliases(ctx, name, svc) {
        let s = internal(ctx, name, svc, &alias);
        ctx.push(format!("{alias}-alias-expose.yaml"), &s)?;
    }
    if let Some(p) = published(ctx, name, svc) {
        ctx.push(format!("{k8s}-service.yaml"), &p)?;
    }
    Ok(())
}
