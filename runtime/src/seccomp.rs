//! berth's default seccomp profile: allow by default, refuse (EPERM) the syscalls that reach the kernel or host
//! beyond a container's business. A syscall gated by a capability is allowed again when that capability is
//! granted (cap_add), as Docker does. Privileged or `seccomp=unconfined` containers get no filter.

use oci_spec::runtime::LinuxSeccomp;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Syscalls refused whatever the capabilities: kernel keyring, obsolete or dangerous interfaces.
const ALWAYS_DENIED: &[&str] = &[
    "add_key",
    "keyctl",
    "request_key",
    "nfsservctl",
    "get_kernel_syms",
    "query_module",
    "create_module",
    "uselib",
    "_sysctl",
    "ustat",
    "sysfs",
    "userfaultfd",
    "kexec_load",
    "kexec_file_load",
];

/// Syscalls refused unless the container holds the given capability.
const GATED: &[(&str, &[&str])] = &[
    (
        "CAP_SYS_ADMIN",
        &[
            "mount",
            "umount",
            "umount2",
            "pivot_root",
            "swapon",
            "swapoff",
            "setns",
            "fsopen",
            "fsmount",
            "fsconfig",
            "fspick",
            "move_mount",
            "open_tree",
            "mount_setattr",
            "quotactl",
            "quotactl_fd",
            "lookup_dcookie",
            "bpf",
            "fanotify_init",
            "name_to_handle_at",
            "perf_event_open",
            "vm86",
            "vm86old",
        ],
    ),
    ("CAP_SYS_BOOT", &["reboot"]),
    ("CAP_SYS_MODULE", &["init_module", "finit_module", "delete_module"]),
    (
        "CAP_SYS_PTRACE",
        &["ptrace", "process_vm_readv", "process_vm_writev", "kcmp"],
    ),
    (
        "CAP_SYS_TIME",
        &[
            "settimeofday",
            "stime",
            "clock_settime",
            "clock_settime64",
            "adjtimex",
            "clock_adjtime",
        ],
    ),
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    ("CAP_SYS_PACCT", &["acct"]),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
];

/// CLONE_NEWUSER: creating user namespaces is how most container escapes start, so it needs CAP_SYS_ADMIN.
const CLONE_NEWUSER: u64 = 0x1000_0000;

/// The profile as OCI `linux.seccomp` JSON for a container holding `caps` (names like "CAP_SYS_ADMIN").
pub fn default_profile(caps: &BTreeSet<String>) -> Value {
    let mut denied: Vec<&str> = ALWAYS_DENIED.to_vec();
    for (cap, calls) in GATED {
        if !caps.contains(*cap) {
            denied.extend_from_slice(calls);
        }
    }
    let mut syscalls = vec![json!({
        "names": denied, "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EPERM as u32,
    })];
    if !caps.contains("CAP_SYS_ADMIN") {
        syscalls.extend(user_ns_rules());
    }
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": architectures(),
        "syscalls": syscalls,
    })
}

/// Refuses unshare/clone asking for a new user namespace, and clone3 (its flags live in memory that seccomp
/// cannot inspect; ENOSYS makes libc fall back to clone, which we can check).
fn user_ns_rules() -> Vec<Value> {
    let masked = |name: &str, index: usize| {
        json!({
            "names": [name], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EPERM as u32,
            "args": [{"index": index, "value": CLONE_NEWUSER, "valueTwo": CLONE_NEWUSER, "op": "SCMP_CMP_MASKED_EQ"}],
        })
    };
    // The flags are clone's first argument on x86_64 and arm64 (s390 swaps them; not a berth target).
    vec![
        masked("unshare", 0),
        masked("clone", 0),
        json!({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOSYS as u32}),
    ]
}

fn architectures() -> Vec<&'static str> {
    if cfg!(target_arch = "x86_64") {
        vec!["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    } else if cfg!(target_arch = "aarch64") {
        vec!["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    } else {
        vec![]
    }
}

/// The bundle file with the engine's compile of the container's profile: the profile (JSON) on the first line,
/// then its BPF program. The monitor hands it to libcontainer, which loads it instead of compiling the profile
/// again in every container's init (libseccomp resolving each syscall name for three architectures: about a
/// twentieth of the CPU time of a container start).
pub const PROGRAM_FILE: &str = "seccomp.bpf";

/// The programs of the profiles the engine's containers used, compiled once each.
#[derive(Debug, Default)]
pub struct Programs(Mutex<HashMap<String, Option<Arc<Vec<u8>>>>>);

impl Programs {
    /// Writes `<bundle>/seccomp.bpf` for `profile`, or removes it (no profile, a profile with a notify action,
    /// or one libseccomp refuses: the init then compiles it and reports the error as before).
    pub fn write_for(&self, bundle: &Path, profile: Option<&LinuxSeccomp>) -> std::io::Result<()> {
        let path = bundle.join(PROGRAM_FILE);
        // The profile's JSON is both the cache key and the file's first line.
        let compiled = match profile {
            Some(p) => {
                let json = serde_json::to_string(p).map_err(std::io::Error::other)?;
                self.program(&json, p).map(|program| (json, program))
            }
            None => None,
        };
        let Some((json, program)) = compiled else {
            return match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        };
        let mut data = json.into_bytes();
        data.push(b'\n');
        data.extend_from_slice(&program);
        std::fs::write(path, data)
    }

    fn program(&self, json: &str, profile: &LinuxSeccomp) -> Option<Arc<Vec<u8>>> {
        let mut programs = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(known) = programs.get(json) {
            return known.clone();
        }
        let program = match libcontainer::seccomp::compile(profile) {
            Ok(program) => program.map(Arc::new),
            Err(e) => {
                tracing::debug!("the seccomp profile is compiled in the container instead: {e}");
                None
            }
        };
        programs.insert(json.to_owned(), program.clone());
        program
    }
}

/// In the monitor: gives libcontainer the bundle's precompiled program, if the engine wrote one.
pub fn use_bundle_program(bundle: &Path) {
    let Ok(data) = std::fs::read(bundle.join(PROGRAM_FILE)) else {
        return;
    };
    let Some(newline) = data.iter().position(|b| *b == b'\n') else {
        return;
    };
    if let Ok(profile) = serde_json::from_slice::<LinuxSeccomp>(&data[..newline]) {
        libcontainer::seccomp::use_precompiled(profile, data[newline + 1..].to_vec());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denied(p: &Value) -> Vec<String> {
        serde_json::from_value(p["syscalls"][0]["names"].clone()).unwrap()
    }

    #[test]
    fn cap_add_lifts_the_gate() {
        let none = default_profile(&BTreeSet::new());
        assert!(denied(&none).contains(&"reboot".to_owned()));
        let boot = default_profile(&BTreeSet::from(["CAP_SYS_BOOT".to_owned()]));
        assert!(!denied(&boot).contains(&"reboot".to_owned()));
        assert!(denied(&boot).contains(&"mount".to_owned()));
    }

    #[test]
    fn profile_parses_as_oci() {
        let p = default_profile(&BTreeSet::new());
        let parsed: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(p).unwrap();
        assert_eq!(parsed.syscalls().as_ref().map(Vec::len), Some(4));
    }
}
