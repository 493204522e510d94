//! The container log file: one JSON object per line, like Docker's json-file driver
//! (`{"log":"text\n","stream":"stdout","time":"2026-01-01T00:00:00.000000001Z"}`).
//! The monitor writes it; the API's logs/attach read it with [`read_records`] and follow it with [`LogFollower`].

use super::{Result, RuntimeError};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// File name of the log inside the bundle.
pub const LOG_FILE: &str = "container.log";

/// Longest line kept in one record; longer output is split like Docker does (16 KiB).
const MAX_LINE: usize = 16 * 1024;

/// Which output stream a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    /// Standard output (and all output of a tty).
    Stdout,
    /// Standard error.
    Stderr,
}

/// One log line as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRecord {
    /// The text, including its trailing newline when the line was complete.
    pub log: String,
    /// The stream.
    pub stream: LogStream,
    /// When the monitor read it.
    pub time: DateTime<Utc>,
}

/// Appends records for one stream, buffering partial lines until their newline arrives.
#[derive(Debug)]
pub struct LineSplitter {
    stream: LogStream,
    pending: Vec<u8>,
}

impl LineSplitter {
    /// A splitter for `stream`.
    pub fn new(stream: LogStream) -> Self {
        Self {
            stream,
            pending: Vec::new(),
        }
    }

    /// Feeds bytes; returns the complete records they finish.
    pub fn push(&mut self, data: &[u8]) -> Vec<LogRecord> {
        let mut out = Vec::new();
        for &b in data {
            self.pending.push(b);
            if b == b'\n' || self.pending.len() >= MAX_LINE {
                out.push(self.take());
            }
        }
        out
    }

    /// Flushes a trailing partial line (at EOF).
    pub fn finish(&mut self) -> Option<LogRecord> {
        (!self.pending.is_empty()).then(|| self.take())
    }

    fn take(&mut self) -> LogRecord {
        let bytes = std::mem::take(&mut self.pending);
        LogRecord {
            log: String::from_utf8_lossy(&bytes).into_owned(),
            stream: self.stream,
            time: Utc::now(),
        }
    }
}

/// Serialises records to the log file.
#[derive(Debug)]
pub struct LogWriter {
    file: File,
}

impl LogWriter {
    /// Opens (creates, appends) the log file.
    pub fn open(path: &Path) -> Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| RuntimeError::io(format!("opening log {}", path.display()), e))?;
        Ok(Self { file })
    }

    /// Appends one record as a JSON line (one write, so readers never see half a line from us).
    pub fn write(&mut self, rec: &LogRecord) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(&WireRecord::from(rec)).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)
    }
}

/// The on-disk shape: time with nanoseconds in RFC 3339 like Docker.
#[derive(Serialize)]
struct WireRecord<'a> {
    log: &'a str,
    stream: LogStream,
    time: String,
}

impl<'a> From<&'a LogRecord> for WireRecord<'a> {
    fn from(r: &'a LogRecord) -> Self {
        Self {
            log: &r.log,
            stream: r.stream,
            time: r.time.to_rfc3339_opts(SecondsFormat::Nanos, true),
        }
    }
}

/// Reads every record of a log file (missing file = no records). Undecodable lines are skipped.
pub fn read_records(path: &Path) -> Result<Vec<LogRecord>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(RuntimeError::io(format!("opening log {}", path.display()), e)),
    };
    let mut out = Vec::new();
    for line in BufReader::new(file).split(b'\n') {
        let line = line.map_err(|e| RuntimeError::io(format!("reading log {}", path.display()), e))?;
        if let Ok(rec) = serde_json::from_slice::<LogRecord>(&line) {
            out.push(rec);
        }
    }
    Ok(out)
}

/// The last `n` records.
pub fn tail(records: Vec<LogRecord>, n: usize) -> Vec<LogRecord> {
    let skip = records.len().saturating_sub(n);
    records.into_iter().skip(skip).collect()
}

/// Records with `since <= time` and, when given, `time <= until`.
pub fn between(records: Vec<LogRecord>, since: Option<DateTime<Utc>>, until: Option<DateTime<Utc>>) -> Vec<LogRecord> {
    records
        .into_iter()
        .filter(|r| since.is_none_or(|s| r.time >= s) && until.is_none_or(|u| r.time <= u))
        .collect()
}

/// Follows a log file: each [`LogFollower::poll`] returns the complete records appended since the last call.
/// Callers poll on a timer (or inotify) and stop once the container's exit record exists and a poll is empty.
#[derive(Debug)]
pub struct LogFollower {
    path: PathBuf,
    offset: u64,
    partial: Vec<u8>,
}

impl LogFollower {
    /// Starts at the beginning of the file.
    pub fn from_start(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            offset: 0,
            partial: Vec::new(),
        }
    }

    /// Starts at the current end of the file (only new output).
    pub fn from_end(path: &Path) -> Self {
        let offset = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        Self {
            path: path.to_owned(),
            offset,
            partial: Vec::new(),
        }
    }

    /// New complete records since the last poll.
    pub fn poll(&mut self) -> Result<Vec<LogRecord>> {
        let mut file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(RuntimeError::io(format!("opening log {}", self.path.display()), e)),
        };
        let ctx = || format!("reading log {}", self.path.display());
        file.seek(SeekFrom::Start(self.offset))
            .map_err(|e| RuntimeError::io(ctx(), e))?;
        let mut buf = Vec::new();
        file.read_to_end(&mut buf).map_err(|e| RuntimeError::io(ctx(), e))?;
        self.offset += buf.len() as u64;
        self.partial.extend_from_slice(&buf);
        let Some(last_nl) = self.partial.iter().rposition(|&b| b == b'\n') else {
            return Ok(Vec::new());
        };
        let rest = self.partial.split_off(last_nl + 1);
        let complete = std::mem::replace(&mut self.partial, rest);
        Ok(complete
            .split(|&b| b == b'\n')
            .filter_map(|l| serde_json::from_slice::<LogRecord>(l).ok())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitter_keeps_partial_lines_until_newline() {
        let mut s = LineSplitter::new(LogStream::Stdout);
        assert!(s.push(b"hel").is_empty());
        let recs = s.push(b"lo\nwor");
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].log, "hello\n");
        assert_eq!(s.finish().map(|r| r.log), Some("wor".to_owned()));
    }

    #[test]
    fn write_then_read_and_follow() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOG_FILE);
        let mut w = LogWriter::open(&path).unwrap();
        let mut f = LogFollower::from_start(&path);
        let mut s = LineSplitter::new(LogStream::Stderr);
        for r in s.push(b"a\nb\n") {
            w.write(&r).unwrap();
        }
        let got = f.poll().unwrap();
        assert_eq!(got.iter().map(|r| r.log.as_str()).collect::<Vec<_>>(), ["a\n", "b\n"]);
        assert_eq!(got[0].stream, LogStream::Stderr);
        assert!(f.poll().unwrap().is_empty());
        let all = read_records(&path).unwrap();
        assert_eq!(tail(all, 1)[0].log, "b\n");
    }
}
