//! `berth bridge convert`: the typed Compose model as Kubernetes manifests (a kustomize tree, following
//! Docker's Compose Bridge conventions), keeping what kompose drops: `depends_on`, readiness, headless
//! Services for port-less services, bind mounts, claim sizes. One module per object family.

mod container;
mod context;
mod deps;
mod files;
mod names;
mod netpol;
mod probes;
mod resources;
mod services;
mod storage;
mod tree;
mod unmapped;
mod workload;

pub use context::{BridgeError, Manifest, Options, Warning};
pub use tree::{render_stream, write_tree};

use compose::positions::Positions;
use compose::Project;
use context::Ctx;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// Everything one conversion produced: the manifests in kustomization order and the warnings.
#[derive(Debug)]
pub struct Conversion {
    /// Objects of the base, in the order the kustomization lists them.
    pub manifests: Vec<Manifest>,
    /// Overlay files: (overlay name, file name, YAML text).
    pub overlays: Vec<(String, String, String)>,
    /// Attributes that could not be mapped, with where they are.
    pub warnings: Vec<Warning>,
}

/// Converts a loaded project; `positions` locate the warnings in the Compose files.
pub fn convert(project: &Project, positions: &Positions, opts: &Options) -> Result<Conversion, BridgeError> {
    let mut ctx = Ctx::new(project, positions, opts)?;
    let ns = Namespace {
        metadata: ObjectMeta {
            namespace: None,
            ..ctx.meta(&ctx.namespace, &[])
        },
        ..Default::default()
    };
    ctx.push(format!("0-{}-namespace.yaml", ctx.namespace), &ns)?;
    unmapped::check_project(&mut ctx);
    files::convert_all(&mut ctx)?;
    storage::claims(&mut ctx)?;
    for (name, svc) in &project.services {
        workload::convert(&mut ctx, name.as_str(), svc)?;
        services::convert(&mut ctx, name.as_str(), svc)?;
    }
    netpol::convert(&mut ctx)?;
    let overlays = tree::overlays(&ctx)?;
    Ok(Conversion {
        manifests: ctx.manifests,
        overlays,
        warnings: ctx.warnings,
    })
}
