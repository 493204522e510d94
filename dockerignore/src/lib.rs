//! `.dockerignore` patterns with Docker's rules: paths relative to the context root, `*`/`?`/`[...]` within one
//! path element, `**` across elements, `!` exceptions, the last matching pattern wins, and a pattern that matches
//! a parent directory matches everything under it.

use regex::Regex;

/// One compiled pattern.
#[derive(Debug)]
struct Pattern {
    re: Regex,
    /// Number of path elements of the pattern (to match parents).
    dirs: usize,
    exclusion: bool,
}

/// A compiled `.dockerignore`.
#[derive(Debug, Default)]
pub struct Ignore {
    patterns: Vec<Pattern>,
}

impl Ignore {
    /// Parses the file's text; errors name the line.
    pub fn parse(name: &str, text: &str) -> Result<Self, String> {
        let mut patterns = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exclusion, pat) = match line.strip_prefix('!') {
                Some(p) => (true, p.trim()),
                None => (false, line),
            };
            let clean = clean(pat);
            if clean.is_empty() {
                continue;
            }
            let re =
                Regex::new(&to_regex(&clean)).map_err(|e| format!("{name}:{}: bad pattern {line:?}: {e}", i + 1))?;
            patterns.push(Pattern {
                re,
                dirs: clean.split('/').count(),
                exclusion,
            });
        }
        Ok(Ignore { patterns })
    }

    /// Whether `rel` (a context path with `/` separators, no leading `/`) is excluded.
    pub fn excluded(&self, rel: &str) -> bool {
        let parts: Vec<&str> = rel.split('/').collect();
        let mut matched = false;
        for p in &self.patterns {
            let mut m = p.re.is_match(rel);
            if !m && parts.len() > 1 && p.dirs < parts.len() {
                m = p.re.is_match(&parts[..p.dirs].join("/"));
            }
            if m {
                matched = !p.exclusion;
            }
        }
        matched
    }

    /// Whether there are no patterns.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether some `!` pattern may keep a path under an excluded directory (then a walk must enter it).
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }
}

/// Go's filepath.Clean, relative to the context root (a leading `/` dropped).
fn clean(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    out.join("/")
}

fn to_regex(pat: &str) -> String {
    let mut re = String::from("^");
    let chars: Vec<char> = pat.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i >= chars.len() {
                    re.push_str(".*");
                } else {
                    re.push_str("(.*/)?");
                }
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '[' => {
                re.push('[');
                if chars.get(i) == Some(&'!') || chars.get(i) == Some(&'^') {
                    re.push('^');
                    i += 1;
                }
                while i < chars.len() && chars[i] != ']' {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        re.push_str(&regex::escape(&chars[i + 1].to_string()));
                        i += 2;
                        continue;
                    }
                    if chars[i] == '[' {
                        re.push('\\');
                    }
                    re.push(chars[i]);
                    i += 1;
                }
                re.push(']');
                i += 1;
            }
            '\\' if i < chars.len() => {
                re.push_str(&regex::escape(&chars[i].to_string()));
                i += 1;
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    re
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_rules() {
        let ig = Ignore::parse(
            ".dockerignore",
            "# c\n*.log\n!keep.log\nsecrets/\n**/*.tmp\ncache\n/abs\n",
        )
        .unwrap();
        assert!(ig.excluded("debug.log"));
        assert!(!ig.excluded("keep.log"));
        assert!(!ig.excluded("sub/debug.log"));
        assert!(ig.excluded("secrets"));
        assert!(ig.excluded("secrets/key"));
        assert!(ig.excluded("a/b/c.tmp"));
        assert!(ig.excluded("x.tmp"));
        assert!(ig.excluded("cache/deep/file"));
        assert!(ig.excluded("abs"));
        assert!(!ig.excluded("app.txt"));
        let ig = Ignore::parse("i", "dir\n!dir/keep\n").unwrap();
        assert!(ig.excluded("dir/drop"));
        assert!(!ig.excluded("dir/keep"));
    }
}
