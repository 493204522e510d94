//! Unpacking a build context tar as it streams in: the tar crate writes the entries (its path checks, directories
//! last as `Archive::unpack` does), and each regular file's bytes are hashed on their way through, so that COPY's
//! content hash never reads the context back (copy.rs `content_hash_with`). The digests are blake3 (internal:
//! they only name the memoized content hash), prefixed so they never pass for sync.rs's sha256 ones.

use super::sync::{ContextIndex, FileEntry};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Component, Path};
use std::rc::Rc;
use tar::EntryType;

/// Prefix of the digests computed here.
pub const PREFIX: &str = "blake3:";

/// The byte range of the tar stream being hashed, and where the stream is.
struct Window {
    pos: u64,
    start: u64,
    end: u64,
    hasher: blake3::Hasher,
    seen: u64,
}

/// The tar stream, hashing the bytes that fall in the window.
struct Tee<R> {
    inner: R,
    w: Rc<RefCell<Window>>,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut w = self.w.borrow_mut();
        let (a, b) = (w.pos, w.pos + n as u64);
        let (lo, hi) = (a.max(w.start), b.min(w.end));
        if lo < hi {
            let part = &buf[(lo - a) as usize..(hi - a) as usize];
            w.hasher.update(part);
            w.seen += hi - lo;
        }
        w.pos = b;
        Ok(n)
    }
}

/// The most a held file may hold (BuildKit's limit for a secret is 500 KiB).
const HELD_MAX: u64 = 1 << 20;

/// What [`unpack`] made besides the files.
#[derive(Default)]
pub struct Unpacked {
    /// The digests of the regular files written, or None when the tar made that ambiguous (an entry under a link
    /// the tar made, a name that is not UTF-8): the caller then reads the files.
    pub index: Option<ContextIndex>,
    /// The files that were held back (never written), by path.
    pub held: HashMap<String, Held>,
}

/// A file held in memory.
pub struct Held {
    /// Its content.
    pub data: Vec<u8>,
    header: tar::Header,
}

/// Writes `held` files into `dir` after all, as the tar would have (they were not what the caller held them for).
pub fn write_back(dir: &Path, held: HashMap<String, Held>) -> std::io::Result<()> {
    let mut b = tar::Builder::new(Vec::new());
    for (rel, mut h) in held {
        b.append_data(&mut h.header, rel, &h.data[..])?;
    }
    let t = b.into_inner()?;
    unpack(&t[..], dir, &|_| false).map(|_| ())
}

/// Unpacks the tar `r` into `dir` (permissions, times and owners kept, later entries replacing earlier ones),
/// indexing the regular files; the files whose path `hold` accepts are kept in memory instead.
pub fn unpack(r: impl Read, dir: &Path, hold: &dyn Fn(&str) -> bool) -> std::io::Result<Unpacked> {
    let w = Rc::new(RefCell::new(Window {
        pos: 0,
        start: 0,
        end: 0,
        hasher: blake3::Hasher::new(),
        seen: 0,
    }));
    let mut a = tar::Archive::new(Tee { inner: r, w: w.clone() });
    a.set_preserve_permissions(true);
    a.set_preserve_mtime(true);
    a.set_preserve_ownerships(true);
    a.set_overwrite(true);
    std::fs::create_dir_all(dir)?;
    let dst = dir.canonicalize()?;
    let mut index = ContextIndex::default();
    let mut held = HashMap::new();
    let mut links: HashSet<String> = HashSet::new();
    let mut exact = true;
    let mut dirs = Vec::new();
    for e in a.entries()? {
        let mut e = e?;
        let kind = e.header().entry_type();
        if kind == EntryType::Directory {
            dirs.push(e);
            continue;
        }
        let rel = e.path().ok().and_then(|p| normal(&p));
        let Some(rel) = rel else {
            exact = false;
            e.unpack_in(&dst)?;
            continue;
        };
        if under(&rel, &links) {
            exact = false;
        }
        if kind.is_symlink() || kind.is_hard_link() {
            links.insert(rel.clone());
        }
        // Sparse entries' stored bytes are not the file's content; links and metadata entries have none.
        let hashed = !(kind.is_symlink()
            || kind.is_hard_link()
            || kind.is_gnu_sparse()
            || kind.is_pax_global_extensions()
            || kind.is_pax_local_extensions()
            || kind.is_gnu_longname()
            || kind.is_gnu_longlink());
        let size = e.size();
        if hashed && hold(&rel) {
            if size > HELD_MAX {
                return Err(std::io::Error::other(format!("{rel}: larger than {HELD_MAX} bytes")));
            }
            let mut data = Vec::with_capacity(size as usize);
            e.read_to_end(&mut data)?;
            let header = e.header().clone();
            held.insert(rel, Held { data, header });
            continue;
        }
        held.remove(&rel);
        {
            let mut g = w.borrow_mut();
            g.start = e.raw_file_position();
            g.end = if hashed { g.start + size } else { g.start };
            g.hasher.reset();
            g.seen = 0;
        }
        let wrote = e.unpack_in(&dst)?;
        let g = w.borrow();
        let path = dst.join(&rel);
        match path.symlink_metadata() {
            Ok(m) if wrote && hashed && g.seen == size && m.is_file() && m.len() == size => {
                let digest = format!("{PREFIX}{}", g.hasher.finalize().to_hex());
                index.insert(rel, FileEntry::new(digest, &m));
            }
            _ => index.remove(&rel),
        }
    }
    dirs.sort_by(|a, b| b.path_bytes().cmp(&a.path_bytes()));
    for mut d in dirs {
        if let Some(rel) = d.path().ok().and_then(|p| normal(&p)) {
            index.remove(&rel);
        }
        d.unpack_in(&dst)?;
    }
    Ok(Unpacked {
        index: exact.then_some(index),
        held,
    })
}

