//! `.env` / `env_file` parsing with the rules Docker Compose follows: `export`, comments, quotes,
//! `KEY: value`, inherited keys, substitution, multi-line quoted values, BOM.

use crate::error::{ErrorKind, LoadError, Location, Result};
use crate::interpolate::{substitute, template_error};
use indexmap::IndexMap;
use std::path::Path;

/// Ordered variables read from a dotenv file.
pub type EnvMap = IndexMap<String, String>;

/// Reads and parses a dotenv file; `lookup` resolves inherited keys and substitutions first.
pub fn read_file(path: &Path, lookup: &dyn Fn(&str) -> Option<String>) -> Result<EnvMap> {
    let src = std::fs::read_to_string(path).map_err(|e| {
        LoadError::new(
            ErrorKind::Io,
            format!("failed to read env file {}: {e}", path.display()),
        )
    })?;
    parse(&src, lookup).map_err(|(line, msg)| {
        LoadError::new(ErrorKind::Dotenv, msg).at(Some(Location {
            file: path.to_path_buf(),
            line,
            column: 1,
        }))
    })
}

/// Reads an env file in `format: raw`: every non-empty line is `KEY=VALUE` taken literally.
pub fn read_raw(path: &Path) -> Result<EnvMap> {
    let src = std::fs::read_to_string(path).map_err(|e| {
        LoadError::new(
            ErrorKind::Io,
            format!("failed to read env file {}: {e}", path.display()),
        )
    })?;
    let mut out = EnvMap::new();
    for line in src.lines().filter(|l| !l.is_empty()) {
        let (k, v) = line.split_once('=').unwrap_or((line, ""));
        out.insert(k.to_owned(), v.to_owned());
    }
    Ok(out)
}

/// Parses dotenv text; on failure returns the 1-based line and the message.
pub fn parse(src: &str, lookup: &dyn Fn(&str) -> Option<String>) -> std::result::Result<EnvMap, (usize, String)> {
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    let src = src.replace("\r\n", "\n");
    let mut p = DotenvParser {
        line: 1,
        out: EnvMap::new(),
    };
    let mut rest: &str = &src;
    loop {
        rest = p.statement_start(rest);
        if rest.is_empty() {
            break;
        }
        let (key, after, inherited) = p.key(rest)?;
        if key.contains(' ') {
            return Err((p.line, format!("key {key:?} cannot contain a space")));
        }
        if inherited {
            if let Some(v) = lookup(&key) {
                p.out.insert(key, v);
            }
            p.line += 1;
            rest = after;
            continue;
        }
        let (value, after) = p.value(after, lookup)?;
        p.out.insert(key, value);
        rest = after;
    }
    Ok(p.out)
}

struct DotenvParser {
    line: usize,
    out: EnvMap,
}

fn is_space(c: char) -> bool {
    c != '\n' && c.is_whitespace()
}

