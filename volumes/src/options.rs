//! Mount option vocabulary shared by binds, tmpfs mounts and local-driver volumes.

use serde::{Deserialize, Serialize};

use nix::mount::MsFlags;

/// Mount propagation, as Docker spells it; berth's default is `rprivate` so nothing reaches the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Propagation {
    /// `private`
    Private,
    /// `rprivate` (default)
    #[default]
    Rprivate,
    /// `shared`
    Shared,
    /// `rshared`
    Rshared,
    /// `slave`
    Slave,
    /// `rslave`
    Rslave,
}

impl Propagation {
    /// Parses Docker's spelling; `None` if `s` is not a propagation mode.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "private" => Propagation::Private,
            "rprivate" => Propagation::Rprivate,
            "shared" => Propagation::Shared,
            "rshared" => Propagation::Rshared,
            "slave" => Propagation::Slave,
            "rslave" => Propagation::Rslave,
            _ => return None,
        })
    }

    /// Docker's (and the OCI runtime spec's) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Propagation::Private => "private",
            Propagation::Rprivate => "rprivate",
            Propagation::Shared => "shared",
            Propagation::Rshared => "rshared",
            Propagation::Slave => "slave",
            Propagation::Rslave => "rslave",
        }
    }

    /// The flags for mount(2) that set this propagation.
    pub fn flags(self) -> MsFlags {
        match self {
            Propagation::Private => MsFlags::MS_PRIVATE,
            Propagation::Rprivate => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
            Propagation::Shared => MsFlags::MS_SHARED,
            Propagation::Rshared => MsFlags::MS_SHARED | MsFlags::MS_REC,
            Propagation::Slave => MsFlags::MS_SLAVE,
            Propagation::Rslave => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        }
    }
}

/// tmpfs mount options, validated word by word (`size=64m`, `mode=1777`, `noexec`, `uid=1000`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TmpfsOptions {
    /// Validated option words in the order given; later words win.
    pub words: Vec<String>,
}

/// Flag words mount(2) takes as flags (set, or clear when the bool is false).
const FLAG_WORDS: &[(&str, MsFlags, bool)] = &[
    ("ro", MsFlags::MS_RDONLY, true),
    ("rw", MsFlags::MS_RDONLY, false),
    ("nosuid", MsFlags::MS_NOSUID, true),
    ("suid", MsFlags::MS_NOSUID, false),
    ("nodev", MsFlags::MS_NODEV, true),
    ("dev", MsFlags::MS_NODEV, false),
    ("noexec", MsFlags::MS_NOEXEC, true),
    ("exec", MsFlags::MS_NOEXEC, false),
    ("sync", MsFlags::MS_SYNCHRONOUS, true),
    ("async", MsFlags::MS_SYNCHRONOUS, false),
    ("noatime", MsFlags::MS_NOATIME, true),
    ("atime", MsFlags::MS_NOATIME, false),
    ("nodiratime", MsFlags::MS_NODIRATIME, true),
    ("diratime", MsFlags::MS_NODIRATIME, false),
    ("relatime", MsFlags::MS_RELATIME, true),
    ("norelatime", MsFlags::MS_RELATIME, false),
    ("strictatime", MsFlags::MS_STRICTATIME, true),
];

/// Checks the value of a tmpfs data option.
type Validator = fn(&str) -> bool;

/// tmpfs data keys passed to the kernel, with a validator of their value.
const DATA_KEYS: &[(&str, Validator)] = &[
    ("size", valid_size),
    ("nr_blocks", valid_size),
    ("nr_inodes", valid_size),
    ("mode", valid_octal),
    ("uid", valid_decimal),
    ("gid", valid_decimal),
    ("huge", valid_huge),
];

