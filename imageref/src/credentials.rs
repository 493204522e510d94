//! Registry credentials: Docker's `X-Registry-Auth` header, and `~/.docker/config.json` (`auths`,
//! `credsStore`, `credHelpers` through `docker-credential-*` helpers), read and written as the docker CLI does.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What can go wrong with credentials: bad input (a header, a config file, a helper's answer) or the machine.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The input is wrong; the message says where and what was expected.
    #[error("{0}")]
    BadInput(String),
    /// Reading, writing or running something failed.
    #[error("{0}")]
    Internal(String),
}

impl CredentialError {
    fn internal(what: impl std::fmt::Display, cause: impl std::fmt::Display) -> Self {
        CredentialError::Internal(format!("{what}: {cause}"))
    }
}

/// Result of credential operations.
pub type Result<T> = std::result::Result<T, CredentialError>;

/// The key Docker uses for Docker Hub in config.json.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// Credentials for one registry.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Credentials {
    /// User name.
    #[serde(default)]
    pub username: String,
    /// Password (or token).
    #[serde(default)]
    pub password: String,
    /// An identity (refresh) token instead of a password.
    #[serde(default, rename = "identitytoken", skip_serializing_if = "String::is_empty")]
    pub identity_token: String,
    /// The registry these are for, as the client wrote it.
    #[serde(default, rename = "serveraddress", skip_serializing_if = "String::is_empty")]
    pub server_address: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets into logs.
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("server_address", &self.server_address)
            .finish()
    }
}

impl Credentials {
    /// Whether there is nothing to authenticate with.
    pub fn is_empty(&self) -> bool {
        self.username.is_empty() && self.password.is_empty() && self.identity_token.is_empty()
    }
}

/// The JSON body of `X-Registry-Auth` / `POST /auth` (Docker's AuthConfig; `auth` is base64 `user:pass`).
#[derive(Deserialize, Default)]
struct AuthConfig {
    // Options: clients (bollard) send explicit nulls.
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    auth: Option<String>,
    #[serde(default, rename = "serveraddress")]
    server_address: Option<String>,
    #[serde(default, rename = "identitytoken")]
    identity_token: Option<String>,
    #[serde(default, rename = "registrytoken")]
    registry_token: Option<String>,
}

/// Decodes `X-Registry-Auth` (base64url of an AuthConfig JSON; docker sends `e30=` for none).
pub fn decode_header(value: &str) -> Result<Option<Credentials>> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let bad = |why: String| CredentialError::BadInput(format!("X-Registry-Auth header: {why}"));
    let raw = base64::engine::general_purpose::URL_SAFE
        .decode(value)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(value))
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(value))
        .map_err(|e| bad(format!("not base64: {e}")))?;
    parse_auth_config(&raw).map_err(bad)
}

/// Parses an AuthConfig JSON body (`POST /auth`, or a decoded header).
pub fn parse_auth_config(raw: &[u8]) -> std::result::Result<Option<Credentials>, String> {
    let c: AuthConfig = serde_json::from_slice(raw).map_err(|e| format!("not an auth config JSON: {e}"))?;
    let (mut username, mut password) = (c.username.unwrap_or_default(), c.password.unwrap_or_default());
    let basic = c.auth.unwrap_or_default();
    if username.is_empty() && !basic.is_empty() {
        let pair = base64::engine::general_purpose::STANDARD
            .decode(basic.trim())
            .map_err(|e| format!("auth: not base64: {e}"))?;
        let pair = String::from_utf8(pair).map_err(|_| "auth: not UTF-8".to_owned())?;
        let (u, p) = pair.split_once(':').ok_or("auth: expected base64 of user:password")?;
        (username, password) = (u.to_owned(), p.to_owned());
    }
    let identity_token = c
        .identity_token
        .filter(|t| !t.is_empty())
        .or(c.registry_token)
        .unwrap_or_default();
    let server_address = c.server_address.unwrap_or_default();
    let creds = Credentials {
        username,
        password,
        identity_token,
        server_address,
    };
    Ok((!creds.is_empty()).then_some(creds))
}

/// Encodes credentials as docker does for `X-Registry-Auth`.
pub fn encode_header(c: &Credentials) -> String {
    let json = serde_json::to_vec(c).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE.encode(json)
}

/// The config.json key for a registry host (`docker.io` → Docker's historical v1 URL).
pub fn config_key(registry: &str) -> String {
    match registry {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB_KEY.to_owned(),
        other => other.to_owned(),
    }
}

