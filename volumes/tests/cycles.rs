//! 100 create / prepare / mount / unmount / remove cycles leave no mounts and no directories.

mod common;

use std::collections::BTreeMap;

use common::{require_root, unique, write_bytes, MountGuard, TestStore};
use volumes::spec::{self, MountInputs};
use volumes::{mountinfo, mounting, Stage, Volume, VolumeName};

#[test]
fn hundred_cycles_leak_nothing() {
    if !require_root("hundred_cycles_leak_nothing") {
        return;
    }
    let t = TestStore::new();
    let rootfs = t.dir("rootfs");
    std::fs::create_dir_all(rootfs.join("srv")).unwrap();
    std::fs::write(rootfs.join("srv/seed"), "seed").unwrap();
    let host = t.dir("host");
    let mut catalog: BTreeMap<VolumeName, Volume> = BTreeMap::new();
    for i in 0..100 {
        let name = unique("cycle");
        let opts = if i % 2 == 0 {
            r#"{}"#
        } else {
            r#"{"type":"tmpfs","o":"size=128k"}"#
        };
        let mounts = format!(
            r#"[{{"Type":"volume","Source":"{name}","Target":"/srv","VolumeOptions":{{"DriverConfig":{{"Options":{opts}}}}}}},
               {{"Type":"volume","Source":"{name}","Target":"/seed","ReadOnly":true,"VolumeOptions":{{"Subpath":"seed"}}}},
               {{"Type":"tmpfs","Target":"/tmp","TmpfsOptions":{{"SizeBytes":65536}}}}]"#
        );
        let inputs = MountInputs {
            mounts: serde_json::from_str(&mounts).unwrap(),
            binds: vec![format!("{}:/host:ro", host.display())],
            image_volumes: vec!["/var/cache".into()],
            ..Default::default()
        };
        let reqs = spec::parse(&inputs).unwrap();
        let created = t.store.prepare(&reqs, &catalog, Stage::Create).unwrap().created;
        catalog.extend(created.into_iter().map(|v| (v.name.clone(), v)));
        let p = t
            .store
            .prepare(&reqs, &catalog, Stage::Start { rootfs: &rootfs })
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(t.store.path(&name).join("seed")).unwrap(),
            "seed",
            "cycle {i}: copy-up"
        );
        {
            let guards: Vec<MountGuard> = p
                .mounts
                .iter()
                .enumerate()
                .map(|(k, m)| {
                    let target = if m.source.is_file() {
                        let f = t.dir("ctr").join(format!("{k}"));
                        std::fs::write(&f, "").unwrap();
                        f
                    } else {
                        t.dir(&format!("ctr/{k}"))
                    };
                    mounting::apply(m, &target).unwrap();
                    MountGuard(target)
                })
                .collect();
            let at = |dest: &str| {
                &guards[p
                    .mounts
                    .iter()
                    .position(|m| m.destination.to_str() == Some(dest))
                    .unwrap()]
                .0
            };
            write_bytes(&at("/srv").join("data"), 4096).unwrap();
            assert_eq!(
                std::fs::read_to_string(at("/seed")).unwrap(),
                "seed",
                "cycle {i}: file subpath"
            );
            assert_eq!(
                write_bytes(&at("/tmp").join("big"), 1 << 20),
                Err(libc::ENOSPC),
                "cycle {i}: tmpfs size"
            );
            assert_eq!(
                write_bytes(&at("/host").join("x"), 1),
                Err(libc::EROFS),
                "cycle {i}: ro bind"
            );
        }
        t.store.unpin(&p.pins).unwrap();
        assert_eq!(p.pins.len(), 1);
        for v in &p.volumes {
            t.store.unmount(v).unwrap();
            t.store.remove(v).unwrap();
            catalog.remove(v);
        }
        std::fs::remove_dir_all(t.path().join("ctr")).unwrap();
    }
    assert!(mountinfo::mounts_under(t.path()).unwrap().is_empty(), "leaked mounts");
    assert!(t.volume_dirs().is_empty(), "orphan volume dirs: {:?}", t.volume_dirs());
    assert!(t.store.orphans(&Default::default()).unwrap().is_empty());
}
