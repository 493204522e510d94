//! Privileged tests of container mounts: prepare + mount, read-only, tmpfs, subpaths, bad input.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::{require_root, unique, write_bytes, MountGuard, TestStore};
use volumes::spec::{self, MountInputs};
use volumes::{mounting, Error, ErrorKind, MountEntry, MountKind, Stage, Volume, VolumeName};

type Catalog = BTreeMap<VolumeName, Volume>;

fn mounts_json(json: &str) -> Vec<MountEntry> {
    serde_json::from_str(json).unwrap()
}

/// Mounts `m` on a fresh target under the test root and returns the guard.
fn mount_at(t: &TestStore, m: &volumes::PreparedMount, name: &str) -> (PathBuf, MountGuard) {
    let target = t.dir(name);
    mounting::apply(m, &target).unwrap();
    (target.clone(), MountGuard(target))
}

#[test]
fn read_only_bind_refuses_writes() {
    if !require_root("read_only_bind_refuses_writes") {
        return;
    }
    let t = TestStore::new();
    let host = t.dir("host");
    std::fs::write(host.join("f"), "x").unwrap();
    let inputs = MountInputs {
        binds: vec![format!("{}:/etc/conf:ro", host.display())],
        ..Default::default()
    };
    let reqs = spec::parse(&inputs).unwrap();
    let prepared = t.store.prepare(&reqs, &Catalog::new(), Stage::Create).unwrap();
    let m = &prepared.mounts[0];
    assert_eq!((m.kind, m.read_only), (MountKind::Bind, true));
    assert_eq!(m.oci_options(), ["rbind", "ro", "rprivate"]);
    {
        let (target, _guard) = mount_at(&t, m, "target");
        assert_eq!(std::fs::read_to_string(target.join("f")).unwrap(), "x");
        assert_eq!(write_bytes(&target.join("f"), 1), Err(libc::EROFS));
        assert_eq!(write_bytes(&target.join("new"), 1), Err(libc::EROFS));
        write_bytes(&host.join("f"), 1).expect("the source stays writable");
    }
    assert!(t.mounts().is_empty());
}

#[test]
fn read_only_is_recursive_for_submounts() {
    if !require_root("read_only_is_recursive_for_submounts") {
        return;
    }
    let t = TestStore::new();
    let host = t.dir("host");
    let sub = t.dir("host/sub");
    mounting::tmpfs(
        &sub,
        &volumes::TmpfsOptions::parse("size=64k").unwrap(),
        nix::mount::MsFlags::empty(),
        volumes::Propagation::Private,
    )
    .unwrap();
    let _sub_guard = MountGuard(sub.clone());
    let inputs = MountInputs {
        binds: vec![format!("{}:/x:ro", host.display())],
        ..Default::default()
    };
    let prepared = t
        .store
        .prepare(&spec::parse(&inputs).unwrap(), &Catalog::new(), Stage::Create)
        .unwrap();
    let (target, guard) = mount_at(&t, &prepared.mounts[0], "target");
    assert_eq!(write_bytes(&target.join("sub/f"), 1), Err(libc::EROFS));
    write_bytes(&sub.join("f"), 1).expect("the source submount stays writable");
    drop(guard);
}

#[test]
fn tmpfs_mount_with_size_hits_enospc_and_leaves_nothing() {
    if !require_root("tmpfs_mount_with_size_hits_enospc_and_leaves_nothing") {
        return;
    }
    let t = TestStore::new();
    let inputs = MountInputs {
        mounts: mounts_json(
            r#"[{"Type":"tmpfs","Target":"/scratch","TmpfsOptions":{"SizeBytes":1048576,"Mode":448}}]"#,
        ),
        ..Default::default()
    };
    let prepared = t
        .store
        .prepare(&spec::parse(&inputs).unwrap(), &Catalog::new(), Stage::Create)
        .unwrap();
    let m = &prepared.mounts[0];
    assert_eq!(
        m.oci_options(),
        ["noexec", "nosuid", "nodev", "rprivate", "size=1048576", "mode=700"]
    );
    let target = t.dir("scratch");
    {
        let (target, _guard) = mount_at(&t, m, "scratch");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&target).unwrap().permissions().mode() & 0o7777, 0o700);
        write_bytes(&target.join("a"), 512 * 1024).unwrap();
        assert_eq!(write_bytes(&target.join("b"), 1 << 20), Err(libc::ENOSPC));
    }
    assert_eq!(
        std::fs::read_dir(&target).unwrap().count(),
        0,
        "nothing left after unmount"
    );
    assert!(t.mounts().is_empty());
}

