//! COPY and ADD into a mounted step rootfs: sources resolved in the context (or another stage's rootfs), globs,
//! directory contents, local archives unpacked by ADD, owners from `--chown`, modes kept or set by `--chmod`,
//! parents made as needed; and the content hash of the sources (the cache key of the step).

use super::archive::{is_archive, unpack};
use super::paths::{clean, glob, has_glob, resolve};
use sha2::{Digest, Sha256};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A resolved source.
#[derive(Debug, Clone)]
pub enum Source {
    /// A path on the host (inside the source root) and its name in the context.
    Path {
        /// Host path (top-level symlinks followed).
        host: PathBuf,
        /// The name it is copied under (last element).
        name: String,
    },
    /// A file fetched by `ADD <url>` (copied as it is, never unpacked).
    Remote {
        /// Where it was saved.
        host: PathBuf,
        /// Its name (the URL path's last element).
        name: String,
    },
    /// Here-document content (named like its delimiter's file).
    Inline {
        /// File name.
        name: String,
        /// Content.
        data: Vec<u8>,
    },
}

/// How copied entries are owned and moded.
#[derive(Debug, Clone, Copy, Default)]
pub struct Owner {
    /// uid:gid from `--chown`; None = 0:0 (unless `keep`).
    pub ids: Option<(u32, u32)>,
    /// Keep the sources' owners and set-id bits (`COPY --from` without `--chown`: dockerd does not chown then).
    pub keep: bool,
    /// `--chmod` bits.
    pub chmod: Option<u32>,
}

/// Resolves `srcs` (expanded) against `root`; `what` names the root in errors (`build context`, `stage x`).
pub fn resolve_sources(root: &Path, srcs: &[String], what: &str, excludes: &[String]) -> Result<Vec<Source>, String> {
    let ex = super::ignore::Ignore::parse("--exclude", &excludes.join("\n"))?;
    let mut out = Vec::new();
    for s in srcs {
        let (rel, escaped) = clean(s);
        if escaped && what == "build context" {
            return Err(format!("forbidden path outside the build context: {s}"));
        }
        let matches = if has_glob(&rel) {
            let m = glob(root, &rel);
            if m.is_empty() {
                return Err(format!(
                    "no source files were specified (no match for {s:?} in the {what})"
                ));
            }
            m
        } else {
            vec![rel.clone()]
        };
        for m in matches {
            if !ex.is_empty() && ex.excluded(&m) {
                continue;
            }
            let host = resolve(root, &m, true).map_err(|e| format!("{s}: {e}"))?;
            if host.symlink_metadata().is_err() {
                return Err(format!(
                    "file not found in {what}{}: stat {s}: file does not exist",
                    if what == "build context" {
                        " or excluded by .dockerignore"
                    } else {
                        ""
                    }
                ));
            }
            let name = m.rsplit('/').next().unwrap_or("").to_owned();
            out.push(Source::Path { host, name });
        }
    }
    Ok(out)
}

/// A digest of every source's names, modes, owners (when kept), link targets and content.
pub fn content_hash(sources: &[Source]) -> std::io::Result<String> {
    let mut h = Sha256::new();
    feed(sources, &mut h, &mut |path, h| {
        std::io::copy(&mut std::fs::File::open(path)?, &mut HashWriter(h))?;
        Ok(true)
    })?;
    Ok(hex::encode(h.finalize()))
}

/// `content_hash`, without reading the files when every one of them is in the context's `index` (a synced
/// context, sync.rs): the same walk with each file's digest in place of its content names the hash in
/// `<memo>/<that key>`, kept from the first time it was computed. Exact: the content is a function of the digest.
pub fn content_hash_with(
    sources: &[Source],
    ctx: &Path,
    index: Option<&super::sync::ContextIndex>,
    memo: &Path,
) -> std::io::Result<String> {
    let Some(index) = index else {
        return content_hash(sources);
    };
    let mut h = Sha256::new();
    h.update("memo v1\n");
    let all_known = feed(sources, &mut h, &mut |path, h| {
        let rel = path.strip_prefix(ctx).ok().and_then(|r| r.to_str());
        match rel.and_then(|r| index.digest(r)) {
            Some(d) => {
                h.update(d);
                Ok(true)
            }
            None => Ok(false),
        }
    })?;
    if !all_known {
        return content_hash(sources);
    }
    let file = memo.join(hex::encode(h.finalize()));
    if let Ok(known) = std::fs::read_to_string(&file) {
        if known.len() == 64 {
            return Ok(known);
        }
    }
    let hash = content_hash(sources)?;
    let _ = std::fs::create_dir_all(memo);
    let tmp = memo.join(format!(".{:016x}", rand::random::<u64>()));
    if std::fs::write(&tmp, &hash)
        .and_then(|_| std::fs::rename(&tmp, &file))
        .is_err()
    {
        let _ = std::fs::remove_file(&tmp);
    }
    Ok(hash)
}

