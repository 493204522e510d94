//! Byte sizes as Docker's `units.RAMInBytes` reads them (`512m`, `1.5g`, `64MiB`; binary units).

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
