//! Resolving Docker's `user` syntax ("", "uid", "uid:gid", "name", "name:group") against the rootfs
//! /etc/passwd and /etc/group, like Docker: a name must exist, a number need not.

use super::{Result, RuntimeError};
use std::path::Path;

/// The numeric identity the container process runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary groups: the user's groups in /etc/group plus the requested extra groups.
    pub additional_gids: Vec<u32>,
    /// Home directory from /etc/passwd ("/" when unknown), for HOME.
    pub home: String,
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// Resolves `user` and `extra_groups` against the files under `rootfs`.
pub fn resolve(rootfs: &Path, user: Option<&str>, extra_groups: &[String]) -> Result<ResolvedUser> {
    let passwd = read_passwd(rootfs);
    let groups = read_groups(rootfs);
    let spec = user.unwrap_or("").trim();
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let entry = find_user(&passwd, user_part)?;
    let (uid, mut gid, home, name) = match (&entry, user_part.parse::<u32>()) {
        (Some(e), _) => (e.uid, e.gid, e.home.clone(), Some(e.name.clone())),
        (None, Ok(uid)) => (uid, 0, "/".to_owned(), None),
        (None, Err(_)) if user_part.is_empty() => (0, 0, "/root".to_owned(), Some("root".to_owned())),
        (None, Err(_)) => return Err(unknown("user", user_part)),
    };
    if let Some(g) = group_part.filter(|g| !g.is_empty()) {
        gid = find_group(&groups, g)?;
    }
    let mut additional: Vec<u32> = match &name {
        Some(n) if group_part.is_none() => groups
            .iter()
            .filter(|g| g.members.iter().any(|m| m == n))
            .map(|g| g.gid)
            .collect(),
        _ => Vec::new(),
    };
    for g in extra_groups {
        additional.push(find_group(&groups, g)?);
    }
    // Docker (runc) lists the primary group among the supplementary ones: `id` shows `groups=<gid>`.
    additional.push(gid);
    additional.sort_unstable();
    additional.dedup();
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids: additional,
        home,
    })
}

fn find_user<'a>(passwd: &'a [PasswdEntry], user: &str) -> Result<Option<&'a PasswdEntry>> {
    if user.is_empty() {
        return Ok(passwd.iter().find(|e| e.uid == 0));
    }
    Ok(match user.parse::<u32>() {
        Ok(uid) => passwd.iter().find(|e| e.uid == uid),
        Err(_) => Some(
            passwd
                .iter()
                .find(|e| e.name == user)
                .ok_or_else(|| unknown("user", user))?,
        ),
    })
}

fn find_group(groups: &[GroupEntry], group: &str) -> Result<u32> {
    if let Ok(gid) = group.parse::<u32>() {
        return Ok(gid);
    }
    groups
        .iter()
        .find(|g| g.name == group)
        .map(|g| g.gid)
        .ok_or_else(|| unknown("group", group))
}

fn unknown(kind: &str, name: &str) -> RuntimeError {
    let file = if kind == "user" { "passwd" } else { kind };
    RuntimeError::StartFailed {
        message: format!("unable to find {kind} {name}: no matching entries in {file} file"),
        exit_code: 126,
    }
}

/// Reads a file of the rootfs, refusing symlinks (they could point at the host's files).
fn read_rootfs_file(rootfs: &Path, rel: &str) -> String {
    let path = rootfs.join(rel);
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.file_type().is_file() => std::fs::read_to_string(&path).unwrap_or_default(),
        _ => String::new(),
    }
}

fn read_passwd(rootfs: &Path) -> Vec<PasswdEntry> {
    read_rootfs_file(rootfs, "etc/passwd")
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(PasswdEntry {
                name: (*f.first()?).to_owned(),
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
                home: f.get(5).map(|h| (*h).to_owned()).unwrap_or_else(|| "/".to_owned()),
            })
        })
        .collect()
}

fn read_groups(rootfs: &Path) -> Vec<GroupEntry> {
    read_rootfs_file(rootfs, "etc/group")
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(GroupEntry {
                name: (*f.first()?).to_owned(),
                gid: f.get(2)?.parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| m.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect())?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(d.path().join("etc/group"), "root:x:0:\nwww:x:33:\nstaff:x:50:www\n").unwrap();
        d
    }

    #[test]
    fn resolves_names_numbers_and_groups() {
        let r = rootfs();
        let u = resolve(r.path(), Some("www"), &[]).unwrap();
        assert_eq!(
            (u.uid, u.gid, u.additional_gids.clone(), u.home.as_str()),
            (33, 33, vec![33, 50], "/var/www")
        );
        let u = resolve(r.path(), Some("1000:staff"), &["root".into()]).unwrap();
        assert_eq!((u.uid, u.gid, u.additional_gids), (1000, 50, vec![0, 50]));
        let u = resolve(r.path(), None, &[]).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (0, 0, "/root"));
        assert!(resolve(r.path(), Some("nobody"), &[]).is_err());
        assert!(resolve(r.path(), Some("0:nogroup"), &[]).is_err());
    }
}
