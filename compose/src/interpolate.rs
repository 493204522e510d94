//! Variable substitution: `$VAR`, `${VAR}`, `${VAR:-d}`, `${VAR-d}`, `${VAR:?e}`, `${VAR?e}`, `${VAR:+r}`, `${VAR+r}`, `$$`.

use crate::error::{ErrorKind, LoadError, Result};
use crate::positions::{join_index, join_key};
use serde_json::Value;

/// Why a template could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    /// `$` not followed by a name, `{`, or `$`; or an unclosed `${`.
    Invalid(String),
    /// `${VAR:?msg}` / `${VAR?msg}` with the variable missing.
    Required {
        /// The variable.
        name: String,
        /// The message given after `?`.
        message: String,
    },
}

/// Expands `s` using `lookup`; an unset variable without default expands to "".
pub fn substitute(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> std::result::Result<String, TemplateError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(body_start) = after.strip_prefix('{') {
            let end = closing_brace(body_start).ok_or_else(|| TemplateError::Invalid(s.to_owned()))?;
            out.push_str(&expand_braced(&body_start[..end], s, lookup)?);
            rest = &body_start[end + 1..];
        } else {
            let n = name_len(after);
            if n == 0 {
                // Like Compose: a `$` not starting a name or `${` stays a literal `$` (`$(cmd)`, `$1`, `$@`).
                out.push('$');
                rest = after;
                continue;
            }
            out.push_str(&lookup(&after[..n]).unwrap_or_default());
            rest = &after[n..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Length of the variable name at the start of `s` (`[_a-zA-Z][_a-zA-Z0-9]*`).
pub(crate) fn name_len(s: &str) -> usize {
    let b = s.as_bytes();
    if b.first().is_none_or(|c| !(c.is_ascii_alphabetic() || *c == b'_')) {
        return 0;
    }
    b.iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
        .count()
}

/// Index of the `}` closing a `${`, counting nested `${ }`.
pub(crate) fn closing_brace(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'$' if b.get(i + 1) == Some(&b'$') => i += 1,
            b'$' if b.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

fn expand_braced(
    body: &str,
    whole: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> std::result::Result<String, TemplateError> {
    let n = name_len(body);
    if n == 0 {
        return Err(TemplateError::Invalid(whole.to_owned()));
    }
    let name = &body[..n];
    let op = &body[n..];
    let value = lookup(name);
    let set_nonempty = value.as_deref().is_some_and(|v| !v.is_empty());
    let sub = |t: &str| substitute(t, lookup);
    if op.is_empty() {
        return Ok(value.unwrap_or_default());
    }
    if let Some(d) = op.strip_prefix(":-") {
        return if set_nonempty {
            Ok(value.unwrap_or_default())
        } else {
            sub(d)
        };
    }
    if let Some(d) = op.strip_prefix(":?") {
        return if set_nonempty {
            Ok(value.unwrap_or_default())
        } else {
            required(name, sub(d)?)
        };
    }
    if let Some(r) = op.strip_prefix(":+") {
        return if set_nonempty { sub(r) } else { Ok(String::new()) };
    }
    if let Some(d) = op.strip_prefix('-') {
        return match value {
            Some(v) => Ok(v),
            None => sub(d),
        };
    }
    if let Some(d) = op.strip_prefix('?') {
        return match value {
            Some(v) => Ok(v),
            None => required(name, sub(d)?),
        };
    }
    if let Some(r) = op.strip_prefix('+') {
        return if value.is_some() { sub(r) } else { Ok(String::new()) };
    }
    Err(TemplateError::Invalid(whole.to_owned()))
}

fn required(name: &str, message: String) -> std::result::Result<String, TemplateError> {
    Err(TemplateError::Required {
        name: name.to_owned(),
        message,
    })
}

/// Expands every string value (not keys) of a tree; `path` names the key path for errors.
pub fn interpolate_tree(v: &mut Value, path: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<()> {
    match v {
        Value::String(s) if s.contains('$') => {
            *s = substitute(s, lookup).map_err(|e| template_error(e, path))?;
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate_tree(item, &join_index(path, i), lookup)?;
            }
        }
        Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                let p = if k.starts_with('\u{0}') {
                    path.to_owned()
                } else {
                    join_key(path, k)
                };
                interpolate_tree(item, &p, lookup)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Turns a template failure into a load error naming the key path.
pub fn template_error(e: TemplateError, path: &str) -> LoadError {
    let msg = match e {
        TemplateError::Invalid(t) => {
            format!("invalid interpolation format in {t:?}: expected `$NAME`, `${{NAME}}` or `${{NAME<op>...}}`; write `$$` for a literal `$`")
        }
        TemplateError::Required { name, message } => {
            format!("required variable {name} is missing a value: {message}")
        }
    };
    LoadError::new(ErrorKind::Interpolation, msg).at_path(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "SET" => Some("hello".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn s(t: &str) -> String {
        substitute(t, &env).unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[test]
    fn all_forms() {
        assert_eq!(s("${SET:-d}"), "hello");
        assert_eq!(s("${UNSET:-d}"), "d");
        assert_eq!(s("${EMPTY:-d}"), "d");
        assert_eq!(s("${EMPTY-d}"), "");
        assert_eq!(s("${SET:+alt}"), "alt");
        assert_eq!(s("${UNSET:+alt}"), "");
        assert_eq!(s("${EMPTY+alt}"), "alt");
        assert_eq!(s("${UNSET:-${SET:-x}}"), "hello");
        assert_eq!(s("$SET/path"), "hello/path");
        assert_eq!(s("$$SET and $${SET}"), "$SET and ${SET}");
        assert_eq!(s("${NOPE}"), "");
    }

    #[test]
    fn required_and_invalid() {
        assert_eq!(
            substitute("${X:?must be set}", &env),
            Err(TemplateError::Required {
                name: "X".into(),
                message: "must be set".into()
            })
        );
        assert!(matches!(substitute("${EMPTY?m}", &env), Ok(v) if v.is_empty()));
        assert_eq!(substitute("a $ b $(x) $1", &env).ok().as_deref(), Some("a $ b $(x) $1"));
        assert!(matches!(substitute("${}", &env), Err(TemplateError::Invalid(_))));
        assert!(matches!(substitute("${1}", &env), Err(TemplateError::Invalid(_))));
        assert!(matches!(substitute("${unclosed", &env), Err(TemplateError::Invalid(_))));
    }

    proptest! {
        #[test]
        fn text_without_dollar_is_unchanged(t in "[^$]*") {
            prop_assert_eq!(substitute(&t, &env).ok(), Some(t.clone()));
        }

        #[test]
        fn escaped_dollars_become_single(t in "[a-z{}]*") {
            let escaped = t.replace('$', "$$");
            let input = format!("$${escaped}");
            prop_assert_eq!(substitute(&input, &env).ok(), Some(format!("${t}")));
        }

        #[test]
        fn never_panics(t in "\\PC*") {
            let _ = substitute(&t, &env);
        }

        #[test]
        fn default_applies_when_unset(d in "[a-z0-9 ]*") {
            prop_assert_eq!(substitute(&format!("${{UNSET_X:-{d}}}"), &env).ok(), Some(d.clone()));
        }
    }
}
