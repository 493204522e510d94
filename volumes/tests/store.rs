//! Privileged tests of the volume store: create/remove/prune/orphans and local-driver mounts.

mod common;

use std::collections::{BTreeMap, HashSet};

use common::{require_root, unique, write_bytes, TestStore};
use volumes::{Error, ErrorKind, VolumeName};

#[test]
fn create_write_read_remove() {
    if !require_root("create_write_read_remove") {
        return;
    }
    let t = TestStore::new();
    let name = unique("data");
    let labels = BTreeMap::from([("app".to_string(), "db".to_string())]);
    let vol = t.store.create(Some(name.clone()), labels, BTreeMap::new()).unwrap();
    assert_eq!(
        vol.mountpoint,
        t.path().join("volumes").join(name.as_str()).join("_data")
    );
    assert_eq!(vol.driver, "local");
    assert_eq!(vol.labels["app"], "db");
    std::fs::write(vol.mountpoint.join("f"), "hi\n").unwrap();
    assert_eq!(std::fs::read_to_string(t.store.path(&name).join("f")).unwrap(), "hi\n");
    assert_eq!(t.store.list().unwrap(), vec![name.clone()]);
    assert!(t.store.usage(&name).unwrap() > 0);

    let again = t
        .store
        .create(Some(name.clone()), BTreeMap::new(), BTreeMap::new())
        .unwrap_err();
    assert_eq!(again.kind(), ErrorKind::Conflict, "{again}");

    t.store.remove(&name).unwrap();
    assert!(t.volume_dirs().is_empty(), "{:?}", t.volume_dirs());
    assert!(matches!(t.store.remove(&name), Err(Error::NotFound(_))));
}

#[test]
fn generated_names_and_json_round_trip() {
    if !require_root("generated_names_and_json_round_trip") {
        return;
    }
    let t = TestStore::new();
    let vol = t.store.create(None, BTreeMap::new(), BTreeMap::new()).unwrap();
    assert_eq!(vol.name.as_str().len(), 64);
    let json = serde_json::to_string(&vol).unwrap();
    let back: volumes::Volume = serde_json::from_str(&json).unwrap();
    assert_eq!(back, vol);
    t.store.remove(&vol.name).unwrap();
}

#[test]
fn bad_names_and_options_create_nothing() {
    if !require_root("bad_names_and_options_create_nothing") {
        return;
    }
    let t = TestStore::new();
    let e = "../x".parse::<VolumeName>().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BadInput);
    assert!(e.to_string().contains("invalid volume name \"../x\""), "{e}");
    for opts in [
        vec![("type", "nfs"), ("o", "addr=127.0.0.1"), ("device", ":/srv")],
        vec![("o", "bind"), ("device", "/no/such/dir")],
        vec![("size", "1g")],
    ] {
        let opts = opts.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let e = t.store.create(Some(unique("bad")), BTreeMap::new(), opts).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BadInput, "{e}");
    }
    assert!(t.volume_dirs().is_empty(), "{:?}", t.volume_dirs());
}

#[test]
fn prune_and_orphans() {
    if !require_root("prune_and_orphans") {
        return;
    }
    let t = TestStore::new();
    let (keep, gone1, gone2) = (unique("keep"), unique("gone"), unique("gone"));
    for n in [&keep, &gone1, &gone2] {
        t.create(n.as_str(), &[]);
    }
    write_bytes(&t.store.path(&gone1).join("blob"), 256 * 1024).unwrap();
    let report = t.store.prune(&HashSet::from([keep.clone()])).unwrap();
    let removed: HashSet<_> = report.removed.iter().cloned().collect();
    assert_eq!(removed, HashSet::from([gone1, gone2]));
    assert!(report.space_reclaimed >= 256 * 1024, "{report:?}");
    assert_eq!(t.store.list().unwrap(), vec![keep.clone()]);

    // A crash leaves a half-made dir, a half-deleted dir and a volume the engine never recorded.
    let unknown = unique("unknown");
    t.create(unknown.as_str(), &[]);
    std::fs::create_dir_all(t.store.dir().join(".tmp-1234/_data")).unwrap();
    std::fs::create_dir_all(t.store.dir().join(".trash-5678/_data/x")).unwrap();
    let known = HashSet::from([keep.clone()]);
    let orphans = t.store.orphans(&known).unwrap();
    assert_eq!(orphans.len(), 3, "{orphans:?}");
    assert_eq!(t.store.remove_orphans(&known).unwrap().len(), 3);
    assert_eq!(t.volume_dirs(), vec![keep.to_string()]);
    assert!(t.store.orphans(&known).unwrap().is_empty());
}

