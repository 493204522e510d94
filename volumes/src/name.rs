//! Volume names, validated as Docker's local driver does.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Longest name accepted: one path component on every Linux filesystem.
const MAX_LEN: usize = 255;

/// A valid volume name: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, so never `/`, `.` or `..`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct VolumeName(String);

impl VolumeName {
    /// Parses and validates a user-supplied name.
    pub fn new(name: &str) -> Result<Self> {
        let bad = |reason: &str| Error::InvalidName {
            name: name.to_string(),
            reason: reason.to_string(),
        };
        if name.len() < 2 {
            return Err(bad(
                "volume name is too short, names should be at least two alphanumeric characters (as Docker requires)",
            ));
        }
        if name.len() > MAX_LEN {
            return Err(bad("names must be at most 255 characters"));
        }
        if !name.as_bytes()[0].is_ascii_alphanumeric() {
            return Err(bad("names must start with a letter or digit ([a-zA-Z0-9][a-zA-Z0-9_.-]+); to use a host directory, give an absolute path"));
        }
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
        {
            return Err(bad(&format!(
                "character {c:?} is not allowed, only [a-zA-Z0-9][a-zA-Z0-9_.-] are; to use a host directory, give an absolute path"
            )));
        }
        Ok(VolumeName(name.to_string()))
    }

    /// A fresh random name (64 hex digits), as Docker gives anonymous volumes.
    pub fn generate() -> Self {
        let bytes: [u8; 32] = rand::random();
        VolumeName(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for VolumeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for VolumeName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        VolumeName::new(s)
    }
}

impl TryFrom<String> for VolumeName {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        VolumeName::new(&s)
    }
}

impl From<VolumeName> for String {
    fn from(n: VolumeName) -> String {
        n.0
    }
}

impl AsRef<str> for VolumeName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_docker_names() {
        for ok in ["db", "my_vol-1.x", "A0", "pg.data"] {
            assert_eq!(VolumeName::new(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn refuses_paths_and_short_names() {
        for bad in [
            "", "a", "../x", "..", ".", "a/b", "/abs", "-x", "_x", ".hidden", "a b", "é1",
        ] {
            let err = VolumeName::new(bad).unwrap_err();
            assert!(matches!(err, Error::InvalidName { .. }), "{bad}: {err}");
            assert!(err.to_string().contains("invalid volume name"), "{err}");
        }
        assert!(VolumeName::new(&"a".repeat(256)).is_err());
    }

    #[test]
    fn generated_names_are_valid_and_unique() {
        let a = VolumeName::generate();
        let b = VolumeName::generate();
        assert_eq!(a.as_str().len(), 64);
        assert_ne!(a, b);
        assert!(VolumeName::new(a.as_str()).is_ok());
    }

    #[test]
    fn serde_validates() {
        assert!(serde_json::from_str::<VolumeName>("\"../x\"").is_err());
        let n: VolumeName = serde_json::from_str("\"data\"").unwrap();
        assert_eq!(serde_json::to_string(&n).unwrap(), "\"data\"");
    }
}
