//! YAML alias bombs are refused with the file, line and alias named, quickly and within 1 GiB of address space.
//! With `BERTH_BIN` set the real `berth config` runs under `ulimit -v 1048576`; otherwise the loader runs in-process.

use compose::{load_document, LoadOptions};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// 9 levels of 9 aliases of sequences: 9^9 copies of a string if expanded.
fn laughs() -> String {
    let mut s = String::from(
        "x-bomb:\n  l0: &l0 [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n",
    );
    for i in 1..=9 {
        let items = vec![format!("*l{}", i - 1); 9].join(", ");
        s.push_str(&format!("  l{i}: &l{i} [{items}]\n"));
    }
    s + "services:\n  s:\n    image: busybox\n"
}

/// Mappings of mappings, hidden in a service's extension field.
fn mappings() -> String {
    let mut s = String::from("services:\n  s:\n    image: busybox\n    x-data:\n      m0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8}\n");
    for i in 1..=9 {
        let items: Vec<String> = (0..9).map(|k| format!("k{k}: *m{}", i - 1)).collect();
        s.push_str(&format!("      m{i}: &m{i} {{{}}}\n", items.join(", ")));
    }
    s
}

/// Few aliases, each to a 64 KiB string: cheap in nodes, a gigabyte in copies.
fn long_strings() -> String {
    let mut s = format!("x-text: &t \"{}\"\nx-copies:\n", "z".repeat(64 << 10));
    for _ in 0..16_000 {
        s.push_str("  - [a, *t]\n");
    }
    s + "services:\n  s:\n    image: busybox\n"
}

fn check_message(msg: &str, file: &Path, alias: &str) {
    let shown = file.display().to_string();
    assert!(msg.contains(&shown), "the error names the file {shown}: {msg}");
    assert!(msg.contains(alias), "the error names the alias {alias}: {msg}");
    assert!(msg.contains("excessive aliasing"), "the error says why: {msg}");
    let line = msg
        .split(&format!("{shown}:"))
        .nth(1)
        .and_then(|r| r.split(':').next())
        .and_then(|l| l.parse::<usize>().ok());
    assert!(line.is_some_and(|l| l > 1), "the error names a line: {msg}");
}

fn refuse(name: &str, text: &str, alias: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("compose.yaml");
    std::fs::write(&file, text).expect("write bomb");
    let started = Instant::now();
    let msg = match std::env::var("BERTH_BIN") {
        Ok(bin) if Path::new(&bin).exists() => {
            let out = Command::new("sh")
                .arg("-c")
                .arg("ulimit -v 1048576 && exec timeout -s KILL 60 \"$0\" -f \"$1\" config --format json")
                .arg(&bin)
                .arg(&file)
                .current_dir(dir.path())
                .output()
                .expect("run berth");
            assert_eq!(
                out.status.code(),
                Some(1),
                "{name}: berth must refuse, not crash: {out:?}"
            );
            String::from_utf8_lossy(&out.stderr).into_owned()
        }
        _ => {
            let opts = LoadOptions {
                files: vec![file.display().to_string()],
                working_dir: Some(dir.path().to_path_buf()),
                environment: Some(Default::default()),
                ..LoadOptions::default()
            };
            match load_document(&opts) {
                Ok(_) => panic!("{name}: the bomb was accepted"),
                Err(e) => e.to_string(),
            }
        }
    };
    // Speed is reported, not asserted (the figure goes in the closing note).
    eprintln!("{name}: refused in {:?}: {msg}", started.elapsed());
    check_message(&msg, &file, alias);
}

#[test]
fn billion_laughs_is_refused() {
    refuse("laughs", &laughs(), "*l");
}

#[test]
fn nested_mapping_bomb_is_refused() {
    refuse("mappings", &mappings(), "*m");
}

#[test]
fn copies_of_a_long_string_are_refused() {
    refuse("long strings", &long_strings(), "*t");
}
