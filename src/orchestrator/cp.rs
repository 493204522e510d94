//! `cp`: copies files between a service container and the local filesystem, as docker compose cp does,
//! through the engine's archive endpoints (the tar streams are made and unpacked here, see `cp_tar`).

use super::cp_tar::{self, Top};
use super::resources::{self, is_not_found};
use super::spec::ProjectSpec;
use anyhow::{bail, Context, Result};
use bollard::container::PathStatResponse;
use bollard::query_parameters::{
    ContainerArchiveInfoOptionsBuilder, DownloadFromContainerOptionsBuilder, UploadToContainerOptions,
};
use bollard::Docker;
use futures::StreamExt;
use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

/// Go's `os.ModeDir` and `os.ModeSymlink` bits in the engine's path stat.
const MODE_DIR: u32 = 1 << 31;
const MODE_SYMLINK: u32 = 1 << 27;

/// Flags of `cp`.
#[derive(Debug, Clone, Default)]
pub struct CpOptions {
    /// Index of the container if the service has multiple replicas (default 1).
    pub index: Option<u32>,
    /// Copy into every replica of the service.
    pub all: bool,
    /// Archive mode (copy all uid/gid information).
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH.
    pub follow_link: bool,
    /// SERVICE:SRC_PATH, or a local path (`-`: a tar stream read from stdin).
    pub source: String,
    /// SERVICE:DEST_PATH, or a local path (`-`: a tar stream written to stdout).
    pub destination: String,
}

/// One side of a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Side {
    Local(String),
    Service { service: String, path: String },
}

/// `SERVICE:PATH` names a container path; an absolute path, one starting with `.`, or one without `:` is local.
fn side(arg: &str) -> Side {
    match arg.split_once(':') {
        Some((service, path)) if !arg.starts_with('/') && !service.starts_with('.') && !service.is_empty() => {
            Side::Service {
                service: service.to_owned(),
                path: absolute(path),
            }
        }
        _ => Side::Local(arg.to_owned()),
    }
}

/// Container paths are relative to the container's root, as with docker cp.
fn absolute(path: &str) -> String {
    if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    }
}

/// `SRC/.` (or `.`) copies a directory's contents rather than the directory.
fn names_contents(path: &str) -> bool {
    path == "." || path.ends_with("/.")
}

/// A container of the service, with the name errors use.
struct Target {
    id: String,
    name: String,
}

