//! YAML text of a JSON document in the style Docker Compose prints (go-yaml v3, two-space indent): sequences
//! indented under their key, `null`, `{}` and `[]` written out, multi-line strings as literal blocks, and
//! quotes on every string a YAML 1.1 reader would take for something else (`yes`, `off`, `1:1`, `0x1f`, `1e3`),
//! so PyYAML and other 1.1 readers read back what was printed.

use serde_json::Value;

/// The document as YAML text.
pub fn to_yaml(doc: &Value) -> String {
    let mut out = String::new();
    if is_block(doc) {
        block(doc, 0, &mut out);
    } else {
        out.push_str(&inline(doc, 0));
        out.push('\n');
    }
    out
}

/// A non-empty mapping or sequence as block lines at `indent`.
fn block(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) => {
            for (k, item) in m {
                out.push_str(&pad);
                out.push_str(&key_text(k));
                out.push(':');
                value_after_key(item, indent, out);
            }
        }
        Value::Array(a) => {
            for item in a {
                if is_block(item) {
                    let mut child = String::new();
                    block(item, indent + 2, &mut child);
                    // The item's first line starts right after `- `.
                    out.push_str(&pad);
                    out.push_str("- ");
                    out.push_str(&child[indent + 2..]);
                } else {
                    out.push_str(&pad);
                    out.push('-');
                    value_after_key(item, indent, out);
                }
            }
        }
        _ => {}
    }
}

/// What follows `key:` (or `-`): a nested block on the next lines, or a space and an inline value.
fn value_after_key(v: &Value, indent: usize, out: &mut String) {
    if is_block(v) {
        out.push('\n');
        block(v, indent + 2, out);
    } else {
        out.push(' ');
        out.push_str(&inline(v, indent));
        out.push('\n');
    }
}

fn is_block(v: &Value) -> bool {
    match v {
        Value::Object(m) => !m.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => false,
    }
}

fn inline(v: &Value, indent: usize) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => scalar_text(s, indent),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
    }
}

/// A mapping key: plain when that reads back as the same text, else double-quoted.
fn key_text(k: &str) -> String {
    if plain_ok(k) {
        k.to_owned()
    } else {
        quoted(k)
    }
}

/// Double-quoted, with JSON's escapes (which are YAML's).
fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

/// A string as a plain scalar when that reads back as the same string, a literal block when it spans lines,
/// else double-quoted.
fn scalar_text(s: &str, indent: usize) -> String {
    if s.contains('\n') {
        literal_block(s, indent).unwrap_or_else(|| quoted(s))
    } else {
        key_text(s)
    }
}

/// `|`, `|-` or `|+` and the lines indented under the key; None when a line could not survive as written
/// (leading space on the first line, trailing blanks, control characters).
fn literal_block(s: &str, indent: usize) -> Option<String> {
    let body = s.trim_end_matches('\n');
    let trailing = s.len() - body.len();
    let chomp = match trailing {
        0 => "-",
        1 => "",
        _ => "+",
    };
    let bad_line = |l: &str| l.ends_with([' ', '\t']) || l.chars().any(|c| c.is_control() && c != '\t');
    // A reader takes the block's indentation from its first non-empty line, so that line may not start blank.
    let first_text = body.lines().find(|l| !l.is_empty()).unwrap_or("");
    if first_text.starts_with([' ', '\t']) || body.is_empty() || body.lines().any(bad_line) {
        return None;
    }
    let pad = " ".repeat(indent + 2);
    let mut out = format!("|{chomp}");
    for line in s[..body.len() + trailing.saturating_sub(1)].split('\n') {
        out.push('\n');
        if !line.is_empty() {
            out.push_str(&pad);
            out.push_str(line);
        }
    }
    Some(out)
}