/// Feeds the sources' names and metadata to `h`, and each regular file through `content` (which says whether
/// it could: false stops the walk and is returned).
fn feed(
    sources: &[Source],
    h: &mut Sha256,
    content: &mut dyn FnMut(&Path, &mut Sha256) -> std::io::Result<bool>,
) -> std::io::Result<bool> {
    for s in sources {
        match s {
            Source::Inline { name, data } => {
                h.update(format!("inline {name} {}\n", data.len()));
                h.update(data);
            }
            Source::Path { host, name } | Source::Remote { host, name } => {
                h.update(format!("src {name}\n"));
                for e in walkdir::WalkDir::new(host).sort_by_file_name() {
                    let e = e.map_err(std::io::Error::other)?;
                    let m = e.path().symlink_metadata()?;
                    let rel = e.path().strip_prefix(host).unwrap_or(e.path());
                    h.update(format!(
                        "{} {:o} {}:{} {}\n",
                        rel.display(),
                        m.mode(),
                        m.uid(),
                        m.gid(),
                        m.len()
                    ));
                    if m.file_type().is_symlink() {
                        h.update(std::fs::read_link(e.path())?.as_os_str().as_encoded_bytes());
                    } else if m.is_file() && !content(e.path(), h)? {
                        return Ok(false);
                    }
                }
            }
        }
    }
    Ok(true)
}

struct HashWriter<'a>(&'a mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Copies `sources` to `dest` (absolute, inside `rootfs`). `add` unpacks local archives.
pub fn copy(
    rootfs: &Path,
    sources: &[Source],
    dest: &str,
    dest_is_dir: bool,
    add: bool,
    owner: Owner,
) -> Result<(), String> {
    let dest_rel = clean(dest).0;
    let as_dir =
        dest_is_dir || sources.len() > 1 || resolve(rootfs, &dest_rel, true).map(|p| p.is_dir()).unwrap_or(false);
    if sources.len() > 1 && !dest_is_dir {
        return Err(
            "When using COPY with more than one source file, the destination must be a directory and end with a /"
                .into(),
        );
    }
    let file_target = |name: &str| {
        if as_dir {
            format!("{dest_rel}/{name}")
        } else {
            dest_rel.clone()
        }
    };
    for s in sources {
        match s {
            Source::Inline { name, data } => {
                let host = make_parent(rootfs, &file_target(name), parent_ids(owner))?;
                write_file(&host, data, 0o644, owner)?;
            }
            Source::Path { host, name } | Source::Remote { host, name } => {
                let local = matches!(s, Source::Path { .. });
                let meta = host.metadata().map_err(|e| format!("{name}: {e}"))?;
                if meta.is_dir() {
                    copy_dir(rootfs, host, &dest_rel, owner).map_err(|e| format!("copying {name}: {e}"))?;
                } else if add && local && is_archive(host) {
                    // dockerd untars into a root-owned destination and never chowns what the archive holds.
                    let target = make_dir(rootfs, &dest_rel, (0, 0))?;
                    unpack(host, &target).map_err(|e| format!("unpacking {name}: {e}"))?;
                } else {
                    let dst = make_parent(rootfs, &file_target(name), parent_ids(owner))?;
                    let dst = through_link(rootfs, &file_target(name), dst)?;
                    copy_entry(host, &dst, &meta, owner).map_err(|e| format!("copying {name}: {e}"))?;
                }
            }
        }
    }
    Ok(())
}

/// The owner of parents a file copy makes: the copy's (dockerd's MkdirAllAndChownNew with the chown pair), root
/// when owners are kept.
fn parent_ids(owner: Owner) -> (u32, u32) {
    if owner.keep {
        (0, 0)
    } else {
        ids(owner)
    }
}

