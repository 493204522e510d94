//! Build script of the `berth` binary: links it as a position-dependent executable.

fn main() {
    // The per-container monitor is this binary. As a PIE, the loader relocates its ~1 MB of `.data.rel.ro`
    // (vtables, static tables) in every process: private dirty memory paid once per container. Linked at a
    // fixed address those pages stay clean and shared by all monitors (the libraries, heap and stacks are still
    // randomised). Only the link changes: every crate is compiled as before.
    println!("cargo:rustc-link-arg-bins=-no-pie");
    println!("cargo:rerun-if-changed=build.rs");
}
