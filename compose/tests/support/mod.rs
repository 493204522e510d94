//! Shared by the corpus tests: a case's `cmd` file (working directory, flags, environment) as load options.

use compose::LoadOptions;
use std::path::{Path, PathBuf};

/// Load options of the case at `case` whose working directory is relative to `root`.
pub fn options(root: &Path, case: &Path) -> LoadOptions {
    let cmd = std::fs::read_to_string(case.join("cmd")).unwrap_or_default();
    let lines: Vec<&str> = cmd.split('\n').collect();
    let wd = root.join(lines.first().copied().unwrap_or_default());
    let mut opts = LoadOptions {
        working_dir: Some(wd),
        ..LoadOptions::default()
    };
    let args: Vec<&str> = lines.get(1).map(|l| l.split_whitespace().collect()).unwrap_or_default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let v = it.next().map(|s| s.to_string()).unwrap_or_default();
        match *a {
            "-f" => opts.files.push(v),
            "-p" => opts.project_name = Some(v),
            "--env-file" => opts.env_files.push(PathBuf::from(v)),
            "--profile" => opts.profiles.push(v),
            "--project-directory" => opts.project_directory = Some(PathBuf::from(v)),
            other => panic!(
                "case {} uses an argument this test does not know: {other}",
                case.display()
            ),
        }
    }
    let mut env: indexmap::IndexMap<String, String> =
        [("PATH".to_owned(), "/usr/bin:/bin".to_owned())].into_iter().collect();
    for l in lines.iter().skip(2) {
        if let Some((k, v)) = l.split_once('=') {
            env.insert(k.to_owned(), v.to_owned());
        }
    }
    opts.environment = Some(env);
    opts
}
