//! Which changed paths a `develop.watch` rule acts on: under its path, not an editor's temporary file, not
//! matched by its `ignore` patterns nor by the build context's `.dockerignore`, and matched by its `include`
//! patterns when it has some. Patterns follow `.dockerignore` rules (the `dockerignore` crate the builds use).

use super::spec::{BuildSpec, WatchRule};
use anyhow::{Context, Result};
use dockerignore::Ignore;
use std::path::{Path, PathBuf};

/// Names editors write beside the file they save (vim swap and backup files, vim's `4913` write probe,
/// emacs lock files, JetBrains safe-write files): their churn must not trigger a sync.
pub fn is_editor_temp(name: &str) -> bool {
    name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.ends_with('~')
        || name == "4913"
        || name.starts_with(".#")
        || name.ends_with("___jb_tmp___")
        || name.ends_with("___jb_old___")
}

/// The compiled filter of one rule.
#[derive(Debug)]
pub struct RuleFilter {
    root: PathBuf,
    ignore: Ignore,
    include: Option<Ignore>,
    /// The build context and its `.dockerignore`, which Compose applies to every rule of the service.
    context: Option<(PathBuf, Ignore)>,
}

impl RuleFilter {
    /// Compiles `rule`'s patterns and reads the `.dockerignore` of `build`'s context, if any.
    pub fn new(rule: &WatchRule, build: Option<&BuildSpec>) -> Result<Self> {
        let name = format!("develop.watch[{}].ignore", rule.index);
        let ignore = Ignore::parse(&name, &rule.ignore.join("\n")).map_err(anyhow::Error::msg)?;
        let include = if rule.include.is_empty() {
            None
        } else {
            let name = format!("develop.watch[{}].include", rule.index);
            Some(Ignore::parse(&name, &rule.include.join("\n")).map_err(anyhow::Error::msg)?)
        };
        let context = match build {
            Some(b) => context_ignore(&b.context)?.map(|i| (b.context.clone(), i)),
            None => None,
        };
        Ok(Self {
            root: rule.path.clone(),
            ignore,
            include,
            context,
        })
    }

    /// The rule's host path.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether a change of `path` counts for the rule.
    pub fn accepts(&self, path: &Path) -> bool {
        match (self.unignored(path), &self.include) {
            (Some(rel), Some(include)) => rel.is_empty() || include.excluded(&rel),
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

    /// Whether a directory met during a walk may hold accepted files (`include` patterns match files, so
    /// a directory is entered unless it is ignored).
    pub fn enters(&self, dir: &Path) -> bool {
        self.unignored(dir).is_some()
    }

    /// `path` relative to the rule's path when it is under it and no ignore rule or editor name excludes it.
    fn unignored(&self, path: &Path) -> Option<String> {
        let rel = path.strip_prefix(&self.root).ok()?;
        if path.file_name().and_then(|n| n.to_str()).is_some_and(is_editor_temp) {
            return None;
        }
        let rel = slashed(rel);
        if !rel.is_empty() && self.ignore.excluded(&rel) {
            return None;
        }
        if let Some((context, ignore)) = &self.context {
            if let Ok(in_context) = path.strip_prefix(context) {
                let in_context = slashed(in_context);
                if !in_context.is_empty() && ignore.excluded(&in_context) {
                    return None;
                }
            }
        }
        Some(rel)
    }
}

fn slashed(rel: &Path) -> String {
    rel.to_string_lossy().replace(std::path::MAIN_SEPARATOR, "/")
}

fn context_ignore(context: &Path) -> Result<Option<Ignore>> {
    let file = context.join(".dockerignore");
    match std::fs::read_to_string(&file) {
        Ok(text) => Ignore::parse(".dockerignore", &text)
            .map(Some)
            .map_err(anyhow::Error::msg),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", file.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orchestrator::spec::WatchAction;

    fn rule(ignore: &[&str], include: &[&str]) -> WatchRule {
        WatchRule {
            action: WatchAction::Sync,
            path: PathBuf::from("/p/src"),
            target: Some("/app".into()),
            ignore: ignore.iter().map(|s| (*s).to_owned()).collect(),
            include: include.iter().map(|s| (*s).to_owned()).collect(),
            initial_sync: false,
            exec: None,
            index: 0,
        }
    }

    #[test]
    fn editor_files_ignores_and_includes() {
        let f = RuleFilter::new(&rule(&["*.log", "cache/"], &[]), None).expect("filter");
        assert!(f.accepts(Path::new("/p/src/a.txt")));
        assert!(f.accepts(Path::new("/p/src/sub/b.txt")));
        assert!(!f.accepts(Path::new("/p/other/a.txt")));
        assert!(!f.accepts(Path::new("/p/src/a.log")));
        assert!(!f.accepts(Path::new("/p/src/cache/x")));
        for temp in [".a.txt.swp", "a.txt~", "4913", ".#a.txt", "a.txt___jb_tmp___"] {
            assert!(!f.accepts(&Path::new("/p/src").join(temp)), "{temp}");
        }
        let f = RuleFilter::new(&rule(&[], &["*.js"]), None).expect("filter");
        assert!(f.accepts(Path::new("/p/src/a.js")));
        assert!(!f.accepts(Path::new("/p/src/a.css")));
        assert!(f.enters(Path::new("/p/src/lib")));
    }
}
