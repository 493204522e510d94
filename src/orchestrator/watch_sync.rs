//! Copying changed files into containers through the Engine API (`PUT /containers/{id}/archive`, so the image
//! needs no `tar`), owned by the container's configured user, and removing deleted ones with `rm -rf` through
//! exec (the Engine API has no delete call; Docker Compose does the same).

use super::watch_filter::RuleFilter;
use anyhow::{bail, Context, Result};
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::query_parameters::{DownloadFromContainerOptionsBuilder, UploadToContainerOptions};
use bollard::Docker;
use futures::StreamExt;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Numeric owner of synced files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Owner {
    /// User id.
    pub uid: u64,
    /// Group id.
    pub gid: u64,
}

/// One changed host path and where it goes in the container.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    /// Host path (absolute).
    pub host: PathBuf,
    /// Container path (absolute).
    pub container: String,
}

/// The owner of files synced into container `id`: its configured `USER`, numeric or looked up in the
/// container's own `/etc/passwd` and `/etc/group` (read through the archive endpoint).
pub async fn owner(docker: &Docker, id: &str) -> Result<Owner> {
    let info = docker
        .inspect_container(id, None)
        .await
        .context("inspecting the container")?;
    let user = info.config.and_then(|c| c.user).unwrap_or_default();
    if user.is_empty() {
        return Ok(Owner::default());
    }
    let (name, group) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user.as_str(), None),
    };
    let (uid, primary) = match name.parse::<u64>() {
        Ok(uid) => (
            uid,
            lookup(&read_file(docker, id, "/etc/passwd").await?, 3, |f| f[2] == name).unwrap_or(0),
        ),
        Err(_) => {
            let passwd = read_file(docker, id, "/etc/passwd").await?;
            let uid =
                lookup(&passwd, 2, |f| f[0] == name).with_context(|| format!("user {name:?} not in /etc/passwd"))?;
            (uid, lookup(&passwd, 3, |f| f[0] == name).unwrap_or(0))
        }
    };
    let gid = match group {
        None => primary,
        Some(g) => match g.parse::<u64>() {
            Ok(gid) => gid,
            Err(_) => lookup(&read_file(docker, id, "/etc/group").await?, 2, |f| f[0] == g)
                .with_context(|| format!("group {g:?} not in /etc/group"))?,
        },
    };
    Ok(Owner { uid, gid })
}

/// Field `field` (numeric) of the first `:`-separated line of `text` that `pick` chooses.
fn lookup(text: &str, field: usize, pick: impl Fn(&[&str]) -> bool) -> Option<u64> {
    text.lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() > 3)
        .find(|f| pick(f))
        .and_then(|f| f.get(field).and_then(|v| v.parse().ok()))
}

/// A small file of the container, read through `GET /containers/{id}/archive` (empty when missing).
async fn read_file(docker: &Docker, id: &str, path: &str) -> Result<String> {
    let options = DownloadFromContainerOptionsBuilder::new().path(path).build();
    let mut stream = docker.download_from_container(id, Some(options));
    let mut tar_bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(c) => tar_bytes.extend_from_slice(&c),
            Err(e) if super::resources::is_not_found(&e) => return Ok(String::new()),
            Err(e) => return Err(e).with_context(|| format!("reading {path} of the container")),
        }
    }
    let mut archive = tar::Archive::new(tar_bytes.as_slice());
    let mut text = String::new();
    if let Some(entry) = archive.entries()?.next() {
        entry?.read_to_string(&mut text)?;
    }
    Ok(text)
}

/// Where an archive is unpacked in the container: `/` (entries carry whole paths, the rule's target
/// included, so a missing target is made), or the rule's existing target (entries relative to it, so the engine
/// resolves a target that is a symlink to a directory and the files land behind it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base<'a> {
    /// Unpacked at `/`.
    Root,
    /// Unpacked at this existing directory (the rule's target).
    Target(&'a str),
}

impl Base<'_> {
    /// The engine path to unpack at.
    pub fn path(self) -> String {
        match self {
            Base::Root => "/".to_owned(),
            Base::Target(t) => t.to_owned(),
        }
    }

    /// The entry name of container path `dest`, or None for the base itself.
    fn name(self, dest: &str) -> Option<String> {
        let name = match self {
            Base::Root => dest.trim_start_matches('/'),
            Base::Target(t) => dest.strip_prefix(t.trim_end_matches('/'))?.trim_start_matches('/'),
        };
        (!name.is_empty()).then(|| name.to_owned())
    }
}

