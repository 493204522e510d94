//! `berth image pull|push` and `berth login|logout`: through the engine's API, with credentials from
//! the docker CLI's config.json and per-layer progress bars on a terminal (plain lines otherwise).

use super::GlobalArgs;
use crate::orchestrator::credentials::for_registry as credentials_for;
use anyhow::{bail, Context};
use bollard::models::{ErrorDetail, ProgressDetail};
use bollard::query_parameters::{CreateImageOptions, PushImageOptions};
use bollard::Docker;
use clap::Args;
use futures::{Stream, StreamExt};
use imageref::credentials::{self as auth, Credentials, DockerConfig};
use imageref::ImageRef;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::io::{IsTerminal, Read};
use std::process::ExitCode;

/// `berth image pull`.
#[derive(Args, Debug)]
pub struct PullArgs {
    /// Image reference (`redis`, `redis:7`, `host:5000/app@sha256:...`).
    pub reference: String,
    /// Platform to pick from a multi-platform image (`linux/amd64`).
    #[arg(long)]
    pub platform: Option<String>,
    /// Print only the final image name.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `berth image push`.
#[derive(Args, Debug)]
pub struct PushArgs {
    /// Image reference to push (`host:5000/app:1`).
    pub reference: String,
    /// Print only errors.
    #[arg(short, long)]
    pub quiet: bool,
}

/// `berth login`.
#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Registry (`host[:port]`; default Docker Hub).
    pub server: Option<String>,
    /// User name.
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password (prefer --password-stdin).
    #[arg(long)]
    pub password: Option<String>,
    /// Read the password from stdin.
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
}

/// `berth logout`.
#[derive(Args, Debug)]
pub struct LogoutArgs {
    /// Registry (`host[:port]`; default Docker Hub).
    pub server: Option<String>,
}

