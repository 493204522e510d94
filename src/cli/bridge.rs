//! `berth bridge convert`: Compose to Kubernetes manifests (a kustomize tree or one YAML stream).

use super::config::load_options;
use super::GlobalArgs;
use crate::bridge::{self, Options};
use anyhow::Context;
use clap::{Args, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// `berth bridge` verbs.
#[derive(Subcommand, Debug)]
pub enum BridgeCommand {
    /// Convert the Compose project to Kubernetes manifests (Compose Bridge layout).
    Convert(ConvertArgs),
}

/// Flags of `berth bridge convert`.
#[derive(Args, Debug)]
pub struct ConvertArgs {
    /// Directory to write `base/` and `overlays/<name>/` into.
    #[arg(short = 'o', long = "output", default_value = "out")]
    pub output: PathBuf,
    /// Print every manifest as one multi-document YAML stream instead of writing files.
    #[arg(long)]
    pub stdout: bool,
    /// Namespace of the objects (default: the project name).
    #[arg(long)]
    pub namespace: Option<String>,
    /// Storage class of the PersistentVolumeClaims (default: the cluster's default class).
    #[arg(long)]
    pub storage_class: Option<String>,
    /// Size each PersistentVolumeClaim requests.
    #[arg(long, default_value = "1Gi")]
    pub volume_size: String,
    /// Mount bind-mounted directories from the node's path (hostPath) instead of an emptyDir.
    #[arg(long)]
    pub bind_host_path: bool,
    /// Image of the init containers that wait for a port or a DNS name (needs sh, nc, nslookup).
    #[arg(long, default_value = "busybox:1.36")]
    pub wait_image: String,
    /// Image of the init containers that wait for Ready pods or finished Jobs (needs sh and kubectl).
    #[arg(long, default_value = "bitnami/kubectl:1.30")]
    pub kubectl_image: String,
    /// Overlays to write (default: desktop); may be repeated.
    #[arg(long = "overlay")]
    pub overlays: Vec<String>,
}

/// Runs a `berth bridge` verb.
pub fn run(global: &GlobalArgs, cmd: BridgeCommand) -> anyhow::Result<ExitCode> {
    let BridgeCommand::Convert(args) = cmd;
    let loaded = compose::load_document(&load_options(global, true, true))?;
    let project = compose::Project::from_loaded(&loaded)?;
    let opts = Options {
        namespace: args.namespace.clone(),
        storage_class: args.storage_class.clone(),
        volume_size: args.volume_size.clone(),
        bind_host_path: args.bind_host_path,
        wait_image: args.wait_image.clone(),
        kubectl_image: args.kubectl_image.clone(),
        overlays: if args.overlays.is_empty() {
            Options::default().overlays
        } else {
            args.overlays.clone()
        },
    };
    check_overlay_names(&opts.overlays)?;
    let conversion = bridge::convert(&project, &loaded.positions, &opts)?;
    for w in &conversion.warnings {
        eprintln!("warning: {w}");
    }
    if args.stdout {
        std::io::stdout()
            .lock()
            .write_all(bridge::render_stream(&conversion)?.as_bytes())?;
        return Ok(ExitCode::SUCCESS);
    }
    let written = bridge::write_tree(&args.output, &conversion)
        .with_context(|| format!("cannot write the manifests under {}", args.output.display()))?;
    for f in written {
        eprintln!("Kubernetes resource {} created", args.output.join(f).display());
    }
    Ok(ExitCode::SUCCESS)
}

fn check_overlay_names(names: &[String]) -> anyhow::Result<()> {
    for n in names {
        let ok = !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && n != "."
            && n != "..";
        anyhow::ensure!(
            ok,
            "--overlay {n:?}: expected a directory name (letters, digits, '-', '_', '.')"
        );
    }
    Ok(())
}