fn ids(owner: Owner) -> (u32, u32) {
    owner.ids.unwrap_or((0, 0))
}

/// A single file copied onto an existing symlink goes where the link points (the link stays), as in dockerd.
fn through_link(rootfs: &Path, rel: &str, dst: PathBuf) -> Result<PathBuf, String> {
    match dst.symlink_metadata() {
        Ok(m) if m.file_type().is_symlink() => resolve(rootfs, rel, true).map_err(|e| format!("/{rel}: {e}")),
        _ => Ok(dst),
    }
}

/// Copies a directory's contents to `dest_rel`: new parents are root's, the destination (when the copy makes it)
/// takes the copy's owner, as dockerd's CopyWithTar (root-owned) followed by its chown walk (none when owners
/// are kept).
fn copy_dir(rootfs: &Path, src: &Path, dest_rel: &str, owner: Owner) -> Result<(), String> {
    let existed = resolve(rootfs, dest_rel, true).is_ok_and(|p| p.is_dir());
    let target = make_dir(rootfs, dest_rel, (0, 0))?;
    if !existed && !owner.keep {
        let (u, g) = ids(owner);
        std::os::unix::fs::lchown(&target, Some(u), Some(g)).map_err(|e| e.to_string())?;
    }
    copy_tree(src, &target, owner).map_err(|e| e.to_string())
}

/// Makes the parents of `rel` (new ones owned by `ids`); returns the host path of `rel` itself.
fn make_parent(rootfs: &Path, rel: &str, ids: (u32, u32)) -> Result<PathBuf, String> {
    let (parent, name) = match rel.rsplit_once('/') {
        Some((p, n)) => (p, n),
        None => ("", rel),
    };
    let dir = make_dir(rootfs, parent, ids)?;
    if name.is_empty() {
        return Err("the destination is the root directory".into());
    }
    Ok(dir.join(name))
}

/// Makes directory `rel` and its parents (new ones 0755 and owned by `ids`); returns its host path.
fn make_dir(rootfs: &Path, rel: &str, (u, g): (u32, u32)) -> Result<PathBuf, String> {
    let mut done = String::new();
    for part in rel.split('/').filter(|p| !p.is_empty()) {
        done = if done.is_empty() {
            part.to_owned()
        } else {
            format!("{done}/{part}")
        };
        let host = resolve(rootfs, &done, true).map_err(|e| format!("/{done}: {e}"))?;
        match host.symlink_metadata() {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(format!("cannot copy to /{done}: it exists and is not a directory")),
            Err(_) => {
                std::fs::create_dir(&host).map_err(|e| format!("creating /{done}: {e}"))?;
                std::fs::set_permissions(&host, std::fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
                std::os::unix::fs::lchown(&host, Some(u), Some(g)).map_err(|e| e.to_string())?;
            }
        }
    }
    resolve(rootfs, rel, true).map_err(|e| format!("/{rel}: {e}"))
}

fn write_file(dst: &Path, data: &[u8], mode: u32, owner: Owner) -> Result<(), String> {
    replace_other(dst, false).map_err(|e| e.to_string())?;
    std::fs::write(dst, data).map_err(|e| format!("writing {}: {e}", dst.display()))?;
    let ids = Some(ids(owner));
    finish(dst, mode, ids, owner.chmod, None).map_err(|e| e.to_string())
}

/// Clears the way for an entry: whatever is at `dst` goes unless both are directories (they merge), as
/// dockerd's untar does.
fn replace_other(dst: &Path, src_is_dir: bool) -> std::io::Result<()> {
    match dst.symlink_metadata() {
        Ok(m) if m.is_dir() && src_is_dir => Ok(()),
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(dst),
        Ok(_) => std::fs::remove_file(dst),
        Err(_) => Ok(()),
    }
}

/// Copies a directory's contents into `dst` (which exists).
fn copy_tree(src: &Path, dst: &Path, owner: Owner) -> std::io::Result<()> {
    for e in walkdir::WalkDir::new(src).min_depth(1).sort_by_file_name() {
        let e = e.map_err(std::io::Error::other)?;
        let rel = e.path().strip_prefix(src).map_err(std::io::Error::other)?;
        let meta = e.path().symlink_metadata()?;
        copy_entry(e.path(), &dst.join(rel), &meta, owner)?;
    }
    Ok(())
}

/// Copies one file, symlink, directory (not its contents) or special file.
fn copy_entry(src: &Path, dst: &Path, meta: &std::fs::Metadata, owner: Owner) -> std::io::Result<()> {
    let ft = meta.file_type();
    let mode = meta.mode() & 0o7777;
    // Kept owners are the source's; otherwise the copy is chowned after its mode is set.
    let ids = if owner.keep { None } else { Some(ids(owner)) };
    replace_other(dst, ft.is_dir())?;
    if ft.is_dir() {
        if dst.symlink_metadata().is_err() {
            std::fs::create_dir(dst)?;
        }
    } else if ft.is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(src)?, dst)?;
        let (u, g) = ids.unwrap_or((meta.uid(), meta.gid()));
        std::os::unix::fs::lchown(dst, Some(u), Some(g))?;
        return set_times(dst, meta);
    } else if ft.is_file() {
        std::fs::copy(src, dst)?;
    } else {
        // Devices and FIFOs: made as they are (the engine runs as root).
        let kind = nix::sys::stat::SFlag::from_bits_truncate(meta.mode() & libc::S_IFMT);
        nix::sys::stat::mknod(dst, kind, nix::sys::stat::Mode::from_bits_truncate(mode), meta.rdev())
            .map_err(std::io::Error::from)?;
    }
    if owner.keep {
        std::os::unix::fs::lchown(dst, Some(meta.uid()), Some(meta.gid()))?;
    }
    finish(dst, mode, ids, owner.chmod, Some(meta))
}

