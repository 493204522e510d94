//! Compose `configs` and `secrets` as ConfigMaps and Secrets, mounted at their Compose targets with their modes.

use super::context::{BridgeError, Ctx};
use super::names;
use super::storage::{config_key, put_bytes, PodStorage};
use compose::model::{FileObject, FileRef, Service};
use k8s_openapi::api::core::v1::{ConfigMap, ConfigMapVolumeSource, KeyToPath, Secret, SecretVolumeSource, Volume};
use k8s_openapi::ByteString;
use std::collections::BTreeMap;
use std::path::Path;

/// Which of the two top-level sections.
#[derive(Clone, Copy)]
enum Family {
    Config,
    Secret,
}

impl Family {
    fn section(self) -> &'static str {
        match self {
            Family::Config => "configs",
            Family::Secret => "secrets",
        }
    }
}

/// Object name and key of a config or secret.
fn object_name(ctx: &Ctx, family: Family, key: &str) -> String {
    let objects = match family {
        Family::Config => &ctx.project.configs,
        Family::Secret => &ctx.project.secrets,
    };
    match objects.get(key) {
        Some(o) if o.external => o.name.clone().unwrap_or_else(|| key.to_owned()),
        _ => format!(
            "{}-{}",
            match family {
                Family::Config => "config",
                Family::Secret => "secret",
            },
            names::dns_label(key).unwrap_or_else(|| "x".into())
        ),
    }
}

fn data_key(key: &str) -> String {
    config_key(Path::new(key))
}

/// The content of a config or secret: a file, inline content or a variable of the project environment.
fn content(ctx: &Ctx, okey: &str, o: &FileObject) -> Result<Vec<u8>, BridgeError> {
    if let Some(f) = &o.file {
        return std::fs::read(f).map_err(|e| ctx.error(&format!("{okey}.file"), format!("cannot read {f}: {e}")));
    }
    if let Some(c) = &o.content {
        return Ok(c.clone().into_bytes());
    }
    if let Some(var) = &o.environment {
        return ctx
            .project
            .environment
            .get(var)
            .map(|v| v.clone().into_bytes())
            .ok_or_else(|| {
                ctx.error(
                    &format!("{okey}.environment"),
                    format!("variable {var} is not set in the project environment"),
                )
            });
    }
    Err(ctx.error(okey, "expected `file`, `content`, `environment` or `external`"))
}

/// A ConfigMap per config and a Secret per secret that is not external.
pub fn convert_all(ctx: &mut Ctx) -> Result<(), BridgeError> {
    for family in [Family::Config, Family::Secret] {
        let objects = match family {
            Family::Config => ctx.project.configs.clone(),
            Family::Secret => ctx.project.secrets.clone(),
        };
        for (key, o) in objects {
            if o.external {
                continue;
            }
            let okey = format!("{}.{key}", family.section());
            if o.driver.is_some() || o.template_driver.is_some() {
                ctx.warn(
                    &okey,
                    "drivers and template drivers have no Kubernetes form; the content is used as is",
                );
            }
            let bytes = content(ctx, &okey, &o)?;
            let name = object_name(ctx, family, &key);
            let dkey = data_key(&key);
            match family {
                Family::Config => {
                    let mut cm = ConfigMap {
                        metadata: ctx.meta(&name, &[]),
                        ..Default::default()
                    };
                    put_bytes(&mut cm, &dkey, bytes);
                    ctx.push(format!("{name}-configMap.yaml"), &cm)?;
                }
                Family::Secret => {
                    let s = Secret {
                        metadata: ctx.meta(&name, &[]),
                        type_: Some("Opaque".into()),
                        data: Some(BTreeMap::from([(dkey, ByteString(bytes))])),
                        ..Default::default()
                    };
                    ctx.push(format!("{name}-secret.yaml"), &s)?;
                }
            }
        }
    }
    Ok(())
}

/// Octal mode text (`0440`) as a number.
fn mode(ctx: &mut Ctx, key: &str, m: &str) -> Option<i32> {
    let parsed = i32::from_str_radix(m.trim_start_matches("0o"), 8)
        .ok()
        .filter(|m| (0..=0o777).contains(m));
    if parsed.is_none() {
        ctx.warn(key, format!("{m:?} is not an octal file mode; the default is used"));
    }
    parsed
}

fn mount_one(ctx: &mut Ctx, family: Family, key: &str, r: &FileRef, pod: &mut PodStorage) {
    let target = match (&r.target, family) {
        (Some(t), Family::Secret) if !t.starts_with('/') => format!("/run/secrets/{t}"),
        (Some(t), _) => t.clone(),
        (None, Family::Secret) => format!("/run/secrets/{}", r.source),
        (None, Family::Config) => format!("/{}", r.source),
    };
    if r.uid.is_some() || r.gid.is_some() {
        ctx.warn(
            key,
            "files of a ConfigMap or Secret volume belong to root (or fsGroup); uid and gid are not kept",
        );
    }
    let item = KeyToPath {
        key: data_key(&r.source),
        path: data_key(&r.source),
        mode: r.mode.as_deref().and_then(|m| mode(ctx, &format!("{key}.mode"), m)),
    };
    let name = object_name(ctx, family, &r.source);
    let source = match family {
        Family::Config => Volume {
            config_map: Some(ConfigMapVolumeSource {
                name: name.clone(),
                items: Some(vec![item.clone()]),
                ..Default::default()
            }),
            ..Default::default()
        },
        Family::Secret => Volume {
            secret: Some(SecretVolumeSource {
                secret_name: Some(name.clone()),
                items: Some(vec![item.clone()]),
                ..Default::default()
            }),
            ..Default::default()
        },
    };
    pod.add(&name, source, &target, true, Some(item.path));
}

/// Mounts the service's configs and secrets into `pod`.
pub fn mounts(ctx: &mut Ctx, name: &str, svc: &Service, pod: &mut PodStorage) {
    for (family, refs) in [(Family::Config, &svc.configs), (Family::Secret, &svc.secrets)] {
        for (i, r) in refs.iter().enumerate() {
            let key = format!("services.{name}.{}[{i}]", family.section());
            mount_one(ctx, family, &key, r, pod);
        }
    }
}
