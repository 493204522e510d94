//! The changes of an overlay upper directory as a layer tar: entries sorted by path, overlayfs whiteouts (0/0
//! character devices) as `.wh.<name>` files, opaque directories as `.wh..wh..opq`, hard links inside the layer as
//! tar links. Mount-point stubs the runtime made (/etc/hosts and friends) and directories that were only copied up
//! to hold them are left out, so a step that changed nothing yields no entry at all.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Files the runtime bind-mounts over, and Docker's `/.dockerenv`; in a container's upper dir they are empty
/// placeholders.
const STUBS: &[&str] = &["etc/hosts", "etc/hostname", "etc/resolv.conf", ".dockerenv"];

/// Docker's init-layer link `/etc/mtab` -> `/proc/mounts`, which the runtime puts into every upper dir.
const MTAB: (&str, &str) = ("etc/mtab", "/proc/mounts");

/// One change in the upper dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Added or modified.
    Changed,
    /// Added (not in any lower layer).
    Added,
    /// Deleted (a whiteout).
    Deleted,
}

struct Entry {
    rel: PathBuf,
    meta: std::fs::Metadata,
    opaque: bool,
}

/// Walks `upper` and returns what belongs in the layer (sorted, stubs and idle copy-ups dropped).
fn entries(upper: &Path, lowers: &[PathBuf]) -> std::io::Result<Vec<Entry>> {
    let mut out: Vec<Entry> = Vec::new();
    for e in walkdir::WalkDir::new(upper).min_depth(1).sort_by_file_name() {
        let e = e.map_err(std::io::Error::other)?;
        let rel = e.path().strip_prefix(upper).map_err(std::io::Error::other)?.to_owned();
        let meta = e.path().symlink_metadata()?;
        if meta.is_file() && meta.len() == 0 && STUBS.iter().any(|s| rel == Path::new(s)) && !in_lower(lowers, &rel) {
            continue;
        }
        if is_init_mtab(e.path(), &rel, &meta) {
            continue;
        }
        let opaque = meta.is_dir() && is_opaque(e.path());
        out.push(Entry { rel, meta, opaque });
    }
    // Bottom-up: drop directories that hold nothing kept and are the same as below (copied up for a stub), and an
    // `/etc` the runtime made for its init link in an image without one.
    let mut keep = vec![true; out.len()];
    let mut has_child: HashMap<PathBuf, bool> = HashMap::new();
    for i in (0..out.len()).rev() {
        let e = &out[i];
        let child = has_child.get(&e.rel).copied().unwrap_or(false);
        let init_etc = e.rel == Path::new("etc") && !in_lower(lowers, &e.rel);
        if e.meta.is_dir() && !e.opaque && !child && (init_etc || same_dir_below(lowers, &e.rel, &e.meta)) {
            keep[i] = false;
            continue;
        }
        if let Some(p) = e.rel.parent() {
            has_child.insert(p.to_owned(), true);
        }
    }
    Ok(out.into_iter().zip(keep).filter(|(_, k)| *k).map(|(e, _)| e).collect())
}

/// The runtime's `/etc/mtab` link, left out like Docker leaves out its init layer (an image's own mtab, which
/// it hides, is not a change the container made).
fn is_init_mtab(path: &Path, rel: &Path, meta: &std::fs::Metadata) -> bool {
    rel == Path::new(MTAB.0)
        && meta.file_type().is_symlink()
        && std::fs::read_link(path).is_ok_and(|t| t == Path::new(MTAB.1))
}

fn in_lower(lowers: &[PathBuf], rel: &Path) -> bool {
    lowers.iter().any(|l| l.join(rel).symlink_metadata().is_ok())
}

fn same_dir_below(lowers: &[PathBuf], rel: &Path, meta: &std::fs::Metadata) -> bool {
    lowers
        .iter()
        .find_map(|l| l.join(rel).symlink_metadata().ok())
        .is_some_and(|m| m.is_dir() && m.mode() == meta.mode() && m.uid() == meta.uid() && m.gid() == meta.gid())
}

