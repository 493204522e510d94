//! Secrets and configs mounted as files, as Docker Compose does on a single engine: a file-based one is
//! bind-mounted read-only from the host; one given by `content:` or `environment:` (or a file whose owner or
//! mode the service sets) is written under the project's state directory first and bind-mounted from there.
//! Secrets land at `/run/secrets/<target>`, configs at `/<target>` (target defaults to the source name).

use anyhow::{bail, Context, Result};
use bollard::models::{Mount, MountType};
use compose::model::{FileObject, FileRef};
use indexmap::IndexMap;
use std::collections::BTreeMap;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Which kind of file a definition is (they differ in where they land and in error paths).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `secrets:`.
    Secret,
    /// `configs:`.
    Config,
}

impl Kind {
    fn key(self) -> &'static str {
        match self {
            Kind::Secret => "secrets",
            Kind::Config => "configs",
        }
    }

    /// The in-container path of `target` (absolute targets are kept).
    fn target_path(self, target: &str) -> String {
        if target.starts_with('/') {
            return target.to_owned();
        }
        match self {
            Kind::Secret => format!("/run/secrets/{target}"),
            Kind::Config => format!("/{target}"),
        }
    }
}

/// Where a mounted file's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A host file, bind-mounted as it is.
    HostFile(PathBuf),
    /// Bytes berth writes (content, an environment value, or a host file copied to set owner/mode).
    Bytes(Vec<u8>),
}

/// A file berth writes before creating containers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedFile {
    /// Host path under the project's state directory.
    pub path: PathBuf,
    /// Contents.
    pub bytes: Vec<u8>,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
    /// Permission bits.
    pub mode: u32,
}

/// The declared secrets and configs of a project, checked.
#[derive(Debug, Default)]
pub struct Catalog {
    secrets: BTreeMap<String, Source>,
    configs: BTreeMap<String, Source>,
    /// Project state directory for staged files.
    state_dir: PathBuf,
}

impl Catalog {
    /// Reads the top-level `secrets:` and `configs:` of a project, refusing what has no meaning
    /// on one engine (external, drivers, templates) by key. `env` is the loader's environment.
    pub fn new(
        project: &str,
        secrets: &IndexMap<String, FileObject>,
        configs: &IndexMap<String, FileObject>,
        env: &IndexMap<String, String>,
        working_dir: &Path,
    ) -> Result<Catalog> {
        Ok(Catalog {
            secrets: definitions(Kind::Secret, secrets, env, working_dir)?,
            configs: definitions(Kind::Config, configs, env, working_dir)?,
            state_dir: state_dir(project),
        })
    }

    /// The source of top-level secret `name`, when declared.
    pub fn secret(&self, name: &str) -> Option<&Source> {
        self.secrets.get(name)
    }

    /// Mounts for one service's `secrets:` or `configs:` list, plus the files to stage for them.
    pub fn mounts(&self, service: &str, kind: Kind, refs: &[FileRef]) -> Result<(Vec<Mount>, Vec<StagedFile>)> {
        let mut mounts = Vec::new();
        let mut staged = Vec::new();
        let table = match kind {
            Kind::Secret => &self.secrets,
            Kind::Config => &self.configs,
        };
        for (i, r) in refs.iter().enumerate() {
            let at = format!("services.{service}.{}[{i}]", kind.key());
            let source = table.get(&r.source).with_context(|| {
                format!(
                    "{at}.source: {:?} is not declared in the top-level {}",
                    r.source,
                    kind.key()
                )
            })?;
            let target = kind.target_path(r.target.as_deref().unwrap_or(&r.source));
            let host = match (source, owner_and_mode(r, &at)?) {
                (Source::HostFile(path), None) => path.clone(),
                (source, meta) => {
                    let (uid, gid, mode) = meta.unwrap_or((0, 0, 0o444));
                    let bytes = match source {
                        Source::Bytes(b) => b.clone(),
                        Source::HostFile(p) => std::fs::read(p)
                            .with_context(|| format!("{at}: reading {} to set its owner and mode", p.display()))?,
                    };
                    let path = self.state_dir.join(service).join(kind.key()).join(file_name(&target));
                    staged.push(StagedFile {
                        path: path.clone(),
                        bytes,
                        uid,
                        gid,
                        mode,
                    });
                    path
                }
            };
            mounts.push(Mount {
                typ: Some(MountType::BIND),
                source: Some(host.display().to_string()),
                target: Some(target),
                read_only: Some(true),
                ..Default::default()
            });
        }
        Ok((mounts, staged))
    }
}

