//! `depends_on` kept: one init container per dependency that waits for its condition, and for conditions that
//! need the API (Ready pods, a succeeded Job) a ServiceAccount with a Role that can read them.

use super::container::port_list;
use super::context::{BridgeError, Ctx};
use super::names::SERVICE_LABEL;
use compose::model::{Condition, Service};
use k8s_openapi::api::core::v1::{Container, ServiceAccount};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};

/// Init containers of a service and the ServiceAccount they need, if any.
#[derive(Default)]
pub struct Waits {
    /// One per dependency, in `depends_on` order.
    pub init: Vec<Container>,
    /// Set when a wait reads pods or Jobs from the API.
    pub service_account: Option<String>,
}

/// Whether some service waits for `name` to complete (then it must run as a Job, whatever its `restart`).
pub fn awaited_completion(ctx: &Ctx, name: &str) -> bool {
    ctx.project.services.values().any(|s| {
        s.depends_on
            .iter()
            .any(|(d, c)| d.as_str() == name && c.condition == Condition::ServiceCompletedSuccessfully)
    })
}

fn shell(image: &str, name: String, script: String) -> Container {
    Container {
        name,
        image: Some(image.to_owned()),
        command: Some(vec!["/bin/sh".into(), "-c".into(), script]),
        ..Default::default()
    }
}

fn started(ctx: &mut Ctx, dep: &str, dep_svc: &Service) -> String {
    let host = ctx.service_name(dep);
    let ports = port_list(ctx, &format!("services.{dep}"), dep_svc);
    match ports.iter().find(|(_, proto)| proto == "TCP") {
        Some((port, _)) => format!("until nc -z -w 2 {host} {port}; do echo waiting for {host}:{port}; sleep 2; done"),
        None => {
            let fqdn = format!("{host}.{}.svc.cluster.local", ctx.namespace);
            format!("until nslookup {fqdn} >/dev/null 2>&1; do echo waiting for {fqdn}; sleep 2; done")
        }
    }
}

fn healthy(ctx: &mut Ctx, key: &str, dep: &str, dep_svc: &Service) -> String {
    if dep_svc.healthcheck.as_ref().and_then(super::probes::command).is_none() {
        ctx.warn(
            key,
            format!("{dep} has no healthcheck: its pods are Ready as soon as they run"),
        );
    }
    let sel = format!("{SERVICE_LABEL}={}", ctx.service_name(dep));
    format!(
        "until kubectl wait --namespace {ns} --for=condition=Ready pod --selector {sel} --timeout=60s; \
         do echo waiting for {dep} to be healthy; sleep 2; done",
        ns = ctx.namespace
    )
}

fn completed(ctx: &Ctx, dep: &str) -> String {
    format!(
        "until kubectl wait --namespace {ns} --for=condition=complete job/{job} --timeout=60s; \
         do echo waiting for {dep} to complete; sleep 2; done",
        ns = ctx.namespace,
        job = ctx.service_name(dep)
    )
}

/// The init containers that keep `depends_on`.
pub fn waits(ctx: &mut Ctx, name: &str, svc: &Service) -> Result<Waits, BridgeError> {
    let mut w = Waits::default();
    let (mut pods, mut jobs) = (false, false);
    for (dep, cond) in &svc.depends_on {
        let key = format!("services.{name}.depends_on.{dep}");
        let Some(dep_svc) = ctx.project.service(dep.as_str()) else {
            if cond.required {
                return Err(ctx.error(&key, format!("{dep} is not a service of the project")));
            }
            continue;
        };
        if cond.restart {
            ctx.warn(
                &format!("{key}.restart"),
                "pods are not restarted when a dependency restarts",
            );
        }
        let script = match cond.condition {
            Condition::ServiceStarted => started(ctx, dep.as_str(), dep_svc),
            Condition::ServiceHealthy => {
                pods = true;
                healthy(ctx, &key, dep.as_str(), dep_svc)
            }
            Condition::ServiceCompletedSuccessfully => {
                jobs = true;
                completed(ctx, dep.as_str())
            }
        };
        let image = match cond.condition {
            Condition::ServiceStarted => ctx.opts.wait_image.clone(),
            _ => ctx.opts.kubectl_image.clone(),
        };
        let cname: String = format!("wait-for-{}", ctx.service_name(dep.as_str()))
            .chars()
            .take(63)
            .collect();
        w.init.push(shell(&image, cname, script));
    }
    if pods || jobs {
        w.service_account = Some(rbac(ctx, name, pods, jobs)?);
    }
    Ok(w)
}

/// A ServiceAccount, a Role reading pods and/or Jobs, and their binding.
fn rbac(ctx: &mut Ctx, name: &str, pods: bool, jobs: bool) -> Result<String, BridgeError> {
    let account = format!("{}-waits", ctx.service_name(name));
    let read = || Some(vec!["get".to_owned(), "list".to_owned(), "watch".to_owned()]);
    let mut rules = Vec::new();
    if pods {
        rules.push(PolicyRule {
            api_groups: Some(vec![String::new()]),
            resources: Some(vec!["pods".into()]),
            verbs: read().unwrap_or_default(),
            ..Default::default()
        });
    }
    if jobs {
        rules.push(PolicyRule {
            api_groups: Some(vec!["batch".into()]),
            resources: Some(vec!["jobs".into()]),
            verbs: read().unwrap_or_default(),
            ..Default::default()
        });
    }
    let sa = ServiceAccount {
        metadata: ctx.meta(&account, &[]),
        ..Default::default()
    };
    let role = Role {
        metadata: ctx.meta(&account, &[]),
        rules: Some(rules),
    };
    let binding = RoleBinding {
        metadata: ctx.meta(&account, &[]),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: account.clone(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: account.clone(),
            namespace: Some(ctx.namespace.clone()),
            ..Default::default()
        }]),
    };
    ctx.push(format!("{account}-serviceAccount.yaml"), &sa)?;
    ctx.push(format!("{account}-role.yaml"), &role)?;
    ctx.push(format!("{account}-roleBinding.yaml"), &binding)?;
    Ok(account)
}