/// Runs `cp`.
pub async fn run(docker: &Docker, project: &str, model: Option<&ProjectSpec>, args: &CpOptions) -> Result<ExitCode> {
    match (side(&args.source), side(&args.destination)) {
        (Side::Service { service, path }, Side::Local(dest)) => {
            if args.all {
                bail!("--all copies into every replica; copying out of {service} takes one container (--index)");
            }
            let targets = targets(docker, project, model, &service, args).await?;
            let first = targets.first().context("no container to copy from")?;
            copy_out(docker, first, &service, &path, &dest, args).await?;
        }
        (Side::Local(src), Side::Service { service, path }) => {
            let targets = targets(docker, project, model, &service, args).await?;
            // A tar stream on stdin is read once, whatever the number of replicas it goes to.
            let stdin = (src == "-").then(read_stdin).transpose()?;
            for target in &targets {
                copy_in(docker, target, &service, &src, &path, stdin.clone(), args).await?;
            }
        }
        (Side::Local(_), Side::Local(_)) => {
            bail!("cp: one of SRC_PATH and DEST_PATH must name a service path (SERVICE:PATH)")
        }
        (Side::Service { .. }, Side::Service { .. }) => {
            bail!("cp: copying between services is not supported; copy to a local path first")
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The containers a copy acts on: `--index` (default 1), or every replica with `--all`.
async fn targets(
    docker: &Docker,
    project: &str,
    model: Option<&ProjectSpec>,
    service: &str,
    args: &CpOptions,
) -> Result<Vec<Target>> {
    if model.is_some_and(|m| m.service(service).is_none()) {
        bail!("no such service: {service}");
    }
    if args.all && args.index.is_some() {
        bail!("cp: --all and --index cannot be used together");
    }
    let mut list = resources::list_containers(docker, project, Some(service), true).await?;
    list.sort_by_key(resources::identity);
    if list.is_empty() {
        bail!("service {service:?} has no container in project {project} (is it up?)");
    }
    let index = args.index.unwrap_or(1);
    let chosen: Vec<Target> = list
        .iter()
        .filter(|c| args.all || resources::identity(c).1 == index)
        .map(|c| Target {
            id: c.id.clone().unwrap_or_default(),
            name: resources::display_name(c),
        })
        .collect();
    if chosen.is_empty() {
        bail!("service {service:?} has no container with index {index}");
    }
    Ok(chosen)
}

/// Stat of a container path; None when it does not exist.
async fn stat(docker: &Docker, target: &Target, path: &str) -> Result<Option<PathStatResponse>> {
    let options = ContainerArchiveInfoOptionsBuilder::new().path(path).build();
    match docker.get_container_archive_info(&target.id, Some(options)).await {
        Ok(st) => Ok(Some(st)),
        Err(err) if is_not_found(&err) => Ok(None),
        Err(err) => Err(err).with_context(|| format!("reading {path} in container {}", target.name)),
    }
}

/// A container link's target as a path (relative targets are relative to the link's directory).
fn link_path(link: &str, target: &str) -> String {
    if target.starts_with('/') {
        return target.to_owned();
    }
    let dir = Path::new(link).parent().unwrap_or(Path::new("/"));
    dir.join(target).display().to_string()
}

fn base_name(path: &str) -> Result<String> {
    Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .with_context(|| format!("{path:?} names no file (give a file or directory path)"))
}

/// Container → local (or a tar stream on stdout with `-`).
async fn copy_out(
    docker: &Docker,
    target: &Target,
    service: &str,
    src: &str,
    dest: &str,
    args: &CpOptions,
) -> Result<()> {
    let (follow, keep_ids) = (args.follow_link, args.archive);
    let label = format!("{service}:{src}");
    let not_found = || anyhow::anyhow!("path not found: {label} (no such file or directory in {})", target.name);
    let mut st = stat(docker, target, src).await?.ok_or_else(not_found)?;
    let (mut path, mut rebase) = (src.to_owned(), None);
    if follow && st.file_mode & MODE_SYMLINK != 0 && !st.link_target.is_empty() {
        path = link_path(src, &st.link_target);
        rebase = Some(base_name(src)?);
        st = stat(docker, target, &path).await?.ok_or_else(not_found)?;
    }
    let src_is_dir = st.file_mode & MODE_DIR != 0;
    let options = DownloadFromContainerOptionsBuilder::new().path(&path).build();
    let mut stream = docker.download_from_container(&target.id, Some(options));
    if dest == "-" && rebase.is_none() {
        let mut out = std::io::stdout().lock();
        while let Some(chunk) = stream.next().await {
            out.write_all(&chunk.with_context(|| format!("copying {label}"))?)?;
        }
        return out.flush().context("writing the archive to stdout");
    }
    let (tx, rx) = std::sync::mpsc::sync_channel(16);
    let reader = cp_tar::ChunkReader::new(rx);
    let consumer = if dest == "-" {
        // -L on a link: the archive's top entry takes the link's name, as docker cp's stream does.
        let top = Top::Rename(rebase.unwrap_or_default().into());
        tokio::task::spawn_blocking(move || cp_tar::rename_stream(reader, &top, std::io::stdout().lock()))
    } else {
        let (into, top) = local_plan(dest, src, src_is_dir, rebase)?;
        tokio::task::spawn_blocking(move || cp_tar::unpack(reader, &into, &top, keep_ids))
    };
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.with_context(|| format!("copying {label}"))?;
        if tx.send(chunk).is_err() {
            break; // the consumer failed: its error says why
        }
    }
    drop(tx);
    consumer
        .await
        .context("the unpacking task")?
        .with_context(|| format!("copying {label} to {dest}"))
}

/// Where a download lands locally: the directory to unpack into and what its top entry becomes.
fn local_plan(dest: &str, src: &str, src_is_dir: bool, rebase: Option<String>) -> Result<(std::path::PathBuf, Top)> {
    let path = Path::new(dest);
    let parent = || match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let renamed = || -> Result<Top> { Ok(Top::Rename(base_name(dest)?.into())) };
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() && src_is_dir && names_contents(src) => Ok((path.to_path_buf(), Top::Strip)),
        Ok(m) if m.is_dir() => Ok((path.to_path_buf(), rebase.map_or(Top::Keep, |n| Top::Rename(n.into())))),
        Ok(_) if src_is_dir => bail!("cannot copy a directory to a file: {dest}"),
        Ok(_) => Ok((parent(), renamed()?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if dest.ends_with('/') && !src_is_dir {
                bail!("destination directory {dest} does not exist");
            }
            if !parent().is_dir() {
                bail!("destination directory {} does not exist", parent().display());
            }
            Ok((parent(), renamed()?))
        }
        Err(e) => Err(e).with_context(|| format!("reading {dest}")),
    }
}

/// Local (or a tar stream on stdin with `-`) → one container.
fn read_stdin() -> Result<bytes::Bytes> {
    let mut data = Vec::new();
    std::io::stdin()
        .read_to_end(&mut data)
        .context("reading the archive from stdin")?;
    Ok(data.into())
}

async fn copy_in(
    docker: &Docker,
    target: &Target,
    service: &str,
    src: &str,
    dest: &str,
    stdin: Option<bytes::Bytes>,
    args: &CpOptions,
) -> Result<()> {
    let label = format!("{service}:{dest}");
    let mut options = UploadToContainerOptions {
        path: String::new(),
        no_overwrite_dir_non_dir: Some("true".into()),
        copy_uidgid: args.archive.then(|| "true".into()),
    };
    if let Some(data) = stdin {
        let st = stat(docker, target, dest).await?;
        if st.is_none_or(|s| s.file_mode & MODE_DIR == 0) {
            bail!("destination {label} must be an existing directory when copying a tar stream from stdin");
        }
        options.path = dest.to_owned();
        return docker
            .upload_to_container(&target.id, Some(options), bollard::body_full(data))
            .await
            .with_context(|| format!("copying to {label} (container {})", target.name));
    }
    let meta = if args.follow_link {
        std::fs::metadata(src)
    } else {
        std::fs::symlink_metadata(src)
    };
    let meta = meta.map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => anyhow::anyhow!("path not found: {src} (no such file or directory)"),
        _ => anyhow::Error::new(e).context(format!("reading {src}")),
    })?;
    let src_is_dir = meta.is_dir();
    let (into, top) = remote_plan(docker, target, &label, dest, src, src_is_dir).await?;
    options.path = into;
    let (tx, rx) = futures::channel::mpsc::channel(16);
    let (src_path, follow, keep_ids) = (std::path::PathBuf::from(src), args.follow_link, args.archive);
    let packer = tokio::task::spawn_blocking(move || {
        let mut writer = cp_tar::ChunkWriter(tx.clone());
        let result = cp_tar::pack(&src_path, top.as_deref(), follow, keep_ids, &mut writer);
        if let Err(err) = &result {
            // Fails the request body, so the engine does not unpack a cut archive.
            let _ = futures::executor::block_on(futures::SinkExt::send(
                &mut writer.0,
                Err(std::io::Error::other(format!("{err:#}"))),
            ));
        }
        result
    });
    let sent = docker
        .upload_to_container(&target.id, Some(options), bollard::body_try_stream(rx))
        .await
        .with_context(|| format!("copying {src} to {label} (container {})", target.name));
    match (sent, packer.await.context("the archiving task")?) {
        (sent, Ok(())) => sent,
        (Ok(()), Err(packing)) => Err(packing),
        // The engine's answer says why the stream broke, unless the archiving failed first.
        (Err(sent), Err(packing)) => Err(sent.context(format!("{packing:#}"))),
    }
}