/// A config.json holding only `auths`, secrets inlined (for a place with no credential helpers, such as the
/// file `use_api_socket` puts in a container).
pub fn auths_only_config(creds: &[(String, Credentials)]) -> serde_json::Value {
    let auths: serde_json::Map<String, serde_json::Value> = creds
        .iter()
        .map(|(key, c)| {
            let pair = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.username, c.password));
            let mut entry = serde_json::json!({ "auth": pair });
            if !c.identity_token.is_empty() {
                entry["identitytoken"] = c.identity_token.clone().into();
            }
            (key.clone(), entry)
        })
        .collect();
    serde_json::json!({ "auths": auths })
}

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn docker_config_path() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d).join("config.json"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".docker").join("config.json"))
}

/// A docker CLI config file, kept as JSON so unknown keys survive a rewrite.
pub struct DockerConfig {
    path: PathBuf,
    json: serde_json::Map<String, serde_json::Value>,
}

impl DockerConfig {
    /// Reads the file (missing means empty).
    pub fn load(path: &Path) -> Result<Self> {
        let json = match std::fs::read(path) {
            Ok(data) if data.iter().all(u8::is_ascii_whitespace) => Default::default(),
            Ok(data) => serde_json::from_slice(&data)
                .map_err(|e| CredentialError::BadInput(format!("{}: {e} (expected a JSON object)", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Default::default(),
            Err(e) => return Err(CredentialError::internal(format!("reading {}", path.display()), e)),
        };
        Ok(DockerConfig {
            path: path.to_owned(),
            json,
        })
    }

    fn helper_for(&self, key: &str) -> Option<String> {
        let from_helpers = self
            .json
            .get("credHelpers")
            .and_then(|h| h.get(key))
            .and_then(|v| v.as_str());
        from_helpers
            .or_else(|| self.json.get("credsStore").and_then(|v| v.as_str()))
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    }

    /// Credentials for `registry` (host[:port]): a credential helper when configured, else `auths`.
    pub fn credentials(&self, registry: &str) -> Result<Option<Credentials>> {
        let key = config_key(registry);
        if let Some(helper) = self.helper_for(&key) {
            return helper_get(&helper, &key);
        }
        let Some(entry) = self
            .json
            .get("auths")
            .and_then(|a| a.get(&key).or_else(|| a.get(format!("https://{key}"))))
        else {
            return Ok(None);
        };
        let raw = serde_json::to_vec(entry).unwrap_or_default();
        parse_auth_config(&raw)
            .map_err(|why| CredentialError::BadInput(format!("{}: auths.{key}: {why}", self.path.display())))
    }

    /// The registries this file names (`auths` and `credHelpers` keys), sorted and without repeats.
    pub fn registries(&self) -> Vec<String> {
        let keys = |field: &str| {
            self.json
                .get(field)
                .and_then(|v| v.as_object())
                .map(|o| o.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
        };
        let mut out = keys("auths");
        out.extend(keys("credHelpers"));
        out.sort();
        out.dedup();
        out
    }

    /// Every stored credential, resolved through helpers, keyed as in `auths` (the docker CLI's
    /// `GetAllCredentials`). A registry whose helper has nothing for it is left out.
    pub fn all_credentials(&self) -> Result<Vec<(String, Credentials)>> {
        let mut out = Vec::new();
        for key in self.registries() {
            let registry = key.trim_start_matches("https://").trim_start_matches("http://");
            let registry = registry.split('/').next().unwrap_or(registry);
            if let Some(c) = self.credentials(registry)?.filter(|c| !c.is_empty()) {
                out.push((key, c));
            }
        }
        Ok(out)
    }

    /// Stores credentials (through the helper when one is configured) and writes the file.
    pub fn store(&mut self, registry: &str, c: &Credentials) -> Result<()> {
        let key = config_key(registry);
        let helper = self.helper_for(&key);
        let auths = self.json.entry("auths").or_insert_with(|| serde_json::json!({}));
        let Some(auths) = auths.as_object_mut() else {
            return Err(CredentialError::BadInput(format!(
                "{}: auths: expected an object",
                self.path.display()
            )));
        };
        if let Some(helper) = helper {
            helper_store(&helper, &key, c)?;
            auths.insert(key, serde_json::json!({}));
        } else {
            let pair = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.username, c.password));
            auths.insert(key, serde_json::json!({ "auth": pair }));
        }
        self.save()
    }

    /// Removes credentials; returns whether there were any.
    pub fn erase(&mut self, registry: &str) -> Result<bool> {
        let key = config_key(registry);
        if let Some(helper) = self.helper_for(&key) {
            helper_run(&helper, "erase", key.as_bytes())?;
        }
        let removed = self
            .json
            .get_mut("auths")
            .and_then(|a| a.as_object_mut())
            .and_then(|a| a.remove(&key))
            .is_some();
        self.save()?;
        Ok(removed)
    }

    fn save(&self) -> Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| CredentialError::internal(format!("creating {}", dir.display()), e))?;
        }
        let data =
            serde_json::to_vec_pretty(&self.json).map_err(|e| CredentialError::internal("encoding config.json", e))?;
        let tmp = self.path.with_extension("json.tmp");
        let write = || -> std::io::Result<()> {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&data)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        };
        write().map_err(|e| CredentialError::internal(format!("writing {}", self.path.display()), e))
    }
}

