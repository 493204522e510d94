//! Log file generations: the current file `container.log` starts with a header line naming its generation;
//! rotation renames it to `container.log.<gen>` (gzipped to `.<gen>.gz` with `compress`), starts generation
//! `gen + 1`, and deletes generations beyond `max-file`. Readers holding the old file keep reading it to its
//! end, then go on with the next generation, so following a rotating log loses no line (unless a reader falls
//! more than `max-file` files behind, as with Docker).

use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// The first line of every log file.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Header {
    /// Generation of the file (0, 1, 2, ... in order of writing).
    pub(super) berth_log_generation: u64,
    /// `max-file` of the writer, so a reader that held generations back can prune them when it lets go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) berth_log_keep: Option<u32>,
}

/// The header line of a new file of generation `gen`, written by a writer that keeps `max_file` files.
pub(super) fn header_line(gen: u64, max_file: u32) -> Vec<u8> {
    let mut line = serde_json::to_vec(&Header {
        berth_log_generation: gen,
        berth_log_keep: Some(max_file.max(1)),
    })
    .unwrap_or_default();
    line.push(b'\n');
    line
}

/// The header a file declares on its first line (generation 0 for files written before generations existed).
fn header_of(file: &File) -> Header {
    use std::os::unix::fs::FileExt;
    // Read at offset 0 without moving the file's position: a follower looks again at a file it reads from.
    let mut buf = [0u8; 256];
    let n = file.read_at(&mut buf, 0).unwrap_or(0);
    let first = buf[..n].split(|&b| b == b'\n').next().unwrap_or_default();
    serde_json::from_slice::<Header>(first).unwrap_or(Header {
        berth_log_generation: 0,
        berth_log_keep: None,
    })
}

/// The generation a file declares on its first line (0 for files written before generations existed).
pub(super) fn generation_of(file: &File) -> u64 {
    header_of(file).berth_log_generation
}

/// As [`generation_of`], but None while the file is still empty: rotation creates the new file and writes its
/// header a moment later, and a reader that guessed 0 then would take the file for an old one.
pub(super) fn written_generation(file: &File) -> Option<u64> {
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    (len > 0).then(|| generation_of(file))
}

/// A pin: `<log>.pin.<pid>-<n>` holds the first generation a live reader (an attached client) still needs.
/// Rotation keeps pinned generations even past `max-file`, so an attached client gets every line however fast
/// the log turns (dockerd's attach reads the process's pipes, never the rotating file). Pins of dead
/// processes (an engine that crashed) are ignored.
pub(super) fn pin_path(path: &Path, token: &str) -> PathBuf {
    PathBuf::from(format!("{}.pin.{token}", path.display()))
}

/// The lowest generation any live pin still needs.
fn pin_floor(path: &Path) -> Option<u64> {
    let (dir, name) = (path.parent()?, path.file_name()?.to_str()?);
    let prefix = format!("{name}.pin.");
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|e| {
            let f = e.file_name().into_string().ok()?;
            let pid = f.strip_prefix(&prefix)?.split('-').next()?.to_owned();
            if !Path::new("/proc").join(&pid).exists() {
                return None;
            }
            // A pin being rewritten reads empty or short: hold everything back rather than delete what the
            // reader is about to need.
            Some(
                std::fs::read_to_string(e.path())
                    .ok()
                    .and_then(|t| t.trim().parse::<u64>().ok())
                    .unwrap_or(0),
            )
        })
        .min()
}

/// Writes a pin's generation atomically (a temporary name outside the pin prefix, then a rename), so a
/// rotation never reads a pin half-written.
pub(super) fn write_pin(pin: &Path, gen: u64) -> std::io::Result<()> {
    let name = pin.file_name().and_then(|n| n.to_str()).unwrap_or("pin");
    let tmp = pin.with_file_name(format!("{}.tmp", name.replacen(".pin.", ".pintmp.", 1)));
    std::fs::write(&tmp, gen.to_string())?;
    std::fs::rename(&tmp, pin)
}

/// Deletes rotated generations beyond the writer's `max-file` that no live pin needs any more (after a pin
/// is dropped; the writer applies the same rule at each rotation).
pub(super) fn prune(path: &Path) {
    let Ok(file) = File::open(path) else { return };
    let header = header_of(&file);
    let Some(max_file) = header.berth_log_keep else { return };
    let keep = u64::from(max_file.max(1)) - 1;
    delete_beyond(path, header.berth_log_generation, keep);
}

