//! The local half of `cp`: tar streams made from local files (for uploads) and unpacked into local
//! directories (downloads), renaming the archive's top entry the way docker cp does.

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use futures::SinkExt;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

/// What becomes of an archive's top entry (its first path component) when unpacked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Top {
    /// Kept as named.
    Keep,
    /// Dropped: only what is below it lands in the destination (`SRC/.`).
    Strip,
    /// Renamed (the destination names a new file or directory).
    Rename(OsString),
}

/// An archive entry's path below the destination, or None when nothing of it lands there.
pub fn rewrite(raw: &Path, top: &Top) -> Result<Option<PathBuf>> {
    let mut comps = raw.components().peekable();
    let first = match comps.next() {
        None => return Ok(None),
        Some(Component::CurDir) => None,
        Some(Component::Normal(n)) => Some(n.to_owned()),
        Some(_) => bail!("archive entry {} leaves the destination", raw.display()),
    };
    let mut rest = PathBuf::new();
    for c in comps {
        match c {
            Component::Normal(n) => rest.push(n),
            Component::CurDir => {}
            _ => bail!("archive entry {} leaves the destination", raw.display()),
        }
    }
    let head = match (top, first) {
        (Top::Strip, _) | (Top::Keep, None) => PathBuf::new(),
        (Top::Keep, Some(n)) => PathBuf::from(n),
        (Top::Rename(n), _) => PathBuf::from(n),
    };
    // Joining an empty path would add a trailing slash (a file would then be taken for a directory).
    let out = if rest.as_os_str().is_empty() {
        head
    } else {
        head.join(rest)
    };
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

/// Fails when a directory on the way from `root` to `rel` is a symbolic link (an archive must not write
/// through a link it planted, or one already there, to outside the destination).
fn check_no_links(root: &Path, rel: &Path) -> Result<()> {
    let mut at = root.to_path_buf();
    let parents: Vec<_> = rel.parent().into_iter().flat_map(|p| p.components()).collect();
    for c in parents {
        at.push(c);
        if std::fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
            bail!(
                "refusing to write {} through the symbolic link {}",
                root.join(rel).display(),
                at.display()
            );
        }
    }
    Ok(())
}

/// Unpacks a tar stream into `into` (which exists). Modes and times are kept; owners only with `keep_ids`
/// (cp -a), otherwise, as with docker cp, the files belong to whoever runs berth.
pub fn unpack(reader: impl Read, into: &Path, top: &Top, keep_ids: bool) -> Result<()> {
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_ownerships(keep_ids);
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    for entry in archive.entries().context("reading the archive")? {
        let mut entry = entry.context("reading the archive")?;
        let raw = entry.path().context("an archive entry's path")?.into_owned();
        let Some(rel) = rewrite(&raw, top)? else { continue };
        check_no_links(into, &rel)?;
        let dest = into.join(&rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        let kind = entry.header().entry_type();
        if !kind.is_dir() {
            remove_non_dir(&dest)?;
        }
        if kind.is_hard_link() {
            let link = entry.link_name()?.context("a hard link without a target")?.into_owned();
            let Some(target) = rewrite(&link, top)? else {
                bail!("hard link {} points at the destination itself", raw.display())
            };
            std::fs::hard_link(into.join(&target), &dest)
                .with_context(|| format!("linking {} to {}", dest.display(), target.display()))?;
            continue;
        }
        entry
            .unpack(&dest)
            .with_context(|| format!("writing {}", dest.display()))?;
    }
    Ok(())
}

/// Copies a tar stream to `out` with its entries renamed by `top` (contents and metadata unchanged).
pub fn rename_stream(reader: impl Read, top: &Top, out: impl Write) -> Result<()> {
    let mut archive = tar::Archive::new(reader);
    let mut builder = tar::Builder::new(out);
    for entry in archive.entries().context("reading the archive")? {
        let mut entry = entry.context("reading the archive")?;
        let raw = entry.path().context("an archive entry's path")?.into_owned();
        let Some(rel) = rewrite(&raw, top)? else { continue };
        let mut header = entry.header().clone();
        if header.entry_type().is_hard_link() {
            let link = entry.link_name()?.context("a hard link without a target")?.into_owned();
            if let Some(target) = rewrite(&link, top)? {
                header.set_link_name(&target)?;
            }
        }
        builder
            .append_data(&mut header, &rel, &mut entry)
            .context("writing the archive")?;
    }
    builder
        .into_inner()
        .and_then(|mut w| w.flush())
        .context("writing the archive")
}

fn remove_non_dir(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => bail!("cannot overwrite directory {} with a non-directory", path.display()),
        Ok(_) => std::fs::remove_file(path).with_context(|| format!("replacing {}", path.display())),
        Err(_) => Ok(()),
    }
}

