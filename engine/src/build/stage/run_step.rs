//! RUN steps: the command, its environment and build args, and its `--mount`s made ready on the host.

use super::super::copy::{content_hash, Source};
use super::super::dockerfile::CmdForm;
use super::super::mount::{SecretDir, StepMount};
use super::super::paths::{clean, resolve};
use super::super::run_mount::{self, MountSpec};
use super::source::Src;
use super::{Builder, Done, StageDef, StageRun, StepResult, PROXY_ARGS};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

/// A RUN's mounts, ready: what the build container gets and what must live until it is gone.
#[derive(Default)]
pub(super) struct RunMounts {
    /// `host:target[:ro]` binds.
    binds: Vec<String>,
    /// tmpfs targets and options.
    tmpfs: HashMap<String, String>,
    /// Mount targets (their stubs are left out of the layer).
    targets: Vec<String>,
    /// What the cache key adds: each mount and the content it shows.
    key: String,
    /// Step mounts holding bind sources (writes to them are discarded with them).
    keep: Vec<StepMount>,
    /// Cache directories with `sharing=locked`.
    locks: Vec<PathBuf>,
    /// `KEY=value` of secrets given as variables (never part of the key or of the image).
    secret_env: Vec<String>,
    /// This RUN's tmpfs of secret files (owner and mode as each mount asks), gone when it is done.
    secrets: Option<SecretDir>,
}

impl Builder {
    /// Makes `specs` ready: bind sources on step mounts of the context or a stage, cache directories under
    /// `<root>/build/cache-mounts/`, tmpfs options, secrets the client sent; ssh (never available) refused when
    /// required.
    pub(super) async fn run_mounts(
        &self,
        specs: &[String],
        st: &StageRun,
        stages: &[StageDef],
        i: usize,
        done: &Done,
    ) -> StepResult<RunMounts> {
        let mut m = RunMounts::default();
        let vars = self.vars(st);
        for raw in specs {
            let spec = super::super::words::expand(raw, &vars, self.df.escape)?;
            let parsed = run_mount::parse(&spec).map_err(|e| e.to_string())?;
            match parsed {
                MountSpec::Bind {
                    target,
                    source,
                    from,
                    rw,
                } => {
                    let (lowers, what) = match &from {
                        None => (vec![self.ctx.clone()], "context".to_owned()),
                        Some(f) => match self.source(f, stages, i, done, &st.out).await? {
                            (Src::Dir(d), what) => (vec![d], what),
                            (Src::Image(img), _) => {
                                let lowers = img.lower_dirs(&self.engine.images).map_err(|e| e.to_string())?;
                                (lowers, img.id.unwrap_or_default())
                            }
                        },
                    };
                    let root = self.engine.config.root.clone();
                    let (sm, host, hash) = tokio::task::spawn_blocking(move || -> StepResult<_> {
                        let sm = StepMount::new(&root, lowers).map_err(|e| e.to_string())?;
                        let host = resolve(&sm.rootfs, &clean(&source).0, true).map_err(|e| e.to_string())?;
                        if host.symlink_metadata().is_err() {
                            return Err(format!("--mount source {source} not found in the {what}"));
                        }
                        let src = Source::Path {
                            host: host.clone(),
                            name: String::new(),
                        };
                        let hash = content_hash(&[src]).map_err(|e| e.to_string())?;
                        Ok((sm, host, format!("{what}:{hash}")))
                    })
                    .await
                    .map_err(|e| e.to_string())??;
                    m.binds
                        .push(format!("{}:{target}{}", host.display(), if rw { "" } else { ":ro" }));
                    m.key.push_str(&format!("bind {target} {rw} {hash}\n"));
                    m.keep.push(sm);
                    m.targets.push(target);
                }
                MountSpec::Cache {
                    target,
                    id,
                    ro,
                    locked,
                    mode,
                    uid,
                    gid,
                } => {
                    let dir = self.cache_dir(&id, mode, uid, gid)?;
                    m.binds
                        .push(format!("{}:{target}{}", dir.display(), if ro { ":ro" } else { "" }));
                    // The cache's content is not part of the key: it is a cache, as with BuildKit.
                    m.key.push_str(&format!("cache {target} {id} {ro}\n"));
                    if locked {
                        m.locks.push(dir);
                    }
                    m.targets.push(target);
                }
                MountSpec::Tmpfs { target, size } => {
                    let opts = size.map(|s| format!("size={s}")).unwrap_or_default();
                    m.key.push_str(&format!("tmpfs {target} {opts}\n"));
                    m.tmpfs.insert(target.clone(), opts);
                    m.targets.push(target);
                }
                MountSpec::Secret {
                    id,
                    target,
                    env,
                    required,
                    uid,
                    gid,
                    mode,
                } => {
                    let Some(secret) = self.ext.secrets.get(&id) else {
                        if required {
                            return Err(format!(
                                "secret {id}: required, but the build was not given it (Compose: list it in the service's build.secrets)"
                            ));
                        }
                        continue;
                    };
                    // The content is not part of the key (as with BuildKit): a changed secret reuses the step.
                    m.key
                        .push_str(&format!("secret {id} {target:?} {env:?} {uid:?} {gid:?} {mode:?}\n"));
                    if let Some(var) = env {
                        m.secret_env
                            .push(format!("{var}={}", String::from_utf8_lossy(&secret.data)));
                    }
                    if let Some(target) = target {
                        let owner = (
                            uid.or(secret.uid).unwrap_or(0),
                            gid.or(secret.gid).unwrap_or(0),
                            mode.or(secret.mode).unwrap_or(0o400),
                        );
                        let dir = match &mut m.secrets {
                            Some(d) => d,
                            None => m.secrets.insert(self.secret_dir()?),
                        };
                        let file = dir.add(&secret.data, owner).map_err(|e| format!("secret {id}: {e}"))?;
                        m.binds.push(format!("{}:{target}:ro", file.display()));
                        m.targets.push(target);
                    }
                }
                MountSpec::Ssh { id, required } => {
                    if required {
                        return Err(format!(
                            "ssh {id}: required, but berth's builder has no SSH agent forwarding (use BuildKit)"
                        ));
                    }
                }
            }
        }
        Ok(m)
    }

