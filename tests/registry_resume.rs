//! A pull killed mid-download (kill -9 of the engine) resumes: finished blobs are not fetched again and
//! the partial blob continues with a range request.

mod engine_support;
mod registry_support;
use registry_support::*;
use std::time::Duration;

#[test]
fn killed_pull_resumes_without_refetching_finished_blobs() {
    if !require_root("killed_pull_resumes_without_refetching_finished_blobs") {
        return;
    }
    let reg = LocalRegistry::start();
    let e = Engine::start();
    let tmp = tempfile::tempdir().unwrap();
    let big = 12 << 20;
    let archive = make_archive(
        tmp.path(),
        "resume:1",
        &[
            vec![("small", random_bytes(64 << 10))],
            vec![("big", random_bytes(big))],
        ],
    );
    e.load_as(&archive, "resume:1", &format!("{}/r/img:1", reg.addr));
    e.berth(&["image", "push", &format!("{}/r/img:1", reg.addr)]);
    let layers = manifest_layers(&reg.get_manifest("r/img", "1"));
    let (small, large) = (&layers[0], &layers[1]);

    // Every connection stops after 4 MiB: the small blob completes, the big one cannot, whatever the load.
    let proxy = SlowProxy::start(&reg.addr, 0);
    proxy.cap.store(4 << 20, std::sync::atomic::Ordering::Relaxed);
    let p = Engine::start();
    let name = format!("{}/r/img:1", proxy.addr);
    let mut child = std::process::Command::new(berth_bin())
        .args(["image", "pull", &name])
        .env("BERTH_ROOT", &p.root)
        .env("BERTH_HOST", format!("unix://{}", p.socket.display()))
        .env("DOCKER_CONFIG", p.docker_config())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let large_hex = large.trim_start_matches("sha256:").to_owned();
    let small_hex = small.trim_start_matches("sha256:").to_owned();
    // Held at the cap: the partial file reaches (nearly) 4 MiB and stays; the small blob is done.
    let midway = eventually(Duration::from_secs(60), || {
        p.partials().iter().any(|(n, len)| *n == large_hex && *len >= 3 << 20)
            && p.finished_downloads().contains(&small_hex)
    });
    assert!(
        midway,
        "download never got midway: partial {:?}, finished {:?}",
        p.partials(),
        p.finished_downloads()
    );
    nix_kill(p.pid());
    let _ = child.wait();
    let partial_len = p
        .partials()
        .iter()
        .find(|(n, _)| *n == large_hex)
        .map(|(_, l)| *l)
        .unwrap_or(0);
    assert!(
        partial_len >= 3 << 20 && partial_len < big as u64,
        "partial blob: {partial_len}"
    );

    // Restart and pull again at full speed.
    proxy.cap.store(0, std::sync::atomic::Ordering::Relaxed);
    p.berth(&["engine", "start"]);
    p.berth(&["image", "pull", &name]);
    assert!(p.inspect(&name, "{{.Id}}").is_some());
    assert_eq!(
        reg.blob_gets(small).len(),
        1,
        "finished blob fetched again: {:?}",
        reg.blob_gets(small)
    );
    // The proxy saw every request when it was sent; the registry's log lists the cut-off response only when
    // its blocked write fails, which once took more than a minute, so the requests are counted at the proxy.
    assert_eq!(proxy.blob_gets(small).len(), 1, "finished blob requested again");
    let gets = proxy.blob_gets(large);
    assert_eq!(gets.len(), 2, "large blob requests: {gets:?}");
    let start = gets[1]
        .range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<u64>().ok());
    let start = start.unwrap_or_else(|| panic!("second fetch is not an open range request: {gets:?}"));
    assert!(
        (3 << 20..=partial_len).contains(&start),
        "resumed at {start}, partial file held {partial_len}"
    );
    // The resumed response completed, so the registry logs it: it sent the rest and no more. (The cut-off
    // first response may be listed too, whenever its write fails.)
    let rest = std::fs::metadata(reg.blob_file(large)).unwrap().len() - start;
    assert!(
        eventually(Duration::from_secs(60), || reg
            .blob_gets(large)
            .iter()
            .any(|h| h.status == 206 && h.written == rest)),
        "no range response of the remaining {rest} bytes in the registry's log: {:?}",
        reg.blob_gets(large)
    );
    assert!(
        p.partials().is_empty() && p.finished_downloads().is_empty(),
        "download area not emptied"
    );
    let lower = p.inspect(&name, "{{.GraphDriver.Data.LowerDir}}").unwrap();
    let sizes: Vec<u64> = lower
        .split(':')
        .filter_map(|d| std::fs::metadata(format!("{d}/big")).ok())
        .map(|m| m.len())
        .collect();
    assert_eq!(sizes, vec![big as u64], "unpacked big file");
}

fn nix_kill(pid: i32) {
    let st = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}
