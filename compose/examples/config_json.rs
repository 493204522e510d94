//! `berth config --format json` without the rest of berth, so the differential fuzzer can iterate on the loader
//! without linking the engine: `config_json [-f F]... [-p P] [--project-directory D] [--env-file E] [--profile P]`.

use compose::output::{escape_dollars, printable, render, Format};
use compose::{load_document, LoadOptions};
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut opts = LoadOptions::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_default();
        match a.as_str() {
            "-f" | "--file" => opts.files.push(val()),
            "-p" | "--project-name" => opts.project_name = Some(val()),
            "--project-directory" => opts.project_directory = Some(PathBuf::from(val())),
            "--env-file" => opts.env_files.push(PathBuf::from(val())),
            "--profile" => opts.profiles.push(val()),
            _ => {}
        }
    }
    match load_document(&opts) {
        Ok(l) => match render(&escape_dollars(&printable(&l.document, Format::Json)), Format::Json) {
            Ok(t) => {
                print!("{t}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
