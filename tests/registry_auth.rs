//! Registries with htpasswd auth: login, pull and push with credentials, refusals that store nothing.

mod engine_support;
mod registry_support;
use registry_support::*;

fn login(e: &Engine, reg: &LocalRegistry, user: &str, password: &str) -> std::process::Output {
    use std::io::Write;
    let mut c = std::process::Command::new(berth_bin());
    c.args(["login", &reg.addr, "-u", user, "--password-stdin"])
        .env("BERTH_ROOT", &e.root)
        .env("BERTH_HOST", format!("unix://{}", e.socket.display()))
        .env("DOCKER_CONFIG", e.docker_config())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn auth_is_required_and_honoured() {
    if !require_root("auth_is_required_and_honoured") {
        return;
    }
    let reg = LocalRegistry::start_with_auth("alice", "s3cret-pw");
    let a = Engine::start();
    a.berth(&["image", "load", "-i", busybox_tar().to_str().unwrap()]);
    let name = format!("{}/private/busybox:1", reg.addr);
    a.docker(&["tag", "busybox:latest", &name]);

    // Without credentials the registry refuses the push.
    let out = a.berth_raw(&["image", "push", &name]);
    assert!(!out.status.success(), "push without credentials succeeded");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unauthorized"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A wrong password is refused at login and not stored.
    let out = login(&a, &reg, "alice", "wrong");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("incorrect username or password"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !a.docker_config().join("config.json").exists(),
        "credentials stored after a failed login"
    );

    let out = login(&a, &reg, "alice", "s3cret-pw");
    assert!(out.status.success(), "login: {}", String::from_utf8_lossy(&out.stderr));
    let cfg = std::fs::read_to_string(a.docker_config().join("config.json")).unwrap();
    assert!(cfg.contains(&reg.addr), "config.json lacks the registry: {cfg}");
    a.berth(&["image", "push", &name]);

    // Another engine and user: anonymous pull is refused, nothing stored.
    let b = Engine::start();
    let out = b.berth_raw(&["image", "pull", &name]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("unauthorized"),
        "anonymous pull: {err}"
    );
    assert!(b.blobs().is_empty() && b.layers().is_empty() && b.inspect(&name, "{{.Id}}").is_none());

    // Wrong password in config.json: a clear error, nothing stored.
    std::fs::create_dir_all(b.docker_config()).unwrap();
    let bad = serde_json::json!({"auths": {reg.addr.clone(): {"auth": "YWxpY2U6bm9wZQ=="}}}); // alice:nope
    std::fs::write(b.docker_config().join("config.json"), bad.to_string()).unwrap();
    let out = b.berth_raw(&["image", "pull", &name]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("incorrect username or password"),
        "wrong password: {err}"
    );
    assert!(b.blobs().is_empty() && b.layers().is_empty() && b.inspect(&name, "{{.Id}}").is_none());
    assert!(b.partials().is_empty() && b.finished_downloads().is_empty());

    // The docker CLI's own login and pull through berth work too.
    let out = b.docker_raw(&["login", &reg.addr, "-u", "alice", "--password", "s3cret-pw"]);
    assert!(
        out.status.success(),
        "docker login: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    b.docker(&["pull", &name]);
    assert_eq!(b.inspect(&name, "{{.Id}}"), a.inspect("busybox:latest", "{{.Id}}"));

    // logout forgets the credentials.
    a.berth(&["logout", &reg.addr]);
    assert!(!std::fs::read_to_string(a.docker_config().join("config.json"))
        .unwrap()
        .contains(&reg.addr));
}
