//! Compose `build.secrets` and `build.additional_contexts`: typed from the Compose file, then sent to berth's
//! engine through its extension of `POST /build` — a reserved `.berth-build/` directory in the context tar with
//! a `manifest.json` (see engine/src/build/ext.rs), which the engine takes out of the context before anything
//! reads it. dockerd's classic builder has no such channel (BuildKit has), so berth refuses these keys there.

use super::secrets::Source;
use super::service_body::Scope;
use super::spec::{BuildSecret, BuildSpec, NamedContext, SecretSource};
use anyhow::{bail, Context, Result};
use compose::model::FileRef;
use std::collections::BTreeMap;

/// The reserved directory of the context tar.
pub const DIR: &str = ".berth-build";

/// `services.<name>.build.secrets`: each must name a top-level secret; `target` is the id the Dockerfile uses.
pub fn secrets(name: &str, refs: &[FileRef], scope: &Scope) -> Result<Vec<BuildSecret>> {
    let mut out = Vec::new();
    for (i, r) in refs.iter().enumerate() {
        let at = format!("services.{name}.build.secrets[{i}]");
        let source = match scope.catalog.secret(&r.source) {
            Some(Source::HostFile(p)) => SecretSource::File(p.clone()),
            Some(Source::Bytes(b)) => SecretSource::Bytes(b.clone()),
            None => {
                return Err(scope.refuse(
                    &at,
                    format!("secret {:?} is not declared in the top-level secrets", r.source),
                ))
            }
        };
        let owner = super::secrets::owner_and_mode(r, &at)?;
        // A target written as a service-secret path (`/run/secrets/<name>`) names the same id.
        let id = match r.target.as_deref() {
            Some(t) => t.strip_prefix("/run/secrets/").unwrap_or(t).to_owned(),
            None => r.source.clone(),
        };
        out.push(BuildSecret {
            id,
            source,
            uid: r.uid.as_ref().and(owner.map(|o| o.0)),
            gid: r.gid.as_ref().and(owner.map(|o| o.1)),
            mode: r.mode.as_ref().and(owner.map(|o| o.2)),
        });
    }
    Ok(out)
}

/// `services.<name>.build.additional_contexts`: a directory (relative to the project directory),
/// `docker-image://<ref>` or `service:<name>`; URLs are refused by key.
pub fn contexts(name: &str, map: &compose::model::StringMap, scope: &Scope) -> Result<BTreeMap<String, NamedContext>> {
    let mut out = BTreeMap::new();
    for (key, value) in map {
        let at = format!("services.{name}.build.additional_contexts.{key}");
        let named = if let Some(r) = value.strip_prefix("docker-image://") {
            NamedContext::Image(r.to_owned())
        } else if let Some(other) = value.strip_prefix("service:") {
            let builds = scope.project.service(other).is_some_and(|s| s.build.is_some());
            if !builds {
                return Err(scope.refuse(
                    &at,
                    format!("{other:?} is not a service of this project with a build section"),
                ));
            }
            NamedContext::Service(other.to_owned())
        } else if value.contains("://") || value.starts_with("git@") {
            return Err(scope.refuse(
                &at,
                format!("{value}: only directories, docker-image:// and service: contexts are supported by berth (no git or http URLs, no oci-layout://)"),
            ));
        } else {
            NamedContext::Dir(scope.working_dir.join(value))
        };
        out.insert(key.clone(), named);
    }
    Ok(out)
}

/// Whether a build needs berth's extension of /build.
pub fn needed(spec: &BuildSpec) -> bool {
    !spec.secrets.is_empty() || !spec.contexts.is_empty()
}

/// Appends `.berth-build/` (manifest, secrets, directory contexts) to a context tar; `service:` contexts must
/// have been turned into images first. Errors name the service and the key.
/// `sync` is the manifest's `sync` member (berth's context sync, build_sync.rs).
pub fn append(
    builder: &mut tar::Builder<Vec<u8>>,
    service: &str,
    spec: &BuildSpec,
    sync: Option<serde_json::Value>,
) -> Result<()> {
    let mut secrets = serde_json::Map::new();
    for (n, s) in spec.secrets.iter().enumerate() {
        let bytes = match &s.source {
            SecretSource::Bytes(b) => b.clone(),
            SecretSource::File(p) => std::fs::read(p)
                .with_context(|| format!("service {service:?}: build secret {}: reading {}", s.id, p.display()))?,
        };
        let file = format!("secrets/{n}");
        super::build_context::append_file(builder, &format!("{DIR}/{file}"), &bytes, 0o600)?;
        let entry = serde_json::json!({ "file": file, "uid": s.uid, "gid": s.gid, "mode": s.mode });
        secrets.insert(s.id.clone(), entry);
    }
    let mut contexts = serde_json::Map::new();
    for (n, (name, c)) in spec.contexts.iter().enumerate() {
        let entry = match c {
            NamedContext::Image(r) => serde_json::json!({ "image": r }),
            NamedContext::Dir(dir) => {
                let dir = super::from_build::check_context(service, dir)
                    .with_context(|| format!("additional context {name}"))?;
                let rel = format!("contexts/{n}");
                super::build_context::append_dir(builder, &dir, &format!("{DIR}/{rel}"))
                    .with_context(|| format!("service {service:?}: additional context {name}: {}", dir.display()))?;
                serde_json::json!({ "dir": rel })
            }
            NamedContext::Service(s) => {
                bail!("service {service:?}: additional context {name}: service {s} was not built")
            }
        };
        contexts.insert(name.clone(), entry);
    }
    let mut manifest = serde_json::json!({ "secrets": secrets, "contexts": contexts });
    if let Some(sync) = sync {
        manifest["sync"] = sync;
    }
    let text = serde_json::to_vec(&manifest)?;
    super::build_context::append_file(builder, &format!("{DIR}/manifest.json"), &text, 0o600)
}

/// Refuses a build that needs the extension when the engine is not berth's (dockerd would read `.berth-build/`
/// as part of the context: the secrets would reach the image).
pub fn check_engine(service: &str, spec: &BuildSpec, engine_is_berth: bool) -> Result<()> {
    if engine_is_berth || !needed(spec) {
        return Ok(());
    }
    let key = if spec.secrets.is_empty() {
        "additional_contexts"
    } else {
        "secrets"
    };
    bail!(
        "services.{service}.build.{key}: needs BuildKit on dockerd; berth drives dockerd through the classic builder API, which has no channel for it (use berth's own engine, or drop the key)"
    )
}
