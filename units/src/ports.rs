//! A port or an inclusive range of ports (`8080`, `8000-8010`), as Compose files, `EXPOSE` and the Engine
//! API's `HostPort` write them.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A port or an inclusive range of ports; `0` stands for "any port" where the caller allows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortRange {
    /// First port.
    pub start: u16,
    /// Last port (equal to `start` for one port).
    pub end: u16,
}

/// Why a port range did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortRangeError {
    /// Not a number or `a-b`.
    Syntax(String),
    /// A number above 65535.
    OutOfRange(u64),
    /// `a-b` with a above b.
    Reversed(String),
}

impl fmt::Display for PortRangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax(s) => write!(f, "invalid port or port range {s:?}"),
            Self::OutOfRange(p) => write!(f, "port {p} out of range"),
            Self::Reversed(s) => write!(f, "invalid port range {s:?}: its start is above its end"),
        }
    }
}

impl std::error::Error for PortRangeError {}

impl PortRange {
    /// One port.
    pub fn single(port: u16) -> Self {
        Self { start: port, end: port }
    }

    /// The ports in the range, in order.
    pub fn ports(self) -> std::ops::RangeInclusive<u16> {
        self.start..=self.end
    }

    /// How many ports the range holds.
    pub fn count(self) -> usize {
        usize::from(self.end - self.start) + 1
    }

    /// Whether the range is the single port 0 ("any port").
    pub fn is_any(self) -> bool {
        self.start == 0 && self.end == 0
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

impl std::str::FromStr for PortRange {
    type Err = PortRangeError;
    fn from_str(s: &str) -> Result<Self, PortRangeError> {
        let port = |p: &str| -> Result<u16, PortRangeError> {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(PortRangeError::Syntax(s.to_owned()));
            }
            let n: u64 = p.parse().map_err(|_| PortRangeError::OutOfRange(u64::MAX))?;
            u16::try_from(n).map_err(|_| PortRangeError::OutOfRange(n))
        };
        let (start, end) = match s.split_once('-') {
            Some((a, b)) => (port(a)?, port(b)?),
            None => (port(s)?, port(s)?),
        };
        if start > end {
            return Err(PortRangeError::Reversed(s.to_owned()));
        }
        Ok(Self { start, end })
    }
}

impl Serialize for PortRange {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RangeVisitor)
    }
}

struct RangeVisitor;

impl Visitor<'_> for RangeVisitor {
    type Value = PortRange;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a port number or a range such as 8080-8090")
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<PortRange, E> {
        u16::try_from(n)
            .map(PortRange::single)
            .map_err(|_| E::custom(PortRangeError::OutOfRange(n)))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<PortRange, E> {
        match u64::try_from(n) {
            Ok(n) => self.visit_u64(n),
            Err(_) => Err(E::custom(PortRangeError::Syntax(n.to_string()))),
        }
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<PortRange, E> {
        s.parse().map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ports_and_ranges() {
        assert_eq!("80".parse(), Ok(PortRange::single(80)));
        assert_eq!("8000-8010".parse::<PortRange>().map(PortRange::count), Ok(11));
        assert_eq!("0".parse::<PortRange>().map(PortRange::is_any), Ok(true));
        assert_eq!("70000".parse::<PortRange>(), Err(PortRangeError::OutOfRange(70000)));
        assert_eq!("9-8".parse::<PortRange>(), Err(PortRangeError::Reversed("9-8".into())));
        for bad in ["", "-", "8-", "a", "+80", " 80", "1-2-3"] {
            assert!(
                matches!(bad.parse::<PortRange>(), Err(PortRangeError::Syntax(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn prints_as_written() {
        assert_eq!(PortRange { start: 1, end: 3 }.to_string(), "1-3");
        assert_eq!(PortRange::single(5).to_string(), "5");
    }
}
