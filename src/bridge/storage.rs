//! Mounts: named volumes as PersistentVolumeClaims, anonymous volumes and bind-mounted directories as
//! `emptyDir` (or `hostPath` by option), bind-mounted files as ConfigMaps, tmpfs and shm as memory `emptyDir`.

use super::context::{BridgeError, Ctx};
use super::names;
use compose::model::{Service, ServiceVolume};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, EmptyDirVolumeSource, HostPathVolumeSource, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource, Volume, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::ByteString;
use std::collections::BTreeMap;
use std::path::Path;
use units::parse_bytes;

/// ConfigMaps hold at most 1 MiB.
const CONFIG_MAP_MAX: u64 = 1024 * 1024;

/// The volumes of a pod and the mounts of its container.
#[derive(Default)]
pub struct PodStorage {
    /// Mounts of the main container.
    pub mounts: Vec<VolumeMount>,
    /// Volumes of the pod.
    pub volumes: Vec<Volume>,
}

impl PodStorage {
    /// Adds a volume under a name unique in the pod and mounts it at `target`.
    pub fn add(
        &mut self,
        base: &str,
        source: Volume,
        target: &str,
        read_only: bool,
        sub_path: Option<String>,
    ) -> String {
        let name = self.unique(base);
        self.volumes.push(Volume {
            name: name.clone(),
            ..source
        });
        self.mounts.push(VolumeMount {
            name: name.clone(),
            mount_path: target.to_owned(),
            read_only: read_only.then_some(true),
            sub_path,
            ..Default::default()
        });
        name
    }

    fn unique(&self, base: &str) -> String {
        let base: String = names::dns_label(base)
            .unwrap_or_else(|| "vol".into())
            .chars()
            .take(58)
            .collect();
        let taken = |n: &str| self.volumes.iter().any(|v| v.name == n);
        if !taken(&base) {
            return base;
        }
        (2..).map(|i| format!("{base}-{i}")).find(|n| !taken(n)).unwrap_or(base)
    }
}

fn memory_dir(size: Option<u64>) -> Volume {
    Volume {
        empty_dir: Some(EmptyDirVolumeSource {
            medium: Some("Memory".into()),
            size_limit: size.map(|s| Quantity(s.to_string())),
        }),
        ..Default::default()
    }
}

fn empty_dir() -> Volume {
    Volume {
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Default::default()
    }
}

/// The PVC name of a top-level volume (external ones keep their own name).
pub fn claim_name(ctx: &Ctx, volume: &str) -> String {
    match ctx.project.volumes.get(volume) {
        Some(v) if v.external => v.name.clone().unwrap_or_else(|| volume.to_owned()),
        _ => names::dns_label(volume).unwrap_or_else(|| "volume".into()),
    }
}

/// How many pods mount the volume (services times replicas), to warn about ReadWriteOnce claims.
fn users(ctx: &Ctx, volume: &str) -> u64 {
    ctx.project
        .services
        .values()
        .filter(|s| {
            s.volumes
                .iter()
                .any(|v| v.kind == "volume" && v.source.as_deref() == Some(volume))
        })
        .map(super::workload::replicas)
        .sum()
}

