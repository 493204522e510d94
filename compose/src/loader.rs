//! The loading pipeline: discover → parse → interpolate → validate → include → extends → paths → merge
//! → profiles → normalise → semantic checks → canonical document.

use crate::discover::{self, Source};
use crate::error::{ErrorKind, LoadError, Result};
use crate::positions::Positions;
use crate::{extends, include, interpolate, merge, normalize, paths, profiles, typecast, unicity, validate, yaml};
use indexmap::IndexMap;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// What to load and how; mirrors the global flags of `docker compose`.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// `-f` values (`-` = stdin); empty means discover the default files.
    pub files: Vec<String>,
    /// `-p`.
    pub project_name: Option<String>,
    /// `--project-directory`.
    pub project_directory: Option<PathBuf>,
    /// `--env-file` (replace the project's `.env`).
    pub env_files: Vec<PathBuf>,
    /// `--profile`.
    pub profiles: Vec<String>,
    /// Services a command names: enabled whatever the active profiles (their own profiles join them), as
    /// Compose enables a service it is told to run.
    pub services: Vec<String>,
    /// Substitute variables (`--no-interpolate` turns it off).
    pub interpolate: bool,
    /// Turn short syntaxes into long ones and apply defaults (`--no-normalize` turns it off).
    pub normalize: bool,
    /// Working directory for relative flags; defaults to the process's.
    pub working_dir: Option<PathBuf>,
    /// Environment; defaults to the process environment.
    pub environment: Option<IndexMap<String, String>>,
    /// Text for `-f -`; defaults to reading standard input.
    pub stdin: Option<String>,
    /// Keep top-level resources no service uses (`--all-resources`).
    pub all_resources: bool,
    /// Make relative paths absolute (`config --no-path-resolution` keeps them as written).
    pub resolve_paths: bool,
    /// Check that references resolve (`config --no-consistency` skips it: undefined networks, volumes,
    /// secrets, configs and services are let through).
    pub consistency: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            files: Vec::new(),
            project_name: None,
            project_directory: None,
            env_files: Vec::new(),
            profiles: Vec::new(),
            services: Vec::new(),
            interpolate: true,
            normalize: true,
            working_dir: None,
            environment: None,
            stdin: None,
            all_resources: false,
            resolve_paths: true,
            consistency: true,
        }
    }
}

/// The canonical document plus what was learnt while loading it.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The canonical Compose document, as `docker compose config` prints it.
    pub document: Value,
    /// Project name.
    pub name: String,
    /// Project directory.
    pub project_dir: PathBuf,
    /// Files loaded (stdin shows as `-`).
    pub files: Vec<PathBuf>,
    /// The environment used for interpolation.
    pub environment: IndexMap<String, String>,
    /// Positions of key paths of the loaded files.
    pub positions: Positions,
    /// Services removed because their profiles were not enabled.
    pub disabled_services: Map<String, Value>,
}

/// State shared by the stages of one load.
pub struct Session {
    /// Options in force.
    pub opts: LoadOptions,
    /// Positions of every file read.
    pub positions: Positions,
    stdin_text: Option<String>,
}

impl Session {
    /// Reads a source's text.
    pub fn read(&mut self, src: &Source) -> Result<String> {
        match src {
            Source::File(p) => std::fs::read_to_string(p)
                .map_err(|e| LoadError::new(ErrorKind::Io, format!("cannot read {}: {e}", p.display()))),
            Source::Stdin => {
                if self.stdin_text.is_none() {
                    let mut s = String::new();
                    std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                        .map_err(|e| LoadError::new(ErrorKind::Io, format!("cannot read standard input: {e}")))?;
                    self.stdin_text = Some(s);
                }
                Ok(self.stdin_text.clone().unwrap_or_default())
            }
        }
    }

    /// Parses, interpolates and validates one file; returns its document (tags still marked).
    pub fn parse_file(&mut self, src: &Source, env: &IndexMap<String, String>) -> Result<Value> {
        let text = self.read(src)?;
        let name = match src {
            Source::File(p) => p.clone(),
            Source::Stdin => PathBuf::from("-"),
        };
        let (mut doc, pos) = yaml::parse(&text, &name)?;
        let at_start = || {
            Some(crate::error::Location {
                file: name.clone(),
                line: 1,
                column: 1,
            })
        };
        if doc.is_null() {
            return Err(LoadError::new(
                ErrorKind::Schema,
                "empty compose file: expected a mapping with `services`",
            )
            .at(at_start()));
        }
        if !doc.is_object() {
            return Err(LoadError::new(ErrorKind::Schema, "top-level must be a mapping").at(at_start()));
        }
        if self.opts.interpolate {
            let lookup = |k: &str| env.get(k).cloned();
            interpolate::interpolate_tree(&mut doc, "", &lookup)
                .and_then(|()| typecast::cast_document(&mut doc))
                .map_err(|e| {
                    let loc = e.key_path.as_deref().and_then(|p| pos.nearest(p));
                    e.at(loc)
                })?;
        }
        unicity::enforce(&mut doc).map_err(|e| {
            let loc = e.key_path.as_deref().and_then(|p| pos.nearest(p));
            e.at(loc)
        })?;
        validate::schema::validate_document(&doc, &pos)?;
        self.positions.push(pos);
        Ok(doc)
    }

