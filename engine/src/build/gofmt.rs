//! Go's `fmt` renderings that dockerd's history texts are made of (`CMD %q`, `HEALTHCHECK %q`): quoted strings
//! and string lists, runes and durations, so `docker history` reads the same on berth.

/// `%q` of a string (strconv.Quote).
pub fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        escape_into(&mut out, c, '"');
    }
    out.push('"');
    out
}

/// `%q` of a `[]string`: `["a" "b"]`.
pub fn quote_list(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| quote(s)).collect();
    format!("[{}]", items.join(" "))
}

/// `%q` of an integer (strconv.QuoteRune): `'\x00'`, `'A'`.
pub fn quote_rune(n: i64) -> String {
    let c = u32::try_from(n).ok().and_then(char::from_u32).unwrap_or('\u{fffd}');
    let mut out = String::from("'");
    escape_into(&mut out, c, '\'');
    out.push('\'');
    out
}

fn escape_into(out: &mut String, c: char, quote: char) {
    match c {
        '\\' => out.push_str("\\\\"),
        c if c == quote => {
            out.push('\\');
            out.push(c);
        }
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
        c => out.push(c),
    }
}

/// Go's time.Duration.String: `0s`, `1h0m0s`, `1m30s`, `1.5s`, `500ms`.
pub fn duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let sign = if ns < 0 { "-" } else { "" };
    let u = ns.unsigned_abs();
    let body = if u < 1_000 {
        format!("{u}ns")
    } else if u < 1_000_000 {
        format!("{}µs", decimal(u, 1_000))
    } else if u < 1_000_000_000 {
        format!("{}ms", decimal(u, 1_000_000))
    } else {
        let secs = u / 1_000_000_000;
        let s = format!(
            "{}s",
            decimal(secs % 60 * 1_000_000_000 + u % 1_000_000_000, 1_000_000_000)
        );
        match (secs / 3600, secs / 60 % 60) {
            (0, 0) => s,
            (0, m) => format!("{m}m{s}"),
            (h, m) => format!("{h}h{m}m{s}"),
        }
    };
    format!("{sign}{body}")
}

/// `v / div` with the fraction's trailing zeros dropped.
fn decimal(v: u64, div: u64) -> String {
    let (whole, rem) = (v / div, v % div);
    if rem == 0 {
        return whole.to_string();
    }
    let width = div.to_string().len() - 1;
    let frac = format!("{rem:0width$}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_go_prints_them() {
        assert_eq!(
            quote_list(&["CMD-SHELL".into(), "a \"b\"\t".into()]),
            r#"["CMD-SHELL" "a \"b\"\t"]"#
        );
        assert_eq!(quote_rune(0), r"'\x00'");
        assert_eq!(quote_rune(65), "'A'");
        assert_eq!(duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(duration(90_000_000_000), "1m30s");
        assert_eq!(duration(1_500_000_000), "1.5s");
        assert_eq!(duration(2_000_000), "2ms");
        assert_eq!(duration(0), "0s");
    }
}
