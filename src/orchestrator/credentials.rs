//! Registry credentials for pulls and pushes sent through the engine: the docker CLI's config.json
//! (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`), in bollard's `X-Registry-Auth` form.

use bollard::auth::DockerCredentials;
use imageref::credentials::{self as auth, DockerConfig};
use imageref::ImageRef;

/// Credentials stored for `registry` (`host[:port]`, `docker.io`), if any.
pub fn for_registry(registry: &str) -> anyhow::Result<Option<DockerCredentials>> {
    let Some(path) = auth::docker_config_path() else {
        return Ok(None);
    };
    let creds = DockerConfig::load(&path)?.credentials(registry)?;
    Ok(creds.map(|c| DockerCredentials {
        username: Some(c.username).filter(|s| !s.is_empty()),
        password: Some(c.password).filter(|s| !s.is_empty()),
        identitytoken: Some(c.identity_token).filter(|s| !s.is_empty()),
        serveraddress: Some(auth::config_key(registry)),
        ..Default::default()
    }))
}

/// Credentials for the registry an image reference points at (none for a reference that does not parse:
/// the engine's answer to it names the problem).
pub fn for_image(image: &str) -> anyhow::Result<Option<DockerCredentials>> {
    match ImageRef::parse(image) {
        Ok(r) => for_registry(&r.registry),
        Err(_) => Ok(None),
    }
}