/// Whether `s` may be written unquoted: it must not start or end like YAML syntax and must not read as a
/// null, boolean or number under YAML 1.1 or 1.2.
fn plain_ok(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    let second = s[first.len_utf8()..].chars().next();
    let indicator_start = match first {
        '-' | '?' | ':' => second.is_none_or(|c| c == ' '),
        ',' | '[' | ']' | '{' | '}' | '#' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%' | '@' | '`' => true,
        _ => false,
    };
    !(indicator_start
        || s.starts_with([' ', '\t'])
        || s.ends_with([' ', '\t', ':'])
        || s.contains(": ")
        || s.contains(" #")
        || s.chars().any(|c| c.is_control())
        || resolves_to_non_string(s))
}

fn resolves_to_non_string(s: &str) -> bool {
    const WORDS: [&str; 26] = [
        "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE",
        "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
    ];
    WORDS.contains(&s) || is_number(s) || is_base60(s)
}

/// Integers (decimal, `0x`, `0o`, `0b`, YAML 1.1 octal, underscores) and floats (with exponent, `.inf`,
/// `.nan`) as either YAML version reads them.
fn is_number(s: &str) -> bool {
    let t = s.strip_prefix(['+', '-']).unwrap_or(s);
    let lower = t.to_ascii_lowercase();
    if matches!(lower.as_str(), ".inf" | ".nan") {
        return true;
    }
    let digits = t.replace('_', "");
    if digits.is_empty() {
        return false;
    }
    let radix = |p: &str, r: u32| {
        lower
            .strip_prefix(p)
            .is_some_and(|d| !d.is_empty() && u64::from_str_radix(&d.replace('_', ""), r).is_ok())
    };
    radix("0x", 16)
        || radix("0o", 8)
        || radix("0b", 2)
        || digits
            .parse::<f64>()
            .is_ok_and(|_| !lower.contains("inf") && !lower.contains("nan"))
}

/// YAML 1.1's sexagesimal numbers: `1:30`, `190:20:30.15`.
fn is_base60(s: &str) -> bool {
    let t = s.strip_prefix(['+', '-']).unwrap_or(s);
    let mut parts = t.split(':');
    let Some(head) = parts.next() else {
        return false;
    };
    let rest: Vec<&str> = parts.collect();
    if rest.is_empty() || head.is_empty() || !head.chars().all(|c| c.is_ascii_digit() || c == '_') {
        return false;
    }
    let (last, middle) = rest.split_last().map_or(("", &[][..]), |(l, m)| (*l, m));
    let sixty = |p: &str| !p.is_empty() && p.len() <= 2 && p.chars().all(|c| c.is_ascii_digit());
    let last_int = last.split('.').next().unwrap_or("");
    middle.iter().all(|p| sixty(p))
        && sixty(last_int)
        && last[last_int.len()..]
            .chars()
            .skip(1)
            .all(|c| c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compose_style_blocks() {
        let doc = json!({
            "name": "p",
            "services": {"a": {
                "command": ["nodemon", "--debug"],
                "environment": {"A": "yes", "B": "1:1", "C": "plain text", "D": "", "E": "0x1f", "F": "1e3"},
                "networks": {"default": null},
                "ports": [{"mode": "ingress", "target": 80, "published": "5001"}],
                "volumes": [],
                "labels": {},
                "entrypoint": ["sh", "-c", "echo a\necho b\n"],
            }},
        });
        let want = "name: p\nservices:\n  a:\n    command:\n      - nodemon\n      - --debug\n    environment:\n      \
                    A: \"yes\"\n      B: \"1:1\"\n      C: plain text\n      D: \"\"\n      E: \"0x1f\"\n      F: \"1e3\"\n    \
                    networks:\n      default: null\n    ports:\n      - mode: ingress\n        target: 80\n        \
                    published: \"5001\"\n    volumes: []\n    labels: {}\n    entrypoint:\n      - sh\n      - -c\n      \
                    - |\n        echo a\n        echo b\n";
        assert_eq!(to_yaml(&doc), want);
    }

    #[test]
    fn quoting_reads_back() {
        for s in [
            "-", "- a", ": x", "a: b", "a #b", "a:", " a", "#x", "*x", "null", "~", "OFF", "12", "-1.5", ".inf",
            "1:30", "1_000",
        ] {
            assert!(!plain_ok(s), "{s:?} must be quoted");
        }
        for s in [
            "--debug",
            "postgres:9.4",
            "a-b",
            "http://x:80/y",
            "1.2.3",
            "50000:0x",
            "a#b",
            "x,y",
        ] {
            assert!(plain_ok(s), "{s:?} may stay plain");
        }
        // A literal block keeps its text; one that cannot is quoted.
        assert_eq!(scalar_text("a\nb", 0), "|-\n  a\n  b");
        assert_eq!(scalar_text(" a\nb", 0), "\" a\\nb\"");
        assert_eq!(scalar_text("\n  a\n", 0), "\"\\n  a\\n\"");
    }
}
