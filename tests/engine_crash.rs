//! kill -9 of the engine in a loop of creates and removes: afterwards no leaked mounts, cgroups, processes or rows.

mod engine_support;

use engine_support::{cgroups_of, mounts_under, processes_mentioning, require_root, Engine};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn bundle_ids(root: &std::path::Path) -> Vec<String> {
    ["runtime", "run"]
        .iter()
        .filter_map(|d| std::fs::read_dir(root.join(d)).ok())
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.len() == 64)
        .collect()
}

#[test]
fn kill_9_in_create_remove_loop_leaks_nothing() {
    if !require_root("kill_9_in_create_remove_loop_leaks_nothing") {
        return;
    }
    let e = Arc::new(Engine::start());
    e.load_busybox();
    let seen: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    for round in 0..20u64 {
        let stop = Arc::new(AtomicBool::new(false));
        let worker = {
            let (e, stop, seen) = (e.clone(), stop.clone(), seen.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let out = e.docker_raw(&["run", "-d", "--label", "crash=1", "busybox", "sleep", "30"]);
                    let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                    if id.len() == 64 {
                        seen.lock().unwrap().insert(id.clone());
                        let _ = e.docker_raw(&["rm", "-f", &id]);
                    }
                }
            })
        };
        std::thread::sleep(Duration::from_millis(150 + (round * 37) % 300));
        seen.lock().unwrap().extend(bundle_ids(&e.root));
        nix_kill9(e.pid());
        stop.store(true, Ordering::Relaxed);
        worker.join().unwrap();
        seen.lock().unwrap().extend(bundle_ids(&e.root));
        e.berth(&["engine", "start"]);
    }
    // Whatever survived is a normal container now: the engine must list and remove it.
    for id in e.docker(&["ps", "-aq", "--no-trunc"]).split_whitespace() {
        seen.lock().unwrap().insert(id.to_owned());
        e.docker(&["rm", "-f", id]);
    }
    let ids: Vec<String> = seen.lock().unwrap().iter().cloned().collect();
    assert!(ids.len() >= 20, "the loop made only {} containers", ids.len());
    e.berth(&["engine", "stop"]);

    let mounts = mounts_under(&e.root);
    assert!(mounts.is_empty(), "leaked mounts: {mounts:?}");
    let cgroups = cgroups_of(&ids);
    assert!(cgroups.is_empty(), "leaked cgroups: {cgroups:?}");
    let procs = processes_mentioning(&e.root.to_string_lossy());
    assert!(procs.is_empty(), "leaked processes: {procs:?}");
    assert!(
        bundle_ids(&e.root).is_empty(),
        "leaked bundles: {:?}",
        bundle_ids(&e.root)
    );
    let db = engine::state::StateDb::open(&e.root.join("state.redb")).unwrap();
    let counts = db.counts().unwrap();
    assert_eq!(
        (counts.containers, counts.names),
        (0, 0),
        "leaked state rows: {counts:?}"
    );
    assert_eq!(counts.images, 1, "the busybox image row must stay");
}

fn nix_kill9(pid: i32) {
    let st = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success(), "kill -9 {pid} failed");
    // Wait until the process is gone so the next start does not race with its exit.
    for _ in 0..200 {
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
