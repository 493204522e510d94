//! YAML to a JSON value tree with positions: anchors, aliases, merge keys (`<<`), `!reset`/`!override`, duplicate keys.
//!
//! Scalars resolve like Go's yaml.v3 (which Docker Compose uses): plain `0400` is octal, quoted scalars are strings.

use crate::budget::{size_of, Budget, Size, MAX_DEPTH};
use crate::error::{ErrorKind, LoadError, Location, Result};
use crate::positions::{join_index, join_key, FilePositions};
use serde_json::{Map, Number, Value};
use std::collections::HashMap;
use std::path::Path;
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Key that marks a `!reset` node inside the tree until merging consumes it.
pub const RESET_MARK: &str = "\u{0}!reset";
/// Key that marks an `!override` node inside the tree until merging consumes it.
pub const OVERRIDE_MARK: &str = "\u{0}!override";

/// Parses one YAML document; returns its value (Null for an empty file) and the positions of its key paths.
pub fn parse(src: &str, file: &Path) -> Result<(Value, FilePositions)> {
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    let mut b = Builder {
        parser: Parser::new_from_str(src),
        src,
        anchors: HashMap::new(),
        budget: Budget::default(),
        depth: 0,
        pos: FilePositions::new(file),
        file,
        current: String::new(),
    };
    let mut docs = b.documents()?.into_iter().filter(|d| !d.is_null());
    let mut value = docs.next().unwrap_or(Value::Null);
    // Later documents of a multi-document file override earlier ones, as if given as further `-f` files.
    for d in docs {
        if !value.is_object() || !d.is_object() {
            return Err(LoadError::new(
                ErrorKind::Schema,
                "every document of a multi-document file must be a mapping",
            )
            .at(Some(Location {
                file: file.to_path_buf(),
                line: 1,
                column: 1,
            })));
        }
        crate::merge::merge(&mut value, d, &mut Vec::new());
    }
    Ok((value, b.pos))
}

/// Wraps a value in a tag marker.
pub fn mark(tag: &str, v: Value) -> Value {
    let mut m = Map::new();
    m.insert(tag.to_owned(), v);
    Value::Object(m)
}

/// If `v` is a tag marker, returns the tag key and the wrapped value.
pub fn tag_of(v: &Value) -> Option<(&'static str, &Value)> {
    let m = v.as_object()?;
    if m.len() != 1 {
        return None;
    }
    if let Some(inner) = m.get(RESET_MARK) {
        return Some((RESET_MARK, inner));
    }
    m.get(OVERRIDE_MARK).map(|inner| (OVERRIDE_MARK, inner))
}

/// The value under an `!override` marker, or the value itself: stages that run on one file before merging
/// (paths, extends) must see through the marker, or they treat it as a mapping key (`build: !override {..}`
/// would get a `context` beside the marker, and the marker would reach the output).
pub fn untagged_mut(v: &mut Value) -> &mut Value {
    if matches!(tag_of(v), Some((OVERRIDE_MARK, _))) {
        // Indexing an object by a key it holds (checked just above) cannot fail.
        return untagged_mut(&mut v[OVERRIDE_MARK]);
    }
    v
}

/// Whether `v` is a `!reset` marker (a value the merge removes; stages before it treat it as absent).
pub fn is_reset(v: &Value) -> bool {
    matches!(tag_of(v), Some((RESET_MARK, _)))
}

/// The value under an `!override` marker, or the value itself (see [`untagged_mut`]).
pub fn untagged(v: &Value) -> &Value {
    match tag_of(v) {
        Some((OVERRIDE_MARK, inner)) => untagged(inner),
        _ => v,
    }
}

/// Removes all tag markers: `!reset` entries disappear, `!override` ones become their value.
pub fn strip_tags(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if m.len() == 1 && m.contains_key(RESET_MARK) {
                *v = Value::Null;
                return;
            }
            if m.len() == 1 {
                if let Some(mut inner) = m.shift_remove(OVERRIDE_MARK) {
                    strip_tags(&mut inner);
                    *v = inner;
                    return;
                }
            }
            let reset: Vec<String> = m
                .iter()
                .filter(|(_, x)| matches!(tag_of(x), Some((RESET_MARK, _))))
                .map(|(k, _)| k.clone())
                .collect();
            for k in reset {
                m.shift_remove(&k);
            }
            m.values_mut().for_each(strip_tags);
        }
        Value::Array(a) => {
            a.retain(|x| !matches!(tag_of(x), Some((RESET_MARK, _))));
            a.iter_mut().for_each(strip_tags);
        }
        _ => {}
    }
}