#[test]
fn missing_bind_source_is_refused_and_nothing_is_created() {
    if !require_root("missing_bind_source_is_refused_and_nothing_is_created") {
        return;
    }
    let t = TestStore::new();
    let missing = t.path().join("no/such/dir");
    let vol = unique("first");
    let inputs = MountInputs {
        binds: vec![format!("{vol}:/data")],
        mounts: mounts_json(&format!(
            r#"[{{"Type":"bind","Source":"{}","Target":"/src"}}]"#,
            missing.display()
        )),
        ..Default::default()
    };
    let err = t
        .store
        .prepare(&spec::parse(&inputs).unwrap(), &Catalog::new(), Stage::Create)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadInput);
    assert_eq!(
        err.to_string(),
        format!(
            "HostConfig.Mounts[0]: bind source path does not exist: {}",
            missing.display()
        )
    );
    assert!(
        t.volume_dirs().is_empty(),
        "the volume made for Binds[0] must be rolled back: {:?}",
        t.volume_dirs()
    );
    assert!(!missing.exists());
}

#[test]
fn create_host_path_makes_the_source_and_rolls_it_back_on_failure() {
    if !require_root("create_host_path_makes_the_source_and_rolls_it_back_on_failure") {
        return;
    }
    let t = TestStore::new();
    let made = t.path().join("made/by/bind");
    let inputs = MountInputs {
        mounts: mounts_json(&format!(
            r#"[{{"Type":"bind","Source":"{}","Target":"/m","BindOptions":{{"CreateMountpoint":true}}}}]"#,
            made.display()
        )),
        ..Default::default()
    };
    t.store
        .prepare(&spec::parse(&inputs).unwrap(), &Catalog::new(), Stage::Create)
        .unwrap();
    assert!(made.is_dir());
    std::fs::remove_dir_all(t.path().join("made")).unwrap();

    let missing = t.path().join("absent");
    let inputs = MountInputs {
        binds: vec![format!("{}:/legacy", made.display())],
        mounts: mounts_json(&format!(
            r#"[{{"Type":"bind","Source":"{}","Target":"/x"}}]"#,
            missing.display()
        )),
        ..Default::default()
    };
    assert!(t
        .store
        .prepare(&spec::parse(&inputs).unwrap(), &Catalog::new(), Stage::Create)
        .is_err());
    assert!(
        !t.path().join("made").exists(),
        "directories made for Binds[0] are taken back"
    );
}

