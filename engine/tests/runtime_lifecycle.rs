//! Container lifecycle through the runtime: run, logs, exit codes, start errors, stop, cleanup.

mod runtime_support;
use runtime_support::*;

#[test]
fn echo_hello_is_logged() {
    if !require_root("echo_hello_is_logged") {
        return;
    }
    let f = Fixture::new();
    let spec = f.spec(&["echo", "hello"]);
    let (code, log) = f.run(&spec);
    assert_eq!(code, 0);
    assert_eq!(log, "hello\n");
    let recs = engine::runtime::logfile::read_records(&f.rt.log_path(&spec.id)).unwrap();
    assert_eq!(recs[0].stream, engine::runtime::logfile::LogStream::Stdout);
    f.rt.remove(&spec.id).unwrap();
}
