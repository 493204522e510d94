//! The service's container: image, command, environment, ports, working dir, security context, hooks.

use super::context::{BridgeError, Ctx};
use super::{probes, resources};
use compose::model::{Service, ServiceHook};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EnvVar, ExecAction, Lifecycle, LifecycleHandler, SeccompProfile,
    SecurityContext,
};

/// Builds the service's main container (mounts are added by the storage and files modules).
pub fn main(ctx: &mut Ctx, name: &str, svc: &Service) -> Result<Container, BridgeError> {
    let key = format!("services.{name}");
    let image = image(ctx, &key, svc)?;
    let mut c = Container {
        name: ctx.service_name(name),
        image: Some(image),
        command: svc.entrypoint.as_ref().map(|v| escape_all(v)),
        args: svc.command.as_ref().map(|v| escape_all(v)),
        working_dir: svc.working_dir.clone(),
        env: env(svc),
        ports: ports(ctx, &key, svc),
        tty: svc.tty.filter(|t| *t),
        stdin: svc.stdin_open.filter(|t| *t),
        image_pull_policy: pull_policy(ctx, &key, svc),
        security_context: security(ctx, &key, svc),
        resources: resources::requirements(ctx, &key, svc),
        lifecycle: lifecycle(ctx, &key, svc),
        ..Default::default()
    };
    probes::apply(ctx, &key, svc, &mut c);
    Ok(c)
}

fn image(ctx: &Ctx, key: &str, svc: &Service) -> Result<String, BridgeError> {
    match (&svc.image, &svc.build) {
        (Some(i), _) => Ok(i.clone()),
        (None, Some(_)) => Err(ctx.error(
            &format!("{key}.build"),
            "`build` without `image`: Kubernetes pulls images by name, so an image name is needed \
             (add `image:` with the name the built image is pushed under)",
        )),
        (None, None) => Err(ctx.error(key, "no `image`: Kubernetes needs an image name for every service")),
    }
}

/// Kubernetes expands `$(VAR)` in command, args and env values; `$$` keeps a `$` as Compose meant it.
pub fn escape(s: &str) -> String {
    s.replace('$', "$$")
}

fn escape_all(v: &[String]) -> Vec<String> {
    v.iter().map(|s| escape(s)).collect()
}

fn env(svc: &Service) -> Option<Vec<EnvVar>> {
    // A variable without a value is unset in Compose (env_file is already folded in by the loader).
    let vars: Vec<EnvVar> = svc
        .environment
        .iter()
        .filter_map(|(k, v)| {
            v.as_ref().map(|v| EnvVar {
                name: k.clone(),
                value: Some(escape(v)),
                ..Default::default()
            })
        })
        .collect();
    (!vars.is_empty()).then_some(vars)
}

/// The container's ports: every `ports` target and every `expose` entry, once each.
pub fn port_list(ctx: &mut Ctx, key: &str, svc: &Service) -> Vec<(u16, String)> {
    let mut out: Vec<(u16, String)> = Vec::new();
    let mut add = |p: u16, proto: &str| {
        let proto = proto.to_ascii_uppercase();
        if !out.contains(&(p, proto.clone())) {
            out.push((p, proto));
        }
    };
    for p in &svc.ports {
        add(p.target, if p.protocol.is_empty() { "tcp" } else { &p.protocol });
    }
    for (i, e) in svc.expose.iter().enumerate() {
        match parse_expose(e) {
            Some((range, proto)) if range.count() <= 100 => range.ports().for_each(|p| add(p, &proto)),
            _ => ctx.warn(
                &format!("{key}.expose[{i}]"),
                format!("{e:?} is not a port or a range of fewer than 100 ports; not exposed"),
            ),
        }
    }
    out
}

fn parse_expose(e: &str) -> Option<(units::PortRange, String)> {
    let (range, proto) = e.split_once('/').unwrap_or((e, "tcp"));
    let range: units::PortRange = range.parse().ok()?;
    (range.start > 0).then(|| (range, proto.to_owned()))
}