impl DotenvParser {
    /// Skips blank space and comment lines, counting lines.
    fn statement_start<'a>(&mut self, mut s: &'a str) -> &'a str {
        loop {
            let trimmed = s.trim_start_matches(|c: char| c.is_whitespace());
            self.line += s[..s.len() - trimmed.len()].matches('\n').count();
            s = trimmed;
            if !s.starts_with('#') {
                return s;
            }
            match s.find('\n') {
                Some(i) => s = &s[i..],
                None => return "",
            }
        }
    }

    /// Reads the key; returns it, the rest after the separator, and whether the key stands alone.
    fn key<'a>(&self, s: &'a str) -> std::result::Result<(String, &'a str, bool), (usize, String)> {
        let s = strip_export(s);
        for (i, c) in s.char_indices() {
            if is_space(c) {
                continue;
            }
            match c {
                '=' | ':' | '\n' => {
                    let key = s[..i].trim_end().to_owned();
                    let rest = &s[i + 1..];
                    let rest = if c == '\n' {
                        rest
                    } else {
                        rest.trim_start_matches(is_space)
                    };
                    return Ok((key, rest, c == '\n'));
                }
                '_' | '.' | '-' | '[' | ']' => {}
                c if c.is_alphanumeric() => {}
                c => {
                    let first = s.lines().next().unwrap_or_default();
                    return Err((
                        self.line,
                        format!("unexpected character {c:?} in variable name {first:?}"),
                    ));
                }
            }
        }
        Ok((s.trim_end().to_owned(), "", true))
    }

    fn value<'a>(
        &mut self,
        s: &'a str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> std::result::Result<(String, &'a str), (usize, String)> {
        let quote = match s.chars().next() {
            Some(q @ ('"' | '\'')) => q,
            _ => return self.unquoted(s, lookup),
        };
        let mut escaped = false;
        for (i, c) in s.char_indices().skip(1) {
            if c == '\n' {
                self.line += 1;
            }
            if c != quote || escaped {
                escaped = !escaped && c == '\\';
                continue;
            }
            let raw = &s[1..i];
            let value = if quote == '"' {
                self.expand(&expand_escapes(raw), lookup)?
            } else {
                raw.replace("\\'", "'")
            };
            return Ok((value, &s[i + 1..]));
        }
        let first = s.lines().next().unwrap_or_default();
        Err((self.line, format!("unterminated quoted value {first}")))
    }

    fn unquoted<'a>(
        &mut self,
        s: &'a str,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> std::result::Result<(String, &'a str), (usize, String)> {
        let (line, rest) = s.split_once('\n').unwrap_or((s, ""));
        let line = line.split_once(" #").map_or(line, |(v, _)| v);
        let value = self.expand(line.trim_end(), lookup)?;
        self.line += 1;
        Ok((value, rest))
    }

    /// Substitutes `${VAR}` with the outer environment first, then keys read so far.
    fn expand(&self, v: &str, lookup: &dyn Fn(&str) -> Option<String>) -> std::result::Result<String, (usize, String)> {
        let local = |k: &str| lookup(k).or_else(|| self.out.get(k).cloned());
        substitute(v, &local).map_err(|e| (self.line, template_error(e, "").message))
    }
}

fn strip_export(s: &str) -> &str {
    match s.strip_prefix("export") {
        Some(r) if r.starts_with(is_space) => r.trim_start_matches(is_space),
        _ => s,
    }
}

/// Double-quoted escapes: `\n`, `\r` become control characters, `\x` becomes `x` (but `\$` stays for substitution).
fn expand_escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('$') => out.push_str("$$"),
            Some(o) => out.push(o),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn plain_quoted_exported() {
        let src = "OPTION_A=1\nexport B='x y'\nC = \"a\\nb\" # c\nD = my string # Inline comment\nE:F\n# c\nG='Let\\'s go!'\n";
        let m = parse(src, &none).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(m["OPTION_A"], "1");
        assert_eq!(m["B"], "x y");
        assert_eq!(m["C"], "a\nb");
        assert_eq!(m["D"], "my string");
        assert_eq!(m["E"], "F");
        assert_eq!(m["G"], "Let's go!");
    }

    #[test]
    fn substitution_and_inherited() {
        let look = |k: &str| (k == "OS").then(|| "os".to_owned());
        let m = parse("A=1\nB=${A}_$OS\nOS\nMISSING\n", &look).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(m["B"], "1_os");
        assert_eq!(m["OS"], "os");
        assert!(!m.contains_key("MISSING"));
    }

    #[test]
    fn space_in_key_names_line() {
        let e = parse("# c\nfoo=\"\n a\n\"\nINVALID LINE\nzot=qix", &none).unwrap_err();
        assert_eq!(e.0, 5);
        assert!(e.1.contains("cannot contain a space"));
    }

    #[test]
    fn bom_is_ignored() {
        let m = parse("\u{feff}A=1\n", &none).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(m["A"], "1");
    }
}