    /// A tmpfs for this RUN's secret files, large enough for every secret of the build.
    fn secret_dir(&self) -> StepResult<SecretDir> {
        let size = self.ext.secrets.values().map(|s| s.data.len() + 4096).sum();
        SecretDir::new(&self.engine.config.root, size).map_err(|e| e.to_string())
    }

    /// The host directory of cache mount `id`, made with `mode`, `uid` and `gid` the first time.
    fn cache_dir(&self, id: &str, mode: u32, uid: u32, gid: u32) -> StepResult<PathBuf> {
        use sha2::Digest;
        let name = hex::encode(sha2::Sha256::digest(id.as_bytes()));
        let dir = self.engine.config.root.join("build").join("cache-mounts").join(name);
        if !dir.exists() {
            let tmp = dir.with_extension(format!("{:x}", rand::random::<u32>()));
            let made = std::fs::create_dir_all(&tmp)
                .and_then(|_| {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
                })
                .and_then(|_| std::os::unix::fs::chown(&tmp, Some(uid), Some(gid)));
            // Another RUN may have made it meanwhile: its directory wins.
            if made.is_err() || std::fs::rename(&tmp, &dir).is_err() {
                let _ = std::fs::remove_dir(&tmp);
            }
        }
        if !dir.is_dir() {
            return Err(format!("making the cache mount {id} in {}", dir.display()));
        }
        Ok(dir)
    }