/// Sets `mode`, then chowns to `ids` (when given): the kernel then clears set-user-id, and set-group-id when
/// group-exec is set, on anything but a directory, as it did for dockerd's chown after its copy. `--chmod`
/// comes last.
fn finish(
    dst: &Path,
    mode: u32,
    ids: Option<(u32, u32)>,
    chmod: Option<u32>,
    times: Option<&std::fs::Metadata>,
) -> std::io::Result<()> {
    std::fs::set_permissions(dst, std::fs::Permissions::from_mode(mode))?;
    if let Some((u, g)) = ids {
        std::os::unix::fs::lchown(dst, Some(u), Some(g))?;
    }
    if let Some(m) = chmod {
        std::fs::set_permissions(dst, std::fs::Permissions::from_mode(m))?;
    }
    match times {
        Some(m) => set_times(dst, m),
        None => Ok(()),
    }
}

fn set_times(dst: &Path, meta: &std::fs::Metadata) -> std::io::Result<()> {
    use nix::sys::stat::{utimensat, UtimensatFlags};
    use nix::sys::time::TimeSpec;
    let ts = TimeSpec::new(meta.mtime(), meta.mtime_nsec());
    utimensat(None, dst, &ts, &ts, UtimensatFlags::NoFollowSymlink).map_err(std::io::Error::from)
}

/// Parses `--chown` against the rootfs's /etc/passwd and /etc/group (`user`, `user:group`, ids).
pub fn parse_chown(rootfs: &Path, spec: &str) -> Result<(u32, u32), String> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let uid = match user.parse::<u32>() {
        Ok(n) => n,
        Err(_) => lookup(rootfs, "etc/passwd", user)
            .ok_or_else(|| format!("unable to convert uid/gid chown string to host mapping: can't find uid for user {user}: no such user: {user}"))?,
    };
    let group = group.unwrap_or(user);
    let gid = match group.parse::<u32>() {
        Ok(n) => n,
        Err(_) => lookup(rootfs, "etc/group", group)
            .ok_or_else(|| format!("unable to convert uid/gid chown string to host mapping: can't find gid for group {group}: no such group: {group}"))?,
    };
    Ok((uid, gid))
}

fn lookup(rootfs: &Path, file: &str, name: &str) -> Option<u32> {
    let path = resolve(rootfs, file, true).ok()?;
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 2 && f[0] == name).then(|| f[2].parse().ok()).flatten()
    })
}

/// Parses `--chmod` (octal).
pub fn parse_chmod(spec: &str) -> Result<u32, String> {
    u32::from_str_radix(spec, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| format!("invalid --chmod={spec}: expected octal bits such as 0755"))
}
