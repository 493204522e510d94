//! `deploy.resources` (and `cpus`, `mem_limit`, `mem_reservation`) as container requests and limits.

use super::context::Ctx;
use compose::model::{ResourceSet, Service};
use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use std::collections::BTreeMap;

type Amounts = BTreeMap<String, Quantity>;

/// CPUs as millicores (`0.25` → `250m`).
fn cpu(c: f64) -> Quantity {
    let milli = (c * 1000.0).round() as i64;
    if milli % 1000 == 0 {
        Quantity((milli / 1000).to_string())
    } else {
        Quantity(format!("{milli}m"))
    }
}

fn set(ctx: &mut Ctx, key: &str, r: Option<&ResourceSet>, cpus: Option<f64>, mem: Option<u64>) -> Option<Amounts> {
    let mut out = Amounts::new();
    if let Some(c) = r.and_then(|r| r.cpus).or(cpus).filter(|c| *c > 0.0) {
        out.insert("cpu".into(), cpu(c));
    }
    if let Some(m) = r.and_then(|r| r.memory.map(|m| m.0)).or(mem).filter(|m| *m > 0) {
        out.insert("memory".into(), Quantity(m.to_string()));
    }
    if let Some(r) = r {
        if r.pids.is_some() {
            ctx.warn(
                &format!("{key}.pids"),
                "Kubernetes sets pid limits per node, not per container; not kept",
            );
        }
        if !r.devices.is_empty() {
            ctx.warn(
                &format!("{key}.devices"),
                "device requests need a device plugin's resource name; not kept",
            );
        }
        if !r.generic_resources.is_empty() {
            ctx.warn(
                &format!("{key}.generic_resources"),
                "Swarm generic resources have no Kubernetes form; not kept",
            );
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Requests from reservations, limits from limits.
pub fn requirements(ctx: &mut Ctx, key: &str, svc: &Service) -> Option<ResourceRequirements> {
    let res = svc.deploy.as_ref().map(|d| &d.resources);
    let lkey = format!("{key}.deploy.resources.limits");
    let rkey = format!("{key}.deploy.resources.reservations");
    let limits = set(
        ctx,
        &lkey,
        res.and_then(|r| r.limits.as_ref()),
        svc.cpus,
        svc.mem_limit.map(|m| m.0),
    );
    let requests = set(
        ctx,
        &rkey,
        res.and_then(|r| r.reservations.as_ref()),
        None,
        svc.mem_reservation.map(|m| m.0),
    );
    (limits.is_some() || requests.is_some()).then(|| ResourceRequirements {
        limits,
        requests,
        ..Default::default()
    })
}