fn parse_ref(s: &str) -> anyhow::Result<ImageRef> {
    ImageRef::parse(s).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Pulls an image.
pub async fn pull(docker: &Docker, args: PullArgs) -> anyhow::Result<ExitCode> {
    let r = parse_ref(&args.reference)?;
    let (from_image, tag) = match (&r.digest, &r.tag) {
        (Some(d), _) => (r.name(), d.clone()),
        (None, t) => (r.name(), t.clone().unwrap_or_else(|| "latest".into())),
    };
    let opts = CreateImageOptions {
        from_image: Some(from_image),
        tag: Some(tag),
        platform: args.platform.clone().unwrap_or_default(),
        ..Default::default()
    };
    let stream = docker
        .create_image(Some(opts), None, credentials_for(&r.registry)?)
        .map(|m| {
            m.map(|m| Msg {
                id: m.id,
                status: m.status,
                detail: m.progress_detail,
                error: m.error_detail,
            })
        });
    render(stream, args.quiet, &format!("pulling {}", args.reference)).await?;
    if args.quiet {
        println!("{r}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Pushes an image.
pub async fn push(docker: &Docker, args: PushArgs) -> anyhow::Result<ExitCode> {
    let r = parse_ref(&args.reference)?;
    // bollard's push messages carry no layer id, so push shows status lines only.
    let opts = PushImageOptions {
        tag: r.tag.clone(),
        ..Default::default()
    };
    let stream = docker
        .push_image(&r.name(), Some(opts), credentials_for(&r.registry)?)
        .map(|m| {
            m.map(|m| Msg {
                id: None,
                status: m.status,
                detail: m.progress_detail,
                error: m.error_detail,
            })
        });
    render(stream, args.quiet, &format!("pushing {}", args.reference)).await?;
    Ok(ExitCode::SUCCESS)
}

/// A progress message of either stream.
struct Msg {
    id: Option<String>,
    status: Option<String>,
    detail: Option<ProgressDetail>,
    error: Option<ErrorDetail>,
}

/// Shows progress: one bar per layer on a terminal, status changes as lines otherwise.
async fn render(
    stream: impl Stream<Item = Result<Msg, bollard::errors::Error>>,
    quiet: bool,
    what: &str,
) -> anyhow::Result<()> {
    let tty = std::io::stdout().is_terminal() && !quiet;
    let multi = MultiProgress::new();
    let mut bars: HashMap<String, ProgressBar> = HashMap::new();
    let mut last: HashMap<String, String> = HashMap::new();
    let style = ProgressStyle::with_template("{prefix}: {msg:<18} [{bar:30}] {bytes}/{total_bytes}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    let mut stream = std::pin::pin!(stream);
    while let Some(m) = stream.next().await {
        let m = m.with_context(|| what.to_owned())?;
        if let Some(e) = m.error.and_then(|e| e.message) {
            bail!("{what}: {e}");
        }
        let status = m.status.unwrap_or_default();
        let (current, total) = m
            .detail
            .map(|d| (d.current.unwrap_or(0), d.total.unwrap_or(0)))
            .unwrap_or((0, 0));
        match m.id.filter(|id| m_is_layer(id, &status)) {
            Some(id) if tty => {
                let bar = bars.entry(id.clone()).or_insert_with(|| {
                    let b = multi.add(ProgressBar::new(0));
                    b.set_style(style.clone());
                    b.set_prefix(id.clone());
                    b
                });
                if total > 0 {
                    bar.set_length(total as u64);
                    bar.set_position(current as u64);
                }
                bar.set_message(status.clone());
                if status.ends_with("complete")
                    || status == "Already exists"
                    || status == "Pushed"
                    || status == "Layer already exists"
                {
                    bar.finish();
                }
            }
            Some(id) if !quiet && last.get(&id) != Some(&status) => {
                println!("{id}: {status}");
                last.insert(id, status);
            }
            Some(_) => {}
            // Push messages carry no layer id: show each status once in a row.
            None if !quiet && !status.is_empty() && last.get("") != Some(&status) => {
                if tty {
                    let _ = multi.println(&status);
                } else {
                    println!("{status}");
                }
                last.insert(String::new(), status);
            }
            None => {}
        }
    }
    Ok(())
}

/// Header lines carry the tag as id (`latest: Pulling from ...`); layer lines a 12-hex id.
fn m_is_layer(id: &str, status: &str) -> bool {
    id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit()) && !status.starts_with("Pulling from")
}

/// `berth login`: checks the credentials with the engine (`POST /auth`) and stores them in config.json.
pub fn login(global: &GlobalArgs, args: LoginArgs) -> anyhow::Result<ExitCode> {
    let server = args.server.clone().unwrap_or_else(|| "docker.io".into());
    let registry = registry_host(&server);
    let username = match args.username {
        Some(u) => u,
        None => bail!("berth login: --username is required"),
    };
    let password = match (args.password, args.password_stdin) {
        (Some(_), true) => bail!("berth login: --password and --password-stdin are mutually exclusive"),
        (Some(p), false) => p,
        (None, true) => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("reading the password from stdin")?;
            s.trim_end_matches(['\n', '\r']).to_owned()
        }
        (None, false) => bail!("berth login: give --password-stdin (or --password)"),
    };
    let cfg = super::engine::ensure_running(global)?;
    let body = serde_json::json!({ "username": username, "password": password, "serveraddress": registry });
    let (status, answer) =
        post_json(&cfg.socket, "/auth", &body).context("asking the engine to check the credentials")?;
    if status != 200 {
        let msg = serde_json::from_slice::<serde_json::Value>(&answer)
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&answer).into_owned());
        bail!("{msg}");
    }
    let path = auth::docker_config_path().context("no HOME or DOCKER_CONFIG to store credentials in")?;
    let mut config = DockerConfig::load(&path)?;
    config.store(
        &registry,
        &Credentials {
            username,
            password,
            ..Default::default()
        },
    )?;
    println!("Login Succeeded");
    Ok(ExitCode::SUCCESS)
}

/// `berth logout`: removes stored credentials.
pub fn logout(args: LogoutArgs) -> anyhow::Result<ExitCode> {
    let registry = registry_host(args.server.as_deref().unwrap_or("docker.io"));
    let path = auth::docker_config_path().context("no HOME or DOCKER_CONFIG")?;
    let mut config = DockerConfig::load(&path)?;
    if config.erase(&registry)? {
        println!("Removing login credentials for {registry}");
    } else {
        println!("Not logged in to {registry}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `https://host:5000/v2/` → `host:5000`; Docker Hub spellings → `docker.io`.
fn registry_host(server: &str) -> String {
    let h = server
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or("");
    match h {
        "" | "index.docker.io" | "registry-1.docker.io" => "docker.io".into(),
        other => other.to_owned(),
    }
}

/// One JSON POST over the engine's unix socket (bollard has no `/auth` call).
fn post_json(socket: &std::path::Path, path: &str, body: &serde_json::Value) -> anyhow::Result<(u16, Vec<u8>)> {
    use std::io::Write;
    let mut s = std::os::unix::net::UnixStream::connect(socket)
        .with_context(|| format!("connecting to {}", socket.display()))?;
    let data = serde_json::to_vec(body)?;
    write!(s, "POST {path} HTTP/1.1\r\nHost: berth\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", data.len())?;
    s.write_all(&data)?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    let text_end = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("malformed answer from the engine")?;
    let head = String::from_utf8_lossy(&resp[..text_end]).into_owned();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("malformed status line from the engine")?;
    let mut body = resp[text_end + 4..].to_vec();
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    Ok((status, body))
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if n == 0 || b.len() < eol + 2 + n {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + n]);
        b = &b[(eol + 4 + n).min(b.len())..];
    }
    out
}
