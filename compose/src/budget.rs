//! Limits on what one YAML document may expand to: alias expansion ("billion laughs") and nesting depth.
//!
//! The alias rule is yaml.v3's (which Docker Compose uses): past 100 aliased nodes and 1000 decoded ones, the
//! share of nodes that come from aliases may not exceed a ratio that falls from 99% (up to 400 000 nodes)
//! to 10% (from 4 000 000). Counting happens before a copy is made, so a bomb is refused in microseconds.

/// Deepest nesting of sequences and mappings accepted; deeper documents would exhaust the stack of the
/// recursive stages after parsing.
pub const MAX_DEPTH: usize = 1000;

/// Most bytes of strings that aliases may copy (yaml.v3 shares them; a copy here costs memory).
pub const MAX_ALIAS_BYTES: usize = 64 << 20;

const RATIO_LOW: usize = 400_000;
const RATIO_HIGH: usize = 4_000_000;

/// Counts decoded nodes, with and without alias expansion.
#[derive(Debug, Default)]
pub struct Budget {
    decoded: usize,
    aliased: usize,
    alias_bytes: usize,
}

/// Share of aliased nodes yaml.v3 allows once `decoded` nodes have been read.
fn allowed_ratio(decoded: usize) -> f64 {
    if decoded <= RATIO_LOW {
        0.99
    } else if decoded >= RATIO_HIGH {
        0.10
    } else {
        let span = (RATIO_HIGH - RATIO_LOW) as f64;
        0.99 - 0.89 * ((decoded - RATIO_LOW) as f64 / span)
    }
}

impl Budget {
    /// Counts one node read from the text.
    pub fn node(&mut self) {
        self.decoded = self.decoded.saturating_add(1);
    }

    /// Counts an alias to a value of `size` nodes and `bytes` bytes of text; false when the document
    /// aliases too much.
    pub fn alias(&mut self, size: Size) -> bool {
        self.decoded = self.decoded.saturating_add(size.nodes);
        self.aliased = self.aliased.saturating_add(size.nodes);
        self.alias_bytes = self.alias_bytes.saturating_add(size.bytes);
        self.alias_bytes <= MAX_ALIAS_BYTES
            && !(self.aliased > 100
                && self.decoded > 1000
                && self.aliased as f64 / self.decoded as f64 > allowed_ratio(self.decoded))
    }

    /// Nodes decoded so far, aliases expanded.
    pub fn decoded(&self) -> usize {
        self.decoded
    }
}

/// What copying a value costs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Size {
    /// Nodes (scalars, sequences, mappings).
    pub nodes: usize,
    /// Bytes of strings and keys.
    pub bytes: usize,
}

impl Size {
    fn add(self, o: Size) -> Size {
        Size {
            nodes: self.nodes.saturating_add(o.nodes),
            bytes: self.bytes.saturating_add(o.bytes),
        }
    }
}

/// The size of a value (what an alias to it costs).
pub fn size_of(v: &serde_json::Value) -> Size {
    use serde_json::Value;
    let one = |bytes| Size { nodes: 1, bytes };
    match v {
        Value::Array(a) => a.iter().map(size_of).fold(one(0), Size::add),
        Value::Object(m) => m
            .iter()
            .map(|(k, x)| {
                size_of(x).add(Size {
                    nodes: 0,
                    bytes: k.len(),
                })
            })
            .fold(one(0), Size::add),
        Value::String(s) => one(s.len()),
        _ => one(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_documents_may_alias_freely() {
        let mut b = Budget::default();
        (0..50).for_each(|_| b.node());
        assert!(b.alias(Size { nodes: 1000, bytes: 10 }));
    }

    #[test]
    fn an_exponential_bomb_is_stopped_early() {
        let mut b = Budget::default();
        (0..100).for_each(|_| b.node());
        let mut size = 10;
        let mut refused_at = None;
        for level in 0..9 {
            for _ in 0..9 {
                if !b.alias(Size { nodes: size, bytes: 0 }) {
                    refused_at = Some(level);
                    break;
                }
            }
            if refused_at.is_some() {
                break;
            }
            size = size * 9 + 1;
        }
        assert!(
            refused_at.is_some_and(|l| l < 7),
            "{refused_at:?} after {}",
            b.decoded()
        );
    }

    #[test]
    fn copies_of_long_strings_are_bounded() {
        let mut b = Budget::default();
        (0..10_000).for_each(|_| b.node());
        let big = Size {
            nodes: 1,
            bytes: 1 << 20,
        };
        assert!((0..1000).any(|_| !b.alias(big)));
    }
}
