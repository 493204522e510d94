//! Output: the kustomize tree (`base/` with one file per object and a kustomization, `overlays/<name>/`)
//! or one multi-document YAML stream.

use super::context::{BridgeError, Ctx};
use super::Conversion;
use serde_json::{json, Value};
use std::path::Path;
use yaml_rust2::yaml::{Hash, Yaml};
use yaml_rust2::YamlEmitter;

/// YAML that YAML 1.1 readers (kubectl's) read back the same: `yes`, `no`, `on`, `off` stay quoted
/// strings, which serde's YAML writer leaves plain.
fn yaml(v: &Value) -> Result<String, BridgeError> {
    let mut out = String::new();
    let mut emitter = YamlEmitter::new(&mut out);
    emitter.multiline_strings(true);
    emitter.dump(&to_yaml(v)).map_err(|e| BridgeError {
        location: None,
        key: String::new(),
        message: format!("cannot render YAML: {e}"),
    })?;
    let body = out.strip_prefix("---\n").unwrap_or(&out);
    Ok(format!("{body}\n"))
}

fn to_yaml(v: &Value) -> Yaml {
    match v {
        Value::Null => Yaml::Null,
        Value::Bool(b) => Yaml::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Yaml::Integer(i),
            None => Yaml::Real(n.to_string()),
        },
        Value::String(s) => Yaml::String(s.clone()),
        Value::Array(a) => Yaml::Array(a.iter().map(to_yaml).collect()),
        Value::Object(o) => {
            let mut h = Hash::new();
            for (k, v) in o {
                h.insert(Yaml::String(k.clone()), to_yaml(v));
            }
            Yaml::Hash(h)
        }
    }
}

fn kustomization(resources: Vec<String>, patches: Vec<String>) -> Value {
    let mut k = json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
    });
    if !patches.is_empty() {
        k["patches"] = patches.into_iter().map(|p| json!({ "path": p })).collect();
    }
    k
}

/// Every manifest of the base as one multi-document YAML stream.
pub fn render_stream(c: &Conversion) -> Result<String, BridgeError> {
    let docs: Result<Vec<String>, BridgeError> = c.manifests.iter().map(|m| yaml(&m.value)).collect();
    Ok(docs?.iter().map(|d| format!("---\n{d}")).collect())
}

/// The overlays' files: (overlay, file, text). The `desktop` overlay (Docker Desktop's single-node cluster)
/// mounts bind-mounted directories from the host path, which exists there.
pub fn overlays(ctx: &Ctx) -> Result<Vec<(String, String, String)>, BridgeError> {
    let mut out = Vec::new();
    for overlay in &ctx.opts.overlays {
        let mut patches = Vec::new();
        if overlay == "desktop" {
            for (workload, volume, path) in &ctx.host_dirs {
                let Some(kind) = workload_kind(ctx, workload) else {
                    continue;
                };
                let patch = json!({
                    "apiVersion": kind.0,
                    "kind": kind.1,
                    "metadata": {"name": workload, "namespace": ctx.namespace},
                    "spec": {"template": {"spec": {"volumes": [
                        {"name": volume, "emptyDir": null, "hostPath": {"path": path.to_string_lossy(), "type": "Directory"}}
                    ]}}},
                });
                let file = format!("{workload}-{volume}-hostpath.yaml");
                if !patches.contains(&file) {
                    out.push((overlay.clone(), file.clone(), yaml(&patch)?));
                    patches.push(file);
                }
            }
        }
        let k = kustomization(vec!["../../base".into()], patches);
        out.push((overlay.clone(), "kustomization.yaml".into(), yaml(&k)?));
    }
    Ok(out)
}

fn workload_kind(ctx: &Ctx, workload: &str) -> Option<(&'static str, &'static str)> {
    ctx.manifests.iter().find_map(|m| {
        if m.file == format!("{workload}-deployment.yaml") {
            Some(("apps/v1", "Deployment"))
        } else if m.file == format!("{workload}-job.yaml") {
            Some(("batch/v1", "Job"))
        } else {
            None
        }
    })
}

fn io_error(path: &Path, e: std::io::Error) -> BridgeError {
    BridgeError {
        location: None,
        key: path.display().to_string(),
        message: e.to_string(),
    }
}

fn write(path: &Path, text: &str) -> Result<(), BridgeError> {
    std::fs::write(path, text).map_err(|e| io_error(path, e))
}

/// Writes `dir/base/` (replacing a base an earlier conversion wrote) and the files of `dir/overlays/<name>/`.
pub fn write_tree(dir: &Path, c: &Conversion) -> Result<Vec<String>, BridgeError> {
    let base = dir.join("base");
    // Only a tree that looks like ours is replaced: a stale object file would otherwise stay behind.
    if base.exists() {
        if !base.join("kustomization.yaml").exists() {
            return Err(io_error(
                &base,
                std::io::Error::other("exists and is not a kustomize base; not overwritten"),
            ));
        }
        std::fs::remove_dir_all(&base).map_err(|e| io_error(&base, e))?;
    }
    std::fs::create_dir_all(&base).map_err(|e| io_error(&base, e))?;
    let mut written = Vec::new();
    for m in &c.manifests {
        write(&base.join(&m.file), &yaml(&m.value)?)?;
        written.push(format!("base/{}", m.file));
    }
    let resources = c.manifests.iter().map(|m| m.file.clone()).collect();
    write(
        &base.join("kustomization.yaml"),
        &yaml(&kustomization(resources, Vec::new()))?,
    )?;
    written.push("base/kustomization.yaml".into());
    // Overlays are where users keep their own patches: only the files written here are replaced.
    for (overlay, file, text) in &c.overlays {
        let odir = dir.join("overlays").join(overlay);
        std::fs::create_dir_all(&odir).map_err(|e| io_error(&odir, e))?;
        write(&odir.join(file), text)?;
        written.push(format!("overlays/{overlay}/{file}"));
    }
    Ok(written)
}