#[test]
fn escaping_subpaths_are_refused() {
    if !require_root("escaping_subpaths_are_refused") {
        return;
    }
    let t = TestStore::new();
    let name = unique("sub");
    let vol = t.create(name.as_str(), &[]);
    let data = t.store.path(&name);
    std::fs::create_dir_all(data.join("pg/13")).unwrap();
    std::os::unix::fs::symlink("/etc", data.join("out")).unwrap();
    std::os::unix::fs::symlink("../../..", data.join("pg/up")).unwrap();
    std::os::unix::fs::symlink("13", data.join("pg/current")).unwrap();
    let catalog = Catalog::from([(name.clone(), vol)]);
    let entry = |sub: &str| MountInputs {
        mounts: mounts_json(&format!(
            r#"[{{"Type":"volume","Source":"{name}","Target":"/d","VolumeOptions":{{"Subpath":"{sub}"}}}}]"#
        )),
        ..Default::default()
    };
    // Through `..`: refused while parsing, before anything exists.
    let e = spec::parse(&entry("../../../etc")).unwrap_err();
    assert!(matches!(e, Error::SubpathEscapes { .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with("HostConfig.Mounts[0].VolumeOptions.Subpath: "),
        "{e}"
    );
    // Through symlinks: refused when resolved.
    for sub in ["out", "out/passwd", "pg/up", "pg/up/etc"] {
        let e = t
            .store
            .prepare(&spec::parse(&entry(sub)).unwrap(), &catalog, Stage::Create)
            .unwrap_err();
        assert!(matches!(e, Error::SubpathEscapes { .. }), "{sub}: {e}");
        assert_eq!(e.kind(), ErrorKind::BadInput);
    }
    t.store
        .prepare(&spec::parse(&entry("nope")).unwrap(), &catalog, Stage::Create)
        .expect("missing is checked at start");
    let rootfs = t.dir("rootfs");
    let e = t
        .store
        .prepare(
            &spec::parse(&entry("nope")).unwrap(),
            &catalog,
            Stage::Start { rootfs: &rootfs },
        )
        .unwrap_err();
    assert!(matches!(e, Error::SubpathMissing { .. }), "{e}");
    assert!(t.mounts().is_empty(), "a failed start leaves no pin");
    // A link that stays inside is fine and resolves to the real directory.
    let ok = t
        .store
        .prepare(&spec::parse(&entry("pg/current")).unwrap(), &catalog, Stage::Create)
        .unwrap();
    assert_eq!(ok.mounts[0].source, data.join("pg/current"));
    assert!(ok.created.is_empty() && ok.pins.is_empty());
    assert_eq!(t.volume_dirs(), vec![name.to_string()]);
}

#[test]
fn subpath_is_pinned_at_start() {
    if !require_root("subpath_is_pinned_at_start") {
        return;
    }
    let t = TestStore::new();
    let rootfs = t.dir("rootfs");
    let name = unique("pinned");
    let vol = t.create(name.as_str(), &[]);
    let data = t.store.path(&name);
    std::fs::create_dir_all(data.join("pg/13")).unwrap();
    std::fs::write(data.join("pg/13/PG_VERSION"), "13").unwrap();
    std::os::unix::fs::symlink("13", data.join("pg/current")).unwrap();
    let catalog = Catalog::from([(name.clone(), vol)]);
    let inputs = MountInputs {
        mounts: mounts_json(&format!(
            r#"[{{"Type":"volume","Source":"{name}","Target":"/d","ReadOnly":true,"VolumeOptions":{{"Subpath":"pg/current"}}}}]"#
        )),
        ..Default::default()
    };
    let p = t
        .store
        .prepare(
            &spec::parse(&inputs).unwrap(),
            &catalog,
            Stage::Start { rootfs: &rootfs },
        )
        .unwrap();
    assert_eq!(p.pins.len(), 1);
    assert_eq!(p.mounts[0].source, p.pins[0]);
    // A container sharing the volume swaps the path for a link out of it: the pin still holds pg/13.
    std::fs::remove_file(data.join("pg/current")).unwrap();
    std::os::unix::fs::symlink("/etc", data.join("pg/current")).unwrap();
    {
        let (target, _g) = mount_at(&t, &p.mounts[0], "target");
        assert_eq!(std::fs::read_to_string(target.join("PG_VERSION")).unwrap(), "13");
        assert!(!target.join("passwd").exists());
        assert_eq!(write_bytes(&target.join("x"), 1), Err(libc::EROFS));
    }
    t.store.unpin(&p.pins).unwrap();
    assert!(!p.pins[0].exists());
    assert!(t.mounts().is_empty());
    // A crash between prepare and unpin: remove and clear_pins still clean up.
    let p = t.store.prepare(
        &spec::parse(&inputs).unwrap(),
        &catalog,
        Stage::Start { rootfs: &rootfs },
    );
    assert!(
        matches!(p, Err(Error::SubpathEscapes { .. })),
        "the swapped link is refused now"
    );
    std::fs::remove_file(data.join("pg/current")).unwrap();
    std::os::unix::fs::symlink("13", data.join("pg/current")).unwrap();
    let p = t
        .store
        .prepare(
            &spec::parse(&inputs).unwrap(),
            &catalog,
            Stage::Start { rootfs: &rootfs },
        )
        .unwrap();
    assert_eq!(t.store.clear_pins().unwrap(), 1);
    assert!(!p.pins[0].exists() && t.mounts().is_empty());
    t.store
        .prepare(
            &spec::parse(&inputs).unwrap(),
            &catalog,
            Stage::Start { rootfs: &rootfs },
        )
        .unwrap();
    t.store.remove(&name).unwrap();
    assert!(t.mounts().is_empty() && t.volume_dirs().is_empty());
}

#[test]
fn named_and_anonymous_volumes_are_created_once() {
    if !require_root("named_and_anonymous_volumes_are_created_once") {
        return;
    }
    let t = TestStore::new();
    let name = unique("named");
    let inputs = MountInputs {
        binds: vec![format!("{name}:/data"), format!("{name}:/again:ro")],
        config_volumes: vec!["/cache".into()],
        ..Default::default()
    };
    let reqs = spec::parse(&inputs).unwrap();
    let p = t.store.prepare(&reqs, &Catalog::new(), Stage::Create).unwrap();
    assert_eq!(p.created.len(), 2);
    assert_eq!(p.volumes.len(), 2);
    let anon = p.created.iter().find(|v| v.is_anonymous()).expect("anonymous volume");
    assert!(reqs[2].is_anonymous_volume() && reqs[2].volume() == Some(&anon.name));
    let catalog: Catalog = p.created.iter().map(|v| (v.name.clone(), v.clone())).collect();
    // A restart prepares the same requests again: nothing new.
    let again = t.store.prepare(&reqs, &catalog, Stage::Create).unwrap();
    assert!(again.created.is_empty());
    assert_eq!(again.mounts, p.mounts);
    assert_eq!(again.mounts[1].oci_options(), ["rbind", "ro", "rprivate"]);
    // VolumesFrom inherits volumes and binds, read-only when asked.
    let from = MountInputs {
        volumes_from: vec![spec::VolumesFrom {
            spec: spec::VolumesFromSpec::parse(0, "other:ro").unwrap(),
            requests: reqs.clone(),
        }],
        ..Default::default()
    };
    let inherited = t
        .store
        .prepare(&spec::parse(&from).unwrap(), &catalog, Stage::Create)
        .unwrap();
    assert_eq!(inherited.mounts.len(), 3);
    assert!(inherited.mounts.iter().all(|m| m.read_only));
    assert_eq!(inherited.mounts[0].source, t.store.path(&name));
}

#[test]
fn volume_with_driver_options_is_mounted_at_start() {
    if !require_root("volume_with_driver_options_is_mounted_at_start") {
        return;
    }
    let t = TestStore::new();
    let rootfs = t.dir("rootfs");
    let name = unique("tmpvol");
    let inputs = MountInputs {
        mounts: mounts_json(&format!(
            r#"[{{"Type":"volume","Source":"{name}","Target":"/d","VolumeOptions":{{"DriverConfig":{{"Options":{{"type":"tmpfs","o":"size=256k"}}}}}}}}]"#
        )),
        ..Default::default()
    };
    let reqs = spec::parse(&inputs).unwrap();
    let created = t.store.prepare(&reqs, &Catalog::new(), Stage::Create).unwrap().created;
    assert!(!t.store.is_mounted(&name).unwrap(), "create mounts nothing");
    let catalog: Catalog = created.into_iter().map(|v| (v.name.clone(), v)).collect();
    let p = t
        .store
        .prepare(&reqs, &catalog, Stage::Start { rootfs: &rootfs })
        .unwrap();
    assert!(t.store.is_mounted(&name).unwrap());
    {
        let (target, _g) = mount_at(&t, &p.mounts[0], "target");
        assert_eq!(write_bytes(&target.join("x"), 1 << 20), Err(libc::ENOSPC));
    }
    t.store.unmount(&name).unwrap();
    t.store.remove(&name).unwrap();
}

#[test]
fn unknown_catalog_volume_without_directory_is_an_error() {
    if !require_root("unknown_catalog_volume_without_directory_is_an_error") {
        return;
    }
    let t = TestStore::new();
    let ghost = t.create(unique("ghost").as_str(), &[]);
    std::fs::remove_dir_all(t.store.dir().join(ghost.name.as_str())).unwrap();
    let inputs = MountInputs {
        binds: vec![format!("{}:/g", ghost.name)],
        ..Default::default()
    };
    let catalog = Catalog::from([(ghost.name.clone(), ghost.clone())]);
    let e = t
        .store
        .prepare(&spec::parse(&inputs).unwrap(), &catalog, Stage::Create)
        .unwrap_err();
    assert!(e.to_string().starts_with("HostConfig.Binds[0]: no such volume"), "{e}");
}

#[test]
fn mounts_come_parents_first() {
    if !require_root("mounts_come_parents_first") {
        return;
    }
    let t = TestStore::new();
    let host = t.dir("h");
    let inputs = MountInputs {
        binds: vec![
            format!("{}:/data/logs/app", host.display()),
            format!("{}:/data", host.display()),
        ],
        tmpfs: vec![("/data/logs".into(), String::new())],
        ..Default::default()
    };
    let p = t
        .store
        .prepare(&spec::parse(&inputs).unwrap(), &Catalog::new(), Stage::Create)
        .unwrap();
    let dests: Vec<_> = p.mounts.iter().map(|m| m.destination.display().to_string()).collect();
    assert_eq!(dests, ["/data", "/data/logs", "/data/logs/app"]);
}