/// Where an upload goes: the container directory to unpack in and the name of the archive's top entry
/// (None: the source directory's contents).
async fn remote_plan(
    docker: &Docker,
    target: &Target,
    label: &str,
    dest: &str,
    src: &str,
    src_is_dir: bool,
) -> Result<(String, Option<String>)> {
    let mut dest = dest.to_owned();
    let mut st = stat(docker, target, &dest).await?;
    if let Some(link) = st
        .as_ref()
        .filter(|s| s.file_mode & MODE_SYMLINK != 0 && !s.link_target.is_empty())
    {
        dest = link_path(&dest, &link.link_target);
        st = stat(docker, target, &dest).await?;
    }
    let src_name = || -> Result<String> {
        let canonical = std::fs::canonicalize(src).with_context(|| format!("reading {src}"))?;
        match Path::new(src).file_name() {
            Some(n) if !names_contents(src) => Ok(n.to_string_lossy().into_owned()),
            _ => base_name(&canonical.display().to_string()),
        }
    };
    let parent = Path::new(&dest)
        .parent()
        .map_or("/".to_owned(), |p| p.display().to_string());
    match st {
        Some(s) if s.file_mode & MODE_DIR != 0 => {
            let top = (!(src_is_dir && names_contents(src))).then(src_name).transpose()?;
            Ok((dest, top))
        }
        Some(_) if src_is_dir => bail!("cannot copy a directory to a file: {label}"),
        Some(_) => Ok((parent, Some(base_name(&dest)?))),
        None => {
            if dest.ends_with('/') && !src_is_dir {
                bail!("destination directory {label} does not exist");
            }
            let parent_is_dir = stat(docker, target, &parent)
                .await?
                .is_some_and(|s| s.file_mode & MODE_DIR != 0);
            if !parent_is_dir {
                bail!(
                    "destination directory {}:{parent} does not exist",
                    label.split(':').next().unwrap_or("")
                );
            }
            Ok((parent, Some(base_name(&dest)?)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_follow_docker_cp() {
        assert_eq!(
            side("web:/etc/x"),
            Side::Service {
                service: "web".into(),
                path: "/etc/x".into()
            }
        );
        assert_eq!(
            side("web:tmp"),
            Side::Service {
                service: "web".into(),
                path: "/tmp".into()
            }
        );
        assert_eq!(side("/abs:path"), Side::Local("/abs:path".into()));
        assert_eq!(side("./a:b"), Side::Local("./a:b".into()));
        assert_eq!(side("-"), Side::Local("-".into()));
        assert_eq!(side("file.txt"), Side::Local("file.txt".into()));
    }

    #[test]
    fn links_resolve_against_their_directory() {
        assert_eq!(link_path("/a/b/l", "../t"), "/a/b/../t");
        assert_eq!(link_path("/a/l", "/t"), "/t");
    }
}
