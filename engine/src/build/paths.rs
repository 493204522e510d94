//! Paths inside a root directory (a build context or a mounted image rootfs): lexical cleaning and symlink
//! resolution that never leaves the root, as a chroot would resolve them.

use std::path::{Component, Path, PathBuf};

/// Cleans `p` as an absolute path inside a root: `.` and `..` folded, never above `/`. Returns it without the
/// leading `/` and whether a `..` tried to go above the root.
pub fn clean(p: &str) -> (String, bool) {
    let mut out: Vec<&str> = Vec::new();
    let mut escaped = false;
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.pop().is_none() {
                    escaped = true;
                }
            }
            s => out.push(s),
        }
    }
    (out.join("/"), escaped)
}

/// Resolves `rel` (relative to `root`) following symlinks as if `root` were `/`; the last element is followed only
/// when `follow_last`. Missing elements are appended as they are.
pub fn resolve(root: &Path, rel: &str, follow_last: bool) -> std::io::Result<PathBuf> {
    let mut done = PathBuf::new();
    let mut todo: Vec<String> = clean(rel)
        .0
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .rev()
        .collect();
    let mut hops = 0;
    while let Some(part) = todo.pop() {
        if part == ".." {
            done.pop();
            continue;
        }
        let candidate = done.join(&part);
        let last = todo.is_empty();
        let host = root.join(&candidate);
        match host.symlink_metadata() {
            Ok(m) if m.file_type().is_symlink() && (!last || follow_last) => {
                hops += 1;
                if hops > 40 {
                    return Err(std::io::Error::other(format!(
                        "too many levels of symbolic links at /{}",
                        candidate.display()
                    )));
                }
                let target = std::fs::read_link(&host)?;
                if target.is_absolute() {
                    done = PathBuf::new();
                }
                for c in target.components().rev() {
                    match c {
                        Component::Normal(s) => todo.push(s.to_string_lossy().into_owned()),
                        Component::ParentDir => todo.push("..".into()),
                        _ => {}
                    }
                }
            }
            _ => done = candidate,
        }
    }
    Ok(root.join(done))
}

/// Whether a string holds glob characters.
pub fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Go's filepath.Match for one path element.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    matches_at(&p, &n)
}

fn matches_at(p: &[char], n: &[char]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some('*') => (0..=n.len()).any(|i| matches_at(&p[1..], &n[i..])),
        Some('?') => !n.is_empty() && matches_at(&p[1..], &n[1..]),
        Some('[') => {
            let Some(close) = p.iter().skip(1).position(|c| *c == ']').map(|i| i + 1) else {
                return n.first() == Some(&'[') && matches_at(&p[1..], &n[1..]);
            };
            let Some(c) = n.first() else { return false };
            let mut class = &p[1..close];
            let negate = matches!(class.first(), Some('^' | '!'));
            if negate {
                class = &class[1..];
            }
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == '-' {
                    hit |= class[i] <= *c && *c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == *c;
                    i += 1;
                }
            }
            hit != negate && matches_at(&p[close + 1..], &n[1..])
        }
        Some('\\') if p.len() > 1 => n.first() == Some(&p[1]) && matches_at(&p[2..], &n[1..]),
        Some(c) => n.first() == Some(c) && matches_at(&p[1..], &n[1..]),
    }
}

/// Every path under `root` matching the glob `pattern` (relative, `/`-separated), sorted.
pub fn glob(root: &Path, pattern: &str) -> Vec<String> {
    let parts: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
    let mut found = vec![String::new()];
    for part in parts {
        let mut next = Vec::new();
        for base in &found {
            let dir = root.join(base);
            if !has_glob(part) {
                if dir.join(part).symlink_metadata().is_ok() {
                    next.push(join(base, part));
                }
                continue;
            }
            let Ok(rd) = std::fs::read_dir(&dir) else { continue };
            let mut names: Vec<String> = rd
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            next.extend(names.iter().filter(|n| glob_match(part, n)).map(|n| join(base, n)));
        }
        found = next;
    }
    found.retain(|f| !f.is_empty());
    found
}

fn join(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_owned()
    } else {
        format!("{base}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_stays_inside() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("real/sub")).unwrap();
        std::os::unix::fs::symlink("/real", root.path().join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../..", root.path().join("real/up")).unwrap();
        assert_eq!(
            resolve(root.path(), "/abs/sub", true).unwrap(),
            root.path().join("real/sub")
        );
        assert_eq!(
            resolve(root.path(), "real/up/etc", true).unwrap(),
            root.path().join("etc")
        );
        assert_eq!(resolve(root.path(), "abs", false).unwrap(), root.path().join("abs"));
        assert_eq!(clean("../a/./b/.."), ("a".into(), true));
    }

    #[test]
    fn globs() {
        assert!(glob_match("*.txt", "a.txt"));
        assert!(!glob_match("*.txt", "a.md"));
        assert!(glob_match("f?le[0-9]", "file7"));
        assert!(glob_match("[!a]x", "bx"));
    }
}
