//! The container log file: one JSON object per line, like Docker's json-file driver
//! (`{"log":"text\n","stream":"stdout","time":"2026-01-01T00:00:00.000000001Z"}`).
//! The monitor writes it (rotating it by size, see [`super::logrotate`]); the API's logs/attach read it with
//! [`read_records`] and follow it, across rotations, with [`LogFollower`].

use super::logrotate::{self, Rotation};
use super::{Result, RuntimeError};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
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
    /// The attributes the log driver wrote with it (`labels`, `env`, `tag` options): `docker logs --details`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attrs: Option<BTreeMap<String, String>>,
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
            attrs: None,
        }
    }
}

/// Serialises records to the log file, rotating it by size (see [`super::logrotate`]).
#[derive(Debug)]
pub struct LogWriter {
    path: PathBuf,
    file: File,
    size: u64,
    gen: u64,
    rotation: Rotation,
    attrs: BTreeMap<String, String>,
}

impl LogWriter {
    /// Opens (creates, appends) the log file; never rotates.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, Rotation::default(), BTreeMap::new())
    }

    /// Opens (creates, appends) the log file; rotates per `rotation`; writes `attrs` with every line.
    pub fn open_with(path: &Path, rotation: Rotation, attrs: BTreeMap<String, String>) -> Result<Self> {
        let ctx = |e| RuntimeError::io(format!("opening log {}", path.display()), e);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)
            .map_err(ctx)?;
        let size = file.metadata().map_err(ctx)?.len();
        let mut w = Self {
            path: path.to_owned(),
            gen: 0,
            file,
            size,
            rotation,
            attrs,
        };
        if size == 0 {
            // A new log continues after the newest rotated file of an earlier run.
            w.gen = logrotate::rotated(path).last().map_or(0, |r| r.gen + 1);
            w.write_raw(&logrotate::header_line(w.gen, w.rotation.max_file))
                .map_err(ctx)?;
        } else {
            w.gen = logrotate::generation_of(&File::open(path).map_err(ctx)?);
        }
        Ok(w)
    }

    /// Appends one record as a JSON line (one write, so readers never see half a line from us).
    pub fn write(&mut self, rec: &LogRecord) -> std::io::Result<()> {
        let mut wire = WireRecord::from(rec);
        wire.attrs = (!self.attrs.is_empty()).then_some(&self.attrs);
        let mut line = serde_json::to_vec(&wire).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let header = logrotate::header_line(self.gen, self.rotation.max_file).len() as u64;
        if let Some(max) = self.rotation.max_size {
            if self.size > header && self.size + line.len() as u64 > max {
                self.rotate()?;
            }
        }
        self.write_raw(&line)
    }

    fn write_raw(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.file.write_all(data)?;
        self.size += data.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        logrotate::rotate(&self.path, self.gen, &self.rotation)?;
        self.gen += 1;
        self.file = std::fs::OpenOptions::new().create(true).append(true).open(&self.path)?;
        self.size = 0;
        self.write_raw(&logrotate::header_line(self.gen, self.rotation.max_file))
    }
}

/// The on-disk shape: time with nanoseconds in RFC 3339 like Docker.
#[derive(Serialize)]
struct WireRecord<'a> {
    log: &'a str,
    stream: LogStream,
    #[serde(skip_serializing_if = "Option::is_none")]
    attrs: Option<&'a BTreeMap<String, String>>,
    time: String,
}

impl<'a> From<&'a LogRecord> for WireRecord<'a> {
    fn from(r: &'a LogRecord) -> Self {
        Self {
            log: &r.log,
            stream: r.stream,
            attrs: None,
            time: r.time.to_rfc3339_opts(SecondsFormat::Nanos, true),
        }
    }
}

/// Reads every record of a log and its rotated files, oldest first (missing file = no records).
pub fn read_records(path: &Path) -> Result<Vec<LogRecord>> {
    LogFollower::from_start(path).poll()
}

fn parse_lines(data: &[u8]) -> impl Iterator<Item = LogRecord> + '_ {
    data.split(|&b| b == b'\n')
        .filter_map(|l| serde_json::from_slice::<LogRecord>(l).ok())
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

