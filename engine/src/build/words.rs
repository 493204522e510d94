//! Dockerfile words: variable substitution (`$v`, `${v}`, `${v:-w}`, `${v:+w}`, `${v-w}`, `${v+w}`, `${v:?m}`),
//! quote removal and the escape character, as the classic builder's shell lexer does it; and splitting of
//! `ENV`/`LABEL`/`ARG` arguments into `key=value` pairs.

use std::collections::HashMap;

/// Variables visible to an instruction (ENV of the stage over the build args in scope).
pub type Vars = HashMap<String, String>;

/// Expands one word: substitutes variables, removes quotes and escapes.
pub fn expand(word: &str, vars: &Vars, escape: char) -> Result<String, String> {
    let chars: Vec<char> = word.chars().collect();
    let mut lx = Lexer {
        s: &chars,
        i: 0,
        vars,
        escape,
    };
    lx.word(None)
}

struct Lexer<'a> {
    s: &'a [char],
    i: usize,
    vars: &'a Vars,
    escape: char,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    /// Reads until the end or an unquoted `stop` character (left unread).
    fn word(&mut self, stop: Option<char>) -> Result<String, String> {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                break;
            }
            self.i += 1;
            match c {
                '\'' => self.single_quoted(&mut out)?,
                '"' => self.double_quoted(&mut out)?,
                '$' => out.push_str(&self.dollar()?),
                c if c == self.escape => match self.next() {
                    Some(n) => out.push(n),
                    None => out.push(c),
                },
                c => out.push(c),
            }
        }
        Ok(out)
    }

    fn single_quoted(&mut self, out: &mut String) -> Result<(), String> {
        loop {
            match self.next() {
                Some('\'') => return Ok(()),
                Some(c) => out.push(c),
                None => return Err("unexpected end of statement while looking for matching single-quote".into()),
            }
        }
    }

    fn double_quoted(&mut self, out: &mut String) -> Result<(), String> {
        loop {
            match self.next() {
                Some('"') => return Ok(()),
                Some('$') => out.push_str(&self.dollar()?),
                Some(c) if c == self.escape => match self.peek() {
                    Some(n) if n == '"' || n == '$' || n == self.escape => {
                        self.i += 1;
                        out.push(n);
                    }
                    _ => out.push(c),
                },
                Some(c) => out.push(c),
                None => return Err("unexpected end of statement while looking for matching double-quote".into()),
            }
        }
    }

    /// After a `$`: a name, `${...}`, or a literal `$`.
    fn dollar(&mut self) -> Result<String, String> {
        match self.peek() {
            Some('{') => {
                self.i += 1;
                self.braced()
            }
            Some(c) if c.is_alphanumeric() || c == '_' => {
                let name = self.name();
                Ok(self.vars.get(&name).cloned().unwrap_or_default())
            }
            // Docker reads the shell's special parameters (`$$`, `$#`, ...) as names no variable has.
            Some('@' | '*' | '#' | '?' | '-' | '$' | '!') => {
                self.i += 1;
                Ok(String::new())
            }
            _ => Ok("$".into()),
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        if self.peek().is_some_and(|c| c.is_ascii_digit()) {
            while let Some(c) = self.peek().filter(|c| c.is_ascii_digit()) {
                name.push(c);
                self.i += 1;
            }
            return name;
        }
        while let Some(c) = self.peek().filter(|c| c.is_alphanumeric() || *c == '_') {
            name.push(c);
            self.i += 1;
        }
        name
    }

    fn braced(&mut self) -> Result<String, String> {
        let name = self.name();
        if name.is_empty() {
            return Err("bad substitution: a variable name is missing after '${'".into());
        }
        let value = self.vars.get(&name);
        let op = match self.next() {
            Some('}') => return Ok(value.cloned().unwrap_or_default()),
            Some(':') => match self.next() {
                Some(c @ ('-' | '+' | '?')) => format!(":{c}"),
                other => {
                    return Err(format!(
                        "unsupported modifier ':{}' in ${{{name}}}",
                        other.unwrap_or(' ')
                    ))
                }
            },
            Some(c @ ('-' | '+' | '?')) => c.to_string(),
            Some(c) => return Err(format!("unsupported modifier '{c}' in ${{{name}}}")),
            None => return Err(format!("missing '}}' in ${{{name}")),
        };
        let word = self.word(Some('}'))?;
        if self.next() != Some('}') {
            return Err(format!("missing '}}' in ${{{name}"));
        }
        let set = value.is_some();
        let non_empty = value.is_some_and(|v| !v.is_empty());
        Ok(match op.as_str() {
            ":-" if non_empty => value.cloned().unwrap_or_default(),
            ":-" => word,
            "-" if set => value.cloned().unwrap_or_default(),
            "-" => word,
            ":+" if non_empty => word,
            "+" if set => word,
            ":+" | "+" => String::new(),
            ":?" if !non_empty => {
                return Err(format!(
                    "{name}: {}",
                    if word.is_empty() {
                        "is not allowed to be empty"
                    } else {
                        &word
                    }
                ))
            }
            "?" if !set => {
                return Err(format!(
                    "{name}: {}",
                    if word.is_empty() {
                        "is not allowed to be unset"
                    } else {
                        &word
                    }
                ))
            }
            _ => value.cloned().unwrap_or_default(),
        })
    }
}

