//! Running `nft`, host-wide locks, and the host settings berth reads or switches (forwarding, foreign firewalls).

use crate::error::{NetError, Result};

/// Runs `nft` with `args`, feeding `stdin`; returns stdout, or stderr as the error.
pub(crate) fn run_nft(args: &[&str], stdin: Option<&str>) -> Result<String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("nft")
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| NetError::Nft(format!("cannot run nft (install nftables): {e}")))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes())
            .map_err(|e| NetError::Nft(format!("write to nft: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| NetError::Nft(format!("wait for nft: {e}")))?;
    if !out.status.success() {
        return Err(NetError::Nft(format!(
            "nft {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Serialises base-table setup between netstacks on one host.
pub(crate) fn host_lock() -> Result<nix::fcntl::Flock<std::fs::File>> {
    file_lock("/run/berth-nft.lock")
}

/// An exclusive lock on `path` (created if missing), held until dropped.
pub(crate) fn file_lock(path: &str) -> Result<nix::fcntl::Flock<std::fs::File>> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| NetError::io("open lock file", path, e))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| NetError::io("lock", path, e.into()))
}

/// Explains host firewall state berth cannot work around: a foreign forward chain with policy drop in a
/// family berth does not pass its bridges through (see `foreign`). Empty when nothing is in the way.
pub fn host_firewall_warnings(own_table: &str) -> Vec<String> {
    let Ok(blocking) = super::foreign::blocking_chains(own_table) else {
        return Vec::new();
    };
    blocking
        .iter()
        .filter(|b| !b.passable())
        .map(|b| {
            format!(
                "{} has policy drop on the forward hook: it may drop berth's container traffic; berth passes its \
                 bridges only through ip, ip6 and inet tables (allow interfaces brt-* and vb* there, or reset that policy)",
                b.chain
            )
        })
        .collect()
}

/// Turns on IPv4 forwarding (needed for containers on non-internal networks to reach out); says so in the
/// log when it was off, since it changes how the host routes.
pub fn enable_ip_forward() -> Result<()> {
    switch_on("/proc/sys/net/ipv4/ip_forward")
}

/// Turns on IPv6 forwarding for every interface (needed by non-internal IPv6 networks); logged when it was off.
pub fn enable_ipv6_forward() -> Result<()> {
    switch_on("/proc/sys/net/ipv6/conf/all/forwarding")
}

fn switch_on(path: &str) -> Result<()> {
    match std::fs::read_to_string(path) {
        Ok(v) if v.trim() == "1" => Ok(()),
        _ => {
            std::fs::write(path, "1").map_err(|e| NetError::io("write", path, e))?;
            // A host-wide change of routing: at warn, the engine's default level, so the log always says it.
            tracing::warn!(sysctl = path, "switched on for container networks");
            Ok(())
        }
    }
}
