//! `berth config`: render the resolved Compose model.

use super::GlobalArgs;
use clap::{Args, ValueEnum};
use compose::output::{self, Format};
use compose::{LoadOptions, Loaded};
use serde_json::Value;
use std::io::Write;
use std::process::ExitCode;

/// Output formats of `berth config`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OutputFormat {
    /// YAML (default).
    Yaml,
    /// JSON.
    Json,
}

/// Flags of `berth config`.
#[derive(Args, Debug)]
pub struct ConfigArgs {
    /// Format the output (default yaml; `--variables` prints a table unless a format is given).
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,
    /// Only validate the configuration, print nothing.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Print the service names, one per line.
    #[arg(long)]
    pub services: bool,
    /// Print the volume names, one per line.
    #[arg(long)]
    pub volumes: bool,
    /// Print the network names, one per line.
    #[arg(long)]
    pub networks: bool,
    /// Print the profile names, one per line.
    #[arg(long = "profiles", id = "list_profiles")]
    pub list_profiles: bool,
    /// Print the image names, one per line.
    #[arg(long)]
    pub images: bool,
    /// Print the config hash of the named services ("*" for all).
    #[arg(long)]
    pub hash: Option<String>,
    /// Do not substitute variables.
    #[arg(long)]
    pub no_interpolate: bool,
    /// Do not turn short syntaxes into long ones or apply defaults.
    #[arg(long)]
    pub no_normalize: bool,
    /// Print the model names, one per line.
    #[arg(long)]
    pub models: bool,
    /// Print model variables and default values.
    #[arg(long)]
    pub variables: bool,
    /// Print environment used for interpolation.
    #[arg(long)]
    pub environment: bool,
    /// Don't resolve file paths.
    #[arg(long)]
    pub no_path_resolution: bool,
    /// Don't check model consistency - warning: may produce invalid Compose output.
    #[arg(long)]
    pub no_consistency: bool,
    /// Don't resolve service env files (accepted: Docker Compose 2.40.3 prints the same model with it).
    #[arg(long)]
    pub no_env_resolution: bool,
    /// Pin image tags to digests (asked of the registries through the engine).
    #[arg(long)]
    pub resolve_image_digests: bool,
    /// Produces an override file with image digests.
    #[arg(long)]
    pub lock_image_digests: bool,
    /// Write the output to a file instead of stdout.
    #[arg(short = 'o', long)]
    pub output: Option<std::path::PathBuf>,
    /// Services to show (with what they depend on), enabled whatever their profiles; default: all.
    #[arg(value_name = "SERVICE", id = "service_names")]
    pub names: Vec<String>,
}

/// Load options from the global flags.
pub fn load_options(global: &GlobalArgs, interpolate: bool, normalize: bool) -> LoadOptions {
    LoadOptions {
        files: global.files.clone(),
        project_name: global.project_name.clone(),
        project_directory: global.project_directory.clone(),
        env_files: global.env_files.clone(),
        profiles: global.profiles.clone(),
        interpolate,
        normalize,
        all_resources: global.all_resources,
        ..LoadOptions::default()
    }
}