struct Builder<'a> {
    parser: Parser<std::str::Chars<'a>>,
    src: &'a str,
    /// Anchored values and what a copy of each costs.
    anchors: HashMap<usize, (Value, Size)>,
    budget: Budget,
    depth: usize,
    pos: FilePositions,
    file: &'a Path,
    /// Key path of the mapping being read, named by syntax errors.
    current: String,
}

impl Builder<'_> {
    fn loc(&self, m: &Marker) -> Location {
        Location {
            file: self.file.to_path_buf(),
            line: m.line(),
            column: m.col() + 1,
        }
    }

    fn next(&mut self) -> Result<(Event, Marker)> {
        self.parser.next_token().map_err(|e| {
            let hint = if e.info().contains("did not find expected key") {
                " (is this line indented differently from the keys above it?)"
            } else {
                ""
            };
            LoadError::new(ErrorKind::Yaml, format!("YAML syntax error: {}{hint}", e.info()))
                .at(Some(self.loc(e.marker())))
                .at_path(self.current.clone())
        })
    }

    /// Every document of the stream; anchors do not cross documents.
    fn documents(&mut self) -> Result<Vec<Value>> {
        let mut docs = Vec::new();
        loop {
            let (ev, m) = self.next()?;
            match ev {
                Event::StreamEnd => return Ok(docs),
                Event::StreamStart | Event::DocumentStart | Event::DocumentEnd | Event::Nothing => continue,
                other => {
                    self.anchors.clear();
                    docs.push(self.node(other, m, "")?);
                }
            }
        }
    }

    fn node(&mut self, ev: Event, m: Marker, path: &str) -> Result<Value> {
        self.pos.record(path, m.line(), m.col() + 1);
        if !matches!(ev, Event::Alias(_)) {
            self.budget.node();
        }
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let v = resolve_scalar(&text, style, tag.as_ref());
                let v = apply_tag(v, tag.as_ref());
                self.remember(anchor, &v);
                Ok(v)
            }
            Event::SequenceStart(anchor, tag) => {
                self.enter(&m)?;
                let mut items = Vec::new();
                loop {
                    let (ev, m) = self.next()?;
                    if ev == Event::SequenceEnd {
                        break;
                    }
                    let p = join_index(path, items.len());
                    items.push(self.node(ev, m, &p)?);
                }
                self.depth -= 1;
                let v = apply_tag(Value::Array(items), tag.as_ref());
                self.remember(anchor, &v);
                Ok(v)
            }
            Event::MappingStart(anchor, tag) => {
                self.enter(&m)?;
                let v = apply_tag(self.mapping(path)?, tag.as_ref());
                self.depth -= 1;
                self.remember(anchor, &v);
                Ok(v)
            }
            Event::Alias(id) => self.alias(id, &m),
            other => {
                Err(LoadError::new(ErrorKind::Yaml, format!("unexpected YAML event {other:?}")).at(Some(self.loc(&m))))
            }
        }
    }

    fn remember(&mut self, anchor: usize, v: &Value) {
        if anchor > 0 {
            self.anchors.insert(anchor, (v.clone(), size_of(v)));
        }
    }

    /// One level deeper; refuses documents nested past [`MAX_DEPTH`].
    fn enter(&mut self, m: &Marker) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(LoadError::new(
                ErrorKind::Yaml,
                format!("document nested deeper than {MAX_DEPTH} levels"),
            )
            .at(Some(self.loc(m)))
            .at_path(self.current.clone()));
        }
        Ok(())
    }

    /// The value of an alias, counted against the expansion budget before it is copied.
    fn alias(&mut self, id: usize, m: &Marker) -> Result<Value> {
        let Some((v, size)) = self.anchors.get(&id) else {
            return Err(LoadError::new(ErrorKind::Yaml, "alias refers to an unknown anchor").at(Some(self.loc(m))));
        };
        if !self.budget.alias(*size) {
            let name = alias_name(self.src, m.index());
            return Err(LoadError::new(
                ErrorKind::Yaml,
                format!(
                    "excessive aliasing: alias *{name} would grow the document past {} nodes, most of them \
                     copies made by aliases (a YAML \"billion laughs\" bomb?); refused",
                    self.budget.decoded()
                ),
            )
            .at(Some(self.loc(m)))
            .at_path(self.current.clone()));
        }
        Ok(v.clone())
    }

    fn mapping(&mut self, path: &str) -> Result<Value> {
        let mut map = Map::new();
        let mut merged: Vec<Map<String, Value>> = Vec::new();
        let mut lines: HashMap<String, usize> = HashMap::new();
        loop {
            self.current = path.to_owned();
            let (ev, km) = self.next()?;
            let key = match ev {
                Event::MappingEnd => break,
                Event::Scalar(text, style, _, tag) => match resolve_scalar(&text, style, tag.as_ref()) {
                    Value::String(s) => s,
                    _ if text == "<<" => text,
                    other => return Err(self.non_string_key(&other, &km, path)),
                },
                Event::Alias(id) => match self.anchors.get(&id).map(|(v, _)| v) {
                    Some(Value::String(s)) => s.clone(),
                    Some(v) if !v.is_object() && !v.is_array() => {
                        return Err(self.non_string_key(&v.clone(), &km, path))
                    }
                    _ => return Err(self.complex_key(&km)),
                },
                _ => return Err(self.complex_key(&km)),
            };
            let (vev, vm) = self.next()?;
            if key == "<<" {
                let v = self.node(vev, vm, path)?;
                merged.extend(merge_sources(v).ok_or_else(|| {
                    LoadError::new(
                        ErrorKind::Yaml,
                        "merge key `<<` expects a mapping or a list of mappings",
                    )
                    .at(Some(self.loc(&km)))
                    .at_path(path)
                })?);
                continue;
            }
            if let Some(first) = lines.get(&key) {
                return Err(LoadError::new(
                    ErrorKind::Yaml,
                    format!("mapping key {key:?} already defined at line {first}"),
                )
                .at(Some(self.loc(&km)))
                .at_path(join_key(path, &key)));
            }
            lines.insert(key.clone(), km.line());
            let p = join_key(path, &key);
            self.pos.record(&p, km.line(), km.col() + 1);
            let v = self.node(vev, vm, &p)?;
            map.insert(key, v);
        }
        Ok(Value::Object(apply_merges(map, merged)))
    }

    /// Compose reads mapping keys as strings only: `1:`, `true:` or `~:` must be quoted.
    fn non_string_key(&self, key: &Value, m: &Marker, path: &str) -> LoadError {
        let shown = if key.is_null() {
            "null".to_owned()
        } else {
            key.to_string()
        };
        let within = if path.is_empty() {
            "the top level".to_owned()
        } else {
            path.to_owned()
        };
        LoadError::new(
            ErrorKind::Yaml,
            format!("non-string key {shown} in {within}: mapping keys must be strings (quote it)"),
        )
        .at(Some(self.loc(m)))
        .at_path(path)
    }

    fn complex_key(&self, m: &Marker) -> LoadError {
        LoadError::new(ErrorKind::Yaml, "mapping keys must be plain scalars").at(Some(self.loc(m)))
    }
}