/// The entry path as the tar crate places it (leading `/` and `.` dropped), None when it has `..` (skipped by the
/// tar crate) or is not UTF-8.
fn normal(p: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str()?),
            Component::ParentDir => return None,
            _ => {}
        }
    }
    Some(parts.join("/"))
}

/// Whether a proper ancestor of `rel` is one of `links`.
fn under(rel: &str, links: &HashSet<String>) -> bool {
    rel.match_indices('/').any(|(i, _)| links.contains(&rel[..i]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        b.into_inner().unwrap()
    }

    fn file(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
        let mut h = crate::test_tar::file_header(data.len());
        b.append_data(&mut h, path, data).unwrap();
    }

    fn b3(data: &[u8]) -> String {
        format!("{PREFIX}{}", blake3::hash(data).to_hex())
    }

    #[test]
    fn digests_are_of_what_was_written_last() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tar_of(|b| {
            file(b, "./a", b"one");
            file(b, "d/b", &vec![7u8; 100_000]);
            file(b, "a", b"two");
        });
        // One byte at a time: the window must follow the stream whatever the reads.
        let index = unpack(OneByte(&t[..]), tmp.path(), &|_| false).unwrap().index.unwrap();
        assert_eq!(index.digest("a"), Some(b3(b"two").as_str()));
        assert_eq!(index.digest("d/b"), Some(b3(&vec![7u8; 100_000]).as_str()));
        assert_eq!(std::fs::read(tmp.path().join("a")).unwrap(), b"two");
    }

    #[test]
    fn an_entry_under_a_link_of_the_tar_makes_the_index_unsure() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tar_of(|b| {
            file(b, "real/x", b"one");
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(EntryType::Symlink);
            h.set_size(0);
            h.set_mode(0o777);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(1);
            b.append_link(&mut h, "l", "real").unwrap();
            file(b, "l/x", b"two");
        });
        assert!(unpack(&t[..], tmp.path(), &|_| false).unwrap().index.is_none());
        assert_eq!(std::fs::read(tmp.path().join("real/x")).unwrap(), b"two");
    }

    #[test]
    fn held_files_are_never_written() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tar_of(|b| {
            file(b, "s/0", b"s3cret");
            file(b, "a", b"one");
        });
        let u = unpack(&t[..], tmp.path(), &|p| p.starts_with("s/")).unwrap();
        assert_eq!(u.held["s/0"].data, b"s3cret");
        assert!(!tmp.path().join("s/0").exists());
        assert_eq!(std::fs::read(tmp.path().join("a")).unwrap(), b"one");
        write_back(tmp.path(), u.held).unwrap();
        assert_eq!(std::fs::read(tmp.path().join("s/0")).unwrap(), b"s3cret");
    }

    struct OneByte<'a>(&'a [u8]);

    impl Read for OneByte<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0.is_empty() || buf.is_empty() {
                return Ok(0);
            }
            buf[0] = self.0[0];
            self.0 = &self.0[1..];
            Ok(1)
        }
    }
}