/// Writes a tar of local `src` to `out`: under the name `top`, or (None) the directory's contents at the
/// archive's root. Symbolic links inside stay links; `follow` resolves `src` itself when it is one. Owners are
/// recorded with `keep_ids` (cp -a), else as root, so the engine creates the files as the container's root.
pub fn pack(src: &Path, top: Option<&str>, follow: bool, keep_ids: bool, out: impl Write) -> Result<()> {
    let real = if follow {
        std::fs::canonicalize(src).with_context(|| format!("following {}", src.display()))?
    } else {
        src.to_path_buf()
    };
    let mut builder = tar::Builder::new(std::io::BufWriter::with_capacity(64 * 1024, out));
    match top {
        Some(name) => append_tree(&mut builder, Path::new(name), &real, keep_ids),
        None => children(&real)?
            .into_iter()
            .try_for_each(|(name, path)| append_tree(&mut builder, Path::new(&name), &path, keep_ids)),
    }
    .with_context(|| format!("archiving {}", src.display()))?;
    builder
        .into_inner()
        .and_then(|mut w| w.flush())
        .with_context(|| format!("archiving {}", src.display()))
}

/// A directory's entries, sorted (the archive's order does not depend on the filesystem's).
fn children(dir: &Path) -> std::io::Result<Vec<(OsString, PathBuf)>> {
    let mut list: Vec<_> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| (e.file_name(), e.path())))
        .collect::<std::io::Result<_>>()?;
    list.sort();
    Ok(list)
}

/// Appends `path` (recursively for a directory) under `name`; links are stored as links.
fn append_tree<W: Write>(b: &mut tar::Builder<W>, name: &Path, path: &Path, keep_ids: bool) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    let mut header = tar::Header::new_gnu();
    header.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
    if !keep_ids {
        header.set_uid(0);
        header.set_gid(0);
    }
    let kind = meta.file_type();
    if kind.is_symlink() {
        header.set_size(0);
        return b.append_link(&mut header, name, std::fs::read_link(path)?);
    }
    if kind.is_file() {
        return b.append_data(&mut header, name, std::fs::File::open(path)?);
    }
    header.set_size(0);
    b.append_data(&mut header, name, std::io::empty())?;
    if kind.is_dir() {
        for (child, child_path) in children(path)? {
            append_tree(b, &name.join(child), &child_path, keep_ids)?;
        }
    }
    Ok(())
}

/// Sends what is written as chunks of an HTTP body (the upload's request stream).
pub struct ChunkWriter(pub futures::channel::mpsc::Sender<std::io::Result<Bytes>>);

impl Write for ChunkWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        futures::executor::block_on(self.0.send(Ok(Bytes::copy_from_slice(buf))))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the engine stopped reading"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Reads the chunks of a download as one byte stream (for the blocking unpacker).
pub struct ChunkReader {
    rx: std::sync::mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl ChunkReader {
    /// A reader over the chunks sent into `rx`; the end comes when every sender is gone.
    pub fn new(rx: std::sync::mpsc::Receiver<Bytes>) -> Self {
        Self {
            rx,
            current: Bytes::new(),
        }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.recv() {
                Ok(chunk) => self.current = chunk,
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_entry_is_kept_stripped_or_renamed() {
        fn p(s: &str) -> &Path {
            Path::new(s)
        }
        assert_eq!(rewrite(p("d/x"), &Top::Keep).unwrap(), Some(PathBuf::from("d/x")));
        assert_eq!(rewrite(p("d/x"), &Top::Strip).unwrap(), Some(PathBuf::from("x")));
        assert_eq!(rewrite(p("./x"), &Top::Strip).unwrap(), Some(PathBuf::from("x")));
        assert_eq!(rewrite(p("d"), &Top::Strip).unwrap(), None);
        assert_eq!(
            rewrite(p("d/x"), &Top::Rename("n".into())).unwrap(),
            Some(PathBuf::from("n/x"))
        );
        assert_eq!(
            rewrite(p("."), &Top::Rename("n".into())).unwrap(),
            Some(PathBuf::from("n"))
        );
        assert!(rewrite(p("d/../../etc"), &Top::Keep).is_err());
        assert!(rewrite(p("/etc/passwd"), &Top::Keep).is_err());
    }

    #[test]
    fn pack_then_unpack_round_trips_and_refuses_links_out() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("sub/f"), "hello").unwrap();
        let mut tar = Vec::new();
        pack(&src, Some("src"), false, false, &mut tar).unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        unpack(&tar[..], &out, &Top::Rename("copy".into()), false).unwrap();
        assert_eq!(std::fs::read_to_string(out.join("copy/sub/f")).unwrap(), "hello");

        let mut evil = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        evil.append_link(&mut h, "d/l", "/").unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        evil.append_data(&mut h, "d/l/escaped", &b"x"[..]).unwrap();
        let evil = evil.into_inner().unwrap();
        assert!(unpack(&evil[..], &out, &Top::Keep, false).is_err());
        assert!(!Path::new("/escaped").exists());
    }
}
