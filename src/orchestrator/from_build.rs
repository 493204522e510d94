//! A service's `build:` section (`compose::model::Build`) → `spec::BuildSpec`, refusing, before anything is built,
//! what the classic builder (berth's engine, dockerd with `DOCKER_BUILDKIT=0`) cannot do.

use super::service_body::Scope;
use super::spec::{BuildSpec, DockerfileSource};
use anyhow::Result;
use compose::model::{Build, Service};
use std::path::{Path, PathBuf};

/// The `build:` keys only BuildKit honours, refused rather than ignored (docs/compose-differences.md).
fn buildkit_only(b: &Build) -> Vec<&'static str> {
    let set = [
        ("ssh", !b.ssh.is_empty()),
        ("cache_to", !b.cache_to.is_empty()),
        ("isolation", b.isolation.is_some()),
        ("privileged", b.privileged.is_some()),
        ("ulimits", !b.ulimits.is_empty()),
        ("entitlements", !b.entitlements.is_empty()),
        ("provenance", b.provenance.is_some()),
        ("sbom", b.sbom.is_some()),
    ];
    set.iter().filter(|(_, on)| *on).map(|(k, _)| *k).collect()
}

/// Maps the service's `build:` (None when it has none).
pub fn map(name: &str, svc: &Service, scope: &Scope) -> Result<Option<BuildSpec>> {
    let Some(b) = &svc.build else {
        return Ok(None);
    };
    let at = |what: &str| format!("services.{name}.build.{what}");
    if let Some(key) = buildkit_only(b).first() {
        return Err(scope.refuse(
            &at(key),
            "not supported by berth's classic builder yet (refused rather than ignored)",
        ));
    }
    if let Some(key) = b.extensions.keys().find(|k| !k.starts_with("x-")) {
        return Err(scope.refuse(&at(key), "attribute not supported by berth yet"));
    }
    if is_remote(&b.context) {
        return Err(scope.refuse(
            &at("context"),
            format!(
                "{}: remote build contexts (git or http URLs) are not supported by berth: clone it and give the local directory",
                b.context
            ),
        ));
    }
    let context = scope.working_dir.join(&b.context);
    let dockerfile = match (&b.dockerfile_inline, &b.dockerfile) {
        (Some(text), _) => DockerfileSource::Inline(text.clone()),
        (None, Some(file)) => DockerfileSource::File(context.join(file)),
        (None, None) => DockerfileSource::File(context.join("Dockerfile")),
    };
    let platform = platform(&b.platforms).map_err(|e| scope.refuse(&at("platforms"), e))?;
    Ok(Some(BuildSpec {
        context,
        dockerfile,
        args: b.args.clone().into_iter().collect(),
        target: b.target.clone(),
        labels: b.labels.clone().into_iter().collect(),
        cache_from: b.cache_from.clone(),
        tags: b.tags.clone(),
        network: b.network.clone(),
        extra_hosts: b.extra_hosts.clone(),
        shm_size: b.shm_size.map(|s| s.0),
        no_cache: b.no_cache.unwrap_or(false),
        pull: b.pull.unwrap_or(false),
        platform,
        secrets: super::build_ext::secrets(name, &b.secrets, scope)?,
        contexts: super::build_ext::contexts(name, &b.additional_contexts, scope)?,
    }))
}

/// Whether a context is a URL (git, http) rather than a directory.
fn is_remote(context: &str) -> bool {
    context.contains("://") || context.starts_with("git@") || context.starts_with("github.com/")
}

/// This machine's platform as the Engine API names it (`linux/amd64`, `linux/arm64`...).
pub fn host_platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    };
    format!("linux/{arch}")
}

/// The one platform to build for: every entry must be this machine's (berth builds no other).
fn platform(platforms: &[String]) -> Result<Option<String>, String> {
    let host = host_platform();
    if let Some(other) = platforms
        .iter()
        .find(|p| *p != &host && !p.starts_with(&format!("{host}/")))
    {
        return Err(format!(
            "{other} is not this machine's platform ({host}): berth builds for this machine only"
        ));
    }
    Ok(platforms.first().cloned())
}

/// The context directory, checked to exist (errors name the service).
pub fn check_context(service: &str, context: &Path) -> Result<PathBuf> {
    match std::fs::metadata(context) {
        Ok(m) if m.is_dir() => Ok(context.to_owned()),
        Ok(_) => anyhow::bail!(
            "service {service:?}: build context {} is not a directory",
            context.display()
        ),
        Err(e) => anyhow::bail!(
            "service {service:?}: build context {} cannot be read: {e}",
            context.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_machines_platform_is_taken() {
        let host = host_platform();
        assert_eq!(platform(&[]).unwrap(), None);
        assert_eq!(platform(std::slice::from_ref(&host)).unwrap(), Some(host.clone()));
        let err = platform(&[host.clone(), "linux/s390x".to_owned()]).unwrap_err();
        assert!(err.contains("linux/s390x") && err.contains(&host), "{err}");
    }

    #[test]
    fn urls_are_remote_and_directories_are_not() {
        assert!(is_remote("https://github.com/a/b.git#main"));
        assert!(is_remote("git@github.com:a/b.git"));
        assert!(!is_remote("/home/me/app"));
        assert!(!is_remote("./app"));
    }
}
