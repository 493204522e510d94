//! Container create: validate the request, merge it with the image's defaults, store the record.

use super::{new_id, Action, Containers};
use crate::error::{EngineError, Result};
use crate::state::{ContainerRecord, RunState};
use bollard::models::{ContainerConfig, ContainerCreateBody, HostConfig};
use std::collections::HashMap;

/// A create request: the API body and the optional `?name=`.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    /// Wanted name (generated when None).
    pub name: Option<String>,
    /// `?platform=` (`linux/amd64`): the image must be of this platform.
    pub platform: Option<String>,
    /// The body of `POST /containers/create`.
    pub body: ContainerCreateBody,
    /// The body's container-wide `MacAddress` (no longer in the API's model, still sent by clients).
    pub mac_address: Option<String>,
}

impl Containers {
    /// Creates a container (status `created`); returns its id and warnings.
    #[tracing::instrument(skip(self, req), fields(name = ?req.name, image = ?req.body.image), err(level = "debug"))]
    pub fn create(&self, req: CreateRequest) -> Result<(String, Vec<String>)> {
        let body = req.body;
        let generated = req.name.as_deref().is_none_or(str::is_empty);
        let name = match req.name.filter(|n| !n.is_empty()) {
            Some(n) => valid_name(&n)?,
            None => self.generate_name()?,
        };
        let image_name = body
            .image
            .clone()
            .filter(|i| !i.is_empty())
            .ok_or_else(|| EngineError::BadRequest("config.Image: an image is required".into()))?;
        let image = self.images.resolve(&image_name)?;
        let image_file = self.images.config_of(&image.id)?;
        if let Some(p) = req.platform.as_deref() {
            check_platform(&image_name, p, &image_file)?;
        }
        let image_cfg = image_file.config;
        let mut host_config = body.host_config.clone().unwrap_or_default();
        let ports = check_host_config(&host_config)?;
        let mut endpoints = body
            .networking_config
            .as_ref()
            .and_then(|n| n.endpoints_config.clone())
            .unwrap_or_default();
        container_mac_to_endpoint(
            req.mac_address.as_deref(),
            host_config.network_mode.as_deref(),
            &mut endpoints,
        )?;
        crate::networks::check_networks_exist(&self.db, host_config.network_mode.as_deref(), endpoints.keys())?;
        let id = new_id();
        let config = merge_config(&id, &image_name, body, image_cfg)?;
        let warnings = self.check_runtime_fields(&mut host_config, &config)?;
        let mut argv = config.entrypoint.clone().unwrap_or_default();
        argv.extend(config.cmd.clone().unwrap_or_default());
        if argv.is_empty() {
            return Err(EngineError::BadRequest("no command specified".into()));
        }
        if let Some(sig) = &config.stop_signal {
            super::lifecycle::parse_signal(sig)?;
        }
        let mut volumes_from = Vec::new();
        for (i, raw) in host_config.volumes_from.iter().flatten().enumerate() {
            let spec = crate::volumes::container::parse_volumes_from(i, raw)?;
            let other = self.resolve(&spec.container).map_err(|_| {
                EngineError::NotFound(format!(
                    "HostConfig.VolumesFrom[{i}]: no such container: {}",
                    spec.container
                ))
            })?;
            volumes_from.push((spec, other.mounts));
        }
        self.check_links(&host_config)?;
        let vols = self.volumes()?;
        let mounts = crate::volumes::container::on_create(&vols, &id, &config, &host_config, &[], volumes_from)?;
        let mut rec = ContainerRecord {
            id: id.clone(),
            name,
            created: now(),
            image: image_name,
            image_id: image.id,
            config,
            host_config,
            path: argv[0].clone(),
            args: argv[1..].to_vec(),
            state: RunState::default(),
            mounts,
            endpoints,
            ports,
        };
        // A generated name is checked free before the insert, but a concurrent create may take it in between:
        // the name's uniqueness is only settled by the insert's transaction, so a clash picks another name.
        let mut tries = 0;
        loop {
            match self.db.insert_container(&rec) {
                Ok(()) => break,
                Err(EngineError::Conflict(_)) if generated && tries < 8 => {
                    tries += 1;
                    rec.name = self.generate_name()?;
                }
                Err(e) => {
                    let _ = crate::volumes::container::on_remove(&vols, &id, &rec.mounts, true);
                    return Err(e);
                }
            }
        }
        self.emit(&id, Action::Create, None);
        Ok((id, warnings))
    }

    /// Legacy links on the default bridge must name existing containers (dockerd's `registerLinks`; on
    /// user-defined networks links are only resolver aliases and are not checked).
    fn check_links(&self, h: &HostConfig) -> Result<()> {
        let default_bridge = matches!(h.network_mode.as_deref(), None | Some("" | "default" | "bridge"));
        if !default_bridge {
            return Ok(());
        }
        for link in h.links.iter().flatten() {
            let name = link.split(':').next().unwrap_or(link).trim_start_matches('/');
            if name.is_empty() {
                return Err(EngineError::BadRequest(format!(
                    "HostConfig.Links: invalid link {link:?}: expected name[:alias]"
                )));
            }
            if self.resolve(name).is_err() {
                // 400 as on dockerd: a 404 from create makes the docker CLI pull the image and retry.
                return Err(EngineError::BadRequest(format!(
                    "could not get container for {name}: No such container: {name}"
                )));
            }
        }
        Ok(())
    }