fn ports(ctx: &mut Ctx, key: &str, svc: &Service) -> Option<Vec<ContainerPort>> {
    let list: Vec<ContainerPort> = port_list(ctx, key, svc)
        .into_iter()
        .map(|(p, proto)| ContainerPort {
            container_port: i32::from(p),
            protocol: Some(proto),
            ..Default::default()
        })
        .collect();
    (!list.is_empty()).then_some(list)
}

fn pull_policy(ctx: &mut Ctx, key: &str, svc: &Service) -> Option<String> {
    let p = svc.pull_policy.as_deref()?;
    match p {
        "always" => Some("Always".into()),
        "never" => Some("Never".into()),
        "missing" | "if_not_present" => Some("IfNotPresent".into()),
        other => {
            ctx.warn(
                &format!("{key}.pull_policy"),
                format!("{other:?} has no Kubernetes pull policy"),
            );
            None
        }
    }
}

/// `uid[:gid]` as numbers; names cannot be resolved without the image.
fn user_ids(ctx: &mut Ctx, key: &str, user: &str) -> (Option<i64>, Option<i64>) {
    let (u, g) = user.split_once(':').map_or((user, None), |(u, g)| (u, Some(g)));
    let uid = u.parse::<i64>().ok();
    let gid = g.and_then(|g| g.parse::<i64>().ok());
    if uid.is_none() || (g.is_some() && gid.is_none()) {
        ctx.warn(
            &format!("{key}.user"),
            format!("{user:?}: Kubernetes takes numeric user and group ids only; the names are not kept"),
        );
    }
    (uid, gid)
}

fn security(ctx: &mut Ctx, key: &str, svc: &Service) -> Option<SecurityContext> {
    let mut sc = SecurityContext::default();
    if let Some(user) = &svc.user {
        (sc.run_as_user, sc.run_as_group) = user_ids(ctx, key, user);
    }
    let caps = |v: &[String]| -> Option<Vec<String>> {
        (!v.is_empty()).then(|| v.iter().map(|c| c.trim_start_matches("CAP_").to_owned()).collect())
    };
    if !svc.cap_add.is_empty() || !svc.cap_drop.is_empty() {
        sc.capabilities = Some(Capabilities {
            add: caps(&svc.cap_add),
            drop: caps(&svc.cap_drop),
        });
    }
    sc.privileged = svc.privileged.filter(|p| *p);
    sc.read_only_root_filesystem = svc.read_only.filter(|p| *p);
    for (i, opt) in svc.security_opt.iter().enumerate() {
        match opt.as_str() {
            "no-new-privileges" | "no-new-privileges:true" | "no-new-privileges=true" => {
                sc.allow_privilege_escalation = Some(false)
            }
            "seccomp:unconfined" | "seccomp=unconfined" => {
                sc.seccomp_profile = Some(SeccompProfile {
                    type_: "Unconfined".into(),
                    ..Default::default()
                })
            }
            other => ctx.warn(
                &format!("{key}.security_opt[{i}]"),
                format!("{other:?} has no securityContext counterpart; not kept"),
            ),
        }
    }
    (sc != SecurityContext::default()).then_some(sc)
}

fn hook(ctx: &mut Ctx, key: &str, hooks: &[ServiceHook]) -> Option<LifecycleHandler> {
    let first = hooks.first()?;
    if hooks.len() > 1 {
        ctx.warn(
            key,
            "Kubernetes runs one hook per event: only the first command is kept",
        );
    }
    if first.user.is_some()
        || first.privileged.is_some()
        || first.working_dir.is_some()
        || !first.environment.is_empty()
    {
        ctx.warn(key, "a hook's user, privileged, working_dir and environment have no Kubernetes form; the command runs as the container does");
    }
    Some(LifecycleHandler {
        exec: Some(ExecAction {
            command: first.command.clone(),
        }),
        ..Default::default()
    })
}

fn lifecycle(ctx: &mut Ctx, key: &str, svc: &Service) -> Option<Lifecycle> {
    let post_start = hook(ctx, &format!("{key}.post_start"), &svc.post_start);
    let pre_stop = hook(ctx, &format!("{key}.pre_stop"), &svc.pre_stop);
    (post_start.is_some() || pre_stop.is_some()).then(|| Lifecycle {
        post_start,
        pre_stop,
        ..Default::default()
    })
}
