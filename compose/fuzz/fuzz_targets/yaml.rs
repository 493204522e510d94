//! The YAML layer alone (anchors, aliases, merge keys, tags, multi-document streams): refuse or parse, never
//! panic, never blow up (the alias budget bounds what aliases may copy).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok((mut v, _)) = compose::yaml::parse(text, std::path::Path::new("fuzz.yaml")) {
        compose::yaml::strip_tags(&mut v);
    }
});