    /// Loads one file fully (includes, extends, absolute paths against `base_dir`).
    pub fn load_file(
        &mut self,
        src: &Source,
        env: &IndexMap<String, String>,
        base_dir: &Path,
        chain: &[PathBuf],
    ) -> Result<Value> {
        let mut doc = self.parse_file(src, env)?;
        let file = match src {
            Source::File(p) => p.clone(),
            Source::Stdin => base_dir.join("-"),
        };
        include::apply(self, &mut doc, &file, base_dir, env, chain)?;
        extends::apply(self, &mut doc, &file, base_dir, env)?;
        if self.opts.resolve_paths {
            paths::resolve_document(&mut doc, base_dir);
        }
        Ok(doc)
    }
}

fn process_env(opts: &LoadOptions) -> IndexMap<String, String> {
    opts.environment.clone().unwrap_or_else(|| std::env::vars().collect())
}

/// Runs the whole pipeline.
pub fn load_document(opts: &LoadOptions) -> Result<Loaded> {
    let cwd = match &opts.working_dir {
        Some(d) => d.clone(),
        None => {
            std::env::current_dir().map_err(|e| LoadError::new(ErrorKind::Io, format!("no working directory: {e}")))?
        }
    };
    let mut process = process_env(opts);
    // Compose offers PWD (the working directory) when the environment has none, as under `env -i` or a
    // service manager; files use `$PWD/data:/data`.
    if !process.contains_key("PWD") {
        process.insert("PWD".into(), paths::clean(&cwd).to_string_lossy().into_owned());
    }
    let mut files = opts.files.clone();
    if files.is_empty() {
        if let Some(cf) = process.get("COMPOSE_FILE") {
            let sep = process.get("COMPOSE_PATH_SEPARATOR").map_or(":", String::as_str);
            files = cf.split(sep).filter(|s| !s.is_empty()).map(str::to_owned).collect();
        }
    }
    let sources = if files.is_empty() {
        let base = opts.project_directory.as_ref().map_or(cwd.clone(), |d| {
            PathBuf::from(paths::absolutize(&cwd, &d.to_string_lossy()))
        });
        discover::find_default(&base)?.into_iter().map(Source::File).collect()
    } else {
        discover::sources_from_flags(&files, &cwd)
    };
    let project_dir = match &opts.project_directory {
        Some(d) => PathBuf::from(paths::absolutize(&cwd, &d.to_string_lossy())),
        None => discover::default_project_dir(&sources, &cwd),
    };
    let mut env = discover::project_env(&process, &opts.env_files, &project_dir, &cwd)?;
    let mut session = Session {
        opts: opts.clone(),
        positions: Positions::default(),
        stdin_text: opts.stdin.clone(),
    };
    // Compose settles the project name first and offers it to interpolation as COMPOSE_PROJECT_NAME.
    let file_name = declared_name(&mut session, &sources, &env)?;
    let name = project_name(opts, &env, file_name, &project_dir)?;
    env.insert("COMPOSE_PROJECT_NAME".into(), name.clone());
    let mut merged = Value::Object(Map::new());
    for src in &sources {
        let chain: Vec<PathBuf> = match src {
            Source::File(p) => vec![p.clone()],
            Source::Stdin => Vec::new(),
        };
        let doc = session.load_file(src, &env, &project_dir, &chain)?;
        merge::merge(&mut merged, doc, &mut Vec::new());
    }
    yaml::strip_tags(&mut merged);
    let file_list = sources
        .iter()
        .map(|s| match s {
            Source::File(p) => p.clone(),
            Source::Stdin => PathBuf::from("-"),
        })
        .collect();
    let mut loaded = Loaded {
        document: Value::Null,
        name: name.clone(),
        project_dir,
        files: file_list,
        environment: env,
        positions: session.positions,
        disabled_services: Map::new(),
    };
    finish(&mut merged, &mut loaded, opts)?;
    loaded.document = merged;
    Ok(loaded)
}

