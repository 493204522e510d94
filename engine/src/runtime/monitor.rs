//! The per-container monitor process (`berth __monitor <bundle>`).

/// Entry point of `berth __monitor <bundle>`; returns the process exit code.
pub fn main(bundle: &std::path::Path) -> i32 {
    eprintln!("berth __monitor {}: not built yet", bundle.display());
    1
}