/// Splits at unquoted whitespace, keeping quotes and escapes (they are removed later by [`expand`]).
pub fn split_words(s: &str, escape: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    let mut in_word = false;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
                continue;
            }
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (Some('\''), _) => {}
            (_, c) if c == escape => {
                cur.push(c);
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                in_word = true;
                continue;
            }
            _ => {}
        }
        cur.push(c);
        in_word = true;
    }
    if in_word {
        out.push(cur);
    }
    out
}

/// `ENV`/`LABEL` arguments as raw (unexpanded) key/value pairs: `k=v k2="v 2"`, or the legacy `k v...` form.
pub fn key_values(args: &str, escape: char) -> Result<Vec<(String, String)>, String> {
    let words = split_words(args, escape);
    let Some(first) = words.first() else {
        return Err("requires at least one argument".into());
    };
    if !first.contains('=') {
        // Legacy form: the first word is the key, the rest of the line (as written) the value.
        let rest = args.trim_start()[first.len()..].trim();
        if rest.is_empty() {
            return Err(format!(
                "{first}: requires a value (`{first}=value` or `{first} value`)"
            ));
        }
        return Ok(vec![(first.clone(), rest.to_owned())]);
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => Err(format!("{w}: expected key=value")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        [("A", "x"), ("E", "")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn substitutions() {
        let v = vars();
        let e = |s: &str| expand(s, &v, '\\').unwrap();
        assert_eq!(e("$A/b"), "x/b");
        assert_eq!(e("${A}b"), "xb");
        assert_eq!(e("${B:-d}"), "d");
        assert_eq!(e("${E:-d}"), "d");
        assert_eq!(e("${E-d}"), "");
        assert_eq!(e("${A:+y}"), "y");
        assert_eq!(e("${B:+y}"), "");
        assert_eq!(e("\\$A"), "$A");
        assert_eq!(e("'$A'"), "$A");
        assert_eq!(e("\"$A b\""), "x b");
        assert_eq!(e("${B:-${A}}"), "x");
        assert!(expand("${A", &v, '\\').is_err());
    }

    #[test]
    fn pairs() {
        let kv = key_values(r#"a=1 "b c"="d e" f=g\ h"#, '\\').unwrap();
        assert_eq!(kv.len(), 3);
        assert_eq!(kv[1], ("\"b c\"".into(), "\"d e\"".into()));
        assert_eq!(
            key_values("K some value", '\\').unwrap(),
            vec![("K".into(), "some value".into())]
        );
    }
}
