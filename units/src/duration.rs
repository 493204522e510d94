//! Durations in Go syntax, as Compose and the docker CLI write them.

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
}