impl TmpfsOptions {
    /// Parses a comma-separated option string (`o=` of a tmpfs volume, a `HostConfig.Tmpfs` value).
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut opts = TmpfsOptions::default();
        for word in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            opts.push(word)?;
        }
        Ok(opts)
    }

    /// Validates and appends one option word.
    pub fn push(&mut self, word: &str) -> Result<(), String> {
        if FLAG_WORDS.iter().any(|(w, _, _)| *w == word) {
            self.words.push(word.to_string());
            return Ok(());
        }
        let Some((key, value)) = word.split_once('=') else {
            return Err(format!("unknown tmpfs option {word:?} (expected e.g. size=64m, mode=1777, uid=N, gid=N, ro, noexec, nosuid, nodev)"));
        };
        match DATA_KEYS.iter().find(|(k, _)| *k == key) {
            Some((_, valid)) if valid(value) => {
                self.words.push(word.to_string());
                Ok(())
            }
            Some(_) => Err(format!("tmpfs option {key} has invalid value {value:?}")),
            None => Err(format!(
                "unknown tmpfs option {key:?} (expected size, mode, uid, gid, nr_inodes, nr_blocks or huge)"
            )),
        }
    }

    /// Whether an option word with this key (or this flag) is present.
    pub fn has(&self, key: &str) -> bool {
        self.words
            .iter()
            .any(|w| w == key || w.split_once('=').is_some_and(|(k, _)| k == key))
    }

    /// Flags and data string for mount(2), starting from `base` flags.
    pub fn to_mount(&self, base: MsFlags) -> (MsFlags, String) {
        let mut flags = base;
        let mut data = Vec::new();
        for word in &self.words {
            match FLAG_WORDS.iter().find(|(w, _, _)| w == word) {
                Some((_, f, true)) => flags.insert(*f),
                Some((_, f, false)) => flags.remove(*f),
                None => data.push(word.as_str()),
            }
        }
        (flags, data.join(","))
    }
}

/// A byte size as Docker reads tmpfs `size` (`64m`, `1.5g`, `4096`).
pub fn parse_size(s: &str) -> Option<u64> {
    units::parse_bytes(s).and_then(|n| u64::try_from(n).ok())
}

fn valid_size(v: &str) -> bool {
    parse_size(v).is_some()
        || v.strip_suffix('%')
            .is_some_and(|n| n.parse::<u8>().is_ok_and(|p| p <= 100))
}

fn valid_octal(v: &str) -> bool {
    !v.is_empty() && v.len() <= 4 && u32::from_str_radix(v, 8).is_ok()
}

fn valid_decimal(v: &str) -> bool {
    v.parse::<u32>().is_ok()
}

fn valid_huge(v: &str) -> bool {
    matches!(v, "never" | "always" | "within_size" | "advise")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64m"), Some(64 << 20));
        assert_eq!(parse_size("1G"), Some(1 << 30));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size(""), None);
        assert_eq!(parse_size("99999999999999g"), None);
    }

    #[test]
    fn tmpfs_options_split_flags_and_data() {
        let o = TmpfsOptions::parse("size=1m,mode=1777,noexec,uid=1000,exec,ro").unwrap();
        let (flags, data) = o.to_mount(MsFlags::MS_NOEXEC | MsFlags::MS_NOSUID);
        assert_eq!(data, "size=1m,mode=1777,uid=1000");
        assert!(!flags.contains(MsFlags::MS_NOEXEC));
        assert!(flags.contains(MsFlags::MS_NOSUID | MsFlags::MS_RDONLY));
        assert!(o.has("size") && o.has("ro") && !o.has("gid"));
    }

    #[test]
    fn tmpfs_options_refuse_garbage() {
        for bad in ["size=lots", "mode=999", "uid=-1", "bogus", "foo=1", "huge=maybe"] {
            let err = TmpfsOptions::parse(bad).unwrap_err();
            assert!(err.contains("tmpfs option"), "{bad}: {err}");
        }
    }

    #[test]
    fn propagation_round_trip() {
        for p in ["private", "rprivate", "shared", "rshared", "slave", "rslave"] {
            assert_eq!(Propagation::parse(p).unwrap().as_str(), p);
        }
        assert_eq!(Propagation::parse("ro"), None);
        assert_eq!(Propagation::default(), Propagation::Rprivate);
    }
}
