//! `GET /containers/json` filters as dockerd reads them: values checked once at the edge (a bad one is a 400
//! naming the filter), names of containers and images resolved once per list, then matched per container.

use crate::error::{EngineError, Result};
use crate::filters::value_matches;
use crate::health::HealthTable;
use crate::state::{ContainerRecord, ContainerStatus, ImageRecord};
use bollard::models::{HealthStatusEnum, PortSummary};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};

/// A container's `NetworkSettings.Networks` (network name → endpoint).
pub(super) type Networks = HashMap<String, bollard::models::EndpointSettings>;

/// Filter keys dockerd accepts on a container list.
pub(super) const ACCEPTED: &[&str] = &[
    "ancestor",
    "before",
    "exited",
    "expose",
    "health",
    "id",
    "isolation",
    "is-task",
    "label",
    "name",
    "network",
    "publish",
    "since",
    "status",
    "volume",
];

const STATES: &[&str] = &[
    "created",
    "running",
    "paused",
    "restarting",
    "removing",
    "exited",
    "dead",
];
const HEALTH: &[&str] = &["starting", "healthy", "unhealthy", "none"];

/// Checks the values dockerd checks before listing, with its messages.
pub(super) fn validate(f: &HashMap<String, Vec<String>>) -> Result<()> {
    let bad = |m: String| Err(EngineError::BadRequest(m));
    for (key, vals) in f {
        for v in vals {
            match key.as_str() {
                "status" if !STATES.contains(&v.as_str()) => return bad(format!("Invalid filter 'status={v}'")),
                "health" if !HEALTH.contains(&v.as_str()) => {
                    return bad(format!("Unrecognised filter value for health: {v}"))
                }
                "isolation" if !matches!(v.to_ascii_lowercase().as_str(), "" | "default") => {
                    return bad(format!("Unrecognised filter value for isolation: {v}"))
                }
                "is-task" if !matches!(v.as_str(), "true" | "false") => {
                    return bad(format!("Invalid filter 'is-task=[{v}]'"))
                }
                "exited" if v.parse::<i64>().is_err() => {
                    return bad(format!("strconv.Atoi: parsing {v:?}: invalid syntax"))
                }
                "publish" | "expose" => {
                    ports_of(key, v)?;
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// `<port>[/<proto>]` or `<start>-<end>[/<proto>]` as the set of ports it names.
fn ports_of(key: &str, v: &str) -> Result<Vec<(u16, String)>> {
    if v.contains(':') {
        return Err(EngineError::BadRequest(format!(
            "filter for '{key}' should not contain ':': {v}"
        )));
    }
    let (port, proto) = v.split_once('/').unwrap_or((v, "tcp"));
    let bad = || EngineError::BadRequest(format!("error while looking up for {key} {v}: invalid port range"));
    let (start, end) = match port.split_once('-') {
        Some((a, b)) => (
            a.parse::<u16>().map_err(|_| bad())?,
            b.parse::<u16>().map_err(|_| bad())?,
        ),
        None => {
            let p = port.parse::<u16>().map_err(|_| bad())?;
            (p, p)
        }
    };
    if end < start {
        return Err(bad());
    }
    let proto = if proto.is_empty() { "tcp" } else { proto }.to_ascii_lowercase();
    Ok((start..=end).map(|p| (p, proto.clone())).collect())
}

/// The filters of one list, resolved against the engine's state.
pub(super) struct PsFilter<'a> {
    f: &'a HashMap<String, Vec<String>>,
    before: Option<DateTime<Utc>>,
    since: Option<DateTime<Utc>>,
    /// `ancestor`: the images named and every image made from them.
    images: Option<HashSet<String>>,
    publish: HashSet<(u16, String)>,
    expose: HashSet<(u16, String)>,
    exited: Vec<i64>,
}

impl<'a> PsFilter<'a> {
    /// Resolves `before`/`since` among `recs` (404 when missing, as dockerd) and `ancestor` among `images`
    /// (an unknown image matches nothing).
    pub(super) fn new(
        f: &'a HashMap<String, Vec<String>>,
        recs: &[ContainerRecord],
        images: impl FnOnce() -> Result<Vec<ImageRecord>>,
        resolve_image: impl Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let created_of = |key: &str| -> Result<Option<DateTime<Utc>>> {
            let Some(v) = f.get(key).and_then(|v| v.last()) else {
                return Ok(None);
            };
            let rec =
                find_container(recs, v).ok_or_else(|| EngineError::NotFound(format!("No such container: {v}")))?;
            Ok(parse_time(&rec.created))
        };
        let images = match f.get("ancestor").filter(|v| !v.is_empty()) {
            Some(names) => {
                let roots: Vec<String> = names.iter().filter_map(|n| resolve_image(n)).collect();
                Some(descendants(&roots, &images()?))
            }
            None => None,
        };
        let ports = |key: &str| -> Result<HashSet<(u16, String)>> {
            let mut out = HashSet::new();
            for v in f.get(key).into_iter().flatten() {
                out.extend(ports_of(key, v)?);
            }
            Ok(out)
        };
        Ok(Self {
            before: created_of("before")?,
            since: created_of("since")?,
            images,
            publish: ports("publish")?,
            expose: ports("expose")?,
            exited: f
                .get("exited")
                .into_iter()
                .flatten()
                .filter_map(|v| v.parse().ok())
                .collect(),
            f,
        })
    }

    /// dockerd lists stopped containers too when asked for a status.
    pub(super) fn widens_to_all(&self) -> bool {
        self.f.contains_key("status")
    }

    /// True when `r` (with its `NetworkSettings.Networks` and list `Ports`) passes every filter.
    pub(super) fn matches(
        &self,
        r: &ContainerRecord,
        health: &HealthTable,
        nets: Option<&Networks>,
        ports: &[PortSummary],
    ) -> bool {
        let created = parse_time(&r.created);
        self.before.is_none_or(|b| created.is_some_and(|c| c < b))
            && self.since.is_none_or(|s| created.is_some_and(|c| c > s))
            && self.images.as_ref().is_none_or(|set| set.contains(&r.image_id))
            && (self.exited.is_empty() || self.exited_matches(r))
            && self.ports_match(ports)
            && self
                .f
                .iter()
                .all(|(k, vals)| vals.is_empty() || self.key_matches(k, vals, r, health, nets))
    }

    /// dockerd's rule: `publish` names a host port, `expose` a container port, of the ports the list shows.
    fn ports_match(&self, ports: &[PortSummary]) -> bool {
        if self.publish.is_empty() && self.expose.is_empty() {
            return true;
        }
        ports.iter().any(|p| {
            let proto = p.typ.map(|t| t.to_string()).unwrap_or_else(|| "tcp".into());
            let public = p.public_port.unwrap_or(0);
            self.publish.contains(&(public, proto.clone())) || self.expose.contains(&(p.private_port, proto))
        })
    }

    fn exited_matches(&self, r: &ContainerRecord) -> bool {
        let started = !r.state.started_at.is_empty() && !r.state.started_at.starts_with("0001-");
        r.state.status != ContainerStatus::Running && started && self.exited.contains(&r.state.exit_code)
    }

    fn key_matches(
        &self,
        key: &str,
        vals: &[String],
        r: &ContainerRecord,
        health: &HealthTable,
        nets: Option<&Networks>,
    ) -> bool {
        match key {
            "label" => crate::filters::labels_match(self.f, &r.config.labels.clone().unwrap_or_default()),
            "name" => {
                let slashed = format!("/{}", r.name);
                vals.iter()
                    .any(|v| value_matches(v, &slashed) || value_matches(v, &r.name))
            }
            "id" => vals.iter().any(|v| value_matches(v, &r.id)),
            "status" => vals.iter().any(|v| v == status_str(r)),
            "health" => vals.iter().any(|v| v == health_str(health, &r.id)),
            "isolation" => {
                let mine = r.host_config.isolation.map(|i| i.to_string()).unwrap_or_default();
                vals.iter().any(|v| *v == mine)
            }
            "is-task" => vals.iter().any(|v| v == "false"),
            "volume" => vals.iter().any(|v| mounts(r).any(|m| m == v.as_str())),
            "network" => vals.iter().any(|v| {
                nets.into_iter().flatten().any(|(name, ep)| {
                    name == v
                        || ep
                            .network_id
                            .as_deref()
                            .is_some_and(|id| !id.is_empty() && id.starts_with(v.as_str()))
                })
            }),
            _ => true,
        }
    }
}

/// A container by full id, name or unique id prefix.
fn find_container<'r>(recs: &'r [ContainerRecord], v: &str) -> Option<&'r ContainerRecord> {
    let v = v.trim_start_matches('/');
    recs.iter().find(|r| r.id == v || r.name == v).or_else(|| {
        let mut by_prefix = recs.iter().filter(|r| !v.is_empty() && r.id.starts_with(v));
        match (by_prefix.next(), by_prefix.next()) {
            (Some(one), None) => Some(one),
            _ => None,
        }
    })
}

/// `roots` and every image whose parent chain leads to one of them.
fn descendants(roots: &[String], all: &[ImageRecord]) -> HashSet<String> {
    let parent: HashMap<&str, &str> = all
        .iter()
        .filter_map(|i| i.parent.as_deref().map(|p| (i.id.as_str(), p)))
        .collect();
    let mut out: HashSet<String> = roots.iter().cloned().collect();
    for img in all {
        let mut chain = vec![img.id.as_str()];
        let mut at = img.id.as_str();
        while let Some(p) = parent.get(at).copied() {
            if chain.contains(&p) {
                break;
            }
            chain.push(p);
            at = p;
        }
        if chain.iter().any(|c| out.contains(*c)) {
            out.insert(img.id.clone());
        }
    }
    out
}

/// The state `docker ps --filter status=` names.
pub(super) fn status_str(r: &ContainerRecord) -> &'static str {
    if r.state.paused && r.state.status == ContainerStatus::Running {
        "paused"
    } else {
        r.state.status.as_str()
    }
}

fn health_str(health: &HealthTable, id: &str) -> &'static str {
    match health.snapshot(id).and_then(|h| h.status) {
        Some(HealthStatusEnum::STARTING) => "starting",
        Some(HealthStatusEnum::HEALTHY) => "healthy",
        Some(HealthStatusEnum::UNHEALTHY) => "unhealthy",
        _ => "none",
    }
}