/// Runs `berth config`.
pub fn run(global: &GlobalArgs, args: ConfigArgs) -> anyhow::Result<ExitCode> {
    // As Compose: the variables are read from the model as written, before any substitution.
    let interpolate = !args.no_interpolate && !args.variables;
    let opts = LoadOptions {
        services: args.names.clone(),
        resolve_paths: !args.no_path_resolution,
        // `--variables` reads the model as written, references unchecked, as Compose does.
        consistency: !args.no_consistency && !args.variables,
        ..load_options(global, interpolate, !args.no_normalize)
    };
    let mut loaded = compose::load_document(&opts)?;
    if args.variables && !args.names.is_empty() {
        eprintln!("WARN: service filtering is not applied when --variables is set, variables from the full model will be rendered");
    } else {
        select(&mut loaded.document, &args.names)?;
    }
    // The digests come from the registries, through the engine, as Compose asks them.
    if args.resolve_image_digests || args.lock_image_digests {
        super::config_digests::resolve(&mut loaded.document, global.host.as_deref())?;
    }
    if args.lock_image_digests {
        loaded.document = super::config_digests::lock(&loaded.document);
    }
    if args.quiet {
        return Ok(ExitCode::SUCCESS);
    }
    let text = render(&loaded, &args, global.all_resources)?;
    match &args.output {
        Some(p) => std::fs::write(p, text)?,
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Keeps the named services and, transitively, the ones they depend on (all when none are named). The loader
/// has already refused a required dependency that is not there; an optional one is simply not in the graph.
fn select(doc: &mut Value, names: &[String]) -> anyhow::Result<()> {
    let Some(services) = doc.get_mut("services").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    if let Some(missing) = names.iter().find(|n| !services.contains_key(*n)) {
        anyhow::bail!("no such service: {missing}");
    }
    if names.is_empty() {
        return Ok(());
    }
    let graph = compose::graph::ServiceGraph::from_services(services);
    let mut keep: Vec<String> = Vec::new();
    let mut queue: Vec<&str> = names.iter().map(String::as_str).collect();
    while let Some(n) = queue.pop() {
        if !keep.iter().any(|k| k == n) {
            keep.push(n.to_owned());
            queue.extend(graph.dependencies(n).into_iter().map(|(d, _)| d));
        }
    }
    services.retain(|n, _| keep.contains(n));
    Ok(())
}

fn keys(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// What `config --models` prints: the `model` of each top-level model a service uses (all with
/// `--all-resources`), as Compose lists them.
fn model_names(doc: &Value, all_resources: bool) -> Vec<String> {
    let used: Vec<String> = doc
        .get("services")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|m| m.values())
        .filter_map(|s| s.get("models"))
        .flat_map(|m| match m {
            Value::Object(o) => o.keys().cloned().collect::<Vec<_>>(),
            Value::Array(a) => a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
            _ => Vec::new(),
        })
        .collect();
    doc.get("models")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|m| m.iter())
        .filter(|(k, _)| all_resources || used.contains(k))
        .filter_map(|(_, v)| v.get("model").and_then(Value::as_str).filter(|m| !m.is_empty()))
        .map(str::to_owned)
        .collect()
}

fn lines(mut items: Vec<String>, sort: bool) -> String {
    if sort {
        items.sort();
        items.dedup();
    }
    items.into_iter().map(|s| s + "\n").collect()
}

fn render(loaded: &Loaded, args: &ConfigArgs, all_resources: bool) -> anyhow::Result<String> {
    let doc = &loaded.document;
    let services = doc.get("services").and_then(Value::as_object);
    if args.variables {
        return Ok(super::config_vars::variables(
            doc,
            args.format.map(|f| matches!(f, OutputFormat::Json)),
        ));
    }
    if args.environment {
        return Ok(super::config_vars::environment(&loaded.environment));
    }
    if args.models {
        return Ok(lines(model_names(doc, all_resources), false));
    }
    if args.services {
        return Ok(lines(keys(doc.get("services")), false));
    }
    if args.volumes {
        return Ok(lines(keys(doc.get("volumes")), false));
    }
    if args.networks {
        return Ok(lines(keys(doc.get("networks")), false));
    }
    if args.list_profiles {
        let all = services
            .into_iter()
            .flat_map(|m| m.values())
            .chain(loaded.disabled_services.values());
        let profiles = all
            .filter_map(|s| s.get("profiles").and_then(Value::as_array))
            .flatten()
            .filter_map(|p| p.as_str().map(str::to_owned))
            .collect();
        return Ok(lines(profiles, true));
    }
    if args.images {
        let images = services
            .into_iter()
            .flat_map(|m| m.iter())
            .map(|(n, s)| match s.get("image").and_then(Value::as_str) {
                Some(i) => i.to_owned(),
                None => format!("{}-{n}", loaded.name),
            })
            .collect();
        return Ok(lines(images, false));
    }
    if let Some(h) = &args.hash {
        let mut out = String::new();
        for (n, s) in services.into_iter().flat_map(|m| m.iter()) {
            if h == "*" || h.split(',').any(|x| x == n) {
                out.push_str(&format!("{n} {}\n", output::config_hash(s)));
            }
        }
        return Ok(out);
    }
    let format = match args.format.unwrap_or(OutputFormat::Yaml) {
        OutputFormat::Yaml => Format::Yaml,
        OutputFormat::Json => Format::Json,
    };
    let mut v = output::printable(doc, format);
    if !args.no_interpolate {
        v = output::escape_dollars(&v);
    }
    output::render(&v, format).map_err(|e| anyhow::anyhow!("cannot render the configuration: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The answers Docker Compose 2.40.3 gave for `config a`, `config a b`, `config zz` on this project.
    #[test]
    fn named_services_keep_what_they_depend_on() {
        let doc = json!({"services": {
            "a": {"depends_on": {"e": {"condition": "service_started", "required": true}}},
            "b": {}, "e": {}, "f": {},
        }});
        let names = |args: &[&str]| {
            let mut d = doc.clone();
            let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            select(&mut d, &args).map(|_| keys(d.get("services")))
        };
        assert_eq!(names(&["a"]).ok(), Some(vec!["a".to_owned(), "e".to_owned()]));
        assert_eq!(
            names(&["a", "b"]).ok(),
            Some(vec!["a".to_owned(), "b".to_owned(), "e".to_owned()])
        );
        assert_eq!(names(&[]).ok().map(|v| v.len()), Some(4));
        let err = names(&["zz"]).err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(err, "no such service: zz");
    }
}
