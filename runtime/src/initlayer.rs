//! Docker's init layer: the entries every container has between its image and its own changes. `/.dockerenv`
//! (programs look for it to learn they run in a container), `/etc/mtab` -> `/proc/mounts`, the mount points the
//! runtime always uses (`/proc`, `/sys`, `/dev`, `/dev/pts`, `/dev/shm`) and empty files to bind-mount
//! `/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf` and `/dev/console` over.
//!
//! Docker writes one per container. berth writes one per image (per stack of lower layers) and shares it among
//! that image's containers, read-only below their upper dirs: a container's writable layer then starts empty, so
//! a start creates about half as many inodes on the host's disk (where, on ext4 without a journal, each new inode
//! skips past every inode freed in the last minute: after a `down`, the next `up` paid for each), and holds only
//! the container's own changes, so `docker diff` shows a deletion of `/.dockerenv` as dockerd does.
//!
//! Layout: `<runtime root>/.init/<key>/` with `lowers` (the layer dirs it was made for, one per line; a layer set
//! of which one is gone is pruned) and `layer/` (the entries). `key` hashes the lower dirs.

use super::{Result, RuntimeError};
use sha2::{Digest, Sha256};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The directory of the init layers, under the runtime root (not a container id, so bundle listings skip it).
pub const INIT_DIR: &str = ".init";

/// Init layers being made (renamed into place when whole).
const TMP_PREFIX: &str = ".tmp-";

/// What the init layer holds, parents before children.
const ENTRIES: &[(&str, Kind)] = &[
    (".dockerenv", Kind::File),
    ("dev", Kind::Dir),
    ("dev/console", Kind::File),
    ("dev/pts", Kind::Dir),
    ("dev/shm", Kind::Dir),
    ("etc", Kind::Dir),
    ("etc/hostname", Kind::File),
    ("etc/hosts", Kind::File),
    ("etc/mtab", Kind::Link("/proc/mounts")),
    ("etc/resolv.conf", Kind::File),
    ("proc", Kind::Dir),
    ("sys", Kind::Dir),
];

