//! Privileged tests of copy-up: image files seed an empty volume with owners, modes, links, xattrs.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use common::{require_root, unique, TestStore};
use volumes::spec::{self, MountInputs};
use volumes::{Stage, Volume, VolumeName};

type Catalog = BTreeMap<VolumeName, Volume>;

/// An image-like rootfs with /etc/app holding files of several owners and kinds.
fn make_rootfs(root: &Path) {
    let app = root.join("etc/app");
    std::fs::create_dir_all(app.join("conf.d")).unwrap();
    std::fs::write(app.join("app.conf"), "port=80\n").unwrap();
    std::fs::write(app.join("secret"), "s3cr3t").unwrap();
    std::fs::write(app.join("conf.d/extra.conf"), "x=1\n").unwrap();
    std::fs::copy("/proc/self/exe", app.join("tool")).unwrap();
    std::os::unix::fs::chown(app.join("secret"), Some(1234), Some(5678)).unwrap();
    std::fs::set_permissions(app.join("secret"), std::fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::chown(app.join("tool"), Some(0), Some(0)).unwrap();
    std::fs::set_permissions(app.join("tool"), std::fs::Permissions::from_mode(0o4755)).unwrap();
    std::os::unix::fs::chown(&app, Some(999), Some(998)).unwrap();
    std::fs::set_permissions(&app, std::fs::Permissions::from_mode(0o750)).unwrap();
    std::os::unix::fs::symlink("app.conf", app.join("current.conf")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", app.join("abs-link")).unwrap();
    std::os::unix::fs::lchown(app.join("abs-link"), Some(42), Some(43)).unwrap();
    std::fs::hard_link(app.join("app.conf"), app.join("hard.conf")).unwrap();
    nix::unistd::mkfifo(&app.join("fifo"), nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let set = std::process::Command::new("setfattr")
        .args(["-n", "user.berth", "-v", "yes"])
        .arg(app.join("app.conf"))
        .status();
    if !set.is_ok_and(|s| s.success()) {
        xattr_set(&app.join("app.conf"));
    }
    // An absolute symlink in the image must resolve inside the rootfs, not on the host.
    std::os::unix::fs::symlink("/etc/app", root.join("applink")).unwrap();
}

fn xattr_set(path: &Path) {
    let p = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: valid C strings and value buffer.
    let rc = unsafe { libc::lsetxattr(p.as_ptr(), c"user.berth".as_ptr(), b"yes".as_ptr().cast(), 3, 0) };
    assert_eq!(rc, 0, "set xattr: {}", std::io::Error::last_os_error());
}

fn xattr_get(path: &Path) -> Option<Vec<u8>> {
    let p = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    let mut buf = [0u8; 64];
    // SAFETY: valid C strings and a buffer of the given size.
    let n = unsafe { libc::lgetxattr(p.as_ptr(), c"user.berth".as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (n >= 0).then(|| buf[..n as usize].to_vec())
}

fn start(t: &TestStore, binds: Vec<String>, rootfs: &Path) -> volumes::Prepared {
    let reqs = spec::parse(&MountInputs {
        binds,
        ..Default::default()
    })
    .unwrap();
    t.store
        .prepare(&reqs, &Catalog::new(), Stage::Start { rootfs })
        .unwrap()
}

#[test]
fn copy_up_keeps_owners_modes_links_and_xattrs() {
    if !require_root("copy_up_keeps_owners_modes_links_and_xattrs") {
        return;
    }
    let t = TestStore::new();
    let rootfs = t.dir("rootfs");
    make_rootfs(&rootfs);
    let name = unique("app");
    let p = start(&t, vec![format!("{name}:/etc/app")], &rootfs);
    assert_eq!(p.created.len(), 1);
    let data = t.store.path(&name);
    let meta = |rel: &str| std::fs::symlink_metadata(data.join(rel)).unwrap();
    let root_meta = std::fs::metadata(&data).unwrap();
    assert_eq!(
        (root_meta.uid(), root_meta.gid(), root_meta.mode() & 0o7777),
        (999, 998, 0o750),
        "volume root takes the image dir's owner/mode"
    );
    assert_eq!(std::fs::read_to_string(data.join("app.conf")).unwrap(), "port=80\n");
    assert_eq!(
        std::fs::read_to_string(data.join("conf.d/extra.conf")).unwrap(),
        "x=1\n"
    );
    let secret = meta("secret");
    assert_eq!(
        (secret.uid(), secret.gid(), secret.mode() & 0o7777),
        (1234, 5678, 0o640)
    );
    assert_eq!(meta("tool").mode() & 0o7777, 0o4755, "setuid survives the chown");
    assert_eq!(
        std::fs::read_link(data.join("current.conf")).unwrap(),
        Path::new("app.conf")
    );
    assert_eq!(
        std::fs::read_link(data.join("abs-link")).unwrap(),
        Path::new("/etc/passwd")
    );
    assert_eq!((meta("abs-link").uid(), meta("abs-link").gid()), (42, 43));
    assert_eq!(
        meta("hard.conf").ino(),
        meta("app.conf").ino(),
        "hard links stay linked"
    );
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&meta("fifo").file_type()));
    assert_eq!(
        meta("app.conf").mtime(),
        std::fs::metadata(rootfs.join("etc/app/app.conf")).unwrap().mtime()
    );
    assert_eq!(xattr_get(&data.join("app.conf")).as_deref(), Some(&b"yes"[..]));

    // Second start: the volume is not empty any more, the user's changes stay.
    std::fs::remove_file(data.join("app.conf")).unwrap();
    std::fs::write(data.join("mine"), "user data").unwrap();
    let catalog: Catalog = p.created.iter().map(|v| (v.name.clone(), v.clone())).collect();
    let reqs = spec::parse(&MountInputs {
        binds: vec![format!("{name}:/etc/app")],
        ..Default::default()
    })
    .unwrap();
    t.store
        .prepare(&reqs, &catalog, Stage::Start { rootfs: &rootfs })
        .unwrap();
    assert!(!data.join("app.conf").exists());
    assert_eq!(std::fs::read_to_string(data.join("mine")).unwrap(), "user data");
}

#[test]
fn nocopy_and_binds_get_nothing() {
    if !require_root("nocopy_and_binds_get_nothing") {
        return;
    }
    let t = TestStore::new();
    let rootfs = t.dir("rootfs");
    make_rootfs(&rootfs);
    let host = t.dir("hostdir");
    let name = unique("nocopy");
    start(
        &t,
        vec![
            format!("{name}:/etc/app:nocopy"),
            format!("{}:/etc/app/conf.d", host.display()),
        ],
        &rootfs,
    );
    assert_eq!(std::fs::read_dir(t.store.path(&name)).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(&host).unwrap().count(), 0);
}

#[test]
fn image_symlinks_resolve_inside_the_rootfs() {
    if !require_root("image_symlinks_resolve_inside_the_rootfs") {
        return;
    }
    let t = TestStore::new();
    let rootfs = t.dir("rootfs");
    make_rootfs(&rootfs);
    // /applink -> /etc/app inside the image; the anonymous volume from `VOLUME /applink` gets its files.
    let reqs = spec::parse(&MountInputs {
        image_volumes: vec!["/applink".into()],
        ..Default::default()
    })
    .unwrap();
    let p = t
        .store
        .prepare(&reqs, &Catalog::new(), Stage::Start { rootfs: &rootfs })
        .unwrap();
    assert!(p.created[0].is_anonymous());
    assert!(t.store.path(&p.created[0].name).join("app.conf").is_file());
    // A link pointing at a host path that exists only outside the rootfs copies nothing from the host.
    std::os::unix::fs::symlink("/proc/self", rootfs.join("hostlink")).unwrap();
    let reqs = spec::parse(&MountInputs {
        image_volumes: vec!["/hostlink".into()],
        ..Default::default()
    })
    .unwrap();
    let p = t
        .store
        .prepare(&reqs, &Catalog::new(), Stage::Start { rootfs: &rootfs })
        .unwrap();
    assert_eq!(std::fs::read_dir(t.store.path(&p.created[0].name)).unwrap().count(), 0);
}

#[test]
fn empty_image_dir_still_gives_owner_and_mode() {
    if !require_root("empty_image_dir_still_gives_owner_and_mode") {
        return;
    }
    let t = TestStore::new();
    let rootfs = t.dir("rootfs");
    let home = t.dir("rootfs/root");
    std::os::unix::fs::chown(&home, Some(1000), Some(1000)).unwrap();
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
    let name = unique("home");
    start(&t, vec![format!("{name}:/root")], &rootfs);
    let meta = std::fs::metadata(t.store.path(&name)).unwrap();
    assert_eq!((meta.uid(), meta.gid(), meta.mode() & 0o7777), (1000, 1000, 0o700));
    assert_eq!(std::fs::read_dir(t.store.path(&name)).unwrap().count(), 0);
}
