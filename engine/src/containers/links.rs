//! Docker's legacy links (`HostConfig.Links` on the default bridge): the environment a container gets about
//! each container it links to (`<ALIAS>_NAME`, `<ALIAS>_PORT*`, `<ALIAS>_ENV_*`), the extra names a linked
//! container is listed under (`/<parent>/<alias>`), and removing one link
//! (`DELETE /containers/<parent>/<alias>?link=1`). Name resolution of links is the resolver's (see networks).

use super::Containers;
use crate::error::{EngineError, Result};
use crate::networks::DEFAULT_BRIDGE;
use crate::state::{ContainerRecord, ContainerStatus};
use std::net::Ipv4Addr;

/// One `HostConfig.Links` entry (`name:alias`, either part possibly written as a `/path`).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Link<'a> {
    /// The linked container's name or id.
    pub target: &'a str,
    /// The name the linking container knows it by.
    pub alias: &'a str,
}

impl<'a> Link<'a> {
    /// Reads `name[:alias]`; the alias defaults to the name.
    pub fn parse(text: &'a str) -> Link<'a> {
        let (target, alias) = text.split_once(':').unwrap_or((text, text));
        Link {
            target: target.trim_start_matches('/'),
            alias: alias.rsplit('/').next().unwrap_or(alias),
        }
    }
}

/// Legacy links act (environment, extra names) only for a container on the default bridge, as on dockerd.
fn on_default_bridge(rec: &ContainerRecord) -> bool {
    matches!(
        rec.host_config.network_mode.as_deref(),
        None | Some("" | "default" | DEFAULT_BRIDGE)
    )
}

fn links_of(rec: &ContainerRecord) -> impl Iterator<Item = Link<'_>> {
    rec.host_config.links.iter().flatten().map(|l| Link::parse(l))
}

impl Containers {
    /// The variables a starting container gets for its legacy links; a linked container must be running.
    pub(super) async fn link_env(&self, rec: &ContainerRecord) -> Result<Vec<String>> {
        if !on_default_bridge(rec) || links_of(rec).next().is_none() {
            return Ok(Vec::new());
        }
        let nets = self.networks().await?;
        let bridge = nets.resolve(DEFAULT_BRIDGE)?.id;
        let mut env = Vec::new();
        for link in links_of(rec) {
            let child = self.resolve(link.target)?;
            if child.state.status != ContainerStatus::Running {
                return Err(EngineError::Conflict(format!(
                    "Cannot link to a non running container: /{} AS /{}/{}",
                    child.name, rec.name, link.alias
                )));
            }
            let ip = nets
                .endpoints_of_container(&child.id)?
                .into_iter()
                .find(|e| e.network == bridge)
                .and_then(|e| e.ip);
            let c = &child.config;
            let (vars, exposed) = (
                c.env.as_deref().unwrap_or_default(),
                c.exposed_ports.as_deref().unwrap_or_default(),
            );
            env.extend(env_of_link(&rec.name, &link, vars, exposed, ip));
        }
        Ok(env)
    }

    /// The containers whose legacy links act (on the default bridge, with links): found once per list, so
    /// naming each listed container does not scan every container again.
    pub(super) fn link_parents(all: &[ContainerRecord]) -> Vec<&ContainerRecord> {
        all.iter()
            .filter(|p| on_default_bridge(p) && links_of(p).next().is_some())
            .collect()
    }

    /// `/<parent>/<alias>` for every legacy link that names `rec`, given the `link_parents`.
    pub(super) fn link_names(rec: &ContainerRecord, parents: &[&ContainerRecord]) -> Vec<String> {
        let mut names = Vec::new();
        for parent in parents {
            for link in links_of(parent) {
                if link.target == rec.name || (link.target.len() >= 12 && rec.id.starts_with(link.target)) {
                    names.push(format!("/{}/{}", parent.name, link.alias));
                }
            }
        }
        names
    }

