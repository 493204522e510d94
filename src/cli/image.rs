//! `berth image load|ls`: images through the engine's API.

use super::GlobalArgs;
use anyhow::Context;
use bollard::query_parameters::{ImportImageOptions, ListImagesOptions};
use bollard::Docker;
use clap::Subcommand;
use futures::StreamExt;
use std::path::PathBuf;
use std::process::ExitCode;
use tokio::io::AsyncReadExt;

/// Image sub-verbs.
#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// Load images from a `docker save` or OCI layout tarball.
    Load {
        /// The tarball.
        #[arg(short = 'i', long = "input")]
        input: PathBuf,
        /// Print nothing but errors.
        #[arg(short, long)]
        quiet: bool,
    },
    /// List images.
    #[command(alias = "list")]
    Ls,
    /// Pull an image from a registry.
    Pull(super::registry::PullArgs),
    /// Push an image to a registry.
    Push(super::registry::PushArgs),
}

/// Runs an image sub-verb.
pub fn run(global: &GlobalArgs, cmd: ImageCommand) -> anyhow::Result<ExitCode> {
    let cfg = super::engine::ensure_running(global)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let docker = Docker::connect_with_unix(&cfg.socket.display().to_string(), 600, bollard::API_DEFAULT_VERSION)
            .with_context(|| format!("connecting to unix://{}", cfg.socket.display()))?;
        match cmd {
            ImageCommand::Load { input, quiet } => load(&docker, input, quiet).await,
            ImageCommand::Ls => ls(&docker).await,
            ImageCommand::Pull(args) => super::registry::pull(&docker.negotiate_version().await?, args).await,
            ImageCommand::Push(args) => super::registry::push(&docker.negotiate_version().await?, args).await,
        }
    })
}

async fn load(docker: &Docker, input: PathBuf, quiet: bool) -> anyhow::Result<ExitCode> {
    let file = tokio::fs::File::open(&input)
        .await
        .with_context(|| format!("opening {}", input.display()))?;
    let body = futures::stream::unfold(file, |mut f| async move {
        let mut buf = vec![0u8; 1 << 20];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(bytes_of(buf)), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    });
    let mut out = docker.import_image_stream(
        ImportImageOptions {
            quiet,
            ..Default::default()
        },
        body,
        None,
    );
    while let Some(msg) = out.next().await {
        let msg = msg.with_context(|| format!("loading {}", input.display()))?;
        if let Some(e) = msg.error_detail.and_then(|d| d.message) {
            anyhow::bail!("loading {}: {e}", input.display());
        }
        if let Some(s) = msg.stream {
            if !quiet {
                print!("{s}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn bytes_of(v: Vec<u8>) -> bytes::Bytes {
    v.into()
}

async fn ls(docker: &Docker) -> anyhow::Result<ExitCode> {
    let images = docker
        .list_images(Some(ListImagesOptions::default()))
        .await
        .context("listing images")?;
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::NOTHING);
    table.set_header(["REPOSITORY", "TAG", "IMAGE ID", "SIZE"]);
    for img in images {
        let id = img.id.strip_prefix("sha256:").unwrap_or(&img.id);
        let short = &id[..12.min(id.len())];
        let size = format!("{:.1}MB", img.size as f64 / 1e6);
        if img.repo_tags.is_empty() {
            table.add_row(["<none>", "<none>", short, &size]);
        }
        for t in &img.repo_tags {
            let (repo, tag) = t.rsplit_once(':').unwrap_or((t, "<none>"));
            table.add_row([repo, tag, short, &size]);
        }
    }
    println!("{table}");
    Ok(ExitCode::SUCCESS)
}