    fn generate_name(&self) -> Result<String> {
        const LEFT: [&str; 12] = [
            "brave", "calm", "eager", "fond", "keen", "lucid", "merry", "nifty", "quiet", "sharp", "tender", "witty",
        ];
        const RIGHT: [&str; 12] = [
            "anchor", "buoy", "cove", "dock", "ferry", "harbor", "jetty", "keel", "mast", "pier", "quay", "wharf",
        ];
        for _ in 0..64 {
            let n = format!(
                "{}_{}",
                LEFT[rand::random_range(0..LEFT.len())],
                RIGHT[rand::random_range(0..RIGHT.len())]
            );
            let n = if self.db.container_by_name(&n)?.is_none() {
                n
            } else {
                format!("{n}_{}", rand::random_range(0..10000))
            };
            if self.db.container_by_name(&n)?.is_none() {
                return Ok(n);
            }
        }
        Err(EngineError::Internal("could not generate a free container name".into()))
    }
}

/// RFC 3339 with nanoseconds, UTC.
pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Validates a container name (leading `/` allowed) and returns it without the slash.
pub(crate) fn valid_name_pub(n: &str) -> Result<String> {
    valid_name(n)
}

fn valid_name(n: &str) -> Result<String> {
    let n = n.strip_prefix('/').unwrap_or(n);
    let b = n.as_bytes();
    // dockerd's pattern is `[a-zA-Z0-9][a-zA-Z0-9_.-]+`: one character is not a name.
    let ok = b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b[1..].iter().all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(c));
    if !ok {
        return Err(EngineError::BadRequest(format!(
            "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )));
    }
    Ok(n.to_owned())
}

/// Refuses bad or conflicting host settings before anything is made; returns the typed port requests.
fn check_host_config(h: &HostConfig) -> Result<Vec<netstack::PortRequest>> {
    let ports = crate::networks::port_requests(h.port_bindings.as_ref())?;
    if let Some(m) = h.memory.filter(|m| *m != 0) {
        if m < 6 * 1024 * 1024 {
            return Err(EngineError::BadRequest("Minimum memory limit allowed is 6MB".into()));
        }
    }
    if h.nano_cpus.unwrap_or(0) != 0 && (h.cpu_quota.unwrap_or(0) != 0 || h.cpu_period.unwrap_or(0) != 0) {
        return Err(EngineError::BadRequest(
            "Conflicting options: Nano CPUs and CPU Period/Quota cannot both be set".into(),
        ));
    }
    if h.nano_cpus.unwrap_or(0) < 0 || h.pids_limit.unwrap_or(0) < -1 {
        return Err(EngineError::BadRequest(
            "HostConfig: NanoCpus must be >= 0 and PidsLimit >= -1".into(),
        ));
    }
    // Named networks must exist at create (checked in `create`); they are attached at start.
    match h.network_mode.as_deref() {
        Some("container:") => Err(EngineError::BadRequest(
            "HostConfig.NetworkMode: container: needs a container name or id".into(),
        )),
        _ => Ok(ports),
    }
}

/// The image must be of the requested platform (dockerd answers 404, so clients try to pull it).
fn check_platform(image_name: &str, wanted: &str, image: &crate::images::config::ImageConfigFile) -> Result<()> {
    let p = crate::registry::manifest::Platform::parse(wanted)?;
    let same_variant = p.variant.is_none() || p.variant == image.variant;
    if p.os == image.os && p.architecture == image.architecture && same_variant {
        return Ok(());
    }
    let actual = match &image.variant {
        Some(v) => format!("{}/{}/{v}", image.os, image.architecture),
        None => format!("{}/{}", image.os, image.architecture),
    };
    Err(EngineError::NotFound(format!(
        "image with reference {image_name} was found but does not match the specified platform: wanted {p}, actual: {actual}"
    )))
}

/// Image defaults overridden by the request, as Docker merges them.
fn merge_config(
    id: &str,
    image_name: &str,
    b: ContainerCreateBody,
    img: bollard::models::ImageConfig,
) -> Result<ContainerConfig> {
    let (entrypoint, cmd) = match b.entrypoint {
        Some(ep) if ep.len() == 1 && ep[0].is_empty() => (None, b.cmd),
        Some(ep) => (Some(ep), b.cmd),
        None => (img.entrypoint, b.cmd.or(img.cmd)),
    };
    let mut labels: HashMap<String, String> = img.labels.unwrap_or_default();
    labels.extend(b.labels.unwrap_or_default());
    Ok(ContainerConfig {
        hostname: b
            .hostname
            .filter(|h| !h.is_empty())
            .or_else(|| Some(id[..12].to_owned())),
        domainname: b.domainname,
        user: b.user.filter(|u| !u.is_empty()).or(img.user),
        attach_stdin: b.attach_stdin,
        attach_stdout: b.attach_stdout,
        attach_stderr: b.attach_stderr,
        exposed_ports: b.exposed_ports.or(img.exposed_ports),
        tty: Some(b.tty.unwrap_or(false)),
        open_stdin: Some(b.open_stdin.unwrap_or(false)),
        stdin_once: b.stdin_once,
        env: Some(merge_env(img.env.unwrap_or_default(), b.env.unwrap_or_default())),
        cmd,
        healthcheck: crate::health::merge_healthcheck(b.healthcheck, img.healthcheck),
        args_escaped: b.args_escaped,
        image: Some(image_name.to_owned()),
        volumes: b.volumes.or(img.volumes),
        working_dir: b.working_dir.filter(|w| !w.is_empty()).or(img.working_dir),
        entrypoint,
        network_disabled: b.network_disabled,
        on_build: img.on_build,
        labels: Some(labels),
        stop_signal: b.stop_signal.filter(|s| !s.is_empty()).or(img.stop_signal),
        stop_timeout: b.stop_timeout,
        shell: b.shell.or(img.shell),
    })
}

/// As dockerd: the request's entries as given (`KEY` without a value included: it unsets the image's), then
/// the image's entries whose key the request does not name.
fn merge_env(image: Vec<String>, req: Vec<String>) -> Vec<String> {
    let key = |e: &str| e.split('=').next().unwrap_or_default().to_owned();
    let extra: Vec<String> = image
        .into_iter()
        .filter(|e| !req.iter().any(|r| key(r) == key(e)))
        .collect();
    let mut out = req;
    out.extend(extra);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_env() {
        assert_eq!(valid_name("/web.1").unwrap(), "web.1");
        assert!(valid_name("-x").is_err());
        assert!(valid_name("s").is_err(), "dockerd refuses one-character names");
        assert_eq!(valid_name("s1").unwrap(), "s1");
        assert!(valid_name("a b").is_err());
        let image = vec!["PATH=/bin".into(), "A=1".into(), "U=1".into()];
        let env = merge_env(image, vec!["A=2".into(), "B=3".into(), "U".into()]);
        assert_eq!(env, ["A=2", "B=3", "U", "PATH=/bin"]);
    }

    #[test]
    fn entrypoint_override_resets_image_cmd() {
        let img = bollard::models::ImageConfig {
            entrypoint: Some(vec!["/ep".into()]),
            cmd: Some(vec!["sh".into()]),
            ..Default::default()
        };
        let body = ContainerCreateBody {
            entrypoint: Some(vec!["/other".into()]),
            ..Default::default()
        };
        let c = merge_config(&"a".repeat(64), "busybox", body, img.clone()).unwrap();
        assert_eq!((c.entrypoint, c.cmd), (Some(vec!["/other".into()]), None));
        let body = ContainerCreateBody {
            cmd: Some(vec!["echo".into()]),
            ..Default::default()
        };
        let c = merge_config(&"a".repeat(64), "busybox", body, img).unwrap();
        assert_eq!(
            (c.entrypoint, c.cmd),
            (Some(vec!["/ep".into()]), Some(vec!["echo".into()]))
        );
    }
}

/// The container-wide `Config.MacAddress` (deprecated in API 1.44, still sent by clients) is the MAC of the
/// main network's endpoint, as dockerd migrates it; an endpoint that names another MAC is a conflict.
fn container_mac_to_endpoint(
    mac: Option<&str>,
    mode: Option<&str>,
    endpoints: &mut HashMap<String, bollard::models::EndpointSettings>,
) -> Result<()> {
    let Some(mac) = mac.filter(|m| !m.is_empty()) else {
        return Ok(());
    };
    let key = match mode {
        Some("none" | "host") => return Ok(()),
        Some(m) if m.starts_with("container:") => return Ok(()),
        Some(m) if !m.is_empty() && m != "default" => m.to_owned(),
        _ => endpoints
            .keys()
            .filter(|k| !matches!(k.as_str(), "default" | "bridge"))
            .min()
            .or_else(|| endpoints.keys().find(|k| matches!(k.as_str(), "default" | "bridge")))
            .cloned()
            .unwrap_or_else(|| "bridge".to_owned()),
    };
    let entry = endpoints.entry(key).or_default();
    match entry.mac_address.as_deref().filter(|m| !m.is_empty()) {
        Some(own) if !own.eq_ignore_ascii_case(mac) => Err(EngineError::BadRequest(
            "conflicting options: the container-wide MAC address must match the endpoint-specific MAC address for the main network, or be left empty".into(),
        )),
        _ => {
            entry.mac_address = Some(mac.to_owned());
            Ok(())
        }
    }
}