/// Deletes rotated files older than the `keep` newest before generation `current`, sparing pinned ones.
fn delete_beyond(path: &Path, current: u64, keep: u64) {
    let floor = pin_floor(path).unwrap_or(u64::MAX);
    for old in rotated(path) {
        if old.gen + keep < current && old.gen < floor {
            let _ = std::fs::remove_file(&old.path);
        }
    }
}

/// A rotated file on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Rotated {
    /// Its generation.
    pub(super) gen: u64,
    /// Its path (`.gz` when compressed).
    pub(super) path: PathBuf,
}

/// Rotated files of the log at `path`, oldest first (a generation present twice while being compressed is
/// listed once, uncompressed).
pub(super) fn rotated(path: &Path) -> Vec<Rotated> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return Vec::new();
    };
    let prefix = format!("{name}.");
    let mut out: Vec<Rotated> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let f = e.file_name().into_string().ok()?;
            let rest = f.strip_prefix(&prefix)?;
            let num = rest.strip_suffix(".gz").unwrap_or(rest);
            Some(Rotated {
                gen: num.parse().ok()?,
                path: e.path(),
            })
        })
        .collect();
    out.sort_by(|a, b| {
        (a.gen, a.path.extension().is_some_and(|x| x == "gz"))
            .cmp(&(b.gen, b.path.extension().is_some_and(|x| x == "gz")))
    });
    out.dedup_by_key(|r| r.gen);
    out
}

/// The whole content of a rotated file (decompressed); None when it is gone.
pub(super) fn read_rotated(r: &Rotated) -> Option<Vec<u8>> {
    let gz_path = PathBuf::from(format!("{}.gz", r.path.display()));
    // Listed uncompressed, but compressed (and the plain file removed) since: read the `.gz`.
    let (file, path) = match File::open(&r.path) {
        Ok(f) => (f, r.path.as_path()),
        Err(_) if r.path.extension().is_none_or(|x| x != "gz") => (File::open(&gz_path).ok()?, gz_path.as_path()),
        Err(_) => return None,
    };
    let mut data = Vec::new();
    if path.extension().is_some_and(|x| x == "gz") {
        flate2::read::GzDecoder::new(file).read_to_end(&mut data).ok()?;
    } else {
        BufReader::new(file).read_to_end(&mut data).ok()?;
    }
    Some(data)
}

/// How the writer rotates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rotation {
    /// Rotate once the file would grow past this many bytes (None: never).
    pub max_size: Option<u64>,
    /// Files kept, the current one included.
    pub max_file: u32,
    /// Gzip rotated files.
    pub compress: bool,
}

/// Renames the current file (generation `gen`) away, compresses it and deletes what is beyond `max_file`.
/// The caller then opens generation `gen + 1`.
pub(super) fn rotate(path: &Path, gen: u64, rot: &Rotation) -> std::io::Result<()> {
    let rotated_path = PathBuf::from(format!("{}.{gen}", path.display()));
    std::fs::rename(path, &rotated_path)?;
    let keep = u64::from(rot.max_file.max(1)) - 1;
    delete_beyond(path, gen + 1, keep);
    if rot.compress && keep > 0 {
        compress(&rotated_path)?;
    }
    Ok(())
}

/// `f` -> `f.gz` (through a temp name, so readers never see half a gzip), then removes `f`.
fn compress(f: &Path) -> std::io::Result<()> {
    let gz = PathBuf::from(format!("{}.gz", f.display()));
    let tmp = PathBuf::from(format!("{}.gz.tmp", f.display()));
    let mut enc = flate2::write::GzEncoder::new(File::create(&tmp)?, flate2::Compression::fast());
    std::io::copy(&mut File::open(f)?, &mut enc)?;
    enc.finish()?.flush()?;
    std::fs::rename(&tmp, &gz)?;
    std::fs::remove_file(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_max_file_generations() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("container.log");
        let rot = Rotation {
            max_size: Some(10),
            max_file: 3,
            compress: true,
        };
        for gen in 0..5u64 {
            std::fs::write(&path, header_line(gen, 3)).unwrap();
            rotate(&path, gen, &rot).unwrap();
        }
        let gens: Vec<u64> = rotated(&path).iter().map(|r| r.gen).collect();
        assert_eq!(gens, [3, 4], "the current file plus two rotated ones");
        let data = read_rotated(&rotated(&path)[1]).unwrap();
        assert_eq!(data, header_line(4, 3));
        std::fs::write(&path, header_line(5, 3)).unwrap();
        assert_eq!(generation_of(&File::open(&path).unwrap()), 5);
    }
}
