//! Read-only views of containers: inspect and list (with filters), in bollard's API shapes.

use super::list_filter::{status_str, PsFilter};
use super::Containers;
use crate::error::Result;
use crate::health::HealthTable;
use crate::state::{ContainerRecord, ContainerStatus};
use bollard::models::{
    ContainerInspectResponse, ContainerState, ContainerStateStatusEnum, ContainerSummary, ContainerSummaryHostConfig,
    ContainerSummaryNetworkSettings, ContainerSummaryStateEnum, DriverData, PortSummary, PortSummaryTypeEnum,
};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// `GET /containers/json` options.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Include stopped containers.
    pub all: bool,
    /// At most this many (newest first).
    pub limit: Option<usize>,
    /// Filters, as dockerd takes them (see [`super::list_filter`]).
    pub filters: HashMap<String, Vec<String>>,
}

impl ListOptions {
    /// Parses Docker's `filters` JSON (`{"k":["v"]}` or the old `{"k":{"v":true}}`) and checks its values.
    pub fn parse_filters(json: &str) -> Result<HashMap<String, Vec<String>>> {
        let f = crate::filters::parse(json, super::list_filter::ACCEPTED)?;
        super::list_filter::validate(&f)?;
        Ok(f)
    }
}

impl Containers {
    /// `GET /containers/{id}/json`.
    pub fn inspect(&self, ident: &str) -> Result<ContainerInspectResponse> {
        let r = self.resolve(ident)?;
        Ok(ContainerInspectResponse {
            id: Some(r.id.clone()),
            created: Some(r.created.clone()),
            path: Some(r.path.clone()),
            args: Some(r.args.clone()),
            state: Some(state_of(&r, &self.health)),
            image: Some(r.image_id.clone()),
            log_path: Some(self.runtime.log_path(&r.id).display().to_string()),
            name: Some(format!("/{}", r.name)),
            restart_count: Some(r.state.restart_count),
            driver: Some("overlay".into()),
            platform: Some("linux".into()),
            mount_label: Some(String::new()),
            process_label: Some(String::new()),
            app_armor_profile: Some(String::new()),
            host_config: Some(r.host_config.clone()),
            graph_driver: Some(self.graph_driver(&r)),
            mounts: Some(
                self.volumes()
                    .map(|v| crate::volumes::container::mount_points(&v, &r.mounts))
                    .unwrap_or_default(),
            ),
            config: Some(r.config.clone()),
            network_settings: Some(self.network_settings(&r)),
            ..Default::default()
        })
    }

    /// The overlay's directories, as dockerd's overlay2 driver reports them (tools read `MergedDir` to look at
    /// a container's files from the host).
    fn graph_driver(&self, r: &ContainerRecord) -> DriverData {
        let paths = self.runtime.paths(&r.id);
        let mut data = HashMap::from([
            ("MergedDir".to_owned(), paths.rootfs.display().to_string()),
            ("UpperDir".to_owned(), paths.upper.display().to_string()),
            ("WorkDir".to_owned(), paths.work.display().to_string()),
        ]);
        let lower = self
            .images
            .resolve(&r.image_id)
            .and_then(|img| self.images.lower_dirs(&img));
        if let Ok(dirs) = lower {
            let joined = dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(":");
            data.insert("LowerDir".to_owned(), joined);
        }
        DriverData {
            name: "overlay".into(),
            data,
        }
    }

    /// `GET /containers/json`.
    pub fn list(&self, opts: &ListOptions) -> Result<Vec<ContainerSummary>> {
        let mut recs: Vec<ContainerRecord> = self.db.containers()?;
        recs.sort_by(|a, b| b.created.cmp(&a.created));
        let filter = PsFilter::new(
            &opts.filters,
            &recs,
            || self.db.images(),
            |name| self.images.resolve(name).ok().map(|i| i.id),
        )?;
        // As dockerd: with a limit or a status filter, stopped containers are listed too.
        let all = opts.all || opts.limit.is_some() || filter.widens_to_all();
        let attached = self.all_network_entries(&recs);
        let parents = Self::link_parents(&recs);
        let vols = self.volumes().ok();
        let out = recs
            .iter()
            .filter(|r| all || r.state.status == ContainerStatus::Running)
            .filter_map(|r| {
                let ports = self.port_summaries(r);
                filter
                    .matches(r, &self.health, attached.get(&r.id), &ports)
                    .then_some((r, ports))
            })
            .take(opts.limit.unwrap_or(usize::MAX))
            .map(|(r, ports)| {
                let mut s = summary_of(r, &self.health);
                s.ports = Some(ports);
                if let Some(names) = s.names.as_mut() {
                    names.extend(Self::link_names(r, &parents));
                }
                s.network_settings = Some(ContainerSummaryNetworkSettings {
                    networks: Some(attached.get(&r.id).cloned().unwrap_or_default()),
                });
                s.mounts = vols
                    .as_ref()
                    .map(|v| crate::volumes::container::mount_points(v, &r.mounts));
                s
            })
            .collect();
        Ok(out)
    }