/// Volume names (bind sources for binds) and destinations of the container's mounts.
fn mounts(r: &ContainerRecord) -> impl Iterator<Item = String> + '_ {
    r.mounts.iter().flat_map(|m| {
        let source = match &m.source {
            volumes::RequestSource::Volume(v) => Some(v.name.to_string()),
            volumes::RequestSource::Bind(b) => Some(b.source.display().to_string()),
            volumes::RequestSource::Tmpfs(_) => None,
        };
        source.into_iter().chain([m.destination.display().to_string()])
    })
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(k: &str, v: &str) -> HashMap<String, Vec<String>> {
        HashMap::from([(k.to_owned(), vec![v.to_owned()])])
    }

    #[test]
    fn values_are_checked_with_dockerds_messages() {
        assert!(validate(&f("status", "running")).is_ok());
        let msg = |k, v| validate(&f(k, v)).unwrap_err().to_string();
        assert!(msg("status", "sleeping").contains("Invalid filter 'status=sleeping'"));
        assert!(msg("health", "ok").contains("Unrecognised filter value for health: ok"));
        assert!(msg("is-task", "maybe").contains("Invalid filter 'is-task=[maybe]'"));
        assert!(msg("exited", "x").contains("invalid syntax"));
        assert!(msg("publish", "80:80").contains("should not contain ':'"));
        assert!(msg("expose", "90-80").contains("expose 90-80"));
    }

    #[test]
    fn port_ranges_and_protocols() {
        assert_eq!(ports_of("publish", "80").unwrap(), [(80, "tcp".to_owned())]);
        assert_eq!(ports_of("publish", "53/udp").unwrap(), [(53, "udp".to_owned())]);
        assert_eq!(ports_of("expose", "8000-8002/tcp").unwrap().len(), 3);
    }

    #[test]
    fn names_match_exactly_or_as_an_unanchored_regex() {
        assert!(value_matches("web", "/stack-web-1"));
        assert!(value_matches("^/stack", "/stack-web-1"));
        assert!(!value_matches("^web", "/stack-web-1"));
        assert!(value_matches("a(b", "a(b"));
        assert!(!value_matches("a(b", "xa(bx"));
    }
}
