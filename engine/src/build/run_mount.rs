//! `RUN --mount=...` options as BuildKit's Dockerfile frontend reads them: `type=bind` (context or another
//! stage, read-only unless `rw`, writes discarded), `type=cache` (a directory kept by the engine across builds),
//! `type=tmpfs`, `type=secret` (a secret the client sent through berth's extension of /build, see `ext`) and
//! `type=ssh` (never available: a required one fails and an optional one is left out, as BuildKit does).

/// A parsed `--mount`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountSpec {
    /// Files of the context (`from` None) or of a stage or image.
    Bind {
        /// Where in the container.
        target: String,
        /// Path in the source.
        source: String,
        /// Stage or image.
        from: Option<String>,
        /// Writable (the writes are discarded).
        rw: bool,
    },
    /// A persistent cache directory.
    Cache {
        /// Where in the container.
        target: String,
        /// Its identity (the target by default).
        id: String,
        /// Read-only.
        ro: bool,
        /// Only one RUN uses it at a time (`sharing=locked`).
        locked: bool,
        /// Mode of a new cache directory.
        mode: u32,
        /// Owner of a new cache directory.
        uid: u32,
        /// Group of a new cache directory.
        gid: u32,
    },
    /// A tmpfs.
    Tmpfs {
        /// Where in the container.
        target: String,
        /// Size limit in bytes.
        size: Option<u64>,
    },
    /// A build secret, as a file (`target`) and/or an environment variable (`env`).
    Secret {
        /// The secret's id.
        id: String,
        /// Where the file goes (None: only `env` was asked).
        target: Option<String>,
        /// The variable that holds the secret's value.
        env: Option<String>,
        /// Whether the RUN needs it.
        required: bool,
        /// Owner uid of the file.
        uid: Option<u32>,
        /// Owner gid of the file.
        gid: Option<u32>,
        /// Mode of the file.
        mode: Option<u32>,
    },
    /// An SSH agent socket (never available).
    Ssh {
        /// The socket's id.
        id: String,
        /// Whether the RUN needs it.
        required: bool,
    },
}

/// A `--mount` that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("--mount={spec}: {why}")]
pub struct MountError {
    spec: String,
    why: String,
}

/// Parses one `--mount` value (comma-separated `key=value` fields).
pub fn parse(spec: &str) -> Result<MountSpec, MountError> {
    let err = |why: String| MountError {
        spec: spec.to_owned(),
        why,
    };
    let mut f = Fields::default();
    for field in spec.split(',').filter(|s| !s.is_empty()) {
        let (k, v) = field.split_once('=').unwrap_or((field, ""));
        f.set(&k.to_ascii_lowercase(), v, field).map_err(err)?;
    }
    let target = || f.target.clone().ok_or_else(|| err("a target is required".into()));
    Ok(match f.kind.as_deref().unwrap_or("bind") {
        "bind" => MountSpec::Bind {
            target: target()?,
            source: f.source.clone().unwrap_or_else(|| "/".into()),
            from: f.from.clone(),
            rw: f.rw,
        },
        "cache" => {
            let target = target()?;
            if f.from.is_some() {
                return Err(err(
                    "cache mounts seeded from a stage (from=) are not supported by berth".into(),
                ));
            }
            MountSpec::Cache {
                id: f.id.clone().unwrap_or_else(|| target.clone()),
                target,
                ro: !f.rw && f.ro,
                locked: f.sharing.as_deref() == Some("locked"),
                mode: f.mode.unwrap_or(0o755),
                uid: f.uid.unwrap_or(0),
                gid: f.gid.unwrap_or(0),
            }
        }
        "tmpfs" => MountSpec::Tmpfs {
            target: target()?,
            size: f.size,
        },
        "secret" => {
            // BuildKit: the id defaults to the target's base name, the target to /run/secrets/<id>; with
            // `env` alone there is no file.
            let id =
                f.id.clone()
                    .or_else(|| {
                        f.target
                            .as_deref()
                            .and_then(|t| t.rsplit('/').next())
                            .map(str::to_owned)
                    })
                    .filter(|id| !id.is_empty())
                    .ok_or_else(|| err("a secret needs an id (or a target)".into()))?;
            let target = match (&f.target, &f.env) {
                (Some(t), _) => Some(t.clone()),
                (None, Some(_)) => None,
                (None, None) => Some(format!("/run/secrets/{id}")),
            };
            MountSpec::Secret {
                id,
                target,
                env: f.env.clone(),
                required: f.required,
                uid: f.uid,
                gid: f.gid,
                mode: f.mode,
            }
        }
        "ssh" => MountSpec::Ssh {
            id: f.id.clone().unwrap_or_else(|| "default".into()),
            required: f.required,
        },
        other => return Err(err(format!("unknown mount type {other:?}"))),
    })
}