/// A PersistentVolumeClaim per named volume that is not external.
pub fn claims(ctx: &mut Ctx) -> Result<(), BridgeError> {
    for (key, vol) in ctx.project.volumes.clone() {
        if vol.external {
            continue;
        }
        let vkey = format!("volumes.{key}");
        if vol.driver.as_deref().is_some_and(|d| d != "local") || !vol.driver_opts.is_empty() {
            ctx.warn(
                &vkey,
                "volume drivers and their options have no claim form; use --storage-class",
            );
        }
        if users(ctx, &key) > 1 {
            ctx.warn(
                &vkey,
                "mounted by more than one pod: the claim is ReadWriteOnce, so those pods must share a node \
                 (or give a storage class that binds ReadWriteMany)",
            );
        }
        let name = claim_name(ctx, &key);
        let mut requests = BTreeMap::new();
        requests.insert("storage".to_owned(), Quantity(ctx.opts.volume_size.clone()));
        let pvc = PersistentVolumeClaim {
            metadata: ctx.meta(&name, &[]),
            spec: Some(PersistentVolumeClaimSpec {
                access_modes: Some(vec!["ReadWriteOnce".into()]),
                storage_class_name: ctx.opts.storage_class.clone(),
                resources: Some(VolumeResourceRequirements {
                    requests: Some(requests),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        ctx.push(format!("{name}-persistentVolumeClaim.yaml"), &pvc)?;
    }
    Ok(())
}

/// Volumes and mounts of one service.
pub fn mounts(ctx: &mut Ctx, name: &str, svc: &Service) -> Result<PodStorage, BridgeError> {
    let key = format!("services.{name}");
    let mut pod = PodStorage::default();
    for (i, v) in svc.volumes.iter().enumerate() {
        let vkey = format!("{key}.volumes[{i}]");
        mount(ctx, name, &vkey, v, &mut pod)?;
    }
    for (i, t) in svc.tmpfs.iter().enumerate() {
        let (path, opts) = t.split_once(':').unwrap_or((t, ""));
        let size = opts
            .split(',')
            .find_map(|o| o.strip_prefix("size="))
            .and_then(parse_bytes);
        if opts.split(',').any(|o| !o.is_empty() && !o.starts_with("size=")) {
            ctx.warn(
                &format!("{key}.tmpfs[{i}]"),
                "tmpfs options other than size are not kept",
            );
        }
        pod.add(
            &format!("tmpfs-{path}"),
            memory_dir(size.map(|s| s as u64)),
            path,
            false,
            None,
        );
    }
    if let Some(shm) = svc.shm_size {
        pod.add("dshm", memory_dir(Some(shm.0)), "/dev/shm", false, None);
    }
    if !svc.volumes_from.is_empty() {
        ctx.warn(
            &format!("{key}.volumes_from"),
            "pods cannot mount another pod's volumes; not kept",
        );
    }
    Ok(pod)
}

fn mount(ctx: &mut Ctx, svc: &str, key: &str, v: &ServiceVolume, pod: &mut PodStorage) -> Result<(), BridgeError> {
    let sub_path = v.volume.as_ref().and_then(|o| o.subpath.clone());
    match (v.kind.as_str(), v.source.as_deref()) {
        ("volume", Some(src)) => {
            let claim = claim_name(ctx, src);
            let source = Volume {
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                    claim_name: claim.clone(),
                    read_only: None,
                }),
                ..Default::default()
            };
            pod.add(&claim, source, &v.target, v.read_only, sub_path);
        }
        ("volume", None) => {
            pod.add(
                &format!("anon-{}", names::path_slug(&v.target)),
                empty_dir(),
                &v.target,
                v.read_only,
                None,
            );
        }
        ("tmpfs", _) => {
            let size = v.tmpfs.as_ref().and_then(|t| t.size).map(|s| s.0);
            if v.tmpfs.as_ref().is_some_and(|t| t.mode.is_some()) {
                ctx.warn(&format!("{key}.tmpfs.mode"), "emptyDir has no mode; not kept");
            }
            pod.add(
                &format!("tmpfs-{}", names::path_slug(&v.target)),
                memory_dir(size),
                &v.target,
                false,
                None,
            );
        }
        ("bind", Some(src)) => bind(ctx, svc, key, src, v, pod)?,
        (kind, _) => ctx.warn(key, format!("{kind:?} mounts have no Kubernetes form; not kept")),
    }
    if v.bind
        .as_ref()
        .is_some_and(|b| b.propagation.is_some() || b.selinux.is_some())
    {
        ctx.warn(
            &format!("{key}.bind"),
            "propagation and SELinux relabelling are not kept",
        );
    }
    Ok(())
}

fn bind(
    ctx: &mut Ctx,
    svc: &str,
    key: &str,
    src: &str,
    v: &ServiceVolume,
    pod: &mut PodStorage,
) -> Result<(), BridgeError> {
    let path = Path::new(src);
    let meta = std::fs::metadata(path).ok();
    if let Some(m) = meta.as_ref().filter(|m| m.is_file()) {
        if m.len() <= CONFIG_MAP_MAX {
            return bind_file(ctx, svc, key, path, v, pod);
        }
        ctx.warn(key, format!("{src} is larger than a ConfigMap can hold (1 MiB)"));
    }
    let slug = format!("bind-{}", names::path_slug(&v.target));
    if ctx.opts.bind_host_path {
        let source = Volume {
            host_path: Some(HostPathVolumeSource {
                path: src.to_owned(),
                type_: Some(if meta.is_some() { "" } else { "DirectoryOrCreate" }.to_owned()).filter(|t| !t.is_empty()),
            }),
            ..Default::default()
        };
        ctx.warn(
            key,
            format!("{src} mounted as a hostPath: it must exist on every node the pod may run on"),
        );
        pod.add(&slug, source, &v.target, v.read_only, None);
        return Ok(());
    }
    ctx.warn(
        key,
        format!(
            "bind mount of the directory {src}: a node has no copy of it, so {} starts as an empty emptyDir \
                 (--bind-host-path mounts the node's path; the desktop overlay does so)",
            v.target
        ),
    );
    let vol = pod.add(&slug, empty_dir(), &v.target, v.read_only, None);
    let k8s = ctx.service_name(svc);
    ctx.host_dirs.push((k8s, vol, path.to_path_buf()));
    Ok(())
}

/// A bind-mounted file as a ConfigMap with one key, mounted at the target with subPath.
fn bind_file(
    ctx: &mut Ctx,
    svc: &str,
    key: &str,
    path: &Path,
    v: &ServiceVolume,
    pod: &mut PodStorage,
) -> Result<(), BridgeError> {
    let bytes = std::fs::read(path).map_err(|e| ctx.error(key, format!("cannot read {}: {e}", path.display())))?;
    let file_key = config_key(path);
    let k8s = ctx.service_name(svc);
    let cm_name = format!("{k8s}-{}", names::path_slug(&v.target))
        .chars()
        .take(253)
        .collect::<String>();
    let mut cm = ConfigMap {
        metadata: ctx.meta(&cm_name, &[(names::SERVICE_LABEL, &k8s)]),
        ..Default::default()
    };
    put_bytes(&mut cm, &file_key, bytes);
    ctx.push(format!("{cm_name}-configMap.yaml"), &cm)?;
    let source = Volume {
        config_map: Some(ConfigMapVolumeSource {
            name: cm_name.clone(),
            ..Default::default()
        }),
        ..Default::default()
    };
    pod.add(
        &format!("bind-{}", names::path_slug(&v.target)),
        source,
        &v.target,
        v.read_only,
        Some(file_key),
    );
    Ok(())
}

/// A ConfigMap or Secret key from a file name (`[-._a-zA-Z0-9]+`).
pub fn config_key(path: &Path) -> String {
    let base = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let k: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if k.is_empty() || k == "." || k == ".." {
        "content".into()
    } else {
        k
    }
}

/// Text as `data`, anything else as `binaryData`.
pub fn put_bytes(cm: &mut ConfigMap, key: &str, bytes: Vec<u8>) {
    match String::from_utf8(bytes) {
        Ok(text) => {
            cm.data.get_or_insert_with(BTreeMap::new).insert(key.to_owned(), text);
        }
        Err(e) => {
            cm.binary_data
                .get_or_insert_with(BTreeMap::new)
                .insert(key.to_owned(), ByteString(e.into_bytes()));
        }
    }
}