#[derive(Clone, Copy)]
enum Kind {
    File,
    Dir,
    Link(&'static str),
}

/// The init layer for `lowers` (top-most first) under `runtime_root`, made on first use; returns its layer dir.
pub fn ensure(runtime_root: &Path, lowers: &[PathBuf]) -> Result<PathBuf> {
    let dir = runtime_root.join(INIT_DIR).join(key(lowers));
    let layer = dir.join("layer");
    if layer.is_dir() {
        return Ok(layer);
    }
    let io = |what: &str, p: &Path, e: std::io::Error| RuntimeError::io(format!("{what} {}", p.display()), e);
    let parent = runtime_root.join(INIT_DIR);
    std::fs::create_dir_all(&parent).map_err(|e| io("creating", &parent, e))?;
    prune(runtime_root, false);
    // Made aside and renamed into place: a concurrent start of the same image, or a crash, never sees half of it.
    let tmp = tempfile::Builder::new()
        .prefix(TMP_PREFIX)
        .tempdir_in(&parent)
        .map_err(|e| io("creating a directory in", &parent, e))?;
    let list: String = lowers.iter().map(|l| format!("{}\n", l.display())).collect();
    std::fs::write(tmp.path().join("lowers"), list).map_err(|e| io("writing in", tmp.path(), e))?;
    fill(&tmp.path().join("layer"), lowers)?;
    match std::fs::rename(tmp.path(), &dir) {
        Ok(()) => {
            let _ = tmp.keep();
            Ok(layer)
        }
        // Another start of the same image won the race: use its layer (the temporary one goes with `tmp`).
        Err(_) if layer.is_dir() => Ok(layer),
        Err(e) => Err(io("renaming into place", &dir, e)),
    }
}

/// Removes the init layers made for a layer set of which a layer is gone (the image was removed), and with
/// `at_start` (no other start runs) the half-made ones a crash left. Runs at engine start and before each new
/// init layer is made, so removed images' layers (a build's steps make one each) do not pile up.
pub fn prune(runtime_root: &Path, at_start: bool) {
    let Ok(rd) = std::fs::read_dir(runtime_root.join(INIT_DIR)) else {
        return;
    };
    for e in rd.flatten() {
        if !at_start && e.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
            continue;
        }
        let stale = std::fs::read_to_string(e.path().join("lowers"))
            .map(|text| text.lines().any(|l| !Path::new(l).is_dir()))
            .unwrap_or(true);
        if stale {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn key(lowers: &[PathBuf]) -> String {
    let mut h = Sha256::new();
    for l in lowers {
        h.update(l.as_os_str().as_encoded_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..16])
}

/// Writes the entries into `layer`. Directories take the attributes of the image's own (which the merged view
/// shows), root's 0755 where the image has none; nothing goes under a path the image has as a non-directory (an
/// image whose `/etc` is a link keeps it).
fn fill(layer: &Path, lowers: &[PathBuf]) -> Result<()> {
    let io = |what: &str, p: &Path, e: std::io::Error| RuntimeError::io(format!("{what} {}", p.display()), e);
    std::fs::DirBuilder::new()
        .mode(0o755)
        .create(layer)
        .map_err(|e| io("creating", layer, e))?;
    for (rel, kind) in ENTRIES {
        let in_image = lowers.iter().find_map(|l| l.join(rel).symlink_metadata().ok());
        let parent_ok = Path::new(rel)
            .parent()
            .is_none_or(|p| p.as_os_str().is_empty() || layer.join(p).is_dir());
        if !parent_ok {
            continue;
        }
        let path = layer.join(rel);
        match kind {
            Kind::Dir if in_image.as_ref().is_some_and(|m| !m.is_dir()) => continue,
            Kind::Dir => {
                let (mode, uid, gid) = in_image.map_or((0o755, 0, 0), |m| (m.mode() & 0o7777, m.uid(), m.gid()));
                std::fs::DirBuilder::new()
                    .mode(mode)
                    .create(&path)
                    .and_then(|()| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)))
                    .and_then(|()| std::os::unix::fs::lchown(&path, Some(uid), Some(gid)))
                    .map_err(|e| io("creating", &path, e))?;
            }
            Kind::File => {
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o755)
                    .open(&path)
                    .and_then(|_| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)))
                    .map_err(|e| io("creating", &path, e))?;
            }
            Kind::Link(target) => {
                std::os::unix::fs::symlink(target, &path).map_err(|e| io("linking", &path, e))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_layer_per_lower_set_with_the_images_directory_attributes() {
        let root = tempfile::tempdir().unwrap();
        let image = root.path().join("image");
        std::fs::create_dir_all(image.join("etc")).unwrap();
        std::fs::set_permissions(image.join("etc"), std::fs::Permissions::from_mode(0o750)).unwrap();
        std::os::unix::fs::symlink("/somewhere", image.join("dev")).unwrap();
        let lowers = vec![image.clone()];
        let layer = ensure(root.path(), &lowers).unwrap();
        assert_eq!(ensure(root.path(), &lowers).unwrap(), layer);
        let mode = |p: &str| layer.join(p).symlink_metadata().unwrap().mode() & 0o7777;
        assert_eq!(mode("etc"), 0o750);
        assert_eq!(mode("proc"), 0o755);
        assert_eq!(mode(".dockerenv"), 0o755);
        assert_eq!(
            std::fs::read_link(layer.join("etc/mtab")).unwrap(),
            Path::new("/proc/mounts")
        );
        assert!(layer.join("etc/hosts").is_file());
        // The image's /dev is a link: nothing is put there or under it.
        assert!(!layer.join("dev").exists());
        let other = ensure(root.path(), &[image.join("etc")]).unwrap();
        assert_ne!(other, layer);
        std::fs::remove_dir_all(&image).unwrap();
        // The next new init layer prunes those of the removed image; a start-time prune keeps the live one.
        let next = root.path().join("next");
        std::fs::create_dir(&next).unwrap();
        let kept = ensure(root.path(), &[next]).unwrap();
        assert!(!layer.exists() && !other.exists());
        prune(root.path(), true);
        assert!(kept.join(".dockerenv").is_file());
    }
}
