//! Source positions of every key path of every loaded file, so late stages can still name file:line:column.

use crate::error::Location;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Positions of the key paths of one file.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FilePositions {
    /// The file these positions belong to.
    pub file: PathBuf,
    map: HashMap<String, (usize, usize)>,
}

impl FilePositions {
    /// An empty index for `file`.
    pub fn new(file: &Path) -> Self {
        FilePositions {
            file: file.to_path_buf(),
            map: HashMap::new(),
        }
    }

    /// Records where `path` starts (first record wins).
    pub fn record(&mut self, path: &str, line: usize, column: usize) {
        self.map.entry(path.to_owned()).or_insert((line, column));
    }

    /// Exact position of `path`, if recorded.
    pub fn exact(&self, path: &str) -> Option<Location> {
        self.map.get(path).map(|&(line, column)| Location {
            file: self.file.clone(),
            line,
            column,
        })
    }

    /// Position of `path` or of its nearest recorded ancestor.
    pub fn nearest(&self, path: &str) -> Option<Location> {
        let mut p = path;
        loop {
            if let Some(l) = self.exact(p) {
                return Some(l);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }
}

/// Positions of all files loaded for a project.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Positions {
    files: Vec<FilePositions>,
}

impl Positions {
    /// Adds one file's index.
    pub fn push(&mut self, f: FilePositions) {
        self.files.push(f);
    }

    /// Position of `path` (or its nearest ancestor) in one given file.
    pub fn find_in(&self, file: &Path, path: &str) -> Option<Location> {
        self.files
            .iter()
            .rev()
            .find(|f| f.file == file)
            .and_then(|f| f.nearest(path))
    }

    /// Finds `path` exactly in the latest file that has it, else the nearest ancestor anywhere.
    pub fn find(&self, path: &str) -> Option<Location> {
        self.files
            .iter()
            .rev()
            .find_map(|f| f.exact(path))
            .or_else(|| self.files.iter().rev().find_map(|f| f.nearest(path)))
    }
}

/// Joins a key to a path (`services` + `web` = `services.web`).
pub fn join_key(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Joins an index to a path (`ports` + 2 = `ports[2]`).
pub fn join_index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}