/// A tar of the existing `changes` for unpacking at `base`, walking directories through `filter`, every
/// entry owned by `owner`; the directories from `root_target` down to each change are included so missing
/// ones are made (with the host directory's mode).
pub fn archive(
    changes: &[Change],
    filter: &RuleFilter,
    root_target: &str,
    base: Base<'_>,
    owner: Owner,
) -> Result<Vec<u8>> {
    let mut builder = Entries {
        tar: tar::Builder::new(Vec::new()),
        base,
        owner,
    };
    builder.tar.follow_symlinks(false);
    let mut dirs_done = std::collections::BTreeSet::new();
    for change in changes {
        let rel = change.host.strip_prefix(filter.root()).unwrap_or(Path::new(""));
        let mut host = filter.root().to_path_buf();
        let mut target = root_target.trim_end_matches('/').to_owned();
        // The parents first, so a change in a new directory lands with the directory made.
        for part in rel.parent().into_iter().flat_map(Path::components) {
            if dirs_done.insert(target.clone()) {
                builder.append(&host, &target)?;
            }
            host.push(part);
            target = format!("{target}/{}", part.as_os_str().to_string_lossy());
        }
        if dirs_done.insert(target.clone()) && rel.parent().is_some() {
            builder.append(&host, &target)?;
        }
        for entry in walkdir::WalkDir::new(&change.host)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| {
                e.depth() == 0
                    || if e.file_type().is_dir() {
                        filter.enters(e.path())
                    } else {
                        filter.accepts(e.path())
                    }
            })
        {
            let entry = entry.with_context(|| format!("reading {}", change.host.display()))?;
            let sub = entry.path().strip_prefix(&change.host).unwrap_or(Path::new(""));
            let mut dest = change.container.clone();
            if !sub.as_os_str().is_empty() {
                dest = format!("{}/{}", dest.trim_end_matches('/'), sub.to_string_lossy());
            }
            if !entry.file_type().is_dir() || dirs_done.insert(dest.clone()) {
                builder.append(entry.path(), &dest)?;
            }
        }
    }
    builder.tar.into_inner().context("finishing the archive")
}

/// The archive being written, with where it is unpacked and whose its entries are.
struct Entries<'a> {
    tar: tar::Builder<Vec<u8>>,
    base: Base<'a>,
    owner: Owner,
}

impl Entries<'_> {
    /// One entry: `host`'s type, mode and content at container path `dest` (nothing for the base itself).
    fn append(&mut self, host: &Path, dest: &str) -> Result<()> {
        let Some(name) = self.base.name(dest) else {
            return Ok(());
        };
        let meta = std::fs::symlink_metadata(host).with_context(|| format!("reading {}", host.display()))?;
        let mut header = tar::Header::new_gnu();
        header.set_metadata(&meta);
        header.set_uid(self.owner.uid);
        header.set_gid(self.owner.gid);
        if meta.is_dir() {
            header.set_size(0);
            self.tar
                .append_data(&mut header, format!("{name}/"), std::io::empty())?;
        } else if meta.file_type().is_symlink() {
            let link = std::fs::read_link(host)?;
            header.set_size(0);
            self.tar.append_link(&mut header, name, link)?;
        } else if meta.is_file() {
            let file = std::fs::File::open(host).with_context(|| format!("reading {}", host.display()))?;
            self.tar.append_data(&mut header, name, file)?;
        }
        Ok(())
    }
}

/// Sends `tar` into container `id` at `path`, keeping the owners of its entries.
pub async fn upload(docker: &Docker, id: &str, path: String, tar: Vec<u8>) -> Result<()> {
    // Without `copyUIDGID` the engine keeps the entries' owners; with it, dockerd looks a named USER up in
    // the host's passwd database and fails for users only the image has.
    let options = UploadToContainerOptions {
        path,
        no_overwrite_dir_non_dir: None,
        copy_uidgid: None,
    };
    docker
        .upload_to_container(id, Some(options), bollard::body_full(tar.into()))
        .await
        .context("copying into the container")
}

/// Whether `err` (from `upload`) says the path to unpack at does not exist.
pub fn is_missing_target(err: &anyhow::Error) -> bool {
    err.downcast_ref::<bollard::errors::Error>()
        .is_some_and(super::resources::is_not_found)
}

/// Removes `paths` in container `id` (`rm -rf` run as root through exec).
pub async fn remove(docker: &Docker, id: &str, paths: &[String]) -> Result<()> {
    if paths.is_empty() {
        return Ok(());
    }
    let mut cmd = vec!["rm".to_owned(), "-rf".to_owned(), "--".to_owned()];
    cmd.extend(paths.iter().cloned());
    let options = CreateExecOptions {
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        cmd: Some(cmd),
        user: Some("0:0".to_owned()),
        ..Default::default()
    };
    let exec = docker.create_exec(id, options).await.context("creating the rm exec")?;
    if let StartExecResults::Attached { mut output, .. } = docker.start_exec(&exec.id, None).await? {
        while output.next().await.is_some() {}
    }
    let code = docker.inspect_exec(&exec.id).await?.exit_code.unwrap_or(0);
    if code != 0 {
        bail!("rm -rf {} exited with code {code}", paths.join(" "));
    }
    Ok(())
}