    /// Removes the legacy link `/<parent>/<alias>` (`docker rm --link`).
    pub fn remove_link(&self, path: &str) -> Result<()> {
        let full = path.trim_start_matches('/');
        let Some((parent, alias)) = full.rsplit_once('/') else {
            // dockerd answers this with a 500 too.
            return Err(EngineError::Internal(
                "Conflict, cannot remove the default link name of the container".into(),
            ));
        };
        let rec = self.resolve(parent)?;
        if !links_of(&rec).any(|l| l.alias == alias) {
            return Err(EngineError::NotFound(format!("No such container: {path}")));
        }
        self.db.update_container(&rec.id, |r| {
            if let Some(links) = r.host_config.links.as_mut() {
                links.retain(|l| Link::parse(l).alias != alias);
            }
            Ok(())
        })?;
        Ok(())
    }
}

/// The variables of one link, as dockerd writes them: the link's name, each exposed port of the linked
/// container (the lowest also as `<ALIAS>_PORT`), and its environment but HOME and PATH.
fn env_of_link(
    parent: &str,
    link: &Link<'_>,
    vars: &[String],
    exposed: &[String],
    ip: Option<Ipv4Addr>,
) -> Vec<String> {
    let alias = link.alias.to_uppercase().replace('-', "_");
    let mut env = vec![format!("{alias}_NAME=/{parent}/{}", link.alias)];
    if let Some(ip) = ip {
        let mut ports: Vec<(u16, String)> = exposed
            .iter()
            .filter_map(|p| {
                let (port, proto) = p.split_once('/').unwrap_or((p, "tcp"));
                Some((port.parse().ok()?, proto.to_owned()))
            })
            .collect();
        ports.sort();
        if let Some((port, proto)) = ports.first() {
            env.push(format!("{alias}_PORT={proto}://{ip}:{port}"));
        }
        for (port, proto) in &ports {
            let key = format!("{alias}_PORT_{port}_{}", proto.to_uppercase());
            env.push(format!("{key}={proto}://{ip}:{port}"));
            env.push(format!("{key}_ADDR={ip}"));
            env.push(format!("{key}_PORT={port}"));
            env.push(format!("{key}_PROTO={proto}"));
        }
    }
    for var in vars {
        if let Some((k, v)) = var.split_once('=') {
            if k != "HOME" && k != "PATH" {
                env.push(format!("{alias}_ENV_{k}={v}"));
            }
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_parse_with_and_without_alias_and_paths() {
        assert_eq!(Link::parse("db:data").alias, "data");
        assert_eq!(Link::parse("db").alias, "db");
        assert_eq!(
            Link::parse("/db:/web/data"),
            Link {
                target: "db",
                alias: "data"
            }
        );
    }

    #[test]
    fn link_env_names_ports_and_environment() {
        let vars = ["FOO=1", "PATH=/bin", "HOME=/root"].map(String::from);
        let exposed = ["6379/tcp", "53/udp"].map(String::from);
        let ip = Some(Ipv4Addr::new(172, 17, 0, 2));
        let env = env_of_link("web", &Link::parse("db:my-db"), &vars, &exposed, ip);
        assert_eq!(
            env,
            [
                "MY_DB_NAME=/web/my-db",
                "MY_DB_PORT=udp://172.17.0.2:53",
                "MY_DB_PORT_53_UDP=udp://172.17.0.2:53",
                "MY_DB_PORT_53_UDP_ADDR=172.17.0.2",
                "MY_DB_PORT_53_UDP_PORT=53",
                "MY_DB_PORT_53_UDP_PROTO=udp",
                "MY_DB_PORT_6379_TCP=tcp://172.17.0.2:6379",
                "MY_DB_PORT_6379_TCP_ADDR=172.17.0.2",
                "MY_DB_PORT_6379_TCP_PORT=6379",
                "MY_DB_PORT_6379_TCP_PROTO=tcp",
                "MY_DB_ENV_FOO=1",
            ]
        );
    }
}