/// Follows a log across rotations: each [`LogFollower::poll`] returns the complete records appended since the
/// last call. Callers poll on a timer and stop once the container's exit record exists and a poll is empty.
#[derive(Debug)]
pub struct LogFollower {
    path: PathBuf,
    /// The current file as opened (its generation), while we read it.
    file: Option<(File, u64)>,
    /// The first generation not read yet.
    next_gen: u64,
    /// Skip what exists when first opened (follow new output only).
    skip_existing: bool,
    partial: Vec<u8>,
    /// This follower's pin (`logrotate::pin_path`), when it holds generations back from rotation.
    pin: Option<PathBuf>,
    /// The live file, opened before its writer wrote the header. Held because the writer appends to this very
    /// file, and an auto-removed container's log is unlinked before a client attached from the start has read
    /// it: the open file is all such a client has left.
    unheaded: Option<File>,
}

impl LogFollower {
    /// Starts at the oldest kept record.
    pub fn from_start(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            file: None,
            next_gen: 0,
            skip_existing: false,
            partial: Vec::new(),
            pin: None,
            unheaded: None,
        }
    }

    /// Holds the generations not read yet back from rotation until this follower is dropped: an attached
    /// client must see every line, however far `max-size` lets the writer run ahead of it.
    pub fn pinned(mut self) -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let pin = logrotate::pin_path(&self.path, &format!("{}-{n}", std::process::id()));
        if logrotate::write_pin(&pin, self.next_gen).is_ok() {
            self.pin = Some(pin);
        }
        self
    }

    /// Moves on to generation `gen` (and the pin with it).
    fn set_next_gen(&mut self, gen: u64) {
        if gen != self.next_gen {
            if let Some(pin) = &self.pin {
                let _ = logrotate::write_pin(pin, gen);
            }
        }
        self.next_gen = gen;
    }

    /// Starts at the current end of the log (only new output).
    pub fn from_end(path: &Path) -> Self {
        let mut f = Self::from_start(path);
        f.skip_existing = true;
        // Position now: output written between this call and the first poll is new output.
        if !f.open_current(&mut Vec::new()).unwrap_or(false) {
            // No log yet, or one whose writer has not written its header: everything written to it later is new,
            // and the generations of an earlier run are not.
            f.skip_existing = false;
            f.next_gen = logrotate::rotated(path).last().map_or(0, |r| r.gen + 1);
        }
        f
    }

    /// New complete records since the last poll.
    pub fn poll(&mut self) -> Result<Vec<LogRecord>> {
        let mut out = Vec::new();
        // Bounded: each round either reads the live file or moves past a rotated generation.
        for _ in 0..64 {
            if self.file.is_none() && !self.open_current(&mut out)? {
                break;
            }
            let Some((file, gen)) = self.file.as_mut() else { break };
            let gen = *gen;
            // Checked before reading: once the path names another file, ours is complete after this read.
            let rotated_away = !same_file(file, &self.path);
            let mut buf = Vec::new();
            file.read_to_end(&mut buf)
                .map_err(|e| RuntimeError::io(format!("reading log {}", self.path.display()), e))?;
            self.take_lines(&buf, &mut out);
            if !rotated_away {
                break;
            }
            self.partial.clear();
            self.file = None;
            self.set_next_gen(gen + 1);
        }
        Ok(out)
    }

    /// Reads the rotated generations we have not seen, then opens the live file; false when there is none.
    fn open_current(&mut self, out: &mut Vec<LogRecord>) -> Result<bool> {
        let kept = self.take_unheaded();
        let ctx = |e| RuntimeError::io(format!("opening log {}", self.path.display()), e);
        let mut file = match kept {
            Some(f) => f,
            None => match File::open(&self.path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(ctx(e)),
            },
        };
        let Some(gen) = logrotate::written_generation(&file) else {
            // Just made by a rotation (or by `ensure_log_file`): read it once its header says which it is.
            self.unheaded = Some(file);
            return Ok(false);
        };
        if !self.skip_existing {
            for r in logrotate::rotated(&self.path) {
                if r.gen >= self.next_gen && r.gen < gen {
                    out.extend(parse_lines(&logrotate::read_rotated(&r).unwrap_or_default()));
                }
            }
        }
        if self.skip_existing {
            file.seek(SeekFrom::End(0)).map_err(ctx)?;
            self.skip_existing = false;
        } else {
            file.seek(SeekFrom::Start(0)).map_err(ctx)?;
        }
        self.set_next_gen(gen);
        self.file = Some((file, gen));
        Ok(true)
    }

    /// The file kept from an earlier look, unless it is still empty and the path has since moved on to
    /// another file (which then is the one its writer uses).
    fn take_unheaded(&mut self) -> Option<File> {
        let f = self.unheaded.take()?;
        (logrotate::written_generation(&f).is_some() || same_file(&f, &self.path)).then_some(f)
    }

    fn take_lines(&mut self, buf: &[u8], out: &mut Vec<LogRecord>) {
        self.partial.extend_from_slice(buf);
        let Some(last_nl) = self.partial.iter().rposition(|&b| b == b'\n') else {
            return;
        };
        let rest = self.partial.split_off(last_nl + 1);
        let complete = std::mem::replace(&mut self.partial, rest);
        out.extend(parse_lines(&complete));
    }
}