#[derive(Default)]
struct Fields {
    kind: Option<String>,
    target: Option<String>,
    source: Option<String>,
    from: Option<String>,
    id: Option<String>,
    env: Option<String>,
    sharing: Option<String>,
    rw: bool,
    ro: bool,
    required: bool,
    mode: Option<u32>,
    uid: Option<u32>,
    gid: Option<u32>,
    size: Option<u64>,
}

impl Fields {
    fn set(&mut self, k: &str, v: &str, field: &str) -> Result<(), String> {
        let num = |radix| u32::from_str_radix(v, radix).map_err(|_| format!("{field}: not a number"));
        let flag = || match v {
            "" | "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(format!("{field}: expected true or false")),
        };
        match k {
            "type" => self.kind = Some(v.to_owned()),
            "target" | "dst" | "destination" => self.target = Some(v.to_owned()),
            "source" | "src" => self.source = Some(v.to_owned()),
            "from" => self.from = Some(v.to_owned()),
            "id" => self.id = Some(v.to_owned()),
            "env" => self.env = Some(v.to_owned()),
            "sharing" => match v {
                "shared" | "private" | "locked" => self.sharing = Some(v.to_owned()),
                _ => return Err(format!("{field}: sharing is shared, private or locked")),
            },
            "rw" | "readwrite" => self.rw = flag()?,
            "ro" | "readonly" => self.ro = flag()?,
            "required" => self.required = flag()?,
            "mode" => self.mode = Some(num(8)?),
            "uid" => self.uid = Some(num(10)?),
            "gid" => self.gid = Some(num(10)?),
            "size" => {
                let n = units::parse_bytes(v).ok_or_else(|| format!("{field}: not a size"))?;
                self.size = Some(n as u64);
            }
            _ => return Err(format!("unknown field {k:?}")),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_parses_with_buildkits_defaults() {
        assert_eq!(
            parse("type=cache,target=/root/.cache,sharing=locked,mode=0700,uid=5").unwrap(),
            MountSpec::Cache {
                target: "/root/.cache".into(),
                id: "/root/.cache".into(),
                ro: false,
                locked: true,
                mode: 0o700,
                uid: 5,
                gid: 0,
            }
        );
        assert_eq!(
            parse("target=/src,source=sub,rw").unwrap(),
            MountSpec::Bind {
                target: "/src".into(),
                source: "sub".into(),
                from: None,
                rw: true
            }
        );
        assert!(
            matches!(parse("type=tmpfs,dst=/t,size=1m").unwrap(), MountSpec::Tmpfs { size: Some(s), .. } if s == 1 << 20)
        );
        assert_eq!(
            parse("type=secret,id=tok,required").unwrap(),
            MountSpec::Secret {
                id: "tok".into(),
                target: Some("/run/secrets/tok".into()),
                env: None,
                required: true,
                uid: None,
                gid: None,
                mode: None,
            }
        );
        assert!(matches!(
            parse("type=secret,target=/k/key.pem,mode=0440").unwrap(),
            MountSpec::Secret { id, mode: Some(0o440), .. } if id == "key.pem"
        ));
        assert!(matches!(
            parse("type=secret,id=t,env=TOKEN").unwrap(),
            MountSpec::Secret { target: None, env: Some(e), .. } if e == "TOKEN"
        ));
    }

    #[test]
    fn bad_mounts_are_refused() {
        for bad in [
            "type=nfs,target=/x",
            "type=cache",
            "type=cache,target=/c,sharing=odd",
            "type=secret",
            "target=/x,bogus=1",
        ] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(e.starts_with(&format!("--mount={bad}: ")), "{e}");
        }
    }
}