    /// Published ports as `docker ps` lists them (bound host ports, ephemeral ones resolved). Read from the
    /// network service's in-memory table: the full network settings read every endpoint row, per container.
    fn port_summaries(&self, r: &ContainerRecord) -> Vec<PortSummary> {
        let Some(nets) = self.networks_opened() else {
            return Vec::new();
        };
        let mut out: Vec<PortSummary> = nets
            .published_ports(&r.id)
            .into_iter()
            .map(|p| PortSummary {
                ip: Some(p.host_ip.to_string()),
                private_port: p.container_port,
                public_port: Some(p.host_port),
                typ: Some(match p.proto {
                    netstack::Proto::Udp => PortSummaryTypeEnum::UDP,
                    _ => PortSummaryTypeEnum::TCP,
                }),
            })
            .collect();
        if nets.has_sandbox(&r.id) && owns_ports(r) {
            for (port, typ) in exposed_ports(r) {
                if !out.iter().any(|p| p.private_port == port && p.typ == Some(typ)) {
                    out.push(PortSummary {
                        private_port: port,
                        typ: Some(typ),
                        ..Default::default()
                    });
                }
            }
        }
        out.sort_by_key(|p| (p.private_port, p.public_port));
        out
    }
}

/// Whether the container has a network namespace of its own with ports to show (not none, host or another's).
pub(super) fn owns_ports(r: &ContainerRecord) -> bool {
    let mode = r.host_config.network_mode.as_deref().unwrap_or("bridge");
    !matches!(mode, "none" | "host") && !mode.starts_with("container:")
}

/// `Config.ExposedPorts` as (port, protocol); keys that are not `port[/proto]` are skipped.
pub(super) fn exposed_ports(r: &ContainerRecord) -> impl Iterator<Item = (u16, PortSummaryTypeEnum)> + '_ {
    r.config.exposed_ports.iter().flatten().filter_map(|k| {
        let (port, proto) = k.split_once('/').unwrap_or((k, "tcp"));
        let typ = match proto {
            "udp" => PortSummaryTypeEnum::UDP,
            "sctp" => PortSummaryTypeEnum::SCTP,
            _ => PortSummaryTypeEnum::TCP,
        };
        Some((port.parse().ok()?, typ))
    })
}

fn state_of(r: &ContainerRecord, health: &HealthTable) -> ContainerState {
    let s = &r.state;
    let status = match (s.status, s.paused) {
        (ContainerStatus::Running, true) => ContainerStateStatusEnum::PAUSED,
        (ContainerStatus::Running, false) => ContainerStateStatusEnum::RUNNING,
        (ContainerStatus::Created, _) => ContainerStateStatusEnum::CREATED,
        (ContainerStatus::Restarting, _) => ContainerStateStatusEnum::RESTARTING,
        (ContainerStatus::Removing, _) => ContainerStateStatusEnum::REMOVING,
        (ContainerStatus::Exited, _) => ContainerStateStatusEnum::EXITED,
        (ContainerStatus::Dead, _) => ContainerStateStatusEnum::DEAD,
    };
    ContainerState {
        status: Some(status),
        running: Some(s.status == ContainerStatus::Running),
        paused: Some(s.paused),
        restarting: Some(s.status == ContainerStatus::Restarting),
        oom_killed: Some(s.oom_killed),
        dead: Some(s.status == ContainerStatus::Dead),
        pid: Some(s.pid),
        exit_code: Some(s.exit_code),
        error: Some(s.error.clone()),
        started_at: Some(s.started_at.clone()),
        finished_at: Some(s.finished_at.clone()),
        health: health.snapshot(&r.id),
    }
}

