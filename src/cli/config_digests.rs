//! `config --resolve-image-digests` / `--lock-image-digests`: each service's image pinned to the digest its
//! registry answers, asked through the engine's distribution endpoint (`GET /distribution/{name}/json`, with
//! the docker CLI's credentials) as Docker Compose asks it; `--lock-image-digests` keeps only the images, as
//! an override file.

use crate::orchestrator::{client, credentials};
use anyhow::{Context, Result};
use imageref::ImageRef;
use serde_json::{Map, Value};

/// Replaces every service's `image` with `registry/repository:tag@digest` (compose-go's `WithImagesResolved`:
/// the fully qualified reference, with the tag kept); a reference that has a digest is only normalised.
pub fn resolve(doc: &mut Value, host: Option<&str>) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let Some(services) = doc.get_mut("services").and_then(Value::as_object_mut) else {
            return Ok(());
        };
        if services.values().all(|s| s.get("image").is_none()) {
            return Ok(());
        }
        let docker = client::connect(host).await?;
        for service in services.values_mut() {
            let Some(image) = service.get("image").and_then(Value::as_str).map(str::to_owned) else {
                continue;
            };
            let r = ImageRef::parse(&image).map_err(|e| anyhow::anyhow!("image {image:?}: {e}"))?;
            let pinned = if r.digest.is_some() {
                r.to_string()
            } else {
                let named = r.to_string();
                let creds = credentials::for_registry(&r.registry)?;
                let inspect = docker
                    .inspect_registry_image(&named, creds)
                    .await
                    .with_context(|| format!("failed to resolve digest for {named}"))?;
                format!("{named}@{}", inspect.descriptor.digest.unwrap_or_default())
            };
            service["image"] = Value::String(pinned);
        }
        Ok(())
    })
}

/// The override file `--lock-image-digests` prints: the services with their (pinned) images only.
pub fn lock(doc: &Value) -> Value {
    let services: Map<String, Value> = doc
        .get("services")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|m| m.iter())
        .map(|(name, s)| {
            let mut only = Map::new();
            if let Some(image) = s.get("image") {
                only.insert("image".into(), image.clone());
            }
            (name.clone(), Value::Object(only))
        })
        .collect();
    serde_json::json!({ "services": services })
}
