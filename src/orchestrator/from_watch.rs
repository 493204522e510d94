//! A service's `develop.watch` rules (`compose::model::Watch`) → `spec::WatchRule`, refusing, before anything
//! starts, rules Docker Compose would reject at watch time (a `rebuild` without `build:`, a relative `target`).

use super::service_body::{hook, Scope};
use super::spec::{WatchAction, WatchRule};
use anyhow::Result;
use compose::model::{Service, Watch};

/// Maps the service's `develop.watch` (empty when it has none).
pub fn map(name: &str, svc: &Service, scope: &Scope) -> Result<Vec<WatchRule>> {
    let Some(develop) = &svc.develop else {
        return Ok(Vec::new());
    };
    develop
        .watch
        .iter()
        .enumerate()
        .map(|(i, w)| rule(name, svc, i, w, scope))
        .collect()
}

fn rule(name: &str, svc: &Service, index: usize, w: &Watch, scope: &Scope) -> Result<WatchRule> {
    let at = |key: &str| format!("services.{name}.develop.watch[{index}].{key}");
    let action: WatchAction = w.action.parse().map_err(|e| scope.refuse(&at("action"), e))?;
    if action == WatchAction::Rebuild && svc.build.is_none() {
        return Err(scope.refuse(
            &at("action"),
            format!("rebuild needs a build section, and service {name:?} has none"),
        ));
    }
    if w.path.is_empty() {
        return Err(scope.refuse(&at("path"), "a watch rule needs a path"));
    }
    match &w.target {
        Some(t) if !t.starts_with('/') => {
            return Err(scope.refuse(
                &at("target"),
                format!("{t:?}: the target must be an absolute path in the container"),
            ))
        }
        None if action.syncs() => {
            return Err(scope.refuse(&at("target"), format!("{} needs a target", w.action)));
        }
        _ => {}
    }
    let exec = w.exec.as_ref().map(hook);
    if action == WatchAction::SyncExec && exec.as_ref().is_none_or(|h| h.command.is_empty()) {
        return Err(scope.refuse(&at("exec.command"), "sync+exec needs exec.command"));
    }
    Ok(WatchRule {
        action,
        path: scope.working_dir.join(&w.path),
        target: w.target.clone(),
        ignore: w.ignore.clone(),
        include: w.include.clone(),
        initial_sync: w.initial_sync.unwrap_or(false),
        exec,
        index,
    })
}