/// `uid`/`gid`/`mode` of a reference, when any is set (defaults: 0, 0, 0444 as Compose).
pub fn owner_and_mode(r: &FileRef, at: &str) -> Result<Option<(u32, u32, u32)>> {
    if r.uid.is_none() && r.gid.is_none() && r.mode.is_none() {
        return Ok(None);
    }
    let id = |v: &Option<String>, key: &str| -> Result<u32> {
        match v {
            None => Ok(0),
            Some(v) => v
                .parse()
                .with_context(|| format!("{at}.{key}: expected a numeric id, got {v}")),
        }
    };
    // The loader writes the mode as Compose prints it: octal digits (`0440`).
    let mode = match &r.mode {
        None => Some(0o444),
        Some(s) => u32::from_str_radix(s.trim_start_matches("0o"), 8)
            .ok()
            .filter(|m| *m <= 0o7777),
    }
    .with_context(|| format!("{at}.mode: expected permission bits such as 0440"))?;
    Ok(Some((id(&r.uid, "uid")?, id(&r.gid, "gid")?, mode)))
}

fn definitions(
    kind: Kind,
    map: &IndexMap<String, FileObject>,
    env: &IndexMap<String, String>,
    working_dir: &Path,
) -> Result<BTreeMap<String, Source>> {
    let mut out = BTreeMap::new();
    for (name, def) in map {
        let def = def.clone();
        let at = format!("{}.{name}", kind.key());
        if def.external {
            bail!(
                "{at}.external: external {} live in a swarm; berth runs one engine, use file, environment or content",
                kind.key()
            );
        }
        if def.driver.is_some() || !def.driver_opts.is_empty() {
            bail!(
                "{at}.driver: {} drivers are swarm-only and not supported by berth",
                kind.key()
            );
        }
        if def.template_driver.is_some() {
            bail!("{at}.template_driver: not supported by berth");
        }
        if !def.labels.is_empty() {
            bail!(
                "{at}.labels: labels of {} are swarm-only and not supported by berth",
                kind.key()
            );
        }
        let source = match (def.file, def.environment, def.content) {
            (Some(file), None, None) => {
                let path = working_dir.join(file);
                if !path.is_file() {
                    bail!("{at}.file: {} is not a file", path.display());
                }
                Source::HostFile(path)
            }
            (None, Some(var), None) => Source::Bytes(
                env.get(&var)
                    .with_context(|| format!("{at}.environment: variable {var} is not set"))?
                    .clone()
                    .into_bytes(),
            ),
            (None, None, Some(content)) => Source::Bytes(content.into_bytes()),
            _ => bail!("{at}: exactly one of file, environment or content is expected"),
        };
        out.insert(name.clone(), source);
    }
    Ok(out)
}

/// Last component of an in-container path, as the staged file's name.
fn file_name(target: &str) -> String {
    target
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(target)
        .replace("..", "_")
}

/// Where a project's staged files live: `$BERTH_COMPOSE_STATE`, else `$XDG_RUNTIME_DIR/berth/compose`, else
/// `/run/berth/compose` (a tmpfs: secrets never reach a disk), then `<project>/`.
pub fn state_dir(project: &str) -> PathBuf {
    let base = std::env::var_os("BERTH_COMPOSE_STATE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_RUNTIME_DIR").map(|d| PathBuf::from(d).join("berth/compose")))
        .unwrap_or_else(|| PathBuf::from("/run/berth/compose"));
    base.join(project)
}

