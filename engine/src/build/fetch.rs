//! `ADD <url>`: the file fetched over HTTP(S) as the classic builder does (named after the URL's last path
//! element, mode 0600, mtime from `Last-Modified`, never unpacked), with `--checksum=sha256:...` verified.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// A fetch that failed; the message is what the client shows after the Dockerfile line.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// `--checksum` is not `sha256:<64 hex digits>`.
    #[error("invalid checksum {0:?}: expected sha256:<64 hex digits>")]
    BadChecksum(String),
    /// The content's digest differs from `--checksum`.
    #[error("checksum mismatch for {url}: expected {want}, got {got}")]
    Mismatch {
        /// The URL.
        url: String,
        /// `--checksum`.
        want: Checksum,
        /// What was fetched.
        got: Checksum,
    },
    /// The server answered with an error status.
    #[error("failed to GET {url} with status {status}")]
    Status {
        /// The URL.
        url: String,
        /// The HTTP status.
        status: reqwest::StatusCode,
    },
    /// The request or the transfer failed.
    #[error("failed to GET {url}: {}", causes(source))]
    Http {
        /// The URL.
        url: String,
        /// Why.
        source: reqwest::Error,
    },
    /// Writing the downloaded file.
    #[error("saving {url}: {source}")]
    Io {
        /// The URL.
        url: String,
        /// Why.
        source: std::io::Error,
    },
}

/// The error and its causes, as one line: reqwest's own message ("error sending request") hides the cause a
/// user needs, such as "Connection refused".
fn causes(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut next = std::error::Error::source(e);
    while let Some(cause) = next {
        text = format!("{text}: {cause}");
        next = cause.source();
    }
    text
}

/// A sha256 content digest (`--checksum`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum([u8; 32]);

impl std::str::FromStr for Checksum {
    type Err = FetchError;
    fn from_str(s: &str) -> Result<Self, FetchError> {
        let bad = || FetchError::BadChecksum(s.to_owned());
        let hex_part = s.strip_prefix("sha256:").ok_or_else(bad)?;
        let bytes = hex::decode(hex_part).map_err(|_| bad())?;
        Ok(Checksum(bytes.try_into().map_err(|_| bad())?))
    }
}

impl std::fmt::Display for Checksum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sha256:{}", hex::encode(self.0))
    }
}

/// Whether an ADD source is a URL (fetched, not read from the context).
pub fn is_url(src: &str) -> bool {
    src.starts_with("http://") || src.starts_with("https://")
}

/// The name a fetched file gets: the URL path's last element (None when the path ends with `/` or is empty).
pub fn file_name(url: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url).ok()?;
    let last = parsed.path_segments()?.next_back()?.to_owned();
    (!last.is_empty()).then_some(last)
}

/// A fetched file.
#[derive(Debug)]
pub struct Fetched {
    /// Where it was saved.
    pub path: PathBuf,
    /// The name it is copied under.
    pub name: String,
}

/// Fetches `url` into a new file under `dir`, checking `want` when given.
pub async fn fetch(url: &str, dir: &Path, want: Option<&Checksum>) -> Result<Fetched, FetchError> {
    let http = |source| FetchError::Http {
        url: url.to_owned(),
        source,
    };
    let io = |source| FetchError::Io {
        url: url.to_owned(),
        source,
    };
    let mut resp = reqwest::get(url).await.map_err(http)?;
    if !resp.status().is_success() {
        return Err(FetchError::Status {
            url: url.to_owned(),
            status: resp.status(),
        });
    }
    let mtime = resp
        .headers()
        .get(reqwest::header::LAST_MODIFIED)
        .and_then(|v| v.to_str().ok())
        .and_then(http_date);
    // The fallback name is the classic builder's when the URL has no file name and the destination is a file.
    let name = file_name(url).unwrap_or_else(|| "__unnamed__".to_owned());
    let slot = dir.join(format!("{:016x}", rand::random::<u64>()));
    tokio::fs::create_dir_all(&slot).await.map_err(io)?;
    let path = slot.join(&name);
    let mut file = tokio::fs::File::create(&path).await.map_err(io)?;
    let mut h = Sha256::new();
    while let Some(chunk) = resp.chunk().await.map_err(http)? {
        h.update(&chunk);
        file.write_all(&chunk).await.map_err(io)?;
    }
    file.flush().await.map_err(io)?;
    drop(file);
    let got = Checksum(h.finalize().into());
    if let Some(want) = want.filter(|w| **w != got) {
        return Err(FetchError::Mismatch {
            url: url.to_owned(),
            want: want.clone(),
            got,
        });
    }
    finish(&path, mtime).map_err(io)?;
    Ok(Fetched { path, name })
}

/// Mode 0600 and the server's mtime (the download's time when it sent none), as the classic builder leaves them.
fn finish(path: &Path, mtime: Option<i64>) -> std::io::Result<()> {
    use nix::sys::stat::{utimensat, UtimensatFlags};
    use nix::sys::time::TimeSpec;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    let Some(mtime) = mtime else { return Ok(()) };
    let ts = TimeSpec::new(mtime, 0);
    utimensat(None, path, &ts, &ts, UtimensatFlags::NoFollowSymlink).map_err(std::io::Error::from)
}

/// Seconds since the epoch of an HTTP date in any of the three forms HTTP allows (RFC 1123, RFC 850, asctime).
fn http_date(s: &str) -> Option<i64> {
    use chrono::NaiveDateTime;
    if let Ok(t) = chrono::DateTime::parse_from_rfc2822(s) {
        return Some(t.timestamp());
    }
    ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .map(|t| t.and_utc().timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_parses_and_prints() {
        let hexd = "a".repeat(64);
        let c: Checksum = format!("sha256:{hexd}").parse().unwrap();
        assert_eq!(c.to_string(), format!("sha256:{hexd}"));
        assert!("sha256:abc".parse::<Checksum>().is_err());
        assert!(format!("md5:{hexd}").parse::<Checksum>().is_err());
    }

    #[test]
    fn names_come_from_the_url_path() {
        assert_eq!(
            file_name("http://127.0.0.1:8/a/b.tar.gz?x=1").as_deref(),
            Some("b.tar.gz")
        );
        assert_eq!(file_name("http://127.0.0.1:8/dir/"), None);
        assert_eq!(file_name("http://127.0.0.1:8"), None);
    }

    #[test]
    fn http_dates_in_every_form() {
        let t = 784111777;
        assert_eq!(http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(t));
        assert_eq!(http_date("Sunday, 06-Nov-94 08:49:37 GMT"), Some(t));
        assert_eq!(http_date("Sun Nov  6 08:49:37 1994"), Some(t));
        assert_eq!(http_date("yesterday"), None);
    }
}