fn is_whiteout(meta: &std::fs::Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

fn is_opaque(path: &Path) -> bool {
    xattr::get(path, "trusted.overlay.opaque").ok().flatten().as_deref() == Some(b"y")
}

/// Writes the layer tar of `upper` (lower layers top-most first) to `out`; returns how many entries it has.
pub fn write_layer(upper: &Path, lowers: &[PathBuf], out: impl Write) -> std::io::Result<usize> {
    let list = entries(upper, lowers)?;
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
    for e in &list {
        append(&mut tar, upper, e, &mut links)?;
    }
    tar.finish()?;
    Ok(list.len())
}

/// Docker's `docker diff` view of an upper dir: (path, change) sorted by path.
pub fn changes(upper: &Path, lowers: &[PathBuf]) -> std::io::Result<Vec<(String, Change)>> {
    let mut out = Vec::new();
    for e in entries(upper, lowers)? {
        let path = format!("/{}", e.rel.display());
        let kind = if is_whiteout(&e.meta) {
            Change::Deleted
        } else if in_lower(lowers, &e.rel) {
            Change::Changed
        } else {
            Change::Added
        };
        out.push((path, kind));
    }
    Ok(out)
}

fn header_for(meta: &std::fs::Metadata, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(meta.mode() & 0o7777);
    h.set_uid(meta.uid() as u64);
    h.set_gid(meta.gid() as u64);
    h.set_mtime(meta.mtime().max(0) as u64);
    h.set_size(0);
    h
}

fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    upper: &Path,
    e: &Entry,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> std::io::Result<()> {
    let full = upper.join(&e.rel);
    let ft = e.meta.file_type();
    if is_whiteout(&e.meta) {
        let name = e
            .rel
            .file_name()
            .map(|n| format!(".wh.{}", n.to_string_lossy()))
            .unwrap_or_default();
        let path = e.rel.with_file_name(name);
        let mut h = header_for(&e.meta, tar::EntryType::Regular);
        h.set_mode(0o600);
        return tar.append_data(&mut h, path, std::io::empty());
    }
    if ft.is_dir() {
        let mut h = header_for(&e.meta, tar::EntryType::Directory);
        tar.append_data(&mut h, &e.rel, std::io::empty())?;
        if e.opaque {
            let mut h = header_for(&e.meta, tar::EntryType::Regular);
            h.set_mode(0o600);
            tar.append_data(&mut h, e.rel.join(".wh..wh..opq"), std::io::empty())?;
        }
        return Ok(());
    }
    if ft.is_symlink() {
        let mut h = header_for(&e.meta, tar::EntryType::Symlink);
        let target = std::fs::read_link(&full)?;
        return tar.append_link(&mut h, &e.rel, target);
    }
    if ft.is_file() {
        if e.meta.nlink() > 1 {
            let key = (e.meta.dev(), e.meta.ino());
            if let Some(first) = links.get(&key) {
                let mut h = header_for(&e.meta, tar::EntryType::Link);
                return tar.append_link(&mut h, &e.rel, first);
            }
            links.insert(key, e.rel.clone());
        }
        let mut h = header_for(&e.meta, tar::EntryType::Regular);
        h.set_size(e.meta.len());
        return tar.append_data(&mut h, &e.rel, std::fs::File::open(&full)?);
    }
    let kind = if ft.is_char_device() {
        tar::EntryType::Char
    } else if ft.is_block_device() {
        tar::EntryType::Block
    } else if ft.is_fifo() {
        tar::EntryType::Fifo
    } else {
        return Ok(()); // sockets do not go into layers
    };
    let mut h = header_for(&e.meta, kind);
    let rdev = e.meta.rdev();
    h.set_device_major(libc::major(rdev))?;
    h.set_device_minor(libc::minor(rdev))?;
    tar.append_data(&mut h, &e.rel, std::io::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stubs_and_idle_copy_ups_are_left_out() {
        let lower = tempfile::tempdir().unwrap();
        let upper = tempfile::tempdir().unwrap();
        std::fs::create_dir(lower.path().join("etc")).unwrap();
        std::fs::create_dir(upper.path().join("etc")).unwrap();
        let perm = lower.path().join("etc").symlink_metadata().unwrap().permissions();
        std::fs::set_permissions(upper.path().join("etc"), perm).unwrap();
        std::fs::write(upper.path().join("etc/hosts"), b"").unwrap();
        let mut buf = Vec::new();
        assert_eq!(
            write_layer(upper.path(), &[lower.path().to_owned()], &mut buf).unwrap(),
            0
        );
        std::fs::write(upper.path().join("etc/new"), b"x").unwrap();
        let mut buf = Vec::new();
        assert_eq!(
            write_layer(upper.path(), &[lower.path().to_owned()], &mut buf).unwrap(),
            2
        );
        let names: Vec<String> = tar::Archive::new(&buf[..])
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["etc", "etc/new"]);
    }
}
