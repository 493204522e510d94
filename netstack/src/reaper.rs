//! Registry of netstack instances on this host, so objects of engines whose state root was
//! deleted (test roots, wiped installs) are found and removed by the next engine that starts.

use std::path::{Path, PathBuf};

use crate::error::{NetError, Result};
use crate::ids::{InstanceTag, Owner};
use crate::links::Netlink;
use crate::nft::Nft;

/// Where instances register: one file per tag holding its namespace directory.
pub const REGISTRY_DIR: &str = "/run/berth/netstack";

/// Identity of the calling thread's network namespace: an instance's objects live there, so only
/// an instance in the same namespace can remove them.
fn current_netns() -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/thread-self/ns/net")
        .map(|m| m.ino())
        .unwrap_or(0)
}

/// Records that `tag` keeps its namespace files in `netns_dir` (file: netns inode, newline, dir).
pub fn register(registry: &Path, tag: &InstanceTag, netns_dir: &Path) -> Result<()> {
    std::fs::create_dir_all(registry).map_err(|e| NetError::io("create", registry, e))?;
    let file = registry.join(tag.as_str());
    let text = format!("{}\n{}", current_netns(), netns_dir.display());
    std::fs::write(&file, text).map_err(|e| NetError::io("write", file, e))
}

/// One registry entry.
struct Entry {
    tag: InstanceTag,
    netns: u64,
    dir: PathBuf,
}

fn entries(registry: &Path) -> Vec<Entry> {
    let Ok(rd) = std::fs::read_dir(registry) else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| {
            let tag = InstanceTag::new(e.file_name().to_str()?).ok()?;
            let text = std::fs::read_to_string(e.path()).ok()?;
            let (ns, dir) = text.split_once('\n')?;
            Some(Entry {
                tag,
                netns: ns.parse().ok()?,
                dir: PathBuf::from(dir),
            })
        })
        .collect()
}

/// Tags of this network namespace whose registered directory no longer exists (their owner's
/// state root is gone).
pub fn dead_instances(registry: &Path, own: &InstanceTag) -> Vec<InstanceTag> {
    let here = current_netns();
    entries(registry)
        .into_iter()
        .filter(|e| e.tag != *own && e.netns == here && !e.dir.exists())
        .map(|e| e.tag)
        .collect()
}

/// Deletes entries whose directory is gone and whose network namespace no longer exists anywhere
/// (a test's private namespace): their kernel objects died with it. Returns how many went.
pub fn forget_vanished_namespaces(registry: &Path) -> usize {
    let here = current_netns();
    let candidates: Vec<Entry> = entries(registry)
        .into_iter()
        .filter(|e| e.netns != here && !e.dir.exists())
        .collect();
    if candidates.is_empty() {
        return 0;
    }
    let alive = live_netns_inodes();
    candidates
        .iter()
        .filter(|e| !alive.contains(&e.netns))
        .filter(|e| std::fs::remove_file(registry.join(e.tag.as_str())).is_ok())
        .count()
}

/// Inodes of every network namespace that some process is in or some nsfs mount holds.
fn live_netns_inodes() -> std::collections::HashSet<u64> {
    use std::os::unix::fs::MetadataExt;
    let mut set = std::collections::HashSet::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if e.file_name()
            .to_str()
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        {
            if let Ok(m) = std::fs::metadata(e.path().join("ns/net")) {
                set.insert(m.ino());
            }
        }
    }
    // Bind-mounted namespaces show `net:[<inode>]` as the mount's root.
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for root in info.lines().filter_map(|l| l.split(' ').nth(3)) {
        if let Some(n) = root.strip_prefix("net:[").and_then(|r| r.strip_suffix(']')) {
            set.extend(n.parse::<u64>().ok());
        }
    }
    set
}

/// Removes every interface and nft rule labelled with `tag`, then its registry entry.
pub async fn reap(host: &Netlink, table: &str, registry: &Path, tag: &InstanceTag) -> Result<usize> {
    let mut removed = 0;
    for link in host.links().await? {
        if link.alias.as_deref().and_then(|a| Owner::parse_label(tag, a)).is_some() {
            host.delete(&link.name).await?;
            removed += 1;
        }
    }
    removed += Nft::new(table, tag.clone()).delete_where(|_| true)?;
    let file = registry.join(tag.as_str());
    match std::fs::remove_file(&file) {
        Ok(()) => Ok(removed),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(removed),
        Err(e) => Err(NetError::io("remove", file, e)),
    }
}