impl Drop for LogFollower {
    fn drop(&mut self) {
        if let Some(pin) = self.pin.take() {
            let _ = std::fs::remove_file(pin);
            logrotate::prune(&self.path);
        }
    }
}

/// Whether `path` still names the open `file` (false once rotation renamed it away).
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
        _ => false,
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

    /// A client attached before the first start follows the file its writer will append to, so it still reads
    /// the output after the log is unlinked (an auto-removed container) before its first look.
    #[test]
    fn follower_placed_before_the_writer_reads_an_unlinked_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOG_FILE);
        File::create(&path).unwrap();
        let mut f = LogFollower::from_end(&path);
        let mut w = LogWriter::open(&path).unwrap();
        w.write(&line(1)).unwrap();
        drop(w);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(numbers(&f.poll().unwrap()), [1]);
    }

    fn line(n: u32) -> LogRecord {
        LogRecord {
            log: format!("line {n}\n"),
            stream: LogStream::Stdout,
            time: Utc::now(),
            attrs: None,
        }
    }

    fn numbers(recs: &[LogRecord]) -> Vec<u32> {
        recs.iter()
            .map(|r| r.log.trim().strip_prefix("line ").unwrap().parse().unwrap())
            .collect()
    }

    /// A follower that keeps up sees every line across rotations; a late reader sees the kept files, in order.
    #[test]
    fn follow_across_rotation_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOG_FILE);
        for compress in [false, true] {
            let _ = std::fs::remove_dir_all(dir.path());
            std::fs::create_dir_all(dir.path()).unwrap();
            let rot = Rotation {
                max_size: Some(300),
                max_file: 3,
                compress,
            };
            let mut w = LogWriter::open_with(&path, rot, BTreeMap::new()).unwrap();
            let mut live = LogFollower::from_start(&path);
            let mut seen = Vec::new();
            for n in 1..=100 {
                w.write(&line(n)).unwrap();
                if n % 3 == 0 {
                    seen.extend(live.poll().unwrap());
                }
            }
            seen.extend(live.poll().unwrap());
            assert_eq!(numbers(&seen), (1..=100).collect::<Vec<_>>());
            let kept = numbers(&read_records(&path).unwrap());
            assert_eq!(kept.last(), Some(&100));
            assert!(
                kept.len() < 100 && kept.windows(2).all(|w| w[1] == w[0] + 1),
                "{kept:?}"
            );
            let files = std::fs::read_dir(dir.path()).unwrap().count();
            assert_eq!(files, 3, "max-file counts the current file");
        }
    }

    /// A poll that meets the new file before rotation wrote its header waits for it instead of taking it for
    /// generation 0 (which re-read the rotated files after it, out of order).
    #[test]
    fn follower_waits_for_the_header_of_a_new_generation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOG_FILE);
        let rot = Rotation {
            max_size: Some(200),
            max_file: 50,
            compress: false,
        };
        let mut w = LogWriter::open_with(&path, rot, BTreeMap::new()).unwrap();
        let mut live = LogFollower::from_start(&path);
        w.write(&line(1)).unwrap();
        let mut seen = live.poll().unwrap();
        // Rotation by hand, stopped between making the new file and writing its header.
        logrotate::rotate(&path, w.gen, &rot).unwrap();
        std::fs::write(&path, b"").unwrap();
        seen.extend(live.poll().unwrap());
        w.file = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        w.gen += 1;
        w.size = 0;
        w.write_raw(&logrotate::header_line(w.gen, rot.max_file)).unwrap();
        for n in 2..=20 {
            w.write(&line(n)).unwrap();
        }
        seen.extend(live.poll().unwrap());
        assert_eq!(numbers(&seen), (1..=20).collect::<Vec<_>>());
    }

    #[test]
    fn attrs_are_written_with_each_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LOG_FILE);
        let attrs: BTreeMap<String, String> = [("app".to_owned(), "web".to_owned())].into_iter().collect();
        let mut w = LogWriter::open_with(&path, Rotation::default(), attrs).unwrap();
        w.write(&line(1)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.lines().nth(1).unwrap().contains(r#""attrs":{"app":"web"}"#),
            "{text}"
        );
        assert_eq!(numbers(&read_records(&path).unwrap()), [1]);
    }
}
