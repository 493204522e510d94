//! Durations (Go syntax, as Compose prints them) and byte sizes (`512m` → bytes).

/// Parses a Go duration such as `1m30s`, `500ms`, `1.5h` into nanoseconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest.bytes().take_while(|c| c.is_ascii_digit() || *c == b'.').count();
        if num_len == 0 {
            return None;
        }
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest.bytes().take_while(|c| !(c.is_ascii_digit() || *c == b'.')).count();
        let unit = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += n * unit;
    }
    if total > i64::MAX as f64 {
        return None;
    }
    let t = total.round() as i64;
    Some(if neg { -t } else { t })
}

/// Formats nanoseconds like Go's `time.Duration.String()` (`1m0s`, `500ms`, `1h2m3.5s`).
pub fn format_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        let (div, unit) = if u < 1_000 {
            (1, "ns")
        } else if u < 1_000_000 {
            (1_000, "µs")
        } else {
            (1_000_000, "ms")
        };
        out.push_str(&frac(u, div));
        out.push_str(unit);
    } else {
        let h = u / 3_600_000_000_000;
        let m = (u / 60_000_000_000) % 60;
        let s_ns = u % 60_000_000_000;
        if h > 0 {
            out.push_str(&format!("{h}h"));
        }
        if h > 0 || m > 0 {
            out.push_str(&format!("{m}m"));
        }
        out.push_str(&frac(s_ns, 1_000_000_000));
        out.push('s');
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

/// `v / div` with the fraction written without trailing zeros.
fn frac(v: u64, div: u64) -> String {
    let whole = v / div;
    let rem = v % div;
    if rem == 0 {
        return whole.to_string();
    }
    let width = div.to_string().len() - 1;
    let f = format!("{rem:0width$}");
    format!("{whole}.{}", f.trim_end_matches('0'))
}

/// Parses a byte size like `512m`, `1.5g`, `100`, `1e3k` (binary units, case-insensitive, optional `b`/`ib`) as
/// Docker's go-units does: the number is everything up to the last digit, dot or space (a float, exponents
/// allowed), then at most three letters of unit; negative sizes are refused, a fraction of a byte is dropped.
pub fn parse_bytes(s: &str) -> Option<i64> {
    let sep = s.rfind(|c: char| c.is_ascii_digit() || c == '.' || c == ' ')?;
    let (num, unit) = if s.as_bytes()[sep] == b' ' {
        (&s[..sep], &s[sep + 1..])
    } else {
        (&s[..=sep], &s[sep + 1..])
    };
    // Go's float syntax takes `_` between digits; Rust's does not.
    let n: f64 = num.replace('_', "").parse().ok()?;
    if n < 0.0 || n.is_nan() {
        return None;
    }
    let mult: f64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024f64.powi(2),
        "g" | "gb" | "gib" => 1024f64.powi(3),
        "t" | "tb" | "tib" => 1024f64.powi(4),
        "p" | "pb" | "pib" => 1024f64.powi(5),
        _ => return None,
    };
    let v = n * mult;
    // Go's conversion of a float too large for int64 gives its minimum on amd64, which Compose then prints.
    Some(if v < i64::MAX as f64 { v as i64 } else { i64::MIN })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip_like_go() {
        for (i, o) in [
            ("1m30s", "1m30s"),
            ("1m", "1m0s"),
            ("500ms", "500ms"),
            ("2s", "2s"),
            ("1h", "1h0m0s"),
            ("1.5s", "1.5s"),
            ("0", "0s"),
        ] {
            assert_eq!(parse_duration(i).map(format_duration).as_deref(), Some(o), "{i}");
        }
        assert_eq!(parse_duration("fast"), None);
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_bytes("512M"), Some(536_870_912));
        assert_eq!(parse_bytes("256m"), Some(268_435_456));
        assert_eq!(parse_bytes("1000000"), Some(1_000_000));
        assert_eq!(parse_bytes("1.5g"), Some(1_610_612_736));
        assert_eq!(parse_bytes("x"), None);
        assert_eq!(parse_bytes("1e3k"), Some(1_024_000));
        assert_eq!(parse_bytes("1_000"), Some(1000));
        assert_eq!(parse_bytes("512 m"), Some(536_870_912));
        assert_eq!(parse_bytes(" 1e3"), None);
        assert_eq!(parse_bytes("-1e3"), None);
    }
}
