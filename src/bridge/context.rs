//! The state of one conversion: options, the manifests made so far, warnings located in the Compose files.

use super::names;
use compose::positions::Positions;
use compose::Project;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;

/// How to convert (the flags of `berth bridge convert`).
#[derive(Debug, Clone)]
pub struct Options {
    /// Namespace of every object (default: the project name).
    pub namespace: Option<String>,
    /// Storage class of the claims (default: the cluster's default class).
    pub storage_class: Option<String>,
    /// Size requested by each claim.
    pub volume_size: String,
    /// Mount bind-mounted directories as `hostPath` instead of an `emptyDir`.
    pub bind_host_path: bool,
    /// Image of the init containers that wait for a port or a name (needs `sh`, `nc`, `nslookup`).
    pub wait_image: String,
    /// Image of the init containers that wait for pods or Jobs (needs `sh` and `kubectl`).
    pub kubectl_image: String,
    /// Names of the overlays to write beside the base.
    pub overlays: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            namespace: None,
            storage_class: None,
            volume_size: "1Gi".into(),
            bind_host_path: false,
            wait_image: "busybox:1.36".into(),
            kubectl_image: "bitnami/kubectl:1.30".into(),
            overlays: vec!["desktop".into()],
        }
    }
}

/// A conversion that cannot go on (the Compose file asks for something that has no Kubernetes form).
#[derive(Debug, thiserror::Error)]
#[error("{}", self.render())]
pub struct BridgeError {
    /// Where in which file, when known.
    pub location: Option<compose::Location>,
    /// Key path such as `services.web.build`.
    pub key: String,
    /// What is wrong and what is needed.
    pub message: String,
}

impl BridgeError {
    fn render(&self) -> String {
        match &self.location {
            Some(l) => format!("{l}: {}: {}", self.key, self.message),
            None => format!("{}: {}", self.key, self.message),
        }
    }
}

/// An attribute that has no (or only a partial) Kubernetes counterpart.
#[derive(Debug, Clone, PartialEq)]
pub struct Warning {
    /// Where in which file, when known.
    pub location: Option<compose::Location>,
    /// Key path such as `services.web.ulimits`.
    pub key: String,
    /// What was not mapped and what the manifests do instead.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(l) => write!(f, "{l}: {}: {}", self.key, self.message),
            None => write!(f, "{}: {}", self.key, self.message),
        }
    }
}

/// One object of the base: its file name and its JSON form (k8s-openapi types serialised).
#[derive(Debug, Clone)]
pub struct Manifest {
    /// File name under `base/` (Compose Bridge style: `<name>-<kind>.yaml`).
    pub file: String,
    /// The object.
    pub value: serde_json::Value,
}

/// State shared by the converters of one run.
pub struct Ctx<'a> {
    /// The project being converted.
    pub project: &'a Project,
    positions: &'a Positions,
    /// Flags.
    pub opts: &'a Options,
    /// Namespace of every object.
    pub namespace: String,
    /// Value of the project label (the project name as a label value).
    project_label: String,
    /// Kubernetes name of every service (Compose names may hold `_`, `.` or capitals).
    pub names: HashMap<String, String>,
    /// Objects made so far.
    pub manifests: Vec<Manifest>,
    /// Warnings so far.
    pub warnings: Vec<Warning>,
    /// Bind-mounted directories per (service name, volume name), for overlays that mount the host path.
    pub host_dirs: Vec<(String, String, PathBuf)>,
}

impl<'a> Ctx<'a> {
    /// Starts a conversion: picks the namespace and the Kubernetes name of every service.
    pub fn new(project: &'a Project, positions: &'a Positions, opts: &'a Options) -> Result<Self, BridgeError> {
        let mut ctx = Ctx {
            project,
            positions,
            opts,
            namespace: String::new(),
            project_label: names::dns_label(&project.name).unwrap_or_default(),
            names: HashMap::new(),
            manifests: Vec::new(),
            warnings: Vec::new(),
            host_dirs: Vec::new(),
        };
        let ns_source = opts.namespace.clone().unwrap_or_else(|| project.name.clone());
        ctx.namespace = names::dns_label(&ns_source)
            .ok_or_else(|| ctx.error("name", format!("{ns_source:?} cannot be a Kubernetes namespace name")))?;
        for name in project.services.keys() {
            let k8s = ctx.k8s_name(&format!("services.{name}"), name.as_str())?;
            ctx.names.insert(name.as_str().to_owned(), k8s);
        }
        Ok(ctx)
    }

    /// A DNS-1035 name for a Compose name; warns when it had to change, errors when no name fits.
    pub fn k8s_name(&mut self, key: &str, name: &str) -> Result<String, BridgeError> {
        let k8s = names::dns_label(name).ok_or_else(|| {
            self.error(
                key,
                format!("{name:?} cannot be made a Kubernetes name (DNS-1035 label)"),
            )
        })?;
        if k8s != name {
            self.warn(
                key,
                format!("named {k8s:?} in Kubernetes (names are lowercase letters, digits and '-')"),
            );
        }
        Ok(k8s)
    }

    /// The Kubernetes name of a service of the project.
    pub fn service_name(&self, name: &str) -> String {
        self.names.get(name).cloned().unwrap_or_else(|| name.to_owned())
    }

    /// Records a warning about `key` (a Compose key path such as `services.web.ulimits`).
    pub fn warn(&mut self, key: &str, message: impl Into<String>) {
        let w = Warning {
            location: self.positions.find(key),
            key: key.to_owned(),
            message: message.into(),
        };
        if !self.warnings.contains(&w) {
            self.warnings.push(w);
        }
    }

    /// An error about `key`.
    pub fn error(&self, key: &str, message: impl Into<String>) -> BridgeError {
        BridgeError {
            location: self.positions.find(key),
            key: key.to_owned(),
            message: message.into(),
        }
    }

    /// Adds an object to the base under `file`.
    pub fn push<T: Serialize>(&mut self, file: String, object: &T) -> Result<(), BridgeError> {
        let value = serde_json::to_value(object).map_err(|e| BridgeError {
            location: None,
            key: file.clone(),
            message: format!("cannot serialise the object: {e}"),
        })?;
        self.manifests.push(Manifest { file, value });
        Ok(())
    }

    /// Metadata of a namespaced object with the project's labels.
    pub fn meta(
        &self,
        name: &str,
        extra: &[(&str, &str)],
    ) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
        let mut labels = std::collections::BTreeMap::new();
        labels.insert(names::PROJECT_LABEL.to_owned(), self.project_label.clone());
        for (k, v) in extra {
            labels.insert((*k).to_owned(), (*v).to_owned());
        }
        k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(self.namespace.clone()),
            labels: Some(labels),
            ..Default::default()
        }
    }
}