/// Writes the staged files (only when their bytes, owner or mode differ, so a running container's bind
/// mount keeps seeing the same inode).
pub fn stage(files: &[StagedFile]) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    for f in files {
        let dir = f.path.parent().context("staged file without a directory")?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711))
            .with_context(|| format!("chmod {}", dir.display()))?;
        let same = std::fs::metadata(&f.path).is_ok_and(|m| {
            m.uid() == f.uid && m.gid() == f.gid && m.mode() & 0o7777 == f.mode && m.len() == f.bytes.len() as u64
        }) && std::fs::read(&f.path).is_ok_and(|b| b == f.bytes);
        if same {
            continue;
        }
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&f.path)
            .with_context(|| format!("writing {}", f.path.display()))?;
        std::io::Write::write_all(&mut file, &f.bytes).with_context(|| format!("writing {}", f.path.display()))?;
        std::os::unix::fs::fchown(&file, Some(f.uid), Some(f.gid))
            .with_context(|| format!("chown {}:{} {}", f.uid, f.gid, f.path.display()))?;
        file.set_permissions(std::fs::Permissions::from_mode(f.mode))
            .with_context(|| format!("chmod {:o} {}", f.mode, f.path.display()))?;
    }
    Ok(())
}

/// Removes a project's staged files (`down`).
pub fn remove_state(project: &str) -> Result<()> {
    let dir = state_dir(project);
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", dir.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn catalog(secrets: Value, configs: Value, dir: &Path) -> Result<Catalog> {
        let env: IndexMap<String, String> = [("TOKEN".to_owned(), "t0k".to_owned())].into_iter().collect();
        let typed = |v: Value| serde_json::from_value::<IndexMap<String, FileObject>>(v).unwrap();
        Catalog::new("p", &typed(secrets), &typed(configs), &env, dir)
    }

    fn refs(v: Value) -> Vec<FileRef> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn file_secret_is_bound_read_only_at_run_secrets() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k.txt"), "x").unwrap();
        let c = catalog(json!({"k": {"file": "k.txt"}}), json!({}), dir.path()).unwrap();
        let (mounts, staged) = c.mounts("web", Kind::Secret, &refs(json!([{"source": "k"}]))).unwrap();
        assert!(staged.is_empty());
        assert_eq!(mounts[0].target.as_deref(), Some("/run/secrets/k"));
        assert_eq!(
            mounts[0].source.as_deref(),
            Some(dir.path().join("k.txt").to_str().unwrap())
        );
        assert_eq!(mounts[0].read_only, Some(true));
    }

    #[test]
    fn content_and_environment_are_staged_with_owner_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        let c = catalog(
            json!({"t": {"environment": "TOKEN"}}),
            json!({"c": {"content": "hi"}}),
            dir.path(),
        )
        .unwrap();
        let refs_v = json!([{"source": "t", "target": "tok", "uid": "7", "gid": "8", "mode": "0400"}]);
        let (mounts, staged) = c.mounts("web", Kind::Secret, &refs(refs_v)).unwrap();
        assert_eq!(mounts[0].target.as_deref(), Some("/run/secrets/tok"));
        assert_eq!((staged[0].uid, staged[0].gid, staged[0].mode), (7, 8, 0o400));
        assert_eq!(staged[0].bytes, b"t0k");
        let (mounts, staged) = c.mounts("web", Kind::Config, &refs(json!([{"source": "c"}]))).unwrap();
        assert_eq!(mounts[0].target.as_deref(), Some("/c"));
        assert_eq!(staged[0].mode, 0o444);
    }

    #[test]
    fn refusals_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let err = catalog(json!({"x": {"external": true}}), json!({}), dir.path()).unwrap_err();
        assert!(format!("{err:#}").contains("secrets.x.external"), "{err:#}");
        let err = catalog(json!({"x": {"environment": "NOPE"}}), json!({}), dir.path()).unwrap_err();
        assert!(format!("{err:#}").contains("secrets.x.environment"), "{err:#}");
        let c = catalog(json!({}), json!({}), dir.path()).unwrap();
        let err = c
            .mounts("web", Kind::Config, &refs(json!([{"source": "y"}])))
            .unwrap_err();
        assert!(format!("{err:#}").contains("services.web.configs[0].source"), "{err:#}");
    }
}