#[derive(Deserialize, Serialize)]
struct HelperCreds {
    #[serde(rename = "ServerURL", default)]
    server_url: String,
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

fn helper_run(helper: &str, verb: &str, input: &[u8]) -> Result<Vec<u8>> {
    let exe = format!("docker-credential-{helper}");
    let mut child = Command::new(&exe)
        .arg(verb)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| CredentialError::BadInput(format!("credential helper {exe}: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input);
    }
    let out = child
        .wait_with_output()
        .map_err(|e| CredentialError::internal(format!("running {exe}"), e))?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stdout).trim().to_owned() + String::from_utf8_lossy(&out.stderr).trim();
        return Err(CredentialError::BadInput(format!(
            "credential helper {exe} {verb}: {msg}"
        )));
    }
    Ok(out.stdout)
}

fn helper_get(helper: &str, key: &str) -> Result<Option<Credentials>> {
    match helper_run(helper, "get", key.as_bytes()) {
        Ok(out) => {
            let h: HelperCreds = serde_json::from_slice(&out).map_err(|e| {
                CredentialError::BadInput(format!("credential helper docker-credential-{helper}: bad answer: {e}"))
            })?;
            // "<token>" as user name marks an identity token (Docker's convention).
            let c = if h.username == "<token>" {
                Credentials {
                    identity_token: h.secret,
                    server_address: key.to_owned(),
                    ..Default::default()
                }
            } else {
                Credentials {
                    username: h.username,
                    password: h.secret,
                    server_address: key.to_owned(),
                    ..Default::default()
                }
            };
            Ok(Some(c))
        }
        Err(CredentialError::BadInput(m)) if m.contains("credentials not found") => Ok(None),
        Err(e) => Err(e),
    }
}

fn helper_store(helper: &str, key: &str, c: &Credentials) -> Result<()> {
    let h = HelperCreds {
        server_url: key.to_owned(),
        username: c.username.clone(),
        secret: c.password.clone(),
    };
    let input = serde_json::to_vec(&h).map_err(|e| CredentialError::internal("encoding helper input", e))?;
    helper_run(helper, "store", &input).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_docker_forms() {
        assert_eq!(decode_header("e30=").unwrap(), None);
        let c = Credentials {
            username: "u".into(),
            password: "p w".into(),
            ..Default::default()
        };
        assert_eq!(decode_header(&encode_header(&c)).unwrap().unwrap().password, "p w");
        let auth = base64::engine::general_purpose::URL_SAFE.encode(br#"{"auth":"dTpw"}"#);
        let d = decode_header(&auth).unwrap().unwrap();
        assert_eq!((d.username.as_str(), d.password.as_str()), ("u", "p"));
        assert!(decode_header("!!!").is_err());
    }

    #[test]
    fn config_file_auths_and_helpers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let mut cfg = DockerConfig::load(&path).unwrap();
        assert!(cfg.credentials("127.0.0.1:5000").unwrap().is_none());
        cfg.store(
            "127.0.0.1:5000",
            &Credentials {
                username: "a".into(),
                password: "b".into(),
                ..Default::default()
            },
        )
        .unwrap();
        let again = DockerConfig::load(&path).unwrap();
        assert_eq!(again.credentials("127.0.0.1:5000").unwrap().unwrap().password, "b");
        // A helper that answers from a shell script on PATH is exercised by the integration tests;
        // here: a configured helper that does not exist is a clear error.
        std::fs::write(&path, r#"{"credHelpers":{"reg.example":"berth-no-such-helper"}}"#).unwrap();
        let e = DockerConfig::load(&path)
            .unwrap()
            .credentials("reg.example")
            .unwrap_err();
        assert!(e.to_string().contains("docker-credential-berth-no-such-helper"), "{e}");
        assert_eq!(config_key("docker.io"), DOCKER_HUB_KEY);
    }
}
