//! Connections to one registry: an `oci-client` client with the right scheme (http only where allowed),
//! the reference in its terms, credentials, and registry errors turned into Docker-like messages.

use super::settings::RegistrySettings;
use crate::error::EngineError;
use crate::images::ImageRef;
use imageref::credentials::Credentials;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::Reference;

/// Docker Hub's API endpoint.
const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// One registry endpoint and repository, ready for requests.
#[derive(Clone)]
pub struct Endpoint {
    /// The HTTP client (shares connections between layers).
    pub client: oci_client::Client,
    /// The repository at this endpoint (tag or digest set per request).
    pub reference: Reference,
    /// Credentials for it.
    pub auth: RegistryAuth,
    /// `host[:port]` actually contacted.
    pub host: String,
}

impl Endpoint {
    /// An endpoint for `r` at `host` (its own registry, or a mirror).
    pub fn new(settings: &RegistrySettings, r: &ImageRef, host: &str, creds: Option<&Credentials>) -> Self {
        let host = if host == imageref::reference::DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            host
        };
        let protocol = if settings.allows_http(host) {
            ClientProtocol::HttpsExcept(vec![host.to_owned()])
        } else {
            ClientProtocol::Https
        };
        let config = ClientConfig {
            protocol,
            // Platform selection is ours (see manifest.rs): indexes are fetched raw.
            platform_resolver: None,
            user_agent: concat!("berth/", env!("CARGO_PKG_VERSION")),
            connect_timeout: Some(std::time::Duration::from_secs(30)),
            read_timeout: Some(std::time::Duration::from_secs(120)),
            // One PUT per blob (streamed), rather than 4 MiB PATCH round trips.
            use_monolithic_push: true,
            ..Default::default()
        };
        let reference = Reference::with_tag(host.to_owned(), r.repository.clone(), "latest".to_owned());
        Endpoint {
            client: oci_client::Client::new(config),
            reference,
            auth: to_auth(creds),
            host: host.to_owned(),
        }
    }

    /// The reference for a tag.
    pub fn tagged(&self, tag: &str) -> Reference {
        Reference::with_tag(
            self.host.clone(),
            self.reference.repository().to_owned(),
            tag.to_owned(),
        )
    }

    /// The reference for a digest.
    pub fn digested(&self, digest: &str) -> Reference {
        Reference::with_digest(
            self.host.clone(),
            self.reference.repository().to_owned(),
            digest.to_owned(),
        )
    }
}

fn to_auth(c: Option<&Credentials>) -> RegistryAuth {
    match c {
        Some(c) if !c.identity_token.is_empty() => RegistryAuth::Bearer(c.identity_token.clone()),
        Some(c) if !c.username.is_empty() => RegistryAuth::Basic(c.username.clone(), c.password.clone()),
        _ => RegistryAuth::Anonymous,
    }
}

/// Turns a registry client error into an engine error that says what failed, for whom.
pub fn registry_error(what: &str, host: &str, e: OciDistributionError) -> EngineError {
    use OciDistributionError as E;
    match e {
        E::UnauthorizedError { .. } | E::AuthenticationFailure(_) => EngineError::BadRequest(format!(
            "{what}: unauthorized: authentication required or incorrect username or password for {host} (berth login {host})"
        )),
        E::RegistryError { envelope, .. } => {
            let msg: Vec<String> = envelope
                .errors
                .iter()
                .map(|e| format!("{}: {}", serde_json::to_string(&e.code).unwrap_or_default().trim_matches('"'), e.message))
                .collect();
            let text = msg.join("; ");
            if text.contains("MANIFEST_UNKNOWN") || text.contains("NAME_UNKNOWN") || text.contains("BLOB_UNKNOWN") {
                EngineError::NotFound(format!("{what}: not found on {host}: {text}"))
            } else if text.contains("UNAUTHORIZED") || text.contains("DENIED") {
                EngineError::BadRequest(format!("{what}: {host} refused access: {text}"))
            } else {
                EngineError::Internal(format!("{what}: {host}: {text}"))
            }
        }
        E::ServerError { code: 404, .. } | E::ImageManifestNotFoundError(_) => {
            EngineError::NotFound(format!("{what}: not found on {host}"))
        }
        E::DigestError(d) => EngineError::BadRequest(format!("{what}: {d}")),
        E::RequestError(r) if r.status().map(|s| s.as_u16()) == Some(401) => EngineError::BadRequest(format!(
            "{what}: unauthorized: authentication required or incorrect username or password for {host} (berth login {host})"
        )),
        E::RequestError(r) if r.status().map(|s| s.as_u16()) == Some(404) => EngineError::NotFound(format!("{what}: not found on {host}")),
        E::RequestError(r) => EngineError::Internal(format!("{what}: cannot reach {host}: {}", error_chain(&r))),
        other => EngineError::Internal(format!("{what}: {host}: {other}")),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
