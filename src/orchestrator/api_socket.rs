//! `use_api_socket: true`, as the docker CLI's `--use-api-socket` and Docker Compose apply it: the engine's own
//! socket bound at `/var/run/docker.sock`, and the user's registry credentials (resolved through credential
//! helpers) in a config.json at `/run/secrets/docker/` that `DOCKER_CONFIG` points to — unless the service sets
//! `DOCKER_CONFIG` itself, which means it brings its own.

use super::secrets::{self, StagedFile};
use super::spec::{ProjectSpec, ServiceSpec};
use anyhow::{Context, Result};
use bollard::models::{Mount, MountType};
use imageref::credentials::{self as auth, Credentials, DockerConfig};
use std::path::Path;

/// Where the socket lands in the container (the docker CLI and Compose hard-code it).
pub const SOCKET_TARGET: &str = "/var/run/docker.sock";
/// The in-container directory of the injected config.json (what `DOCKER_CONFIG` names).
pub const CONFIG_DIR: &str = "/run/secrets/docker";

/// Adds the socket mount, the credentials file and `DOCKER_CONFIG` to every service that asks for them.
/// `socket` is the host path of the engine's unix socket this run talks to.
pub fn apply(project: &mut ProjectSpec, socket: &Path) -> Result<()> {
    if !project.services.iter().any(|s| s.api_socket) {
        return Ok(());
    }
    let creds = user_credentials()?;
    let state = secrets::state_dir(&project.name);
    for svc in project.services.iter_mut().filter(|s| s.api_socket) {
        add_mount(svc, bind(socket, SOCKET_TARGET));
        if creds.is_empty() || has_env(svc, "DOCKER_CONFIG") {
            continue;
        }
        let host = state.join(&svc.name).join("docker").join("config.json");
        svc.staged.push(StagedFile {
            path: host.clone(),
            bytes: config_json(&creds),
            uid: 0,
            gid: 0,
            mode: 0o600,
        });
        let mut config = bind(&host, &format!("{CONFIG_DIR}/config.json"));
        config.read_only = Some(true);
        add_mount(svc, config);
        let env = svc.create.env.get_or_insert_with(Vec::new);
        env.push(format!("DOCKER_CONFIG={CONFIG_DIR}"));
        env.sort();
    }
    Ok(())
}

/// The credentials of the user's docker CLI config, every registry.
fn user_credentials() -> Result<Vec<(String, Credentials)>> {
    let Some(path) = auth::docker_config_path() else {
        return Ok(Vec::new());
    };
    let config = DockerConfig::load(&path)?;
    config
        .all_credentials()
        .with_context(|| format!("use_api_socket: resolving the credentials of {}", path.display()))
}

fn config_json(creds: &[(String, Credentials)]) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(&auth::auths_only_config(creds)).unwrap_or_default();
    out.push(b'\n');
    out
}

fn bind(source: &Path, target: &str) -> Mount {
    Mount {
        typ: Some(MountType::BIND),
        source: Some(source.display().to_string()),
        target: Some(target.to_owned()),
        ..Default::default()
    }
}

fn add_mount(svc: &mut ServiceSpec, m: Mount) {
    let host_config = svc.create.host_config.get_or_insert_with(Default::default);
    host_config.mounts.get_or_insert_with(Vec::new).push(m);
}

fn has_env(svc: &ServiceSpec, key: &str) -> bool {
    let prefix = format!("{key}=");
    svc.create.env.iter().flatten().any(|e| e.starts_with(&prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_json_inlines_the_pair_and_token() {
        let creds = vec![(
            "127.0.0.1:5000".to_owned(),
            Credentials {
                username: "u".into(),
                password: "p".into(),
                identity_token: "t".into(),
                server_address: String::new(),
            },
        )];
        let json: serde_json::Value = serde_json::from_slice(&config_json(&creds)).unwrap();
        assert_eq!(json["auths"]["127.0.0.1:5000"]["auth"], "dTpw");
        assert_eq!(json["auths"]["127.0.0.1:5000"]["identitytoken"], "t");
    }
}