#[test]
fn tmpfs_volume_has_its_size_and_leaves_nothing() {
    if !require_root("tmpfs_volume_has_its_size_and_leaves_nothing") {
        return;
    }
    let t = TestStore::new();
    let name = unique("scratch");
    let vol = t.create(
        name.as_str(),
        &[("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=1m,mode=0770")],
    );
    assert!(t.store.mount(&vol).unwrap(), "first use mounts");
    assert!(!t.store.mount(&vol).unwrap(), "second use finds it mounted");
    assert!(t.store.is_mounted(&name).unwrap());
    let data = t.store.path(&name);
    write_bytes(&data.join("small"), 512 * 1024).unwrap();
    assert_eq!(write_bytes(&data.join("big"), 2 << 20), Err(libc::ENOSPC));
    t.store.unmount(&name).unwrap();
    assert!(!t.store.is_mounted(&name).unwrap());
    assert_eq!(
        std::fs::read_dir(&data).unwrap().count(),
        0,
        "tmpfs data must not reach the disk"
    );
    t.store.remove(&name).unwrap();
    assert!(t.mounts().is_empty());
}

#[test]
fn bind_volume_is_read_only_and_remove_spares_the_device() {
    if !require_root("bind_volume_is_read_only_and_remove_spares_the_device") {
        return;
    }
    let t = TestStore::new();
    let device = t.dir("hostdir");
    std::fs::write(device.join("keep.txt"), "precious").unwrap();
    let name = unique("hostbind");
    let vol = t.create(
        name.as_str(),
        &[("type", "none"), ("device", device.to_str().unwrap()), ("o", "bind,ro")],
    );
    t.store.mount(&vol).unwrap();
    let data = t.store.path(&name);
    assert_eq!(std::fs::read_to_string(data.join("keep.txt")).unwrap(), "precious");
    assert_eq!(write_bytes(&data.join("new"), 10), Err(libc::EROFS));
    // Removing while mounted unmounts first: the host directory's files survive.
    t.store.remove(&name).unwrap();
    assert_eq!(std::fs::read_to_string(device.join("keep.txt")).unwrap(), "precious");
    assert!(t.mounts().is_empty());
}

#[test]
fn unmount_unused_after_crash() {
    if !require_root("unmount_unused_after_crash") {
        return;
    }
    let t = TestStore::new();
    let (a, b) = (unique("tmpa"), unique("tmpb"));
    for n in [&a, &b] {
        let v = t.create(n.as_str(), &[("type", "tmpfs"), ("o", "size=64k")]);
        t.store.mount(&v).unwrap();
    }
    let done = t.store.unmount_unused(&HashSet::from([a.clone()])).unwrap();
    assert_eq!(done, vec![b.clone()]);
    assert!(t.store.is_mounted(&a).unwrap() && !t.store.is_mounted(&b).unwrap());
    t.store.remove(&a).unwrap();
    t.store.remove(&b).unwrap();
}

#[test]
fn state_root_behind_a_symlink_still_guards_host_data() {
    if !require_root("state_root_behind_a_symlink_still_guards_host_data") {
        return;
    }
    let t = TestStore::new();
    let real = t.dir("real-root");
    let link = t.path().join("link-root");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let store = volumes::VolumeStore::new(&link).unwrap();
    let device = t.dir("device");
    std::fs::write(device.join("keep"), "host data").unwrap();
    let opts = BTreeMap::from([
        ("o".to_string(), "bind".to_string()),
        ("device".to_string(), device.display().to_string()),
    ]);
    let vol = store.create(Some(unique("linked")), BTreeMap::new(), opts).unwrap();
    assert!(store.mount(&vol).unwrap());
    assert!(
        store.is_mounted(&vol.name).unwrap(),
        "mount found through the symlinked root"
    );
    assert!(!store.mount(&vol).unwrap(), "not stacked twice");
    store.remove(&vol.name).unwrap();
    assert_eq!(std::fs::read_to_string(device.join("keep")).unwrap(), "host data");
}

#[test]
fn private_store_mount_is_idempotent_and_released() {
    if !require_root("private_store_mount_is_idempotent_and_released") {
        return;
    }
    let t = TestStore::new();
    t.store.make_private().unwrap();
    t.store.make_private().unwrap();
    let dir = t.store.dir().to_path_buf();
    assert_eq!(
        volumes::mountinfo::mount_points()
            .unwrap()
            .iter()
            .filter(|m| **m == dir)
            .count(),
        1
    );
    let line = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let entry = line
        .lines()
        .find(|l| l.split(' ').nth(4) == dir.to_str())
        .unwrap()
        .to_owned();
    assert!(!entry.contains("shared:") && !entry.contains("master:"), "{entry}");
    let vol = t.create(unique("inprivate").as_str(), &[("type", "tmpfs"), ("o", "size=64k")]);
    t.store.mount(&vol).unwrap();
    assert!(matches!(t.store.release_private(), Err(Error::StillMounted { .. })));
    t.store.remove(&vol.name).unwrap();
    t.store.release_private().unwrap();
    t.store.release_private().unwrap();
    assert!(t.mounts().is_empty());
}
