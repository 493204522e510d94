//! Tar entries for unit tests: the one header every test archive starts from.

/// A regular file's header of `len` bytes: root-owned, mode 0644, mtime 1 (path and content set by the caller).
pub fn file_header(len: usize) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_size(len as u64);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1);
    h.set_entry_type(tar::EntryType::Regular);
    h
}
