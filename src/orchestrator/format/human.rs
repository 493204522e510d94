//! Numbers and lists as Docker prints them: go-units' durations and sizes, Go's `%g`, `strconv.Quote`, the
//! CLI's ellipsis and its port summaries.

use std::fmt::Write;

/// go-units `HumanDuration`: "Less than a second", "1 second", "About a minute", "3 hours", "2 weeks"...
/// Go's durations end at about 292 years, so an older time (an image made at Go's zero time) says that.
pub fn duration(secs: i64) -> String {
    let secs = secs.clamp(0, i64::MAX / 1_000_000_000);
    let (minutes, hours) = (secs / 60, ((secs as f64) / 3600.0 + 0.5) as i64);
    match () {
        _ if secs < 1 => "Less than a second".to_owned(),
        _ if secs == 1 => "1 second".to_owned(),
        _ if secs < 60 => format!("{secs} seconds"),
        _ if minutes == 1 => "About a minute".to_owned(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".to_owned(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", secs / 3600 / 24 / 365),
    }
}

/// Seconds from `unix_secs` to now.
pub fn age(unix_secs: i64) -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    now - unix_secs
}

/// go-units `HumanSizeWithPrecision(bytes, 3)`: decimal units, three significant digits ("1.99MB").
pub fn size(bytes: f64) -> String {
    scaled(bytes, 1000.0, &["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"], 3)
}

/// go-units `BytesSize`: binary units, four significant digits ("504KiB", "23.54GiB").
pub fn bytes_size(bytes: f64) -> String {
    scaled(
        bytes,
        1024.0,
        &["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"],
        4,
    )
}

fn scaled(mut value: f64, base: f64, units: &[&str], precision: usize) -> String {
    let mut i = 0;
    while value >= base && i < units.len() - 1 {
        value /= base;
        i += 1;
    }
    format!("{}{}", go_g(value, precision), units[i])
}

/// Go's `%.{precision}g`: the shortest of fixed and exponent notation at that many significant digits, without
/// trailing zeros.
pub fn go_g(value: f64, precision: usize) -> String {
    if value == 0.0 || !value.is_finite() {
        return if value == 0.0 {
            "0".to_owned()
        } else {
            value.to_string()
        };
    }
    let precision = precision.max(1);
    let sci = format!("{:.*e}", precision - 1, value);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= precision as i32 {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{}e{sign}{:02}", trim_zeros(mantissa), exp.abs());
    }
    let decimals = (precision as i32 - 1 - exp).max(0) as usize;
    trim_zeros(&format!("{value:.decimals$}")).to_owned()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Go's `strconv.Quote`: double quotes, with Go's escapes for what is not printable.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The docker CLI's `Ellipsis`: at most `max` characters, the last one `…` when cut.
pub fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// One port of a container as the list endpoint gives it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Port {
    /// Port inside the container.
    pub private: u16,
    /// Host address, empty when not published.
    pub ip: String,
    /// Host port (0 when not published).
    pub public: u16,
    /// tcp, udp or sctp.
    pub proto: String,
}

/// The docker CLI's `DisplayablePorts`: ports published on the same port number grouped into ranges per
/// address and protocol ("0.0.0.0:5000-5002->5000-5002/tcp"), other mappings after them one by one.
pub fn ports(list: &[Port]) -> String {
    let mut sorted = list.to_vec();
    sorted.sort();
    let mut groups: Vec<(String, u16, u16)> = Vec::new();
    let mut open: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut result = Vec::new();
    let mut mappings = Vec::new();
    for p in &sorted {
        let mut key = p.proto.clone();
        if !p.ip.is_empty() {
            if p.public != p.private {
                mappings.push(format!(
                    "{}->{}/{}",
                    host_port(&p.ip, &p.public.to_string()),
                    p.private,
                    p.proto
                ));
                continue;
            }
            key = format!("{}/{}", p.ip, p.proto);
        }
        match open.get(&key).copied() {
            None => {
                open.insert(key.clone(), groups.len());
                groups.push((key, p.private, p.private));
            }
            Some(g) if groups[g].2.checked_add(1) == Some(p.private) => groups[g].2 = p.private,
            Some(g) => {
                result.push(group_text(&groups[g]));
                groups[g] = (key, p.private, p.private);
            }
        }
    }
    result.extend(groups.iter().map(group_text));
    result.extend(mappings);
    result.join(", ")
}

fn group_text((key, first, last): &(String, u16, u16)) -> String {
    let (ip, proto) = key.rsplit_once('/').unwrap_or(("", key));
    let range = if first == last {
        first.to_string()
    } else {
        format!("{first}-{last}")
    };
    if ip.is_empty() {
        format!("{range}/{proto}")
    } else {
        format!("{}->{range}/{proto}", host_port(ip, &range))
    }
}

/// Go's `net.JoinHostPort`: IPv6 addresses in brackets.
fn host_port(ip: &str, port: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_go_units() {
        assert_eq!(duration(0), "Less than a second");
        assert_eq!(duration(1), "1 second");
        assert_eq!(duration(59), "59 seconds");
        assert_eq!(duration(61), "About a minute");
        assert_eq!(duration(600), "10 minutes");
        assert_eq!(duration(3600), "About an hour");
        assert_eq!(duration(5 * 86400), "5 days");
        assert_eq!(duration(300 * 365 * 86400), "292 years");
    }

    #[test]
    fn sizes_as_go_units() {
        assert_eq!(size(1_986_656.0), "1.99MB");
        assert_eq!(size(0.0), "0B");
        assert_eq!(size(846.0), "846B");
        assert_eq!(size(999_900.0), "1e+03kB");
        assert_eq!(bytes_size(504.0 * 1024.0), "504KiB");
        assert_eq!(bytes_size(23.54 * 1024.0 * 1024.0 * 1024.0), "23.54GiB");
    }

    #[test]
    fn quotes_as_go() {
        assert_eq!(quote("sleep 600"), "\"sleep 600\"");
        assert_eq!(quote("a\"b\n\x01"), "\"a\\\"b\\n\\x01\"");
    }

    #[test]
    fn ports_grouped_as_the_docker_cli() {
        let p = |private, ip: &str, public| Port {
            private,
            ip: ip.to_owned(),
            public,
            proto: "tcp".to_owned(),
        };
        let list = [
            p(5001, "0.0.0.0", 5001),
            p(5000, "0.0.0.0", 5000),
            p(80, "0.0.0.0", 8080),
            p(22, "", 0),
        ];
        assert_eq!(
            ports(&list),
            "22/tcp, 0.0.0.0:5000-5001->5000-5001/tcp, 0.0.0.0:8080->80/tcp"
        );
        assert_eq!(ports(&[p(80, "::", 8080)]), "[::]:8080->80/tcp");
    }
}
