//! The whole loader on arbitrary Compose text (given as `-f -`): it may refuse, it must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let env = [("SET", "hello"), ("EMPTY", ""), ("COMPOSE_PROFILES", "debug")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let opts = compose::LoadOptions {
        files: vec!["-".to_owned()],
        stdin: Some(text.to_owned()),
        working_dir: Some(std::env::temp_dir().join("berth-fuzz-empty")),
        project_name: Some("fuzz".to_owned()),
        environment: Some(env),
        ..compose::LoadOptions::default()
    };
    if let Ok(loaded) = compose::load_document(&opts) {
        let _ = compose::Project::from_loaded(&loaded).map(|p| p.graph().start_order());
        let _ = compose::output::render(&compose::output::printable(&loaded.document, compose::output::Format::Json), compose::output::Format::Json);
    }
});
