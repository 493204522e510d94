//! Byte sizes as Docker's `units.RAMInBytes` reads them (`512m`, `1.5g`, `64MiB`; binary units).

/// Parses a byte size like `512m`, `1.5g`, `100` (binary units, case-insensitive, optional `b`/`ib`).
pub fn parse_bytes(s: &str) -> Option<i64> {
    let t = s.trim();
    let num_len = t.bytes().take_while(|c| c.is_ascii_digit() || *c == b'.').count();
    if num_len == 0 {
        return None;
    }
    let n: f64 = t[..num_len].parse().ok()?;
    let unit = t[num_len..].trim().to_ascii_lowercase();
    let mult: f64 = match unit.as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024f64.powi(2),
        "g" | "gb" | "gib" => 1024f64.powi(3),
        "t" | "tb" | "tib" => 1024f64.powi(4),
        "p" | "pb" | "pib" => 1024f64.powi(5),
        _ => return None,
    };
    let v = n * mult;
    (v <= i64::MAX as f64).then_some(v as i64)
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
    }
}