/// Profiles, normalisation, checks and the final shape of the document.
fn finish(doc: &mut Value, loaded: &mut Loaded, opts: &LoadOptions) -> Result<()> {
    let Value::Object(top) = doc else {
        return Err(LoadError::new(ErrorKind::Schema, "top-level must be a mapping"));
    };
    top.shift_remove("version");
    top.shift_remove("include");
    top.shift_remove("name");
    let mut services = match top.shift_remove("services") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let env = loaded.environment.clone();
    let lookup = move |k: &str| env.get(k).cloned();
    let ctx = normalize::Context {
        project_name: &loaded.name,
        env: &lookup,
        project_dir: &loaded.project_dir,
    };
    let locate = |e: LoadError| {
        let loc = e.key_path.as_deref().and_then(|p| loaded.positions.find(p));
        e.at(loc)
    };
    validate::conflicts::check_entries(&services).map_err(locate)?;
    if opts.normalize {
        for (name, svc) in services.iter_mut() {
            if let Value::Object(m) = svc {
                normalize::service::normalize_service(name, m, &ctx).map_err(locate)?;
            }
        }
    }
    let active = active_profiles(opts, &loaded.environment, &services);
    loaded.disabled_services = profiles::apply(&mut services, &active);
    if opts.normalize {
        for (name, svc) in services.iter_mut() {
            if let Value::Object(m) = svc {
                normalize::service::resolve_files(name, m, &ctx).map_err(locate)?;
            }
        }
    }
    validate::conflicts::check_resources(top).map_err(locate)?;
    validate::conflicts::check_services(&services, top).map_err(locate)?;
    if opts.consistency {
        validate::semantic::check(&services, &loaded.disabled_services, top).map_err(locate)?;
    }
    crate::graph::check_cycles(&services).map_err(locate)?;
    if opts.normalize {
        let mut used = normalize::resources::used_by(&services);
        if opts.all_resources {
            used.add_declared(top);
        }
        normalize::resources::normalize_resources(top, &used, &ctx).map_err(locate)?;
    }
    let mut out = Map::new();
    out.insert("name".into(), Value::String(loaded.name.clone()));
    out.insert("services".into(), Value::Object(services));
    for (k, v) in std::mem::take(top) {
        out.insert(k, v);
    }
    *top = out;
    if opts.normalize {
        normalize::empty::omit_empty(doc);
    }
    Ok(())
}

fn active_profiles(opts: &LoadOptions, env: &IndexMap<String, String>, services: &Map<String, Value>) -> Vec<String> {
    let split = |p: &str| -> Vec<String> { p.split(',').map(|s| s.trim().to_owned()).collect() };
    // Compose splits COMPOSE_PROFILES (empty when unset) without dropping empty names, so a service listing
    // the profile "" runs by default and whenever the variable has an empty entry (`dev,`); files rely on it.
    let mut active: Vec<String> = if opts.profiles.is_empty() {
        split(env.get("COMPOSE_PROFILES").map_or("", String::as_str))
    } else {
        opts.profiles
            .iter()
            .flat_map(|p| split(p))
            .filter(|s| !s.is_empty())
            .collect()
    };
    let named = opts.services.iter().filter_map(|n| services.get(n));
    active.extend(
        named
            .filter_map(|s| s.get("profiles").and_then(Value::as_array))
            .flatten()
            .filter_map(|p| p.as_str().map(str::to_owned)),
    );
    active
}

/// The `name:` of the last file that declares one, interpolated, before anything else is loaded.
fn declared_name(s: &mut Session, sources: &[Source], env: &IndexMap<String, String>) -> Result<Option<String>> {
    let mut found = None;
    for src in sources {
        let text = s.read(src)?;
        let file = match src {
            Source::File(p) => p.clone(),
            Source::Stdin => PathBuf::from("-"),
        };
        let (doc, pos) = yaml::parse(&text, &file)?;
        let Some(Value::String(n)) = doc.get("name") else {
            continue;
        };
        let n = if s.opts.interpolate {
            let lookup = |k: &str| env.get(k).cloned();
            interpolate::substitute(n, &lookup)
                .map_err(|e| interpolate::template_error(e, "name").at(pos.exact("name")))?
        } else {
            n.clone()
        };
        if !n.is_empty() {
            found = Some(n);
        }
    }
    Ok(found)
}

fn project_name(
    opts: &LoadOptions,
    env: &IndexMap<String, String>,
    from_file: Option<String>,
    dir: &Path,
) -> Result<String> {
    let explicit = opts
        .project_name
        .clone()
        .or_else(|| env.get("COMPOSE_PROJECT_NAME").filter(|s| !s.is_empty()).cloned());
    if let Some(n) = from_file.filter(|_| explicit.is_none()) {
        // A name written in the file is normalised like a directory name, not refused (Compose does so).
        let norm = discover::normalize_project_name(&n);
        if norm.is_empty() {
            return Err(LoadError::new(
                ErrorKind::Value,
                format!(
                    "project name {n:?} is empty once normalised to lowercase letters, digits, dashes and underscores"
                ),
            )
            .at_path("name"));
        }
        return Ok(norm);
    }
    if let Some(n) = explicit {
        if !discover::is_valid_project_name(&n) {
            return Err(LoadError::new(
                ErrorKind::Value,
                format!("invalid project name {n:?}: must contain only lowercase letters, digits, dashes and underscores, and start with a letter or digit"),
            )
            .at_path("name"));
        }
        return Ok(n);
    }
    let base = dir
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = discover::normalize_project_name(&base);
    if n.is_empty() {
        return Err(LoadError::new(
            ErrorKind::Value,
            format!("project name {base:?} derived from the directory is empty once normalised; use -p or `name:`"),
        ));
    }
    Ok(n)
}
