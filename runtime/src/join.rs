//! Entering a running container from a process forked outside it, by hand: a fork straight into its pid
//! namespace, then its cgroups and other namespaces (one `setns` on a pidfd), then its process's user,
//! capabilities, limits and seccomp filter. The probe server starts this way; libcontainer's tenant set-up (a
//! helper reading the container's state, an intermediate process, an init) cost each container's first probe
//! more than the container's own start did.
//!
//! The steps and their order are libcontainer's tenant init's, for the same `Process`: the cgroups and
//! namespaces of the container's PID 1; rlimits, no_new_privileges, AppArmor, umask; the working directory
//! (again after the user change when the container's root user could not enter it); supplementary groups,
//! uid and gid with the capabilities kept over the change; seccomp before the capabilities drop unless
//! no_new_privileges is set, else last.

use libcontainer::oci_spec::runtime::{LinuxSeccomp, Process};
use libcontainer::syscall::syscall::create_syscall;
use nix::unistd::{fork, ForkResult, Gid, Uid};
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;

/// Namespaces joined, with their `/proc/<pid>/ns` names.
const NAMESPACES: &[(&str, libc::c_int)] = &[
    ("user", libc::CLONE_NEWUSER),
    ("mnt", libc::CLONE_NEWNS),
    ("uts", libc::CLONE_NEWUTS),
    ("ipc", libc::CLONE_NEWIPC),
    ("net", libc::CLONE_NEWNET),
    ("pid", libc::CLONE_NEWPID),
    ("cgroup", libc::CLONE_NEWCGROUP),
];

/// Which side of [`fork_into`]'s fork returned.
pub(crate) enum Side {
    /// The caller, still outside: it has nothing more to do.
    Outside,
    /// The child, in the container's pid namespace only, with the caller's credentials and a pidfd of the
    /// container's PID 1 (opened outside: inside, host pids mean nothing): [`join_rest`] and
    /// [`become_process`] come next.
    Inside(OwnedFd),
}

/// Forks a child straight into the pid namespace of host pid `pid`: the caller's namespace for new children is
/// set to the container's for the one fork and set back at once, so the child needs no fork of its own to
/// get there (a helper that joined and forked again cost a second fork and exit per container).
pub(crate) fn fork_into(pid: i32) -> Result<Side, String> {
    let target = super::pidfd::open(pid).map_err(|e| format!("opening pid {pid}: {e}"))?;
    let own = std::fs::File::open("/proc/self/ns/pid").map_err(|e| format!("own pid namespace: {e}"))?;
    let theirs = differing_namespaces(pid, &[("pid", libc::CLONE_NEWPID)])?;
    if theirs != 0 {
        setns(&target, libc::CLONE_NEWPID)?;
    }
    // SAFETY: the caller is single-threaded (the monitor), so the child may run ordinary code.
    let forked = unsafe { fork() };
    if theirs != 0 {
        if let Ok(ForkResult::Parent { .. }) | Err(_) = forked {
            // Back to the caller's own namespace for its later children.
            setns(&OwnedFd::from(own), libc::CLONE_NEWPID)?;
        }
    }
    match forked {
        Ok(ForkResult::Parent { .. }) => Ok(Side::Outside),
        Ok(ForkResult::Child) => Ok(Side::Inside(target)),
        Err(e) => Err(format!("fork into the container: {e}")),
    }
}

/// Joins the cgroups of host pid `pid` (`target`, its pidfd) and its namespaces other than the pid namespace
/// ([`fork_into`] put this process there). The calling process must be single-threaded (joining a mount
/// namespace refuses others). `/proc` is still the host's here, so `pid` names the same process in it.
pub(crate) fn join_rest(pid: i32, target: &OwnedFd) -> Result<(), String> {
    join_cgroups(pid)?;
    let flags = differing_namespaces(pid, NAMESPACES)? & !libc::CLONE_NEWPID;
    if flags != 0 {
        setns(target, flags)?;
    }
    Ok(())
}

/// Makes the calling process (inside, after [`join_rest`]) run as `process` would: limits, user, capabilities,
/// seccomp (`seccomp`: the container's profile), working directory and environment.
pub(crate) fn become_process(process: &Process, seccomp: Option<&LinuxSeccomp>) -> Result<(), String> {
    let sys = create_syscall();
    for rlimit in process.rlimits().iter().flatten() {
        sys.set_rlimit(rlimit)
            .map_err(|e| format!("setting {:?}: {e}", rlimit.typ()))?;
    }
    let no_new_privileges = process.no_new_privileges() == Some(true);
    if no_new_privileges {
        nix::sys::prctl::set_no_new_privs().map_err(|e| format!("no_new_privileges: {e}"))?;
    }
    if let Some(profile) = process.apparmor_profile() {
        libcontainer::apparmor::apply_profile(profile).map_err(|e| format!("AppArmor profile {profile}: {e}"))?;
    }
    if let Some(mask) = process.user().umask() {
        let mode = nix::sys::stat::Mode::from_bits(mask).ok_or_else(|| format!("umask {mask:o}"))?;
        nix::sys::stat::umask(mode);
    }
    let cwd = process.cwd();
    // Entered before the user change, as root may reach a directory the container's user cannot pass through.
    let chdir_later = match nix::unistd::chdir(cwd) {
        Ok(()) => false,
        Err(nix::errno::Errno::EPERM | nix::errno::Errno::EACCES) => true,
        Err(e) => return Err(format!("chdir {}: {e}", cwd.display())),
    };
    set_user(process, &*sys)?;
    if !no_new_privileges {
        load_seccomp(seccomp)?;
    }
    libcontainer::capabilities::reset_effective(&*sys).map_err(|e| format!("capabilities: {e}"))?;
    if let Some(caps) = process.capabilities() {
        libcontainer::capabilities::drop_privileges(caps, &*sys).map_err(|e| format!("capabilities: {e}"))?;
    }
    if chdir_later {
        nix::unistd::chdir(cwd).map_err(|e| format!("chdir {}: {e}", cwd.display()))?;
    }
    if no_new_privileges {
        load_seccomp(seccomp)?;
    }
    set_env(process.env().as_deref().unwrap_or_default());
    Ok(())
}

