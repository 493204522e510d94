//! Pinned subpaths: a volume Subpath resolved to a descriptor and bind-mounted from it onto
//! `<root>/volumes/<name>/pins/<token>`, so the runtime binds exactly the directory (or file) that
//! was checked, even if a container sharing the volume swaps a path component for a symlink.

use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::mountinfo;
use crate::mounting;
use crate::name::VolumeName;
use crate::options::Propagation;
use crate::store::VolumeStore;

const PINS: &str = "pins";

impl VolumeStore {
    /// Bind-mounts the object behind `fd` (inside volume `name`) on a fresh pin point and returns it.
    pub(crate) fn pin(&self, name: &VolumeName, fd: &OwnedFd) -> Result<PathBuf> {
        let dir = self.dir().join(name.as_str()).join(PINS);
        fs::create_dir_all(&dir).map_err(|e| Error::io("create directory", &dir, e))?;
        let target = dir.join(VolumeName::generate().as_str());
        let magic = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
        let is_dir = fs::metadata(&magic).map_err(|e| Error::io("stat", &magic, e))?.is_dir();
        let made = if is_dir {
            fs::create_dir(&target)
        } else {
            fs::File::create_new(&target).map(drop)
        };
        made.map_err(|e| Error::io("create pin point", &target, e))?;
        if let Err(e) = mounting::bind(&magic, &target, true, false, Propagation::Rprivate) {
            let _ = remove_point(&target);
            return Err(e);
        }
        Ok(target)
    }

    /// Unmounts and deletes pin points (after the runtime made its own mounts from them).
    pub fn unpin(&self, pins: &[PathBuf]) -> Result<()> {
        for pin in pins {
            for m in mountinfo::mounts_under(pin)? {
                mounting::unmount(&m)?;
            }
            remove_point(pin).map_err(|e| Error::io("delete pin point", pin, e))?;
        }
        Ok(())
    }

    /// Removes every pin point of every volume: left over only by a crash during a container start.
    pub fn clear_pins(&self) -> Result<usize> {
        let mut pins = Vec::new();
        for name in self.list()? {
            let dir = self.dir().join(name.as_str()).join(PINS);
            if let Ok(rd) = fs::read_dir(&dir) {
                pins.extend(rd.flatten().map(|e| e.path()));
            }
        }
        self.unpin(&pins)?;
        Ok(pins.len())
    }
}

fn remove_point(p: &Path) -> std::io::Result<()> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => fs::remove_dir(p),
        Ok(_) => fs::remove_file(p),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}