fn summary_of(r: &ContainerRecord, health: &HealthTable) -> ContainerSummary {
    let state = match status_str(r) {
        "running" => ContainerSummaryStateEnum::RUNNING,
        "paused" => ContainerSummaryStateEnum::PAUSED,
        "created" => ContainerSummaryStateEnum::CREATED,
        "restarting" => ContainerSummaryStateEnum::RESTARTING,
        "removing" => ContainerSummaryStateEnum::REMOVING,
        "dead" => ContainerSummaryStateEnum::DEAD,
        _ => ContainerSummaryStateEnum::EXITED,
    };
    // As dockerd's list: an argument with a space is shown in single quotes.
    let mut command = r.path.clone();
    for a in &r.args {
        command.push(' ');
        if a.contains(' ') {
            command.push_str(&format!("'{a}'"));
        } else {
            command.push_str(a);
        }
    }
    ContainerSummary {
        id: Some(r.id.clone()),
        names: Some(vec![format!("/{}", r.name)]),
        image: Some(r.image.clone()),
        image_id: Some(r.image_id.clone()),
        command: Some(command),
        created: parse_time(&r.created).map(|t| t.timestamp()),
        ports: Some(Vec::new()),
        labels: Some(r.config.labels.clone().unwrap_or_default()),
        state: Some(state),
        status: Some(human_status(r, health)),
        host_config: Some(ContainerSummaryHostConfig {
            network_mode: Some(r.host_config.network_mode.clone().unwrap_or_else(|| "bridge".into())),
            ..Default::default()
        }),
        network_settings: Some(ContainerSummaryNetworkSettings {
            networks: Some(HashMap::new()),
        }),
        mounts: Some(Vec::new()),
        ..Default::default()
    }
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

/// `Up 5 seconds`, `Exited (0) 3 minutes ago`, `Created` — as `docker ps` shows them.
fn human_status(r: &ContainerRecord, health: &HealthTable) -> String {
    let since = |t: &str| {
        parse_time(t)
            .map(|t| human_duration(Utc::now() - t))
            .unwrap_or_default()
    };
    match (r.state.status, r.state.paused) {
        (ContainerStatus::Running, true) => format!("Up {} (Paused)", since(&r.state.started_at)),
        (ContainerStatus::Running, false) => {
            format!("Up {}{}", since(&r.state.started_at), health.status_suffix(&r.id))
        }
        (ContainerStatus::Exited, _) => format!("Exited ({}) {} ago", r.state.exit_code, since(&r.state.finished_at)),
        (ContainerStatus::Created, _) => "Created".into(),
        (ContainerStatus::Restarting, _) => "Restarting".into(),
        (ContainerStatus::Removing, _) => "Removal In Progress".into(),
        (ContainerStatus::Dead, _) => "Dead".into(),
    }
}

/// Docker's human durations (`Less than a second`, `About a minute`, `3 hours`).
pub fn human_duration(d: chrono::Duration) -> String {
    let s = d.num_seconds();
    match s {
        s if s < 1 => "Less than a second".into(),
        1 => "1 second".into(),
        s if s < 60 => format!("{s} seconds"),
        s if s < 120 => "About a minute".into(),
        s if s < 3600 => format!("{} minutes", s / 60),
        s if s < 7200 => "About an hour".into(),
        s if s < 48 * 3600 => format!("{} hours", s / 3600),
        s if s < 14 * 86400 => format!("{} days", s / 86400),
        s if s < 90 * 86400 => format!("{} weeks", s / (7 * 86400)),
        s if s < 730 * 86400 => format!("{} months", s / (30 * 86400)),
        s => format!("{} years", s / (365 * 86400)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_both_forms() {
        let f = ListOptions::parse_filters(r#"{"label":["a=b"],"status":{"running":true}}"#).unwrap();
        assert_eq!(f["label"], ["a=b"]);
        assert_eq!(f["status"], ["running"]);
        assert!(ListOptions::parse_filters(r#"{"bogus":["x"]}"#).is_err());
        assert!(ListOptions::parse_filters("[").is_err());
        assert_eq!(human_duration(chrono::Duration::seconds(75)), "About a minute");
    }
}

/// A stopped container's rootfs, mounted for `docker cp` and unmounted when dropped (unless the container started
/// meanwhile: its monitor then owns the mount).
pub struct CopyMount {
    containers: std::sync::Arc<Containers>,
    id: String,
    /// The mounted rootfs.
    pub rootfs: std::path::PathBuf,
}

impl Containers {
    /// Mounts the rootfs of a container that is not running (its overlay of image layers and its upper dir), as
    /// dockerd does for `docker cp` of a stopped container. Volumes are not mounted in.
    pub fn mount_for_copy(self: &std::sync::Arc<Self>, ident: &str) -> Result<CopyMount> {
        let rec = self.resolve(ident)?;
        let spec = self.build_spec(&rec)?;
        let paths = self.runtime.paths(&rec.id);
        paths
            .create()
            .and_then(|_| runtime::rootfs::mount_overlay(&paths, &spec.lower_dirs))
            .map_err(super::lifecycle::runtime_err)?;
        Ok(CopyMount {
            containers: self.clone(),
            id: rec.id,
            rootfs: paths.rootfs,
        })
    }
}

impl Drop for CopyMount {
    fn drop(&mut self) {
        let running = self
            .containers
            .resolve(&self.id)
            .map(|r| r.state.status == ContainerStatus::Running)
            .unwrap_or(false);
        if !running {
            if let Err(e) = runtime::rootfs::unmount(&self.rootfs) {
                tracing::warn!(container = %self.id, "unmounting the rootfs after a copy: {e}");
            }
        }
    }
}