/// Moves this process into every cgroup `pid` is in where it is not already (one write per v1 hierarchy).
fn join_cgroups(pid: i32) -> Result<(), String> {
    let theirs =
        std::fs::read_to_string(format!("/proc/{pid}/cgroup")).map_err(|e| format!("cgroups of {pid}: {e}"))?;
    let ours = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    // "0": the writer itself (its pid here would be read in the container's pid namespace, which it is in).
    let me = "0";
    for line in theirs.lines().filter(|l| !ours.lines().any(|o| o == *l)) {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let Some(dir) = super::cgroups::hierarchy_dir(controllers) else {
            continue;
        };
        let procs = dir.join(path.trim_start_matches('/')).join("cgroup.procs");
        std::fs::write(&procs, me).map_err(|e| format!("joining {}: {e}", procs.display()))?;
    }
    Ok(())
}

/// The CLONE_NEW* flags of the namespaces among `kinds` that `pid` does not share with this process.
fn differing_namespaces(pid: i32, kinds: &[(&str, libc::c_int)]) -> Result<libc::c_int, String> {
    let mut flags = 0;
    for (name, flag) in kinds {
        let theirs = std::fs::metadata(format!("/proc/{pid}/ns/{name}"));
        let ours = std::fs::metadata(format!("/proc/self/ns/{name}"));
        match (theirs, ours) {
            (Ok(t), Ok(o)) if (t.dev(), t.ino()) == (o.dev(), o.ino()) => {}
            (Ok(_), _) => flags |= flag,
            // A namespace type this kernel lacks is one nobody is in.
            (Err(e), _) if e.kind() == std::io::ErrorKind::NotFound && *name != "mnt" => {}
            (Err(e), _) => return Err(format!("namespace {name} of {pid}: {e}")),
        }
    }
    Ok(flags)
}

fn setns(target: &OwnedFd, flags: libc::c_int) -> Result<(), String> {
    // SAFETY: setns on a pidfd we own, with namespace flags; it changes only this (single-threaded) process.
    if unsafe { libc::setns(target.as_raw_fd(), flags) } < 0 {
        return Err(format!(
            "joining the container's namespaces: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// Supplementary groups (when the process names any, as libcontainer), gid and uid; the capabilities survive
/// the uid change to be set from the process right after.
fn set_user(process: &Process, sys: &dyn libcontainer::syscall::Syscall) -> Result<(), String> {
    let user = process.user();
    if let Some(gids) = user.additional_gids().as_ref().filter(|g| !g.is_empty()) {
        let gids: Vec<Gid> = gids.iter().map(|g| Gid::from_raw(*g)).collect();
        sys.set_groups(&gids)
            .map_err(|e| format!("supplementary groups: {e}"))?;
    }
    sys.set_id(Uid::from_raw(user.uid()), Gid::from_raw(user.gid()))
        .map_err(|e| format!("uid {} gid {}: {e}", user.uid(), user.gid()))
}

fn load_seccomp(seccomp: Option<&LinuxSeccomp>) -> Result<(), String> {
    let Some(profile) = seccomp else { return Ok(()) };
    // The monitor this process was forked from has the engine's compile of the profile (`use_bundle_program`).
    match libcontainer::seccomp::initialize_seccomp(profile) {
        Ok(None) => Ok(()),
        Ok(Some(_)) => Err("seccomp profiles with a notify action are not supported for probes".to_owned()),
        Err(e) => Err(format!("seccomp: {e}")),
    }
}

/// Replaces the environment with `env` ("KEY=value" entries).
fn set_env(env: &[String]) {
    let keep: Vec<CString> = env.iter().filter_map(|e| CString::new(e.as_bytes()).ok()).collect();
    // SAFETY: single-threaded (see `join_rest`); clearenv and putenv only touch this process's environment, and
    // the strings handed to putenv are leaked so they stay valid for the process's life.
    unsafe {
        libc::clearenv();
        for entry in keep {
            libc::putenv(entry.into_raw());
        }
    }
}