    pub(super) async fn run_cmd(
        &self,
        cmd: &CmdForm,
        heredocs: &[(String, bool)],
        network: Option<String>,
        mut mounts: RunMounts,
        st: &mut StageRun,
    ) -> StepResult<()> {
        let cfg = st.img.file.config.clone();
        let keep = (std::mem::take(&mut mounts.keep), mounts.secrets.take());
        let form = match (cmd, heredocs.first()) {
            // `RUN <<EOF` (the parser leaves the rest of the line, usually nothing): the body is the script, run by
            // the shell as BuildKit does.
            (CmdForm::Shell(s), Some((body, _)))
                if heredocs.len() == 1 && (s.trim().is_empty() || s.trim_start().starts_with("<<")) =>
            {
                CmdForm::Shell(body.clone())
            }
            _ => cmd.clone(),
        };
        let argv = super::meta::argv(&form, &cfg);
        let mut env = cfg.env.clone().unwrap_or_default();
        let in_env = |env: &[String], k: &str| env.iter().any(|e| e.split_once('=').map(|(a, _)| a) == Some(k));
        // The build args the RUN sees (ENV shadows them): declared ones with a value, and proxies given.
        let mut allowed = Vec::new();
        for (k, v) in &st.args {
            if let (Some(v), false) = (v, in_env(&env, k)) {
                allowed.push((k.clone(), v.clone(), true));
            }
        }
        for p in PROXY_ARGS {
            if let (Some(v), false) = (self.arg_value(p), allowed.iter().any(|(k, _, _)| k == p)) {
                allowed.push(((*p).to_owned(), v, false));
            }
        }
        for (k, v, _) in &allowed {
            if !in_env(&env, k) {
                env.push(format!("{k}={v}"));
            }
        }
        let created_by = created_by(&allowed, &argv);
        let key = super::cache::key(
            st.img.id.as_deref(),
            &[
                "run",
                &serde_json::to_string(&(&argv, &env, &network)).unwrap_or_default(),
                &mounts.key,
            ],
        );
        let (opts, out) = (self.opts.clone(), st.out.clone());
        env.append(&mut mounts.secret_env);
        let spec = super::super::run::RunSpec {
            argv: argv.clone(),
            env,
            network,
            binds: mounts.binds.clone(),
            tmpfs: mounts.tmpfs.clone(),
            stubs: mounts.targets.clone(),
        };
        // As dockerd's classic builder words it (clients match on this text).
        let shown = argv.join(" ");
        let result = self
            .step_with(st, key, cfg, created_by, move |engine, parent| async move {
                let _locks = lock_all(&mounts.locks).await;
                super::super::run::run(&engine, &opts, &parent, spec, &out)
                    .await
                    .map_err(|e| format!("The command '{shown}' {e}"))
            })
            .await;
        drop(keep);
        result
    }
}

/// The history text of a RUN as dockerd writes it: with build args in sight, `|N K=V... cmd` listing them
/// sorted, proxies only when declared with ARG (so `|0 cmd` when only proxies were given).
fn created_by(allowed: &[(String, String, bool)], argv: &[String]) -> String {
    if allowed.is_empty() {
        return argv.join(" ");
    }
    let mut shown: Vec<String> = allowed
        .iter()
        .filter(|(k, _, declared)| *declared || !PROXY_ARGS.contains(&k.as_str()))
        .map(|(k, v, _)| format!("{k}={v}"))
        .collect();
    shown.sort();
    let mut words = vec![format!("|{}", shown.len())];
    words.extend(shown);
    words.extend(argv.iter().cloned());
    words.join(" ")
}

/// Holds the locks of `sharing=locked` cache directories (in a stable order, so two RUNs cannot deadlock).
async fn lock_all(dirs: &[PathBuf]) -> Vec<tokio::sync::OwnedMutexGuard<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    let mut dirs = dirs.to_vec();
    dirs.sort();
    dirs.dedup();
    let mut guards = Vec::new();
    for d in dirs {
        let lock = {
            let mut map = LOCKS
                .get_or_init(Default::default)
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            map.entry(d).or_default().clone()
        };
        guards.push(lock.lock_owned().await);
    }
    guards
}