/// The mappings named by a `<<` value, in priority order.
fn merge_sources(v: Value) -> Option<Vec<Map<String, Value>>> {
    match v {
        Value::Object(m) => Some(vec![m]),
        Value::Array(items) => items
            .into_iter()
            .map(|i| match i {
                Value::Object(m) => Some(m),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

/// Explicit keys win over merged ones; among merged mappings, the first listed wins.
fn apply_merges(explicit: Map<String, Value>, merged: Vec<Map<String, Value>>) -> Map<String, Value> {
    if merged.is_empty() {
        return explicit;
    }
    let mut out = Map::new();
    for src in &merged {
        for (k, v) in src {
            if !out.contains_key(k) && !explicit.contains_key(k) {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    let mut result = Map::new();
    // Keep merged keys first, like yaml.v3, then the explicit ones in their order.
    for (k, v) in out {
        result.insert(k, v);
    }
    for (k, v) in explicit {
        result.insert(k, v);
    }
    result
}

/// The anchor name an alias at char offset `at` of `src` refers to (`*name`).
fn alias_name(src: &str, at: usize) -> String {
    src.chars()
        .skip(at)
        .skip_while(|&c| c == '*')
        .take_while(|c| !c.is_whitespace() && !matches!(c, ',' | ']' | '}' | '[' | '{'))
        .take(200)
        .collect()
}

fn is_core_tag(tag: Option<&Tag>, suffix: &str) -> bool {
    tag.is_some_and(|t| t.suffix == suffix && (t.handle == "!!" || t.handle.starts_with("tag:yaml.org,2002")))
}

fn apply_tag(v: Value, tag: Option<&Tag>) -> Value {
    match tag {
        Some(t) if t.handle == "!" && t.suffix == "reset" => mark(RESET_MARK, v),
        Some(t) if t.handle == "!" && t.suffix == "override" => mark(OVERRIDE_MARK, v),
        _ => v,
    }
}

/// Resolves a scalar the way yaml.v3 does when decoding into `interface{}`.
fn resolve_scalar(text: &str, style: TScalarStyle, tag: Option<&Tag>) -> Value {
    // A scalar tagged `!override`/`!reset` is not resolved by yaml.v3 (its tag is not a core one): Compose reads
    // `command: !override null` as the string "null", and typed fields convert the text later.
    let local_tag = tag.is_some_and(|t| t.handle == "!" && matches!(t.suffix.as_str(), "override" | "reset"));
    if is_core_tag(tag, "str") || style != TScalarStyle::Plain || local_tag {
        return Value::String(text.to_owned());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Some(n) = parse_int(text) {
        return n;
    }
    if let Some(f) = parse_float(text) {
        return f;
    }
    Value::String(text.to_owned())
}

/// Go `strconv.ParseInt(s, 0, 64)` after removing underscores, as yaml.v3 resolves plain scalars.
fn parse_int(text: &str) -> Option<Value> {
    let plain: String = text.chars().filter(|&c| c != '_').collect();
    let (neg, body) = match plain.as_bytes().first()? {
        b'-' => (true, &plain[1..]),
        b'+' => (false, &plain[1..]),
        _ => (false, plain.as_str()),
    };
    if body.is_empty() || !body.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    let (radix, digits) = if let Some(d) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        (16, d)
    } else if let Some(d) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
        (8, d)
    } else if let Some(d) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
        (2, d)
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else {
        (10, body)
    };
    if digits.is_empty() {
        return None;
    }
    let mag = u64::from_str_radix(digits, radix).ok()?;
    if neg {
        let n = i64::try_from(mag).ok()?;
        Some(Value::Number(Number::from(-n)))
    } else {
        Some(Value::Number(Number::from(mag)))
    }
}

fn parse_float(text: &str) -> Option<Value> {
    let plain: String = text.chars().filter(|&c| c != '_').collect();
    let body = plain.strip_prefix(['-', '+']).unwrap_or(&plain);
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let mant_ok = match mantissa.split_once('.') {
        Some((a, b)) => {
            a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
                && !(a.is_empty() && b.is_empty())
        }
        None => !mantissa.is_empty() && mantissa.bytes().all(|c| c.is_ascii_digit()),
    };
    let exp_ok = exp.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit())
    });
    if !(mant_ok && exp_ok) {
        return None;
    }
    let f: f64 = plain.parse().ok()?;
    Number::from_f64(f).map(Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Value {
        parse(s, Path::new("t.yaml"))
            .map(|(v, _)| v)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn scalars_resolve_like_yaml_v3() {
        let v = p("a: 0400\nb: '0400'\nc: 1.5\nd: ~\ne: yes\nf: true\ng: 0x10\n");
        assert_eq!(v["a"], 256);
        assert_eq!(v["b"], "0400");
        assert_eq!(v["c"], 1.5);
        assert!(v["d"].is_null());
        assert_eq!(v["e"], "yes");
        assert_eq!(v["f"], true);
        assert_eq!(v["g"], 16);
    }

    #[test]
    fn merge_keys_and_anchors() {
        let v = p("x: &a {k: 1, j: 2}\ny:\n  <<: *a\n  k: 3\n");
        assert_eq!(v["y"]["k"], 3);
        assert_eq!(v["y"]["j"], 2);
    }

    #[test]
    fn duplicate_key_names_line() {
        let e = parse("a:\n  b: 1\n  b: 2\n", Path::new("t.yaml")).unwrap_err();
        assert_eq!(e.location.map(|l| l.line), Some(3));
        assert!(e.message.contains("already defined at line 2"));
    }

    #[test]
    fn syntax_error_points_at_real_line() {
        let e = parse("services:\n  a:\n    image: a\n   ports: [1]\n", Path::new("t.yaml")).unwrap_err();
        assert_eq!(e.location.map(|l| l.line), Some(4));
    }

    #[test]
    fn reset_tags_are_marked_and_stripped() {
        let mut v = p("a: !reset []\nb: !override {c: 1}\n");
        assert!(tag_of(&v["a"]).is_some());
        strip_tags(&mut v);
        assert!(v.get("a").is_none());
        assert_eq!(v["b"]["c"], 1);
    }
}
